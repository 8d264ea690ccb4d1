//! `sbn report`, `sbn calibrate` and `sbn uncertainty`: calibration, the model/data split of
//! uncertainty and OOD detection of a fitted model.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sbn::data::Dataset;
use sbn::evaluate::{Predictor, evaluate, predict_dataset};
use sbn::intervals::{ScoreIntervals, auroc_intervals};
use sbn::io::{ModelFile, OutputLock};
use sbn::metrics::argmax;
use sbn::metrics::calibration::{Binning, ReliabilityTable, reliability};
use sbn::metrics::scores::{ECE_BINS, Scores};
use sbn::posthoc::{Method, PostHoc, PostHocFit};
use sbn::predictive::Predictive;
use sbn::report::{ReportOptions, ood_table, training_curves, write_report_with};
use sbn::uncertainty::{ScoreKind, Uncertainty, mean_scores_by_class};

use crate::common::{DataArgs, IntervalArgs, OneModel, PredictFlags, load_features};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// A model file written by `sbn fit`.
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Out-of-distribution data (same input size), for OOD detection.
    #[arg(long)]
    ood: Option<String>,
    /// Output folder for metrics.json, the plots and summary.md.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    intervals: IntervalArgs,
    #[command(flatten)]
    predict: PredictFlags<OneModel>,
}

pub fn report(args: ReportArgs) -> Result<()> {
    let model = args.predict.mc.load_model(&args.model)?;
    let data = args.data.load_for(&model)?;
    let ood = args.ood.as_deref().map(|o| load_features(o, model.network.input_dim())).transpose()?;
    let mut name = args.model.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
    if args.predict.mc.posterior_temperature != 1.0 {
        name = format!("{name} (posterior tempered to τ = {})", args.predict.mc.posterior_temperature);
    }
    let config = args.predict.mc.config_for(&model, data.len().max(ood.as_ref().map_or(0, |o| o.len())))?;
    let options = ReportOptions {
        posthoc: args.predict.posthoc.map(&model, &args.model.display().to_string())?,
        intervals: args.intervals.requested(args.predict.mc.seed)?,
    };
    let m = write_report_with(&model, &name, &data, ood.as_ref(), &config, &args.out, &options)?;
    out!("accuracy {:.2}%  NLL {:.4}  ECE {:.2}%  → {}", 100.0 * m.scores.accuracy, m.scores.nll, 100.0 * m.scores.ece, args.out.join("summary.md").display());
    Ok(())
}

#[derive(clap::Args)]
pub struct CalibrateArgs {
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Equal-mass bins instead of equal-width ones.
    #[arg(long)]
    equal_mass: bool,
    /// Number of bins.
    #[arg(long, default_value_t = ECE_BINS)]
    bins: usize,
    /// Also draw the reliability diagram (and training curves, when the model has a history) into this folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Fit a post-hoc calibration: temperature, vector or histogram; scores before and after are shown.
    #[arg(long, conflicts_with_all = ["posthoc", "temperature"])]
    fit: Option<String>,
    /// Fit on this labelled data instead of --data (then --data is held out for the before/after scores).
    #[arg(long, requires = "fit")]
    calibration_data: Option<String>,
    /// Store the fitted calibration in the model file (atomically, under the model's lock; one model only).
    #[arg(long, requires = "fit")]
    save: bool,
    #[command(flatten)]
    predict: PredictFlags,
}

pub fn calibrate(args: CalibrateArgs) -> Result<()> {
    anyhow::ensure!(args.bins > 0, "--bins must be at least 1");
    sbn::limits::ensure_fits(&format!("--bins {}", args.bins), "the reliability table", sbn::limits::product(&[args.bins, 64]))?;
    let method = args.fit.as_deref().map(|m| m.parse::<Method>().context("--fit")).transpose()?;
    if args.save && args.predict.mc.posterior_temperature != 1.0 {
        anyhow::bail!("--save: a calibration stored in the model applies to its fitted posterior; fit it without --posterior-temperature");
    }
    if args.save && !args.predict.members.paths.is_empty() {
        anyhow::bail!("--save: an ensemble's calibration belongs to no one model file; apply the fitted temperature with --temperature T");
    }
    let models = args.predict.load(&args.model)?;
    let predictor = args.predict.predictor(&models)?;
    let data = args.data.load_for(&predictor)?;
    let binning = if args.equal_mass { Binning::EqualMass(args.bins) } else { Binning::EqualWidth(args.bins) };
    if let Some(method) = method {
        return fit_posthoc(&args, &predictor, &data, method, binning);
    }
    let (pred, scores) = evaluate(&predictor, &data, &args.predict.mc.config_for(&predictor, data.len())?)?;
    let table = reliability(&pred.means(), pred.n_classes, data.require_labels("calibration")?, binning)?;
    print_scores("", &scores, &table)?;
    print_table(&table)?;
    if let Some(dir) = &args.out {
        sbn::plot::reliability_diagram(&table, &format!("Reliability on {}", data.name), dir.join("reliability"))?;
        if let [(_, model)] = models.as_slice() {
            training_curves(model, &data.name, dir)?;
        }
    }
    Ok(())
}

fn print_scores(label: &str, scores: &Scores, table: &ReliabilityTable) -> Result<()> {
    out!(
        "{label}accuracy {:.2}%  NLL {:.4}  Brier {:.4}  ECE {:.2}%  MCE {:.2}%  classwise ECE {:.2}%",
        100.0 * scores.accuracy,
        scores.nll,
        scores.brier,
        100.0 * table.ece(),
        100.0 * table.mce(),
        100.0 * scores.classwise_ece
    );
    Ok(())
}

fn print_table(table: &ReliabilityTable) -> Result<()> {
    out!("{:>8} {:>8} {:>8} {:>9} {:>11}", "lower", "upper", "count", "accuracy", "confidence");
    for b in &table.bins {
        out!("{:>8.3} {:>8.3} {:>8} {:>9.4} {:>11.4}", b.lower, b.upper, b.count, b.accuracy, b.confidence);
    }
    Ok(())
}

/// `sbn calibrate --fit METHOD`: fits the map on --calibration-data (or --data), shows --data's
/// scores before and after, draws both reliability diagrams, and with --save stores the map.
fn fit_posthoc(args: &CalibrateArgs, model: &dyn Predictor, data: &Dataset, method: Method, binning: Binning) -> Result<()> {
    let fit_data = match &args.calibration_data {
        Some(path) => DataArgs { data: path.clone(), label: args.data.label.clone() }.load_for(model)?,
        None => data.clone(),
    };
    let config = args.predict.mc.config_for(model, data.len().max(fit_data.len()))?;
    let (stored, fit_pred, _) = sbn::evaluate::fit_posthoc(model, &fit_data, method, &config)?;
    out!("fitted {stored}");
    let before = if args.calibration_data.is_some() { evaluate(model, data, &config)?.0 } else { fit_pred };
    let after = stored.map.apply(&before)?;
    let labels = data.require_labels("calibration")?;
    let in_sample = if args.calibration_data.is_some() { "" } else { " (the data it was fitted on: in-sample; give --calibration-data to hold --data out)" };
    out!("on {}{in_sample}:", data.name);
    let mut tables = Vec::new();
    for (label, pred) in [("before  ", &before), ("after   ", &after)] {
        let table = reliability(&pred.means(), pred.n_classes, labels, binning)?;
        print_scores(label, &Scores::from_predictive(pred, labels)?, &table)?;
        tables.push(table);
    }
    print_table(&tables[1])?;
    if let Some(dir) = &args.out {
        for (table, when) in tables.iter().zip(["before", "after"]) {
            let title = format!("Reliability on {}, {when} {}", data.name, stored.map.method_name());
            sbn::plot::reliability_diagram(table, &title, dir.join(format!("reliability_{when}")))?;
        }
    }
    if args.save {
        save_posthoc(&args.model, stored)?;
    }
    Ok(())
}

/// Stores `stored` in the model file at `path`: under its lock (no `sbn fit` writing it at the
/// same time), read afresh, written atomically.
fn save_posthoc(path: &std::path::Path, stored: PostHocFit) -> Result<()> {
    let _lock = OutputLock::acquire(path, "sbn calibrate --save")?;
    let bytes = std::fs::read(path).map_err(|e| sbn::SbnError::io(path, e))?;
    // Writing it back would quantize the quantized logits again or silently make it a full
    // model file: neither is what the file's owner asked for.
    anyhow::ensure!(
        !ModelFile::is_compact(&bytes),
        "--save: {} is a compact model file; calibrate the model file it was exported from with --save, then export it again",
        path.display()
    );
    let mut file = ModelFile::from_bytes(&bytes, &path.display().to_string())?;
    file.fitted = file.fitted.with_posthoc(Some(stored))?;
    file.save(path)?;
    eprintln!("post-hoc calibration stored in {}; predict with it by adding --posthoc", path.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct UncertaintyArgs {
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Out-of-distribution data (same input size).
    #[arg(long)]
    ood: Option<String>,
    #[command(flatten)]
    intervals: IntervalArgs,
    #[command(flatten)]
    predict: PredictFlags,
}

pub fn uncertainty(args: UncertaintyArgs) -> Result<()> {
    let bootstrap = args.intervals.requested(args.predict.mc.seed)?;
    let models = args.predict.load(&args.model)?;
    let predictor = args.predict.predictor(&models)?;
    let data = args.data.load_for(&predictor)?;
    let config = args.predict.mc.config_for(&predictor, data.len())?;
    let class_names = predictor.classes();
    if matches!(models[0].1.posthoc.as_ref().map(|p| &p.map), Some(PostHoc::Histogram { .. })) && args.predict.posthoc.posthoc {
        eprintln!("note: histogram binning calibrates the mixture p̄ only; the calibrated predictive's model part is 0 by construction");
    }
    let (pred, _) = evaluate(&predictor, &data, &config)?;
    let labels = data.require_labels("the uncertainty summary")?;
    let summary = Uncertainty::from_predictive(&pred)?.summarize(&pred.means(), pred.n_classes, labels)?;
    out!("uncertainty in nats (S_w = {}, S_z = {}): total = data + model", config.weight_samples, config.noise_samples);
    out!("{:<16} {:>7} {:>9} {:>9} {:>9}", "examples", "n", "total", "data", "model");
    let rows = [("all", &summary.overall), ("correct", &summary.correct), ("incorrect", &summary.incorrect)];
    let by_class = summary.by_class.iter().enumerate().map(|(k, p)| (class_names.get(k).map_or("?", |s| s.as_str()), p));
    for (name, p) in rows.into_iter().chain(by_class) {
        out!("{:<16} {:>7} {:>9.4} {:>9.4} {:>9.4}", name, p.count, p.total, p.data, p.model);
    }
    if let Some(b) = &bootstrap {
        let c = ScoreIntervals::compute(&pred, labels, b)?;
        for (name, i) in [("total", c.total), ("data", c.data), ("model", c.model)] {
            out!(
                "mean {name:<6} {:.4} [{:.4}, {:.4}] ({:.0}% percentile bootstrap, {} resamples)",
                i.estimate,
                i.lower,
                i.upper,
                100.0 * b.confidence,
                b.replicates
            );
        }
    }
    print_scores_by_class(&format!("mean scores on {} by true class", data.name), &pred, labels, class_names)?;
    if let Some(o) = &args.ood {
        let ood = load_features(o, predictor.input_dim())?;
        let ood_pred = predict_dataset(&predictor, &ood, &config)?;
        let predicted: Vec<usize> = (0..ood_pred.n_examples).map(|n| argmax(&ood_pred.mean(n))).collect();
        print_scores_by_class(&format!("mean scores on {} (OOD) by predicted class", ood.name), &ood_pred, &predicted, class_names)?;
        out!("\nOOD detection: {} (negatives) against {} (positives)", data.name, ood.name);
        let ci = bootstrap.map(|b| auroc_intervals(&pred, &ood_pred, &b)).transpose()?;
        out!("{:<30} {:>8} {:>18} {:>8} {:>14}", "score", "AUROC", ci.as_ref().map_or("", |_| "AUROC interval"), "AUPR", "FPR at 95% TPR");
        for (k, r) in ood_table(&pred, &ood_pred)?.iter().enumerate() {
            let span = ci.as_ref().map_or(String::new(), |c| format!("[{:.4}, {:.4}]", c[k].1.lower, c[k].1.upper));
            out!("{:<30} {:>8.4} {span:>18} {:>8.4} {:>14.4}", r.score, r.result.auroc, r.result.aupr, r.result.fpr_at_95_tpr);
        }
    }
    Ok(())
}

/// The mean of every OOD score per class (`class_of`: the label or the predicted class).
fn print_scores_by_class(title: &str, pred: &Predictive, class_of: &[usize], class_names: &[String]) -> Result<()> {
    out!("\n{title}");
    out!("{:<16} {:>7} {}", "class", "n", ScoreKind::ALL.map(|k| format!("{:>14}", short_name(k))).join(""));
    for (k, (count, means)) in mean_scores_by_class(pred, &ScoreKind::ALL, class_of)?.iter().enumerate() {
        out!("{:<16} {:>7} {}", class_names.get(k).map_or("?", |s| s.as_str()), count, means.iter().map(|m| format!("{m:>14.4}")).collect::<String>());
    }
    Ok(())
}

/// Column headers of the scores (the full names are too wide for a table of six).
fn short_name(kind: ScoreKind) -> &'static str {
    match kind {
        ScoreKind::MaxProbability => "1 - max p",
        ScoreKind::Total => "total",
        ScoreKind::Data => "expected H",
        ScoreKind::Model => "model (MI)",
        ScoreKind::Energy => "energy",
        ScoreKind::VariationRatio => "var. ratio",
    }
}
