//! Two moons with a noisy overlap: fit a Bayesian SBN and draw the data part and the model part of
//! its predictive uncertainty over the plane, with the training points on top.
//!
//! `cargo run --release --example toy_uncertainty [OUT_DIR]` (default `toy-uncertainty/`).

use sbn::data::toy::two_moons;
use sbn::montecarlo::{Engine, McConfig};
use sbn::report::uncertainty_maps;
use sbn::session::{FitOptions, fit};
use sbn::spec::ModelSpec;
use sbn::train::{Flow, Observer, Trainer};

const SPEC: &str = r#"
[network]
hidden = [32, 32]
weights = "bernoulli"
[objective]
beta = 1.0
[training]
lr = 0.01
logit_lr = 0.1
batch_size = 32
epochs = 60
seed = 3
chunk = 32
[validation]
fraction = 0.2
weight_samples = 8
noise_samples = 8
"#;

/// Prints every tenth epoch's validation scores: the training observer at its simplest.
struct EveryTenthEpoch;

impl Observer for EveryTenthEpoch {
    fn epoch_end(&mut self, trainer: &Trainer) -> sbn::Result<Flow> {
        let r = trainer.history().last().expect("an epoch has ended");
        if r.epoch % 10 == 0 {
            eprintln!("epoch {:>3}: validation accuracy {:.1}%, NLL {:.3}", r.epoch, 100.0 * r.valid_accuracy, r.valid_nll);
        }
        Ok(Flow::Continue)
    }
}

fn main() -> anyhow::Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "toy-uncertainty".into()));
    let spec = ModelSpec::parse(SPEC, "toy spec")?;
    let (train, valid) = two_moons(600, 0.2, 1).split(0.2, 1);
    let fitted = fit(&spec, &train, &valid, &FitOptions::default(), &mut EveryTenthEpoch)?;
    let last = fitted.model.history.last().expect("epochs ran");
    println!("validation accuracy {:.1}%, NLL {:.3}", 100.0 * last.valid_accuracy, last.valid_nll);
    let config = McConfig { weight_samples: 32, noise_samples: 16, seed: 0, engine: Engine::Auto };
    let unc = uncertainty_maps(&fitted.model, &train, (-2.5, 3.5), (-2.0, 2.5), &config, &out)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!("grid means (nats): data {:.3}, model {:.3}; maps in {}", mean(&unc.data), mean(&unc.model), out.display());
    Ok(())
}
