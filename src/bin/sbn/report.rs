//! `sbn report`, `sbn calibrate` and `sbn uncertainty`: calibration, the model/data split of
//! uncertainty and OOD detection of a fitted model.

use std::path::PathBuf;

use anyhow::Result;
use sbn::evaluate::{evaluate, predict_dataset};
use sbn::metrics::calibration::{Binning, reliability};
use sbn::metrics::scores::ECE_BINS;
use sbn::report::{ood_table, training_curves, write_report};
use sbn::uncertainty::Uncertainty;

use crate::common::{DataArgs, McArgs, load_features};

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
    mc: McArgs,
}

pub fn report(args: ReportArgs) -> Result<()> {
    let model = args.mc.load_model(&args.model)?;
    let data = args.data.load_for(&model)?;
    let ood = args.ood.as_deref().map(|o| load_features(o, model.network.input_dim())).transpose()?;
    let mut name = args.model.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
    if args.mc.posterior_temperature != 1.0 {
        name = format!("{name} (posterior tempered to τ = {})", args.mc.posterior_temperature);
    }
    let config = args.mc.config_for(&model.network, data.len().max(ood.as_ref().map_or(0, |o| o.len())))?;
    let m = write_report(&model, &name, &data, ood.as_ref(), &config, &args.out)?;
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
    #[command(flatten)]
    mc: McArgs,
}

pub fn calibrate(args: CalibrateArgs) -> Result<()> {
    anyhow::ensure!(args.bins > 0, "--bins must be at least 1");
    sbn::limits::ensure_fits(&format!("--bins {}", args.bins), "the reliability table", sbn::limits::product(&[args.bins, 64]))?;
    let model = args.mc.load_model(&args.model)?;
    let data = args.data.load_for(&model)?;
    let (pred, scores) = evaluate(&model, &data, &args.mc.config_for(&model.network, data.len())?)?;
    let binning = if args.equal_mass { Binning::EqualMass(args.bins) } else { Binning::EqualWidth(args.bins) };
    let table = reliability(&pred.means(), pred.n_classes, data.require_labels("calibration")?, binning)?;
    out!(
        "accuracy {:.2}%  NLL {:.4}  Brier {:.4}  ECE {:.2}%  MCE {:.2}%  classwise ECE {:.2}%",
        100.0 * scores.accuracy,
        scores.nll,
        scores.brier,
        100.0 * table.ece(),
        100.0 * table.mce(),
        100.0 * scores.classwise_ece
    );
    out!("{:>8} {:>8} {:>8} {:>9} {:>11}", "lower", "upper", "count", "accuracy", "confidence");
    for b in &table.bins {
        out!("{:>8.3} {:>8.3} {:>8} {:>9.4} {:>11.4}", b.lower, b.upper, b.count, b.accuracy, b.confidence);
    }
    if let Some(dir) = &args.out {
        sbn::plot::reliability_diagram(&table, &format!("Reliability on {}", data.name), dir.join("reliability"))?;
        training_curves(&model, &data.name, dir)?;
    }
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
    mc: McArgs,
}

pub fn uncertainty(args: UncertaintyArgs) -> Result<()> {
    let model = args.mc.load_model(&args.model)?;
    let data = args.data.load_for(&model)?;
    let config = args.mc.config_for(&model.network, data.len())?;
    let (pred, _) = evaluate(&model, &data, &config)?;
    let summary = Uncertainty::from_predictive(&pred)?.summarize(&pred.means(), pred.n_classes, data.require_labels("the uncertainty summary")?)?;
    out!("uncertainty in nats (S_w = {}, S_z = {}): total = data + model", config.weight_samples, config.noise_samples);
    out!("{:<16} {:>7} {:>9} {:>9} {:>9}", "examples", "n", "total", "data", "model");
    let rows = [("all", &summary.overall), ("correct", &summary.correct), ("incorrect", &summary.incorrect)];
    let by_class = summary.by_class.iter().enumerate().map(|(k, p)| (model.class_names.get(k).map_or("?", |s| s.as_str()), p));
    for (name, p) in rows.into_iter().chain(by_class) {
        out!("{:<16} {:>7} {:>9.4} {:>9.4} {:>9.4}", name, p.count, p.total, p.data, p.model);
    }
    if let Some(o) = &args.ood {
        let ood = load_features(o, model.network.input_dim())?;
        let ood_pred = predict_dataset(&model, &ood, &config)?;
        out!("\nOOD detection: {} (negatives) against {} (positives)", data.name, ood.name);
        out!("{:<16} {:>8} {:>8} {:>14}", "score", "AUROC", "AUPR", "FPR at 95% TPR");
        for r in ood_table(&pred, &ood_pred)? {
            out!("{:<16} {:>8.4} {:>8.4} {:>14.4}", r.score, r.result.auroc, r.result.aupr, r.result.fpr_at_95_tpr);
        }
    }
    Ok(())
}
