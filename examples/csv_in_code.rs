//! A Bayesian SBN on a CSV file, from code alone (no spec file): fit it, save it, then predict
//! rows that have no labels and split each prediction's uncertainty into its data and model parts.
//!
//! `cargo run --release --example csv_in_code [-- FILE.csv [LABEL_COLUMN]]`: by default the
//! vendored digits (`data/digits.csv.gz`, label in the last column).

use sbn::WeightKind;
use sbn::data::{LabelColumn, LabelPolicy, LoadOptions, load};
use sbn::evaluate::{evaluate, predict_dataset};
use sbn::io::ModelFile;
use sbn::montecarlo::McConfig;
use sbn::session::{FitOptions, fit};
use sbn::spec::{ModelSpec, NetworkSpec};
use sbn::train::{Flow, Observer, Trainer};
use sbn::uncertainty::Uncertainty;

/// One line per epoch on stderr.
struct EpochLines;

impl Observer for EpochLines {
    fn epoch_end(&mut self, trainer: &Trainer) -> sbn::Result<Flow> {
        let r = trainer.history().last().expect("an epoch has ended");
        eprintln!("epoch {:>2}: train NLL {:.3}, validation accuracy {:.1}%", r.epoch, r.train_nll, 100.0 * r.valid_accuracy);
        Ok(Flow::Continue)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz").to_string());
    let label_column = args.next().map(|c| c.parse::<LabelColumn>().unwrap_or_else(|never| match never {}));

    // Labelled data; a fifth held out for testing, a fifth of the rest for validation.
    let data = load(path.as_ref(), &LoadOptions { label_column, ..LoadOptions::default() })?;
    let (train, test) = data.split(0.2, 1);
    let (train, valid) = train.split(0.2, 1);
    println!("{}: {} examples of {} features, classes {:?}", data.name, data.len(), data.dim, data.class_names());

    // The network and the run, built in code and checked once.
    let mut spec = ModelSpec::new(NetworkSpec::dense(&[128, 128], WeightKind::Bernoulli));
    spec.objective.beta = 0.01;
    spec.training.epochs = 10;
    spec.training.batch_size = 64;
    spec.training.logit_lr = 0.1;
    let spec = spec.check("csv_in_code")?;
    let outcome = fit(&spec, &train, &valid, &FitOptions::default(), &mut EpochLines)?;
    let model = outcome.model;
    let file = std::env::temp_dir().join("csv_in_code.sbn");
    ModelFile { spec: spec.into_inner(), fitted: model.clone(), state: None }.save(&file)?;

    let config = McConfig { weight_samples: 16, noise_samples: 8, ..McConfig::default() };
    let (_, scores) = evaluate(&model, &test, &config)?;
    println!("test accuracy {:.1}%, NLL {:.3}, ECE {:.1}%; model saved to {}", 100.0 * scores.accuracy, scores.nll, 100.0 * scores.ece, file.display());

    // A CSV of rows without labels (here the test rows' features), read with every column an input.
    let rows: String = (0..test.len()).map(|n| (0..test.dim).map(|i| test.feature(n, i).to_string()).collect::<Vec<_>>().join(",") + "\n").collect();
    let new_rows = std::env::temp_dir().join("csv_in_code_new_rows.csv");
    std::fs::write(&new_rows, rows)?;
    let unlabelled = load(&new_rows, &LoadOptions { labels: LabelPolicy::Absent, ..LoadOptions::default() })?;
    let predictive = predict_dataset(&model, &unlabelled, &config)?;
    let split = Uncertainty::from_predictive(&predictive)?;
    println!("{:>4} {:>10} {:>6} {:>7} {:>7} {:>7}", "row", "predicted", "p", "total", "data", "model");
    for n in 0..5 {
        let p = predictive.mean(n);
        let k = sbn::metrics::argmax(&p);
        println!("{n:>4} {:>10} {:>6.3} {:>7.4} {:>7.4} {:>7.4}", model.class_names[k], p[k], split.total[n], split.data[n], split.model[n]);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!("mean over {} rows (nats): total {:.4} = data {:.4} + model {:.4}", split.total.len(), mean(&split.total), mean(&split.data), mean(&split.model));
    Ok(())
}
