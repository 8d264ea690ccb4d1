//! `sbn demo`: the main job on the embedded default data. Fits a fully binary Bayesian SBN
//! (`models/digits.toml`) on the embedded 8×8 digits, evaluates it on a held-out fifth, and
//! writes a report (metrics, plots, summary) into the output folder.

use std::path::PathBuf;

use anyhow::Result;
use sbn::data::embedded::digits;
use sbn::evaluate::{Calibrated, evaluate, fit_posthoc};
use sbn::io::ModelFile;
use sbn::montecarlo::{Engine, McConfig};
use sbn::posthoc::Method;
use sbn::report::write_report;
use sbn::session::{FitOptions, fit};
use sbn::spec::ModelSpec;

use crate::progress::{Progress, ctrl_c_flag};

/// The digits spec, built into the binary.
const DIGITS_SPEC: &str = include_str!("../../../models/digits.toml");

#[derive(clap::Args)]
pub struct Args {
    /// Output folder (model, report, plots).
    #[arg(long, default_value = "sbn-demo")]
    out: PathBuf,
    /// Override the spec's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    let source = "models/digits.toml (built in)";
    let mut spec = ModelSpec::from_toml(DIGITS_SPEC, source)?;
    if let Some(e) = args.epochs {
        anyhow::ensure!(e >= 1, "--epochs {e}: must be at least 1");
        spec.training.epochs = e;
    }
    let spec = spec.check(source)?;
    let seed = spec.training.seed;
    let (train_all, test) = digits().split(0.2, seed);
    let (train, valid) = train_all.split(spec.validation.fraction, seed);
    eprintln!("sbn demo: a fully binary Bayesian SBN {:?} on the embedded digits", spec.dims(train.dim, train.n_classes()));
    eprintln!(
        "train {} / validation {} / test {} examples; {} epochs of {}",
        train.len(),
        valid.len(),
        test.len(),
        spec.training.epochs,
        spec.training.estimator
    );
    let model_path = args.out.join("model.sbn");
    let mut progress = Progress::new(ctrl_c_flag()?);
    let outcome = fit(&spec, &train, &valid, &FitOptions { out: Some(model_path.clone()), ..FitOptions::default() }, &mut progress)?;
    progress.finish(outcome.completed);
    anyhow::ensure!(outcome.completed, "interrupted; run `sbn demo` again to start over");
    let config = McConfig { weight_samples: 16, noise_samples: 8, seed: 0, engine: Engine::Auto };
    let m = write_report(&outcome.model, "digits-sbn", &test, None, &config, &args.out)?;
    let s = &m.scores;
    out!("test accuracy {:.2}%   NLL {:.4}   Brier {:.4}   ECE {:.2}%   (S_w = 16 × S_z = 8)", 100.0 * s.accuracy, s.nll, s.brier, 100.0 * s.ece);
    // Post-hoc temperature on the validation fifth, scored on the test fifth, stored in the model.
    let (stored, _, _) = fit_posthoc(&outcome.model, &valid, Method::Temperature, &config)?;
    let (_, t) = evaluate(&Calibrated::new(&outcome.model, stored.map.clone())?, &test, &config)?;
    out!(
        "with the post-hoc {} (fitted on the validation fifth): test accuracy {:.2}%   NLL {:.4}   Brier {:.4}   ECE {:.2}%",
        stored.map,
        100.0 * t.accuracy,
        t.nll,
        t.brier,
        100.0 * t.ece
    );
    let mut file = ModelFile::load(&model_path)?;
    file.fitted = file.fitted.with_posthoc(Some(stored))?;
    file.save(&model_path)?;
    let u = &m.uncertainty.overall;
    out!(
        "uncertainty (nats): total {:.4} = data {:.4} + model {:.4}; weights with q in (0.05, 0.95): {:.1}%",
        u.total,
        u.data,
        u.model,
        100.0 * m.uncertain_share
    );
    out!("model: {}   report: {}", model_path.display(), args.out.join("summary.md").display());
    Ok(())
}
