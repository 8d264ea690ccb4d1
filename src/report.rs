//! The report of a fitted model on a data set (and optionally on out-of-distribution data):
//! metrics JSON, plots (PNG + SVG) and a short Markdown summary.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::data::Dataset;
use crate::error::{Result, SbnError};
use crate::evaluate::{Calibrated, Predictor, evaluate, predict_dataset};
use crate::fitted::FittedModel;
use crate::intervals::{ScoreIntervals, auroc_intervals};
use crate::io::write_atomic;
use crate::metrics::calibration::{Binning, ReliabilityTable, reliability};
use crate::metrics::interval::{Bootstrap, Interval, wilson};
use crate::metrics::ood::{OodScores, ood_detection};
use crate::metrics::scores::{ECE_BINS, Scores};
use crate::metrics::selective::RiskCoverage;
use crate::metrics::top_label;
use crate::montecarlo::McConfig;
use crate::plot::{self, LineChart, Series};
use crate::posthoc::PostHoc;
use crate::predictive::Predictive;
use crate::uncertainty::{ScoreKind, Uncertainty, UncertaintySummary, scores};

/// OOD detection for one score.
#[derive(Clone, Debug, Serialize)]
pub struct OodRow {
    /// The score's name ([`ScoreKind::name`]).
    pub score: &'static str,
    /// AUROC, AUPR and FPR at 95 % TPR of that score.
    #[serde(flatten)]
    pub result: OodScores,
}

/// Accuracy and NLL of the predictive built from the first `weight_samples` weight samples.
#[derive(Clone, Debug, Serialize)]
pub struct SampleSweepRow {
    /// The number of weight samples used, `S_w`.
    pub weight_samples: usize,
    /// `S_z` per weight sample (the predictive's, the same in every row).
    pub noise_samples: usize,
    /// Accuracy of that predictive.
    pub accuracy: f64,
    /// Its NLL (nats per example).
    pub nll: f64,
}

/// Everything `metrics.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct ReportMetrics {
    /// The model's name, as given to [`write_report`].
    pub model: String,
    /// The name of the data set evaluated.
    pub data: String,
    /// The scores of the MC predictive `p̄` on the data.
    pub scores: Scores,
    /// Top-label reliability table, [`ECE_BINS`] equal-width bins (the reliability diagram's).
    pub reliability: ReliabilityTable,
    /// Area under the risk–coverage curve, confidence `max_k p̄_k`.
    pub aurc: f64,
    /// Mean total, data and model uncertainty (nats): overall, per class, on hits and misses.
    pub uncertainty: UncertaintySummary,
    /// OOD detection for every score of [`ScoreKind::ALL`], when OOD data was given.
    pub ood: Option<Vec<OodRow>>,
    /// The name of the OOD data set, when one was given.
    pub ood_data: Option<String>,
    /// Accuracy and NLL from the first 1, 2, 4, … and all `S_w` weight samples.
    pub sample_sweep: Vec<SampleSweepRow>,
    /// Mean binary entropy of the Bernoulli weights' `q` (nats; 0 without Bernoulli weights).
    pub weight_entropy: f64,
    /// Share of Bernoulli weights with `0.05 < q < 0.95` (0 without Bernoulli weights).
    pub uncertain_share: f64,
    /// The post-hoc calibration applied to the predictive, when one was ([`ReportOptions`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posthoc: Option<PostHoc>,
    /// Wilson interval (95 %, or the bootstrap's level) of the accuracy.
    pub accuracy_interval: Interval,
    /// Bootstrap and Wilson intervals of the scores, when asked for ([`ReportOptions::intervals`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<ScoreIntervals>,
    /// Bootstrap intervals of the OOD AUROC of every score (by name), when asked for and OOD data
    /// was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ood_auroc_intervals: Option<Vec<(String, Interval)>>,
}

/// What a report adds to the plain one.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// Calibrate the predictive with this map before anything is computed from it.
    pub posthoc: Option<PostHoc>,
    /// Bootstrap intervals around the scores (and OOD AUROCs) with these settings.
    pub intervals: Option<Bootstrap>,
}

/// The intervals of a report: the accuracy's Wilson interval; the scores' and the OOD AUROCs'
/// bootstrap intervals when asked for.
type ReportIntervals = (Interval, Option<ScoreIntervals>, Option<Vec<(String, Interval)>>);

/// The intervals of a report: the accuracy's Wilson interval always, the rest when asked for.
fn report_intervals(pred: &Predictive, ood: Option<&Predictive>, labels: &[usize], options: &ReportOptions) -> Result<ReportIntervals> {
    let level = options.intervals.map_or(0.95, |b| b.confidence);
    let scores = Scores::from_predictive(pred, labels)?;
    let accuracy = wilson((scores.accuracy * scores.n_examples as f64).round() as usize, scores.n_examples, level)?;
    let Some(b) = &options.intervals else { return Ok((accuracy, None, None)) };
    let ood = ood.map(|o| auroc_intervals(pred, o, b)).transpose()?;
    Ok((accuracy, Some(ScoreIntervals::compute(pred, labels, b)?), ood))
}

/// `model` as it predicts in a report: calibrated by the options' map, if any.
fn report_predictor<'m>(model: &'m FittedModel, options: &ReportOptions) -> Result<Box<dyn Predictor + 'm>> {
    Ok(match &options.posthoc {
        Some(map) => Box::new(Calibrated::new(model, map.clone())?),
        None => Box::new(model),
    })
}

/// OOD detection (OOD = positives) for every score of [`ScoreKind`].
pub fn ood_table(in_dist: &Predictive, ood: &Predictive) -> Result<Vec<OodRow>> {
    ScoreKind::ALL.iter().map(|&kind| Ok(OodRow { score: kind.name(), result: ood_detection(&scores(in_dist, kind)?, &scores(ood, kind)?)? })).collect()
}

/// Accuracy and NLL of the predictive restricted to its first `s` weight samples, for `s` = 1, 2,
/// 4, … up to all of them (no new sampling needed).
pub fn sample_sweep(pred: &Predictive, labels: &[usize]) -> Result<Vec<SampleSweepRow>> {
    let k = pred.n_classes;
    let mut counts: Vec<usize> = std::iter::successors(Some(1usize), |s| Some(s * 2)).take_while(|&s| s < pred.weight_samples).collect();
    counts.push(pred.weight_samples);
    counts
        .into_iter()
        .map(|s| {
            let mut probs = Vec::with_capacity(pred.n_examples * k);
            for n in 0..pred.n_examples {
                let mut p = vec![0.0; k];
                for t in 0..s {
                    p.iter_mut().zip(pred.sample(n, t)).for_each(|(a, v)| *a += v / s as f64);
                }
                probs.extend(p);
            }
            let sc = Scores::compute(&probs, k, labels)?;
            Ok(SampleSweepRow { weight_samples: s, noise_samples: pred.noise_samples, accuracy: sc.accuracy, nll: sc.nll })
        })
        .collect()
}

/// Training curves from a model file's history; an error when it has none.
pub fn training_curves(model: &FittedModel, title: &str, dir: &Path) -> Result<()> {
    if model.history.is_empty() {
        return Err(SbnError::invalid("model file", "has no training history, so there are no training curves to draw"));
    }
    let x: Vec<f64> = model.history.iter().map(|r| r.epoch as f64).collect();
    let series = |name: &str, f: fn(&crate::train::EpochRecord) -> f64| Series { name: name.into(), y: model.history.iter().map(f).collect() };
    plot::line_chart(
        &LineChart {
            title: format!("{title}: loss"),
            x_label: "epoch".into(),
            y_label: "nats per example".into(),
            x: x.clone(),
            series: vec![series("train NLL (estimate)", |r| r.train_nll), series("validation NLL (MC predictive)", |r| r.valid_nll)],
            log_x: false,
        },
        dir.join("training_loss"),
    )?;
    plot::line_chart(
        &LineChart {
            title: format!("{title}: validation accuracy"),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            x,
            series: vec![series("validation accuracy", |r| r.valid_accuracy), series("weights with q in (0.05, 0.95)", |r| r.uncertain_share)],
            log_x: false,
        },
        dir.join("training_accuracy"),
    )?;
    Ok(())
}

/// Writes `metrics.json`, the plots and `summary.md` into `dir` and returns the metrics.
pub fn write_report(model: &FittedModel, model_name: &str, data: &Dataset, ood: Option<&Dataset>, config: &McConfig, dir: &Path) -> Result<ReportMetrics> {
    write_report_with(model, model_name, data, ood, config, dir, &ReportOptions::default())
}

/// [`write_report`] with options (a post-hoc calibration).
pub fn write_report_with(
    model: &FittedModel,
    model_name: &str,
    data: &Dataset,
    ood: Option<&Dataset>,
    config: &McConfig,
    dir: &Path,
    options: &ReportOptions,
) -> Result<ReportMetrics> {
    if dir.is_file() {
        return Err(SbnError::invalid(dir.display().to_string(), "is a file; the report needs a folder"));
    }
    let labels = data.labels_for(&model.class_names)?;
    let predictor = report_predictor(model, options)?;
    let (pred, sc) = evaluate(&predictor, data, config)?;
    let k = pred.n_classes;
    let probs = pred.means();
    let table = reliability(&probs, k, &labels, Binning::EqualWidth(ECE_BINS))?;
    let (confidence, correct) = top_label(&probs, k, &labels)?;
    let rc = RiskCoverage::new(&confidence, &correct)?;
    let unc = Uncertainty::from_predictive(&pred)?;
    let summary = unc.summarize(&probs, k, &labels)?;
    let ood_pred = ood.map(|o| predict_dataset(&predictor, o, config)).transpose()?;
    let ood_rows = ood_pred.as_ref().map(|o| ood_table(&pred, o)).transpose()?;
    let sweep = sample_sweep(&pred, &labels)?;
    let (accuracy_interval, intervals, ood_auroc_intervals) = report_intervals(&pred, ood_pred.as_ref(), &labels, options)?;
    let (weight_entropy, uncertain_share) = model.network.posterior_spread();
    // Only now that every number is computed: a failed report leaves no folder behind.
    std::fs::create_dir_all(dir).map_err(|e| SbnError::io(dir, e))?;

    plot::reliability_diagram(&table, &format!("Reliability: {model_name} on {}", data.name), dir.join("reliability"))?;
    plot::risk_coverage(&[(model_name, &rc)], &format!("Risk-coverage on {}", data.name), dir.join("risk_coverage"))?;
    let ood_unc = ood_pred.as_ref().map(Uncertainty::from_predictive).transpose()?;
    uncertainty_histograms(&unc, ood_unc.as_ref(), &correct, &data.name, ood.map(|d| d.name.as_str()), dir)?;
    sweep_chart(&sweep, pred.noise_samples, dir)?;
    let has_curves = !model.history.is_empty();
    if has_curves {
        training_curves(model, model_name, dir)?;
    }

    let metrics = ReportMetrics {
        model: model_name.into(),
        data: data.name.clone(),
        scores: sc,
        reliability: table,
        aurc: rc.aurc,
        uncertainty: summary,
        ood: ood_rows,
        ood_data: ood.map(|d| d.name.clone()),
        sample_sweep: sweep,
        weight_entropy,
        uncertain_share,
        posthoc: options.posthoc.clone(),
        accuracy_interval,
        intervals,
        ood_auroc_intervals,
    };
    write_atomic(&dir.join("metrics.json"), serde_json::to_string_pretty(&metrics).expect("metrics serialize").as_bytes())?;
    write_atomic(&dir.join("summary.md"), markdown(&metrics, config, has_curves).as_bytes())?;
    Ok(metrics)
}

/// Histograms of the three parts: against the OOD data's when given, else split by correctness.
fn uncertainty_histograms(unc: &Uncertainty, ood_unc: Option<&Uncertainty>, correct: &[bool], data: &str, ood: Option<&str>, dir: &Path) -> Result<()> {
    for (part, values, ood_values) in
        [("total", &unc.total, ood_unc.map(|u| &u.total)), ("data", &unc.data, ood_unc.map(|u| &u.data)), ("model", &unc.model, ood_unc.map(|u| &u.model))]
    {
        let title = format!("{part} uncertainty (nats)");
        let stem = dir.join(format!("uncertainty_{part}"));
        match ood_values {
            Some(o) => plot::score_histogram(values, o, &title, &format!("{title}: {data} against {}", ood.unwrap_or("")), stem)?,
            None => {
                let right: Vec<f64> = values.iter().zip(correct).filter(|(_, c)| **c).map(|(v, _)| *v).collect();
                let wrong: Vec<f64> = values.iter().zip(correct).filter(|(_, c)| !**c).map(|(v, _)| *v).collect();
                let mut groups: Vec<(&str, &[f64])> = vec![("correct", &right)];
                if !wrong.is_empty() {
                    groups.push(("incorrect", &wrong));
                }
                plot::group_histogram(&groups, &title, &format!("{title} on {data}"), stem)?
            }
        };
    }
    Ok(())
}

/// Accuracy and NLL against the number of weight samples.
fn sweep_chart(sweep: &[SampleSweepRow], noise_samples: usize, dir: &Path) -> Result<()> {
    plot::line_chart(
        &LineChart {
            title: format!("Accuracy and NLL against weight samples (S_z = {noise_samples})"),
            x_label: "weight samples S_w".into(),
            y_label: "accuracy / NLL (nats)".into(),
            x: sweep.iter().map(|r| r.weight_samples as f64).collect(),
            series: vec![
                Series { name: "accuracy".into(), y: sweep.iter().map(|r| r.accuracy).collect() },
                Series { name: "NLL".into(), y: sweep.iter().map(|r| r.nll).collect() },
            ],
            log_x: true,
        },
        dir.join("samples"),
    )?;
    Ok(())
}

fn markdown(m: &ReportMetrics, config: &McConfig, has_curves: bool) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {} on {}\n", m.model, m.data);
    let _ = writeln!(
        md,
        "Monte Carlo predictive: S_w = {} weight samples × S_z = {} noise samples, seed {}.\n",
        config.weight_samples, config.noise_samples, config.seed
    );
    if let Some(map) = &m.posthoc {
        let _ = writeln!(md, "Post-hoc calibration applied (docs/math.md §10): {map}.\n");
    }
    scores_table(&mut md, m);
    let u = &m.uncertainty;
    let _ = writeln!(md, "## Uncertainty (nats): total = data + model\n\n| examples | n | total | data | model |\n|---|---|---|---|---|");
    for (name, p) in [("all", &u.overall), ("correct", &u.correct), ("incorrect", &u.incorrect)] {
        let _ = writeln!(md, "| {name} | {} | {:.4} | {:.4} | {:.4} |", p.count, p.total, p.data, p.model);
    }
    if let Some(i) = &m.intervals {
        let _ = writeln!(
            md,
            "| all, {} | | {} | {} | {} |",
            level_name(i.bootstrap.confidence),
            span(&i.total, 1.0, 4),
            span(&i.data, 1.0, 4),
            span(&i.model, 1.0, 4)
        );
    }
    if let Some(rows) = &m.ood {
        ood_table_md(&mut md, m, rows);
    }
    let _ = writeln!(md, "\n## Plots\n\n![reliability](reliability.png)\n![risk-coverage](risk_coverage.png)\n![samples](samples.png)");
    for part in ["total", "data", "model"] {
        let _ = writeln!(md, "![{part} uncertainty](uncertainty_{part}.png)");
    }
    if has_curves {
        let _ = writeln!(md, "![training loss](training_loss.png)\n![training accuracy](training_accuracy.png)");
    }
    md
}

/// `[lower, upper]` of an interval, scaled (100 for percentages) to `places` decimals.
fn span(i: &Interval, scale: f64, places: usize) -> String {
    format!("[{:.places$}, {:.places$}]", scale * i.lower, scale * i.upper)
}

/// "95% interval" for a level of 0.95.
fn level_name(level: f64) -> String {
    format!("{:.0}% interval", 100.0 * level)
}

/// The headline scores, with their intervals where computed.
fn scores_table(md: &mut String, m: &ReportMetrics) {
    let s = &m.scores;
    let i = m.intervals.as_ref();
    let level = level_name(i.map_or(0.95, |i| i.bootstrap.confidence));
    let _ = writeln!(md, "| metric | value | {level} |\n|---|---|---|");
    let _ = writeln!(md, "| examples | {} | |", s.n_examples);
    let _ = writeln!(md, "| accuracy | {:.2}% | {} (Wilson) |", 100.0 * s.accuracy, span(&m.accuracy_interval, 100.0, 2));
    let boot =
        |f: fn(&ScoreIntervals) -> &Interval, scale: f64, places: usize| i.map_or(String::new(), |i| format!("{} (bootstrap)", span(f(i), scale, places)));
    let _ = writeln!(md, "| NLL (nats) | {:.4} | {} |", s.nll, boot(|i| &i.nll, 1.0, 4));
    let _ = writeln!(md, "| Brier (sum over classes) | {:.4} | {} |", s.brier, boot(|i| &i.brier, 1.0, 4));
    let _ = writeln!(md, "| ECE, 15 equal-width bins | {:.2}% | {} |", 100.0 * s.ece, boot(|i| &i.ece, 100.0, 2));
    let _ = writeln!(md, "| ECE, 15 equal-mass bins | {:.2}% | |", 100.0 * s.ece_equal_mass);
    let _ = writeln!(md, "| MCE | {:.2}% | |", 100.0 * s.mce);
    let _ = writeln!(md, "| classwise ECE | {:.2}% | |", 100.0 * s.classwise_ece);
    let _ = writeln!(md, "| AURC | {:.4} | |", m.aurc);
    let _ = writeln!(md, "| mean weight entropy (nats) | {:.4} | |", m.weight_entropy);
    let _ = writeln!(md, "| weights with q in (0.05, 0.95) | {:.1}% | |\n", 100.0 * m.uncertain_share);
    if let Some(i) = i {
        let _ = writeln!(
            md,
            "Intervals: Wilson for the accuracy; percentile bootstrap, {} resamples, seed {}, for the rest.\n",
            i.bootstrap.replicates, i.bootstrap.seed
        );
    }
}

/// OOD detection per score, with the AUROC's interval where computed.
fn ood_table_md(md: &mut String, m: &ReportMetrics, rows: &[OodRow]) {
    let _ = writeln!(
        md,
        "\n## Out-of-distribution detection ({} = positives)\n\n| score | AUROC | AUROC interval | AUPR | FPR at 95% TPR |\n|---|---|---|---|---|",
        m.ood_data.as_deref().unwrap_or("OOD")
    );
    for r in rows {
        let ci = m.ood_auroc_intervals.as_ref().and_then(|v| v.iter().find(|(name, _)| name == r.score)).map_or(String::new(), |(_, i)| span(i, 1.0, 4));
        let _ = writeln!(md, "| {} | {:.4} | {ci} | {:.4} | {:.4} |", r.score, r.result.auroc, r.result.aupr, r.result.fpr_at_95_tpr);
    }
}

/// The uncertainty split of `model` on an `nx × ny` grid over a 2-D input rectangle, row by row from
/// the bottom (`values[iy * nx + ix]`), for maps of the data and model parts.
pub fn uncertainty_grid(model: &FittedModel, x_range: (f64, f64), y_range: (f64, f64), nx: usize, ny: usize, config: &McConfig) -> Result<Uncertainty> {
    if nx < 2 || ny < 2 {
        return Err(SbnError::invalid("grid", "needs at least 2 points per axis"));
    }
    let mut features = Vec::with_capacity(2 * nx * ny);
    for iy in 0..ny {
        for ix in 0..nx {
            features.push(x_range.0 + (x_range.1 - x_range.0) * ix as f64 / (nx - 1) as f64);
            features.push(y_range.0 + (y_range.1 - y_range.0) * iy as f64 / (ny - 1) as f64);
        }
    }
    let grid = Dataset::unlabelled("grid", crate::data::Features::Real(features), 2)?;
    Uncertainty::from_predictive(&predict_dataset(model, &grid, config)?)
}

/// Heat maps of the data part and the model part over the plane, with the training points on top
/// (`uncertainty_map_data` and `uncertainty_map_model` in `dir`). Returns the grid's split.
pub fn uncertainty_maps(model: &FittedModel, train: &Dataset, x_range: (f64, f64), y_range: (f64, f64), config: &McConfig, dir: &Path) -> Result<Uncertainty> {
    if train.dim != 2 {
        return Err(SbnError::invalid(&train.name, format!("uncertainty maps need 2-D inputs, the data has {} features", train.dim)));
    }
    let (nx, ny) = (80, 60);
    let unc = uncertainty_grid(model, x_range, y_range, nx, ny, config)?;
    let points: Vec<plot::LabelledPoint> = train
        .require_labels("uncertainty maps")?
        .iter()
        .enumerate()
        .map(|(n, &label)| plot::LabelledPoint { x: train.feature(n, 0), y: train.feature(n, 1), label })
        .collect();
    for (part, values) in [("data", &unc.data), ("model", &unc.model)] {
        plot::heat_map(
            &plot::HeatMap {
                title: format!("{part} part of the predictive uncertainty (S_w = {}, S_z = {})", config.weight_samples, config.noise_samples),
                x_label: "x1".into(),
                y_label: "x2".into(),
                value_label: "nats".into(),
                x_range,
                y_range,
                nx,
                ny,
                values: values.clone(),
                points: points.clone(),
            },
            dir.join(format!("uncertainty_map_{part}")),
        )?;
    }
    Ok(unc)
}
