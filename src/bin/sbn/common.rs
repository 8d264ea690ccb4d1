//! Pieces the subcommands share: loading data sets by path, and the embedded default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sbn::data::{self, Dataset, LabelColumn, LabelPolicy, LoadOptions, Role};
use sbn::ensemble::Ensemble;
use sbn::evaluate::{Calibrated, Predictor};
use sbn::fitted::FittedModel;
use sbn::io::ModelFile;
use sbn::posthoc::PostHoc;

/// The name that selects the embedded digits set instead of a file.
pub const EMBEDDED_DIGITS: &str = "embedded:digits";

/// Loads DATA (an IDX images file, a folder with the standard files, a CSV file, or
/// `embedded:digits`) as `options` say.
pub fn load_data(path: &str, options: &LoadOptions) -> Result<Dataset> {
    if path == EMBEDDED_DIGITS {
        let digits = data::embedded::digits();
        return Ok(if options.labels == LabelPolicy::Absent { digits.without_labels() } else { digits });
    }
    Ok(data::load(Path::new(path), options)?)
}

/// Parses `--label`: a column index or a column name.
pub fn label_column(label: Option<&str>) -> Option<LabelColumn> {
    label.map(|l| l.parse().unwrap_or_else(|never| match never {}))
}

/// The labelled data a command works on.
#[derive(clap::Args, Clone, Debug)]
pub struct DataArgs {
    /// Labelled data: an IDX images file, a folder with the standard files, a CSV file, or embedded:digits.
    #[arg(long)]
    pub data: String,
    /// Label column of CSV data (name or 0-based index; default: the last column).
    #[arg(long)]
    pub label: Option<String>,
}

impl DataArgs {
    /// Load options for `--data` of a command on a model with `n_features` inputs (a folder gives
    /// its test files).
    pub fn options(&self, labels: LabelPolicy, n_features: usize) -> LoadOptions {
        LoadOptions { role: Role::Test, label_column: label_column(self.label.as_deref()), labels, n_features: Some(n_features) }
    }

    /// Loads labelled data for `model`, its labels put in the model's class order by name.
    pub fn load_for(&self, model: &(impl Predictor + ?Sized)) -> Result<Dataset> {
        let mut data = load_data(&self.data, &self.options(LabelPolicy::Required, model.input_dim()))?;
        data.align_classes(model.classes())?;
        Ok(data)
    }
}

/// Loads the features of data for a model with `n_features` inputs (out-of-distribution data,
/// benchmarks): labels, if any, are dropped (OOD labels belong to another task).
pub fn load_features(path: &str, n_features: usize) -> Result<Dataset> {
    let options = LoadOptions { labels: LabelPolicy::IfPresent, n_features: Some(n_features), ..LoadOptions::default() };
    let data = load_data(path, &options)?.without_labels();
    if data.dim != n_features {
        return Err(sbn::SbnError::InputSize { place: data.source().to_string(), found: data.dim, expected: n_features }.into());
    }
    Ok(data)
}

/// Monte Carlo sample counts and seed, shared by the commands that predict.
#[derive(clap::Args, Clone, Debug)]
pub struct McArgs {
    /// Weight samples S_w.
    #[arg(long, default_value_t = 16)]
    pub weight_samples: usize,
    /// Activation-noise samples S_z per weight sample.
    #[arg(long, default_value_t = 8)]
    pub noise_samples: usize,
    /// Seed of the Monte Carlo draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Engine: auto (packed where the model allows), packed, or float.
    #[arg(long, default_value = "auto")]
    pub engine: String,
    /// Predict with the tempered posterior q = σ(θ/τ): above 1 more model uncertainty, below 1 less.
    #[arg(long, default_value_t = 1.0)]
    pub posterior_temperature: f64,
}

impl McArgs {
    /// Loads the fitted model of a model file, its posterior tempered by `--posterior-temperature`.
    pub fn load_model(&self, path: &Path) -> Result<FittedModel> {
        self.temper(ModelFile::load(path)?.fitted)
    }

    /// `model` with its posterior tempered by `--posterior-temperature`.
    pub fn temper(&self, mut model: FittedModel) -> Result<FittedModel> {
        if self.posterior_temperature != 1.0 {
            model.network = model.network.posterior_tempered(self.posterior_temperature).context("--posterior-temperature")?;
        }
        Ok(model)
    }

    /// The library's Monte Carlo settings; zero samples or an unknown engine are errors.
    pub fn config(&self) -> Result<sbn::montecarlo::McConfig> {
        use sbn::montecarlo::Engine;
        if self.weight_samples == 0 || self.noise_samples == 0 {
            anyhow::bail!("--weight-samples and --noise-samples must be at least 1");
        }
        let engine = match self.engine.as_str() {
            "auto" => Engine::Auto,
            "packed" => Engine::Packed,
            "float" => Engine::Float,
            other => anyhow::bail!("--engine: unknown engine '{other}'; expected auto, packed or float"),
        };
        Ok(sbn::montecarlo::McConfig { weight_samples: self.weight_samples, noise_samples: self.noise_samples, seed: self.seed, engine })
    }

    /// The Monte Carlo settings for predicting `n_examples` examples with `model`, after checking
    /// that the predictive fits in memory (an error naming `--weight-samples` otherwise).
    pub fn config_for(&self, model: &(impl Predictor + ?Sized), n_examples: usize) -> Result<sbn::montecarlo::McConfig> {
        let config = self.config()?;
        model.check_memory(n_examples, &config, &format!("--weight-samples {}", self.weight_samples))?;
        Ok(config)
    }
}

/// Refuses an output path that names one of the command's input files (`sbn export m.sbn --out
/// m.sbn` would replace the model it reads).
pub fn ensure_not_an_input(flag: &str, out: &Path, inputs: &[&Path]) -> Result<()> {
    let resolve = |p: &Path| -> Option<std::path::PathBuf> {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    };
    let target = resolve(out);
    for input in inputs {
        if target.is_some() && resolve(input) == target {
            anyhow::bail!("{flag} {}: is also an input of this command; write the output to another file", out.display());
        }
    }
    Ok(())
}

/// The flags of every command that predicts, flattened once per command: the models (`--member`,
/// where the command takes an ensemble), post-hoc calibration and the Monte Carlo draws.
#[derive(clap::Args, Clone, Debug)]
pub struct PredictFlags<M: clap::Args = Members> {
    #[command(flatten)]
    pub members: M,
    #[command(flatten)]
    pub posthoc: PostHocArgs,
    #[command(flatten)]
    pub mc: McArgs,
}

impl PredictFlags {
    /// MODEL and the `--member` models, each named by its path and tempered by
    /// `--posterior-temperature`, in the order given.
    pub fn load(&self, model: &Path) -> Result<Vec<(String, FittedModel)>> {
        std::iter::once(model).chain(self.members.paths.iter().map(PathBuf::as_path)).map(|p| Ok((p.display().to_string(), self.mc.load_model(p)?))).collect()
    }
}

impl<M: clap::Args> PredictFlags<M> {
    /// `models` (MODEL and its `--member`s) as they predict with these flags: one model or their
    /// ensemble, through the stored map (one model only) or `--temperature`.
    pub fn predictor<'m>(&self, models: &'m [(String, FittedModel)]) -> Result<Box<dyn Predictor + 'm>> {
        if let [(name, model)] = models {
            return calibrated(model, self.posthoc.map(model, name)?);
        }
        self.posthoc.ensemble(models.iter().map(|(n, m)| (n.clone(), m)).collect())
    }
}

/// `--member MODEL` (repeatable): more model files that predict together with MODEL as one
/// ensemble.
#[derive(clap::Args, Clone, Debug)]
pub struct Members {
    /// Another model of the same data (same classes, input size and scaling; any architecture)
    /// that predicts with MODEL as one ensemble: S_w weight samples from each model, pooled
    /// (repeatable: --member B.sbn --member C.sbn).
    #[arg(long = "member", value_name = "MODEL")]
    pub paths: Vec<PathBuf>,
}

/// No `--member`: the command's models predict one by one (`report`, `compare`).
#[derive(clap::Args, Clone, Debug)]
pub struct OneModel {}

/// `--posthoc` (the map stored in the model file) or `--temperature T` (a given temperature, for
/// any predictive, ensembles too).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PostHocArgs {
    /// Apply the post-hoc calibration stored in the model file (by `sbn calibrate --fit … --save`; one model only).
    #[arg(long)]
    pub posthoc: bool,
    /// Apply temperature scaling with this temperature to the predictive (of an ensemble: the pooled one).
    #[arg(long, conflicts_with = "posthoc", value_name = "T")]
    pub temperature: Option<f64>,
}

impl PostHocArgs {
    /// The map these flags apply to `model` (named `name`): the stored one with `--posthoc` (an
    /// error naming the model file when it has none), the temperature of `--temperature`, or none.
    pub fn map(&self, model: &FittedModel, name: &str) -> Result<Option<PostHoc>> {
        if let Some(t) = self.temperature {
            return Ok(Some(temperature(t)?));
        }
        if !self.posthoc {
            return Ok(None);
        }
        let map = model.posthoc_map(name).context("--posthoc")?;
        if let Some(stored) = &model.posthoc {
            eprintln!("post-hoc calibration: {stored}");
        }
        Ok(Some(map.clone()))
    }

    /// The map of `--temperature`, or none.
    pub fn temperature_map(&self) -> Result<Option<PostHoc>> {
        self.temperature.map(temperature).transpose()
    }

    /// The ensemble of `members` (named predictors, at least two) as it predicts with these
    /// flags: as it is or through `--temperature`; `--posthoc` is an error (a stored map belongs
    /// to one model file).
    pub fn ensemble<'m, P: Predictor + 'm>(&self, members: Vec<(String, P)>) -> Result<Box<dyn Predictor + 'm>> {
        if self.posthoc {
            anyhow::bail!(
                "--posthoc: applies the calibration stored in one model file, not to an ensemble; fit a temperature for the ensemble with `sbn calibrate MODEL --member … --fit temperature --data HELD_OUT` and give it as --temperature T"
            );
        }
        calibrated(Ensemble::new(members)?, self.temperature_map()?)
    }
}

/// `predictor` through `map`, or as it is without one.
pub fn calibrated<'m, P: Predictor + 'm>(predictor: P, map: Option<PostHoc>) -> Result<Box<dyn Predictor + 'm>> {
    Ok(match map {
        Some(map) => Box::new(Calibrated::new(predictor, map)?),
        None => Box::new(predictor),
    })
}

/// How the weight samples of an ensemble of `members` models came about: ` (M members × S_w, pooled)`, or nothing for one model.
pub fn pooled(members: usize, weight_samples: usize) -> String {
    if members > 1 { format!(" ({members} members × {weight_samples}, pooled)") } else { String::new() }
}

/// The temperature map of `--temperature t`, checked.
pub fn temperature(t: f64) -> Result<PostHoc> {
    anyhow::ensure!(t.is_finite() && t > 0.0, "--temperature {t}: must be a finite number > 0");
    Ok(PostHoc::Temperature(t))
}

/// `--intervals`, `--bootstrap`, `--confidence`: confidence intervals around the scores.
#[derive(clap::Args, Clone, Debug)]
pub struct IntervalArgs {
    /// Also bootstrap percentile intervals for ECE, NLL, Brier and the mean uncertainty parts (and OOD AUROCs).
    #[arg(long)]
    pub intervals: bool,
    /// Bootstrap resamples (drawn from --seed, so the intervals are reproducible).
    #[arg(long, default_value_t = 200)]
    pub bootstrap: usize,
    /// Confidence level of every interval (the accuracy's Wilson interval too).
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
}

impl IntervalArgs {
    /// The bootstrap settings with the Monte Carlo seed, checked (an error naming the flag).
    pub fn settings(&self, seed: u64) -> Result<sbn::metrics::Bootstrap> {
        let b = sbn::metrics::Bootstrap { replicates: self.bootstrap, confidence: self.confidence, seed };
        if self.bootstrap < 2 {
            anyhow::bail!("--bootstrap {}: at least 2 resamples are needed", self.bootstrap);
        }
        b.check().context(format!("--confidence {}", self.confidence))?;
        sbn::limits::ensure_fits(&format!("--bootstrap {}", self.bootstrap), "the bootstrap replicates", sbn::limits::product(&[self.bootstrap, 64]))?;
        Ok(b)
    }

    /// The bootstrap settings when `--intervals` is given.
    pub fn requested(&self, seed: u64) -> Result<Option<sbn::metrics::Bootstrap>> {
        let settings = self.settings(seed)?;
        Ok(self.intervals.then_some(settings))
    }
}

/// `v` as a percentage with its interval, `96.10% [95.2, 96.9]`.
pub fn percent_with(v: f64, i: Option<&sbn::metrics::Interval>) -> String {
    match i {
        Some(i) => format!("{:.2}% [{:.2}, {:.2}]", 100.0 * v, 100.0 * i.lower, 100.0 * i.upper),
        None => format!("{:.2}%", 100.0 * v),
    }
}

/// `v` to four places with its interval, `0.1410 [0.125, 0.160]`.
pub fn value_with(v: f64, i: Option<&sbn::metrics::Interval>) -> String {
    match i {
        Some(i) => format!("{v:.4} [{:.4}, {:.4}]", i.lower, i.upper),
        None => format!("{v:.4}"),
    }
}
