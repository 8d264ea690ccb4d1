//! Pieces the subcommands share: loading data sets by path, and the embedded default.

use std::path::Path;

use anyhow::{Context, Result};
use sbn::data::{self, Dataset, LabelColumn, LabelPolicy, LoadOptions, Role};
use sbn::fitted::FittedModel;
use sbn::io::ModelFile;

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
    pub fn load_for(&self, model: &FittedModel) -> Result<Dataset> {
        let mut data = load_data(&self.data, &self.options(LabelPolicy::Required, model.network.input_dim()))?;
        data.align_classes(&model.class_names)?;
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

    /// The Monte Carlo settings for predicting `n_examples` examples with `net`, after checking
    /// that the predictive fits in memory (an error naming `--weight-samples` otherwise).
    pub fn config_for(&self, net: &sbn::Network, n_examples: usize) -> Result<sbn::montecarlo::McConfig> {
        let config = self.config()?;
        sbn::montecarlo::check_memory(net, n_examples, &config, &format!("--weight-samples {}", self.weight_samples))?;
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

/// `--posthoc`: predict through the post-hoc calibration stored in the model file.
#[derive(clap::Args, Clone, Debug)]
pub struct PostHocArgs {
    /// Apply the post-hoc calibration stored in the model file (by `sbn calibrate --fit … --save`).
    #[arg(long)]
    pub posthoc: bool,
}

impl PostHocArgs {
    /// The stored map when `--posthoc` is given (an error naming the model file when it has none).
    pub fn map(&self, model: &FittedModel, path: &Path) -> Result<Option<sbn::posthoc::PostHoc>> {
        if !self.posthoc {
            return Ok(None);
        }
        let map = model.posthoc_map(&path.display().to_string()).context("--posthoc")?;
        if let Some(stored) = &model.posthoc {
            eprintln!("post-hoc calibration: {stored}");
        }
        Ok(Some(map.clone()))
    }

    /// `model` as it predicts with these flags: through the stored map, or as it is.
    pub fn predictor<'m>(&self, model: &'m FittedModel, path: &Path) -> Result<Box<dyn sbn::evaluate::Predictor + 'm>> {
        Ok(match self.map(model, path)? {
            Some(map) => Box::new(sbn::evaluate::Calibrated::new(model, map)?),
            None => Box::new(model),
        })
    }
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
