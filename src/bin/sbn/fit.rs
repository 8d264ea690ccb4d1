//! `sbn fit SPEC --train DATA [--valid DATA] [--label COL] [--out MODEL] [--members K] [--resume | --init MODEL] [--force]`.
//!
//! The run holds the lock `MODEL.lock` throughout, refuses to overwrite an earlier run's model or
//! checkpoint without `--force`, and on Ctrl-C saves its checkpoint, prints the command that
//! continues it and ends with [`Interrupted`] (exit status 130).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sbn::checked::Checked;
use sbn::data::{Dataset, LoadOptions, Role};
use sbn::evaluate::fit_posthoc;
use sbn::io::{ModelFile, OutputLock};
use sbn::metrics::scores::Scores;
use sbn::montecarlo::{Engine, McConfig};
use sbn::posthoc::Method;
use sbn::session::{self, FitOptions, checkpoint_path, fit, validation_temperature};
use sbn::spec::ModelSpec;

use crate::common::{label_column, load_data};
use crate::progress::{Progress, ctrl_c_flag};

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
    /// Overwrite the model and checkpoint of an earlier run at MODEL (refused without it).
    #[arg(long)]
    force: bool,
    /// Start from the network of this fitted model, or the best network of this checkpoint
    /// (MODEL.ckpt; for a deterministic binary net as pre-training, its latent logits): same
    /// [network] section and training data.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// With --init: start from its tempered posterior q = σ(θ/τ) (below 1 sharper, above 1
    /// more spread; 1 takes a deterministic net's latent logits as they are).
    #[arg(long, requires = "init", default_value_t = 1.0)]
    init_temperature: f64,
    /// Fit an ensemble of K members: seeds SEED, SEED+1, …, every one on the same training and
    /// validation split (that of SEED), written to MODEL-1.sbn … MODEL-K.sbn (the name of --out
    /// with -1 … -K before its extension); --resume continues each member from its checkpoint.
    #[arg(long, default_value_t = 1, value_name = "K")]
    members: usize,
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
    /// Override the spec's training engine: fast (popcount and f32 products, the default) or
    /// reference (every product in f64).
    #[arg(long)]
    engine: Option<String>,
}

/// A run stopped by Ctrl-C after saving its checkpoint; `main` turns it into exit status 130.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

pub fn run(args: Args) -> Result<()> {
    anyhow::ensure!(args.members >= 1, "--members {}: must be at least 1", args.members);
    let spec = checked_spec(&args)?;
    let argv: Vec<OsString> = std::env::args_os().collect();
    let outs: Vec<PathBuf> = if args.members == 1 { vec![args.out.clone()] } else { (1..=args.members).map(|i| member_path(&args.out, i)).collect() };
    let _locks = outs.iter().map(|out| claim_output(&args, out, &argv)).collect::<Result<Vec<_>>>()?;
    let (train, valid) = training_data(&args, &spec)?;
    eprintln!(
        "training on {} ({} examples, {} features, {} classes), validating on {} examples",
        train.name,
        train.len(),
        train.dim,
        train.n_classes(),
        valid.len()
    );
    let stop = ctrl_c_flag()?;
    for (i, out) in outs.iter().enumerate() {
        let member = member_spec(&args, &spec, i)?;
        if args.members > 1 {
            eprintln!("member {}/{} (seed {}) → {}", i + 1, args.members, member.training.seed, out.display());
        }
        let resume = args.resume && checkpoint_path(out).exists();
        fit_one(&args, &member, (&train, &valid), out, resume, Progress::new(stop.clone()), &argv)?;
    }
    if args.members > 1 {
        report_ensemble_temperature(&outs, &spec, &valid)?;
    }
    Ok(())
}

/// `MODEL` with `-i` before its extension: member `i` of an ensemble (`fm.sbn` → `fm-2.sbn`).
fn member_path(out: &Path, i: usize) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let name = match out.extension() {
        Some(ext) => format!("{stem}-{i}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{i}"),
    };
    out.with_file_name(name)
}

/// The spec of member `i` (0-based) of the ensemble: the spec with seed `SEED + i`.
fn member_spec(args: &Args, spec: &Checked<ModelSpec>, i: usize) -> Result<Checked<ModelSpec>> {
    if i == 0 {
        return Ok(spec.clone());
    }
    let mut member: ModelSpec = (**spec).clone();
    member.validation.split_seed = Some(spec.validation_split_seed());
    member.training.seed =
        spec.training.seed.checked_add(i as u64).with_context(|| format!("--members {}: seed {} + {i} overflows", args.members, spec.training.seed))?;
    Ok(member.check(&args.spec.display().to_string())?)
}

/// One fit of `spec` on `data` (training, validation) written to `out` (resumed from its
/// checkpoint with `resume`), then its validation temperature; a stop by Ctrl-C prints the
/// command that continues the run and ends with [`Interrupted`].
fn fit_one(
    args: &Args,
    spec: &Checked<ModelSpec>,
    data: (&Dataset, &Dataset),
    out: &Path,
    resume: bool,
    mut progress: Progress,
    argv: &[OsString],
) -> Result<()> {
    let options = FitOptions { out: Some(out.to_path_buf()), resume, init: starting_model(args)? };
    let outcome = fit(spec, data.0, data.1, &options, &mut progress)?;
    progress.finish(outcome.completed);
    let history = &outcome.model.history;
    if !outcome.completed {
        eprintln!(
            "interrupted after {} of {} epochs; the checkpoint {} holds the run. Continue it with:\n  {}",
            history.len(),
            spec.training.epochs,
            checkpoint_path(out).display(),
            shell_words(&resume_argv(argv))
        );
        return Err(Interrupted.into());
    }
    if let Some(r) = history.last() {
        let best = history.iter().map(|r| r.valid_nll).fold(f64::INFINITY, f64::min);
        eprintln!("done: best validation NLL {best:.4}; last epoch accuracy {:.2}%; model written to {}", 100.0 * r.valid_accuracy, out.display());
    }
    store_validation_temperature(out, spec, data.1)
}

/// Fits a temperature for the pooled predictive of the ensemble `outs` on the validation data
/// (the spec's validation samples, its seed) and prints it with the command that applies it: it
/// belongs to no one model file, so nothing stores it.
fn report_ensemble_temperature(outs: &[PathBuf], spec: &ModelSpec, valid: &Dataset) -> Result<()> {
    if valid.is_empty() {
        return Ok(());
    }
    let members = outs.iter().map(|p| Ok((p.display().to_string(), ModelFile::load(p)?.fitted))).collect::<Result<Vec<_>>>()?;
    let ensemble = sbn::ensemble::Ensemble::new(members)?;
    let v = &spec.validation;
    let config = McConfig { weight_samples: v.weight_samples, noise_samples: v.noise_samples, seed: spec.training.seed, engine: Engine::Auto };
    let (fitted, pred, labels) = fit_posthoc(&ensemble, valid, Method::Temperature, &config)?;
    let (before, after) = (Scores::from_predictive(&pred, &labels)?, Scores::from_predictive(&fitted.map.apply(&pred)?, &labels)?);
    let sbn::posthoc::PostHoc::Temperature(t) = fitted.map else { unreachable!("a temperature fit gives a temperature") };
    let rest: Vec<String> = outs[1..].iter().map(|p| format!("--member {}", p.display())).collect();
    eprintln!(
        "ensemble of {}: validation accuracy {:.2}%, NLL {:.4} → {:.4}, ECE {:.2}% → {:.2}% with temperature T = {t:.4}; predict with it by\n  sbn evaluate {} {} --temperature {t:.4} --data DATA",
        outs.len(),
        100.0 * before.accuracy,
        before.nll,
        after.nll,
        100.0 * before.ece,
        100.0 * after.ece,
        outs[0].display(),
        rest.join(" ")
    );
    Ok(())
}

/// Fits the post-hoc temperature a fit stores (`session::validation_temperature`) and stores it
/// in the model file just written (the run still holds its lock). It is applied only on request
/// (`--posthoc`).
fn store_validation_temperature(out: &Path, spec: &ModelSpec, valid: &Dataset) -> Result<()> {
    if valid.is_empty() || !out.is_file() {
        return Ok(());
    }
    let mut file = ModelFile::load(out)?;
    let (stored, pred, labels) = validation_temperature(&file.fitted, spec, valid)?;
    let (before, after) = (Scores::from_predictive(&pred, &labels)?, Scores::from_predictive(&stored.map.apply(&pred)?, &labels)?);
    eprintln!(
        "post-hoc {} on the validation data: NLL {:.4} → {:.4}, ECE {:.2}% → {:.2}% (stored; predict with it by adding --posthoc)",
        stored.map,
        before.nll,
        after.nll,
        100.0 * before.ece,
        100.0 * after.ece
    );
    file.fitted = file.fitted.with_posthoc(Some(stored))?;
    Ok(file.save(out)?)
}

/// The spec file with the command line's overrides, checked once. A bad override is blamed on
/// its flag, not on the spec file.
fn checked_spec(args: &Args) -> Result<Checked<ModelSpec>> {
    let mut spec = ModelSpec::read(&args.spec)?;
    if let Some(e) = args.epochs {
        anyhow::ensure!(e >= 1, "--epochs {e}: must be at least 1");
        spec.training.epochs = e;
    }
    if let Some(s) = args.seed {
        spec.training.seed = s;
    }
    if let Some(b) = args.beta {
        anyhow::ensure!(b.is_finite() && b >= 0.0, "--beta {b}: must be a finite number ≥ 0");
        spec.objective.beta = b;
    }
    if let Some(e) = &args.estimator {
        spec.training.estimator = e.parse().map_err(|err| match err {
            sbn::SbnError::Invalid { message, .. } => anyhow::anyhow!("--estimator: {message}"),
            other => other.into(),
        })?;
    }
    if let Some(e) = &args.engine {
        spec.training.engine = e.parse().map_err(|err| match err {
            sbn::SbnError::Invalid { message, .. } => anyhow::anyhow!("--engine: {message}"),
            other => other.into(),
        })?;
    }
    Ok(spec.check(&args.spec.display().to_string())?)
}

/// Before any work: the lock on `--out` (no second writer), and no earlier run's results lost by
/// accident. With `--members`, `out` is one member's file: `--resume` continues the members that
/// have a checkpoint and starts the others.
fn claim_output(args: &Args, out: &Path, argv: &[OsString]) -> Result<OutputLock> {
    if args.out.is_dir() {
        anyhow::bail!("--out {}: is a folder; give the model's file name", args.out.display());
    }
    let lock = OutputLock::acquire(out, &shell_words(argv))?;
    let ckpt = checkpoint_path(out);
    if args.resume && args.members == 1 && !ckpt.exists() {
        anyhow::bail!("--resume: there is no checkpoint {} to continue from", ckpt.display());
    }
    if !(args.force || args.resume && ckpt.exists()) {
        refuse_overwrite(out)?;
    }
    Ok(lock)
}

/// The training and validation data: `--valid`, or a share of `--train` held out.
fn training_data(args: &Args, spec: &ModelSpec) -> Result<(Dataset, Dataset)> {
    let label_column = label_column(args.label.as_deref());
    let options = |role| LoadOptions { role, label_column: label_column.clone(), ..LoadOptions::default() };
    let train = load_data(&args.train, &options(Role::Train))?;
    Ok(match &args.valid {
        Some(v) => (train, load_data(v, &options(Role::Test))?),
        None => spec.hold_out_validation(&train),
    })
}

/// The model of `--init` as a fit starts from it (`session::starting_model`), its posterior
/// tempered by `--init-temperature`.
fn starting_model(args: &Args) -> Result<Option<(String, ModelFile)>> {
    let Some(path) = &args.init else {
        return Ok(None);
    };
    let model = session::starting_model(ModelFile::load(path)?, args.init_temperature).context("--init-temperature")?;
    Ok(Some((path.display().to_string(), model)))
}

/// Fails, naming the files, when `out` or its checkpoint exists (an earlier run's results).
fn refuse_overwrite(out: &Path) -> Result<()> {
    let ckpt = checkpoint_path(out);
    let existing: Vec<String> = [out, ckpt.as_path()].iter().filter(|p| p.exists()).map(|p| p.display().to_string()).collect();
    if existing.is_empty() {
        return Ok(());
    }
    let resume = if ckpt.exists() {
        format!("or --resume to continue that run from {}", ckpt.display())
    } else {
        format!("(--resume needs the checkpoint {}, which does not exist)", ckpt.display())
    };
    anyhow::bail!(
        "{} already exist{} from an earlier run: pass --force to overwrite, {resume}",
        existing.join(" and "),
        if existing.len() == 1 { "s" } else { "" }
    )
}

/// The command line that continues this run: the same arguments without `--force` and `--init`
/// (with its temperature; a resumed run starts from the checkpoint), plus `--resume`.
fn resume_argv(argv: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(argv.len() + 1);
    let mut args = argv.iter();
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--force") => {}
            Some("--init" | "--init-temperature") => {
                args.next();
            }
            Some(s) if s.starts_with("--init=") || s.starts_with("--init-temperature=") => {}
            _ => out.push(a.clone()),
        }
    }
    if !out.iter().any(|a| a == "--resume") {
        out.push("--resume".into());
    }
    out
}

/// Arguments joined into one line a POSIX shell reads back as the same arguments.
fn shell_words(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./:@%+,".contains(&b)) {
                a.into_owned()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_resume_command_is_the_same_command_without_force_and_init() {
        let argv = words(&[
            "sbn",
            "fit",
            "a b.toml",
            "--train",
            "embedded:digits",
            "--force",
            "--init",
            "d.sbn",
            "--init-temperature=0.5",
            "--out",
            "it's.sbn",
            "--epochs",
            "9",
        ]);
        assert_eq!(shell_words(&resume_argv(&argv)), r"sbn fit 'a b.toml' --train embedded:digits --out 'it'\''s.sbn' --epochs 9 --resume");
        let again = words(&["sbn", "fit", "s.toml", "--resume", "--out", "x=1.sbn"]);
        assert_eq!(shell_words(&resume_argv(&again)), "sbn fit s.toml --resume --out 'x=1.sbn'");
    }
}
