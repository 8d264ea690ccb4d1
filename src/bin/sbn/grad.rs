//! `sbn grad --case FILE [--estimator NAME ...]`: each requested estimator's value and gradients
//! for every case of FILE, printed as JSON in the reference layout.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sbn::estimator::EstimatorKind;
use sbn::reference_cases::parse_cases;
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// JSON file with a `cases` array (networks, inputs, labels, optional uniforms).
    #[arg(long)]
    case: PathBuf,
    /// Estimators to run (psa, st, hardst, exact, reinforce, reinforce-nb, arm, disarm, concrete,
    /// stgumbel, tanh); all when omitted.
    #[arg(long = "estimator", value_name = "NAME")]
    estimators: Vec<String>,
    /// Seed for cases without uniforms.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    let estimators: Vec<EstimatorKind> =
        if args.estimators.is_empty() { EstimatorKind::ALL.to_vec() } else { args.estimators.iter().map(|s| s.parse()).collect::<Result<_, _>>()? };
    let text = std::fs::read_to_string(&args.case).with_context(|| format!("cannot read {}", args.case.display()))?;
    let cases = parse_cases(&text, &args.case.display().to_string())?;
    let results = cases.iter().map(|c| c.run(&estimators, args.seed)).collect::<Result<Vec<_>, _>>()?;
    out!("{}", serde_json::to_string_pretty(&json!({ "cases": results }))?);
    Ok(())
}
