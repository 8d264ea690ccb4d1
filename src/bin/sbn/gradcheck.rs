//! `sbn gradcheck [--model FILE | --epochs E] [--draws R] [--estimator NAME ...] [--out DIR]`:
//! bias, variance and cosine to the exact gradient of each estimator, per layer, on the PSA paper's
//! toy problem; writes `DIR/gradcheck.json` and one cosine-against-M chart per layer.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sbn::Estimator;
use sbn::data::toy::{PSA_TOY_DEFAULT_N, psa_paper_toy};
use sbn::estimator::{EstimatorKind, Relaxation, Relaxed};
use sbn::gradient_study::{GradcheckConfig, STUDY_ESTIMATORS, gradcheck, plot_report, table, toy_model};
use sbn::io::ModelFile;

#[derive(clap::Args)]
pub struct Args {
    /// A fitted model to study (on the toy data, with the model's input scaling); by default the
    /// toy 2-5-5-5-2 network trained with PSA for --epochs epochs.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Training epochs of the toy network (0: as initialized).
    #[arg(long, default_value_t = 200)]
    epochs: usize,
    /// Seed of the toy data, of its training and of the estimator draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Single-sample estimates per estimator (R).
    #[arg(long, default_value_t = 1000)]
    draws: usize,
    /// Sample counts M of the averaged estimates.
    #[arg(long = "m", value_delimiter = ',', default_value = "1,10,100,1000")]
    group_sizes: Vec<usize>,
    /// Estimators to compare (default: psa, st, hardst, arm, disarm, reinforce, reinforce-nb,
    /// concrete, stgumbel, tanh).
    #[arg(long = "estimator", value_name = "NAME")]
    estimators: Vec<String>,
    /// Temperature of concrete and stgumbel.
    #[arg(long)]
    tau: Option<f64>,
    /// Output folder for gradcheck.json and the charts.
    #[arg(long, default_value = "gradcheck")]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    // Checked before any work, so that nothing is written for a bad flag.
    anyhow::ensure!(args.draws >= 1, "--draws 0: must be at least 1");
    if let Some(&m) = args.group_sizes.iter().find(|&&m| m == 0 || m > args.draws) {
        anyhow::bail!("--m {m}: sample counts must lie between 1 and --draws ({})", args.draws);
    }
    if let Some(tau) = args.tau {
        anyhow::ensure!(tau.is_finite() && tau > 0.0, "--tau {tau}: the temperature must be a positive number");
    }
    if args.out.is_file() {
        anyhow::bail!("--out {}: is a file; give a folder for gradcheck.json and the charts", args.out.display());
    }
    let kinds: Vec<EstimatorKind> =
        if args.estimators.is_empty() { STUDY_ESTIMATORS.to_vec() } else { args.estimators.iter().map(|s| s.parse()).collect::<Result<_, _>>()? };
    let estimators: Vec<Box<dyn Estimator>> = kinds
        .iter()
        .map(|&k| -> Result<Box<dyn Estimator>> {
            Ok(match (k, args.tau) {
                (EstimatorKind::Concrete, Some(t)) => Box::new(Relaxed::new(Relaxation::Concrete, t)?),
                (EstimatorKind::StGumbel, Some(t)) => Box::new(Relaxed::new(Relaxation::StGumbel, t)?),
                _ => k.build(),
            })
        })
        .collect::<Result<_>>()?;
    let (net, x, y) = match &args.model {
        Some(path) => {
            let file = ModelFile::load(path).with_context(|| format!("cannot load {}", path.display()))?.fitted;
            let data = psa_paper_toy(PSA_TOY_DEFAULT_N, args.seed);
            let x = file.scaling.apply_all(&data)?;
            let (d0, k) = (file.network.input_dim(), file.network.n_classes());
            anyhow::ensure!(d0 == 2 && k == 2, "--model {}: takes {d0} inputs and gives {k} classes; the study's toy problem needs 2 and 2", path.display());
            (file.network, x, data.require_labels("the gradient study")?.to_vec())
        }
        None => {
            let (net, x, y, acc) = toy_model(args.epochs, args.seed)?;
            if args.epochs == 0 {
                eprintln!("toy network {:?} as initialized (untrained)", net.dims());
            } else {
                eprintln!("toy network {:?} after {} epochs of PSA: accuracy {:.1}%", net.dims(), args.epochs, 100.0 * acc);
            }
            (net, x, y)
        }
    };
    let config = GradcheckConfig { draws: args.draws, group_sizes: args.group_sizes.clone(), seed: args.seed };
    let report = gradcheck(&net, &x, &y, &estimators, &config)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let json_path = args.out.join("gradcheck.json");
    sbn::io::write_atomic(&json_path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    let stems = plot_report(&report, &args.out)?;
    out!("exact expected loss {:.5}; {} draws per estimator", report.exact_loss, report.draws);
    out_str!("{}", table(&report));
    out!("wrote {} and {} charts ({}.png/.svg, …)", json_path.display(), stems.len(), stems.first().map_or(String::new(), |s| s.display().to_string()));
    Ok(())
}
