//! The shift benchmark (docs/math.md §9): a fitted model on clean test images and on shifted
//! copies of them ([`crate::data::shift`]), kind by kind and severity by severity, in the manner
//! of Ovadia et al. 2019: accuracy, NLL, Brier and ECE of the predictive, the mean total, data and
//! model parts of its uncertainty, and how well each uncertainty score tells the shifted images
//! from the clean ones (AUROC, shifted = positives). [`write_shift_report`] writes it as
//! `shift.json`, `shift.md` and plots.
//!
//! ```
//! use sbn::data::embedded::digits;
//! use sbn::data::shift::ShiftKind;
//! use sbn::montecarlo::McConfig;
//! use sbn::session::{fit, FitOptions};
//! use sbn::shift::{benchmark, ShiftConfig};
//! use sbn::spec::{ModelSpec, NetworkSpec};
//!
//! # fn main() -> sbn::Result<()> {
//! let mut spec = ModelSpec::new(NetworkSpec::dense(&[16], sbn::WeightKind::Bernoulli));
//! spec.training.epochs = 1;
//! let (train, test) = digits().split(0.2, 1);
//! let (train, valid) = train.split(0.2, 1);
//! let model = fit(&spec.check("spec")?, &train, &valid, &FitOptions::default(), &mut ())?.model;
//!
//! let shifts = ShiftConfig::new(&[(ShiftKind::Rotate, vec![45.0, 90.0])], 1)?;
//! let mc = McConfig { weight_samples: 2, noise_samples: 2, ..McConfig::default() };
//! let report = benchmark(&model, &test, &shifts, &mc)?;
//! let rotated = &report.kinds[0].results;
//! assert_eq!(rotated.len(), 2);
//! assert!(rotated[1].accuracy < report.clean.accuracy);
//! # Ok(())
//! # }
//! ```

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::data::Dataset;
use crate::data::shift::{Shift, ShiftKind, image_shape};
use crate::error::{Result, SbnError};
use crate::evaluate::{Predictor, predict_dataset};
use crate::io::write_atomic;
use crate::metrics::ood::auroc;
use crate::metrics::scores::Scores;
use crate::montecarlo::McConfig;
use crate::plot::{self, LineChart, Panels, Series};
use crate::predictive::Predictive;
use crate::uncertainty::{PartMeans, ScoreKind, Uncertainty, scores};

/// Which shifts the benchmark runs: kinds, each with its severities, and the seed of their random
/// draws. Always valid: at least one kind, no kind twice, every kind with at least one severity,
/// every severity valid for its kind ([`Shift::new`]), severities in increasing order.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftConfig {
    plan: Vec<(ShiftKind, Vec<Shift>)>,
    seed: u64,
}

impl ShiftConfig {
    /// The shifts `plan` lists (severities in each kind's unit; sorted here, repeats dropped) with
    /// random draws from `seed`. An empty plan, a kind listed twice or with no severity, or a bad
    /// severity is an error naming the kind.
    pub fn new(plan: &[(ShiftKind, Vec<f64>)], seed: u64) -> Result<ShiftConfig> {
        if plan.is_empty() {
            return Err(SbnError::invalid("shift kinds", format!("none given; expected one or more of {}", ShiftKind::names())));
        }
        let mut checked: Vec<(ShiftKind, Vec<Shift>)> = Vec::new();
        for (kind, severities) in plan {
            if checked.iter().any(|(k, _)| k == kind) {
                return Err(SbnError::invalid("shift kinds", format!("`{kind}` is listed twice")));
            }
            if severities.is_empty() {
                return Err(SbnError::invalid(format!("{kind} severities"), "none given; expected at least one"));
            }
            let mut shifts = severities.iter().map(|&s| Shift::new(*kind, s)).collect::<Result<Vec<_>>>()?;
            shifts.sort_by(|a, b| a.severity().total_cmp(&b.severity()));
            shifts.dedup_by(|a, b| a.severity() == b.severity());
            checked.push((*kind, shifts));
        }
        Ok(ShiftConfig { plan: checked, seed })
    }

    /// `kinds` at their default severities for `rows × cols` images ([`ShiftKind::default_severities`]).
    pub fn defaults(kinds: &[ShiftKind], rows: usize, cols: usize, seed: u64) -> Result<ShiftConfig> {
        let plan: Vec<(ShiftKind, Vec<f64>)> = kinds.iter().map(|&k| (k, k.default_severities(rows, cols))).collect();
        ShiftConfig::new(&plan, seed)
    }

    /// The kinds and their shifts, in the order given, mildest first within a kind.
    pub fn plan(&self) -> &[(ShiftKind, Vec<Shift>)] {
        &self.plan
    }

    /// The seed of the shifts' random draws.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of data sets evaluated: the clean one and one per shift.
    pub fn n_sets(&self) -> usize {
        1 + self.plan.iter().map(|(_, s)| s.len()).sum::<usize>()
    }
}

/// AUROC of each uncertainty score of [`ScoreKind::ALL`] at telling shifted images (positives)
/// from the clean ones: 0.5 is chance, 1 a perfect split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OodAuroc {
    /// By `1 − max_k p̄_k`.
    pub max_probability: f64,
    /// By the total uncertainty `H[p̄]`.
    pub total: f64,
    /// By the model part (mutual information).
    pub model: f64,
    /// By the data part (the expected entropy).
    pub data: f64,
    /// By the energy score.
    pub energy: f64,
    /// By the variation ratio.
    pub variation_ratio: f64,
}

impl OodAuroc {
    /// The AUROC by `kind`.
    pub fn get(&self, kind: ScoreKind) -> f64 {
        match kind {
            ScoreKind::MaxProbability => self.max_probability,
            ScoreKind::Total => self.total,
            ScoreKind::Model => self.model,
            ScoreKind::Data => self.data,
            ScoreKind::Energy => self.energy,
            ScoreKind::VariationRatio => self.variation_ratio,
        }
    }

    /// The AUROCs `by(kind)` of every score.
    fn from_fn(mut by: impl FnMut(ScoreKind) -> Result<f64>) -> Result<OodAuroc> {
        Ok(OodAuroc {
            max_probability: by(ScoreKind::MaxProbability)?,
            total: by(ScoreKind::Total)?,
            model: by(ScoreKind::Model)?,
            data: by(ScoreKind::Data)?,
            energy: by(ScoreKind::Energy)?,
            variation_ratio: by(ScoreKind::VariationRatio)?,
        })
    }
}

/// The model on one data set (clean, or one kind at one severity).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetResult {
    /// The severity in the kind's unit (0 for the clean data).
    pub severity: f64,
    /// Accuracy of the predictive `p̄`.
    pub accuracy: f64,
    /// NLL (nats per example).
    pub nll: f64,
    /// Brier score (sum over classes).
    pub brier: f64,
    /// ECE, 15 equal-width bins.
    pub ece: f64,
    /// Mean total, data and model uncertainty (nats).
    pub uncertainty: PartMeans,
    /// Shifted against clean, per score; `None` for the clean data itself.
    pub auroc: Option<OodAuroc>,
}

/// One kind of shift at each of its severities.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindResult {
    /// The kind.
    pub kind: ShiftKind,
    /// The unit of its severities.
    pub unit: &'static str,
    /// One row per severity, mildest first.
    pub results: Vec<SetResult>,
}

/// Everything the benchmark measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShiftReport {
    /// The name of the clean data set.
    pub data: String,
    /// Number of examples in every set.
    pub n_examples: usize,
    /// `S_w` of the predictive (of an ensemble: all members' weight samples, pooled; of a packed
    /// network: 1).
    pub weight_samples: usize,
    /// `S_z` per weight sample.
    pub noise_samples: usize,
    /// Seed of the Monte Carlo draws (the same for every set, so the sets differ by their images only).
    pub mc_seed: u64,
    /// Seed of the shifts' random draws.
    pub shift_seed: u64,
    /// The clean data.
    pub clean: SetResult,
    /// Every kind, in the configuration's order.
    pub kinds: Vec<KindResult>,
}

/// The uncertainty scores of one predictive, one vector per kind of [`ScoreKind::ALL`].
struct SetScores(Vec<Vec<f64>>);

impl SetScores {
    fn of(pred: &Predictive) -> Result<SetScores> {
        Ok(SetScores(ScoreKind::ALL.iter().map(|&k| scores(pred, k)).collect::<Result<_>>()?))
    }

    /// AUROC of these scores (positives) against `clean`'s (negatives), score by score.
    fn auroc_against(&self, clean: &SetScores) -> Result<OodAuroc> {
        OodAuroc::from_fn(|kind| {
            let i = ScoreKind::ALL.iter().position(|&k| k == kind).expect("every kind is in ALL");
            auroc(&clean.0[i], &self.0[i])
        })
    }
}

/// The numbers of one set, from its predictive.
fn set_result(severity: f64, pred: &Predictive, labels: &[usize], auroc: Option<OodAuroc>) -> Result<SetResult> {
    let s = Scores::from_predictive(pred, labels)?;
    let uncertainty = Uncertainty::from_predictive(pred)?.means_where(|_| true);
    Ok(SetResult { severity, accuracy: s.accuracy, nll: s.nll, brier: s.brier, ece: s.ece, uncertainty, auroc })
}

/// [`benchmark_observed`] without a progress callback.
pub fn benchmark(model: &(impl Predictor + ?Sized), data: &Dataset, shifts: &ShiftConfig, mc: &McConfig) -> Result<ShiftReport> {
    benchmark_observed(model, data, shifts, mc, &mut |_, _, _| {})
}

/// Evaluates `model` on the clean labelled images `data` and on every shift of `shifts`, all with
/// the Monte Carlo settings `mc`. Before each evaluation `progress(done, total, what)` is called
/// (`done` sets of `total` finished, `what` names the next one), and once more at the end with
/// `done == total`. Labels are matched to the model's classes by name; data without an image
/// shape, without labels, or of the wrong input size is an error before anything is evaluated.
pub fn benchmark_observed(
    model: &(impl Predictor + ?Sized),
    data: &Dataset,
    shifts: &ShiftConfig,
    mc: &McConfig,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<ShiftReport> {
    image_shape(data)?;
    let labels = data.labels_for(model.classes())?;
    let total = shifts.n_sets();
    progress(0, total, "clean");
    let clean_pred = predict_dataset(model, data, mc)?;
    let clean_scores = SetScores::of(&clean_pred)?;
    let clean = set_result(0.0, &clean_pred, &labels, None)?;
    let weight_samples = clean_pred.weight_samples;
    drop(clean_pred);
    let mut done = 1;
    let mut kinds = Vec::with_capacity(shifts.plan.len());
    for (kind, list) in &shifts.plan {
        let mut results = Vec::with_capacity(list.len());
        for shift in list {
            progress(done, total, &shift.to_string());
            let pred = predict_dataset(model, &shift.apply(data, shifts.seed)?, mc)?;
            let auroc = SetScores::of(&pred)?.auroc_against(&clean_scores)?;
            results.push(set_result(shift.severity(), &pred, &labels, Some(auroc))?);
            done += 1;
        }
        kinds.push(KindResult { kind: *kind, unit: kind.unit(), results });
    }
    progress(total, total, "done");
    Ok(ShiftReport {
        data: data.name.clone(),
        n_examples: data.len(),
        weight_samples,
        noise_samples: mc.noise_samples,
        mc_seed: mc.seed,
        shift_seed: shifts.seed,
        clean,
        kinds,
    })
}

/// `shift.json` as written: the model's name and the report.
#[derive(Serialize)]
struct ShiftJson<'a> {
    model: &'a str,
    #[serde(flatten)]
    report: &'a ShiftReport,
}

/// Writes `shift.json`, `shift.md` (a table per kind) and the figures into `dir`: per kind
/// `shift_KIND.png`/`.svg` (accuracy, NLL, ECE, Brier, the uncertainty parts and the AUROC against
/// severity, the clean data at 0), and, when every kind has the same number of severities,
/// `shift_overview.png`/`.svg` (one line per kind against the severity level).
pub fn write_shift_report(report: &ShiftReport, model_name: &str, dir: &Path) -> Result<()> {
    if dir.is_file() {
        return Err(SbnError::invalid(dir.display().to_string(), "is a file; the shift report needs a folder"));
    }
    std::fs::create_dir_all(dir).map_err(|e| SbnError::io(dir, e))?;
    for k in &report.kinds {
        kind_figure(report, k, model_name, dir)?;
    }
    let has_overview = report.kinds.windows(2).all(|w| w[0].results.len() == w[1].results.len());
    if has_overview {
        overview_figure(report, model_name, dir)?;
    }
    let json = serde_json::to_string_pretty(&ShiftJson { model: model_name, report }).expect("shift report serializes");
    write_atomic(&dir.join("shift.json"), json.as_bytes())?;
    write_atomic(&dir.join("shift.md"), markdown(report, model_name, has_overview).as_bytes())
}

/// A one-panel chart of `series` against `x`.
fn chart(title: &str, x_label: &str, x: &[f64], series: Vec<Series>) -> LineChart {
    LineChart { title: title.into(), x_label: x_label.into(), y_label: String::new(), x: x.to_vec(), series, log_x: false }
}

/// The clean set followed by a kind's sets (severity 0 first).
fn with_clean<'a>(report: &'a ShiftReport, k: &'a KindResult) -> Vec<&'a SetResult> {
    std::iter::once(&report.clean).chain(&k.results).collect()
}

/// The AUROC of a row by `kind`, 0.5 (chance, as for identical sets) for the clean data.
fn auroc_of(r: &SetResult, kind: ScoreKind) -> f64 {
    r.auroc.as_ref().map_or(0.5, |a| a.get(kind))
}

fn kind_figure(report: &ShiftReport, k: &KindResult, model_name: &str, dir: &Path) -> Result<()> {
    let rows = with_clean(report, k);
    let x: Vec<f64> = rows.iter().map(|r| r.severity).collect();
    let xl = format!("{} ({})", k.kind, k.unit);
    let one = |name: &str, f: fn(&SetResult) -> f64| vec![Series { name: name.into(), y: rows.iter().map(|r| f(r)).collect() }];
    let parts = vec![
        Series { name: "total".into(), y: rows.iter().map(|r| r.uncertainty.total).collect() },
        Series { name: "data".into(), y: rows.iter().map(|r| r.uncertainty.data).collect() },
        Series { name: "model".into(), y: rows.iter().map(|r| r.uncertainty.model).collect() },
    ];
    let aurocs = ScoreKind::ALL.iter().map(|&kind| Series { name: kind.name().into(), y: rows.iter().map(|r| auroc_of(r, kind)).collect() }).collect();
    let charts = vec![
        chart("accuracy", &xl, &x, one("accuracy", |r| r.accuracy)),
        chart("NLL (nats)", &xl, &x, one("NLL", |r| r.nll)),
        chart("ECE (15 bins)", &xl, &x, one("ECE", |r| r.ece)),
        chart("Brier", &xl, &x, one("Brier", |r| r.brier)),
        chart("mean uncertainty (nats)", &xl, &x, parts),
        chart("AUROC, shifted against clean", &xl, &x, aurocs),
    ];
    let title = format!("{model_name} on {}, {}: S_w = {}, S_z = {}", report.data, k.kind, report.weight_samples, report.noise_samples);
    plot::panels(&Panels { title, charts, columns: 3 }, dir.join(format!("shift_{}", k.kind)))?;
    Ok(())
}

fn overview_figure(report: &ShiftReport, model_name: &str, dir: &Path) -> Result<()> {
    let n = report.kinds.first().map_or(0, |k| k.results.len());
    let x: Vec<f64> = (0..=n).map(|i| i as f64).collect();
    let lines = |f: fn(&SetResult) -> f64| -> Vec<Series> {
        report.kinds.iter().map(|k| Series { name: k.kind.name().into(), y: with_clean(report, k).iter().map(|r| f(r)).collect() }).collect()
    };
    let xl = "severity level (0 = clean)";
    let charts = vec![
        chart("accuracy", xl, &x, lines(|r| r.accuracy)),
        chart("NLL (nats)", xl, &x, lines(|r| r.nll)),
        chart("ECE (15 bins)", xl, &x, lines(|r| r.ece)),
        chart("mean total uncertainty (nats)", xl, &x, lines(|r| r.uncertainty.total)),
        chart("mean model part (nats)", xl, &x, lines(|r| r.uncertainty.model)),
        chart("AUROC by the model part", xl, &x, lines(|r| auroc_of(r, ScoreKind::Model))),
    ];
    let title = format!("{model_name} on shifted {}: S_w = {}, S_z = {}", report.data, report.weight_samples, report.noise_samples);
    plot::panels(&Panels { title, charts, columns: 3 }, dir.join("shift_overview"))?;
    Ok(())
}

fn markdown(report: &ShiftReport, model_name: &str, has_overview: bool) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {model_name} under shift: {}\n", report.data);
    let _ = writeln!(
        md,
        "{} examples; Monte Carlo predictive with S_w = {} weight samples × S_z = {} noise samples, seed {}; shifts drawn from seed {}. \
         Uncertainty in nats; AUROC: the shifted images (positives) against the clean ones, by each uncertainty score.\n",
        report.n_examples, report.weight_samples, report.noise_samples, report.mc_seed, report.shift_seed
    );
    if has_overview {
        let _ = writeln!(md, "![overview](shift_overview.png)\n");
    }
    for k in &report.kinds {
        let _ = writeln!(md, "## {} ({})\n", k.kind, k.unit);
        let _ = writeln!(md, "| severity | accuracy | NLL | ECE | Brier | total | data | model |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for r in with_clean(report, k) {
            let u = &r.uncertainty;
            let _ = writeln!(
                md,
                "| {} | {:.2}% | {:.3} | {:.2}% | {:.3} | {:.3} | {:.3} | {:.4} |",
                severity_cell(r),
                100.0 * r.accuracy,
                r.nll,
                100.0 * r.ece,
                r.brier,
                u.total,
                u.data,
                u.model
            );
        }
        let names: Vec<String> = ScoreKind::ALL.iter().map(|k| format!("AUROC {}", k.name())).collect();
        let _ = writeln!(md, "\n| severity | {} |\n|---|{}", names.join(" | "), "---|".repeat(names.len()));
        for r in &k.results {
            let cells: Vec<String> = ScoreKind::ALL.iter().map(|&kind| format!("{:.3}", auroc_of(r, kind))).collect();
            let _ = writeln!(md, "| {} | {} |", severity_cell(r), cells.join(" | "));
        }
        let _ = writeln!(md, "\n![{}](shift_{}.png)\n", k.kind, k.kind);
    }
    md
}

/// The severity column of a row: `0 (clean)` for the clean data.
fn severity_cell(r: &SetResult) -> String {
    if r.auroc.is_none() { "0 (clean)".to_string() } else { format!("{}", round(r.severity)) }
}

/// A severity for tables: at most three decimals, no trailing zeros.
fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
