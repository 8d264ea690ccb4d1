//! Pieces the subcommands share: loading data sets by path, and the embedded default.

use std::path::Path;

use anyhow::{Context, Result};
use sbn::data::{self, Dataset, LabelColumn, Role};

/// The name that selects the embedded digits set instead of a file.
pub const EMBEDDED_DIGITS: &str = "embedded:digits";

/// Parses `--label`: a column index or a column name.
pub fn label_column(label: Option<&str>) -> Option<LabelColumn> {
    label.map(|l| match l.parse::<usize>() {
        Ok(i) => LabelColumn::Index(i),
        Err(_) => LabelColumn::Name(l.to_string()),
    })
}

/// Loads DATA (an IDX images file, a folder with the standard files, a CSV file, or
/// `embedded:digits`).
pub fn load_data(path: &str, role: Role, label: Option<&str>) -> Result<Dataset> {
    if path == EMBEDDED_DIGITS {
        return Ok(data::embedded::digits());
    }
    Ok(data::load(Path::new(path), role, label_column(label).as_ref())?)
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
    /// Loads the data (a folder gives its test files).
    pub fn load(&self) -> Result<Dataset> {
        load_data(&self.data, Role::Test, self.label.as_deref())
    }
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
    /// Loads a model file, its posterior tempered by `--posterior-temperature`.
    pub fn load_model(&self, path: &Path) -> Result<sbn::io::ModelFile> {
        self.temper(sbn::io::ModelFile::load(path)?)
    }

    /// `model` with its posterior tempered by `--posterior-temperature`.
    pub fn temper(&self, mut model: sbn::io::ModelFile) -> Result<sbn::io::ModelFile> {
        if self.posterior_temperature != 1.0 {
            model.network = sbn::evaluate::posterior_tempered(&model.network, self.posterior_temperature).context("--posterior-temperature")?;
        }
        Ok(model)
    }

    /// The library's Monte Carlo settings; zero samples or an unknown engine are errors.
    pub fn config(&self) -> Result<sbn::predict::McConfig> {
        use sbn::predict::Engine;
        if self.weight_samples == 0 || self.noise_samples == 0 {
            anyhow::bail!("--weight-samples and --noise-samples must be at least 1");
        }
        let engine = match self.engine.as_str() {
            "auto" => Engine::Auto,
            "packed" => Engine::Packed,
            "float" => Engine::Float,
            other => anyhow::bail!("--engine: unknown engine '{other}'; expected auto, packed or float"),
        };
        Ok(sbn::predict::McConfig { weight_samples: self.weight_samples, noise_samples: self.noise_samples, seed: self.seed, engine })
    }
}
