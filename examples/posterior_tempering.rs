//! Chooses the posterior temperature τ of a fitted model (or an ensemble) on the validation data
//! its fit held out, never on test or shifted data: the predictive of `q_τ = σ(θ/τ)` is scored for
//! a grid of τ and the τ of least validation NLL is printed, ready for `--posterior-temperature`.
//!
//! `cargo run --release --example posterior_tempering -- [--tau T1,T2,…] TRAIN_DATA MODEL [MEMBER …]`
//!
//! `--tau` replaces the grid of temperatures (`--tau 1` scores the fitted posterior alone, e.g. to
//! compare ensembles on the validation data).
//!
//! `TRAIN_DATA` is what `sbn fit --train` read (without `--valid`); the validation split is
//! rebuilt from the first model's spec (`validation.fraction` and the split's seed) as `sbn fit`
//! holds it out.

use sbn::data::{LoadOptions, Role, load};
use sbn::ensemble::Ensemble;
use sbn::evaluate::evaluate;
use sbn::io::ModelFile;
use sbn::montecarlo::McConfig;

/// The temperatures scored by default.
const GRID: [f64; 10] = [0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: posterior_tempering [--tau T1,T2,…] TRAIN_DATA MODEL [MEMBER …]";
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let grid: Vec<f64> = if args.first().is_some_and(|a| a == "--tau") {
        let list = args.get(1).ok_or(USAGE)?.clone();
        args.drain(..2);
        list.split(',').map(|t| t.trim().parse().map_err(|_| format!("--tau: {t:?} is not a number"))).collect::<Result<_, _>>()?
    } else {
        GRID.to_vec()
    };
    let [train_path, models @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    if models.is_empty() {
        return Err(USAGE.into());
    }
    let files = models.iter().map(|m| ModelFile::load(m.as_ref())).collect::<Result<Vec<_>, _>>()?;
    let spec = &files[0].spec;
    let train = load(train_path.as_ref(), &LoadOptions { role: Role::Train, ..LoadOptions::default() })?;
    let (_, valid) = spec.hold_out_validation(&train);
    println!(
        "{} validation examples ({} of {}, split seed {}); {} model(s)",
        valid.len(),
        spec.validation.fraction,
        train.name,
        spec.validation_split_seed(),
        files.len()
    );

    // The same Monte Carlo draws for every τ, so that the differences are the temperature's.
    let config = McConfig { weight_samples: 16, noise_samples: 8, ..McConfig::default() };
    println!("{:>5}  {:>8}  {:>7}  {:>6}", "τ", "accuracy", "NLL", "ECE");
    let mut best = (f64::INFINITY, 1.0);
    for tau in grid {
        let members = models
            .iter()
            .zip(&files)
            .map(|(name, file)| {
                let mut fitted = file.fitted.clone();
                fitted.network = fitted.network.posterior_tempered(tau)?;
                Ok((name.clone(), fitted))
            })
            .collect::<sbn::Result<Vec<_>>>()?;
        let (_, scores) = evaluate(&Ensemble::new(members)?, &valid, &config)?;
        println!("{tau:>5}  {:>7.2}%  {:>7.4}  {:>5.2}%", 100.0 * scores.accuracy, scores.nll, 100.0 * scores.ece);
        if scores.nll < best.0 {
            best = (scores.nll, tau);
        }
    }
    println!("least validation NLL at τ = {} ({:.4}): predict with --posterior-temperature {}", best.1, best.0, best.1);
    Ok(())
}
