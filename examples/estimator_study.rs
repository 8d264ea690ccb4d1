//! The estimator study on the PSA paper's toy problem: trains the 2-5-5-5-2 real-weight network
//! with PSA and, at a few training stages, compares every estimator with the exact gradient
//! (relative bias, variance, single-sample cosine and the cosine of M-sample means, per layer).
//!
//! `cargo run --release --example estimator_study [-- DRAWS [EPOCHS...]]`
//! (defaults: 1000 draws, stages after 0, 20 and 200 epochs).

use sbn::Estimator;
use sbn::gradient_study::{GradcheckConfig, STUDY_ESTIMATORS, gradcheck, table, toy_model};

fn main() -> sbn::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let draws: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let stages: Vec<usize> = if args.len() > 1 { args[1..].iter().filter_map(|s| s.parse().ok()).collect() } else { vec![0, 20, 200] };
    let seed = 1;
    let estimators: Vec<Box<dyn Estimator>> = STUDY_ESTIMATORS.iter().map(|k| k.build()).collect();
    let config = GradcheckConfig { draws, group_sizes: vec![1, 10, 100, 1000], seed };
    for &epochs in &stages {
        let (net, x, y, acc) = toy_model(epochs, seed)?;
        let report = gradcheck(&net, &x, &y, &estimators, &config)?;
        let acc = if acc.is_nan() { "untrained".to_string() } else { format!("training accuracy {:.1}%", 100.0 * acc) };
        println!("\n== after {epochs} epochs of PSA ({acc}, exact E[loss] {:.4}, {draws} draws) ==", report.exact_loss);
        print!("{}", table(&report));
    }
    Ok(())
}
