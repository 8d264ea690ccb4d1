//! `sbn fit SPEC --train DATA [--valid DATA] [--label COL] [--out MODEL] [--resume | --init MODEL]`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use sbn::data::{LoadOptions, Role};
use sbn::io::ModelFile;
use sbn::spec::ModelSpec;
use sbn::train::{fit, FitOptions};

use crate::common::{label_column, load_data};

#[derive(clap::Args)]
pub struct Args {
    /// Model spec (TOML), e.g. models/digits.toml.
    spec: PathBuf,
    /// Training data: an IDX images file, a folder with the standard files, a CSV file, or embedded:digits.
    #[arg(long)]
    train: String,
    /// Validation data; by default a share of the training data (validation.fraction of the spec).
    #[arg(long)]
    valid: Option<String>,
    /// Label column of CSV data (name or 0-based index; default: the last column).
    #[arg(long)]
    label: Option<String>,
    /// Where the best model is written (its checkpoint goes to MODEL.ckpt).
    #[arg(long, default_value = "model.sbn")]
    out: PathBuf,
    /// Continue an interrupted run from MODEL.ckpt (with --epochs, also to extend or shorten it).
    #[arg(long)]
    resume: bool,
    /// Start from the network of this fitted model, or the best network of this checkpoint
    /// (MODEL.ckpt; for a deterministic binary net as pre-training, its latent logits): same
    /// [network] section and training data.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// With --init: start from its tempered posterior q = σ(θ/τ) (below 1 sharper, above 1
    /// more spread; 1 takes a deterministic net's latent logits as they are).
    #[arg(long, requires = "init", default_value_t = 1.0)]
    init_temperature: f64,
    /// Override the spec's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the spec's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the spec's KL weight β.
    #[arg(long)]
    beta: Option<f64>,
    /// Override the spec's estimator (psa, st, hardst, reinforce, reinforce-nb, arm, disarm,
    /// concrete, stgumbel, tanh).
    #[arg(long)]
    estimator: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let mut spec = ModelSpec::load(&args.spec)?;
    if let Some(e) = args.epochs {
        spec.training.epochs = e;
    }
    if let Some(s) = args.seed {
        spec.training.seed = s;
    }
    if let Some(b) = args.beta {
        spec.objective.beta = b;
    }
    if let Some(e) = &args.estimator {
        spec.training.estimator = e.parse()?;
    }
    spec.check(&args.spec.display().to_string())?;
    let label_column = label_column(args.label.as_deref());
    let options = |role| LoadOptions { role, label_column: label_column.clone(), ..LoadOptions::default() };
    let train_all = load_data(&args.train, &options(Role::Train))?;
    let (train, valid) = match &args.valid {
        Some(v) => (train_all, load_data(v, &options(Role::Test))?),
        None => train_all.split(spec.validation.fraction, spec.training.seed),
    };
    eprintln!("training on {} ({} examples, {} features, {} classes), validating on {} examples", train.name, train.len(), train.dim, train.n_classes(), valid.len());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        eprintln!("\nstopping after this batch (Ctrl-C again to abort without saving)");
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    let init = match &args.init {
        Some(path) => {
            let mut model = ModelFile::load(path)?;
            // A checkpoint: the best network of its run as trained (for a point-weight run, its
            // latent logits; the model file holds only their signs).
            if let Some((_, best)) = model.state.take().and_then(|s| s.best) {
                model.network = best;
            }
            model.network = sbn::evaluate::posterior_tempered(&model.network, args.init_temperature).context("--init-temperature")?;
            Some((path.display().to_string(), model))
        }
        None => None,
    };
    let opts = FitOptions { progress: true, out: Some(args.out.clone()), resume: args.resume, stop: Some(stop), init, ..FitOptions::default() };
    let outcome = fit(&spec, &train, &valid, &opts)?;
    let last = outcome.model.history.last();
    if outcome.completed {
        if let Some(r) = last {
            eprintln!("done: best validation NLL {:.4}; last epoch accuracy {:.2}%; model written to {}", outcome.model.history.iter().map(|r| r.valid_nll).fold(f64::INFINITY, f64::min), 100.0 * r.valid_accuracy, args.out.display());
        }
    } else {
        eprintln!("interrupted: continue with the same command and --resume");
    }
    Ok(())
}
