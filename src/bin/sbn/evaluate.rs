//! `sbn evaluate MODEL --data DATA [--json]`: accuracy, NLL, Brier and calibration of the MC
//! predictive.

use std::path::PathBuf;

use anyhow::Result;
use sbn::evaluate::evaluate;

use crate::common::{DataArgs, McArgs, PostHocArgs};

#[derive(clap::Args)]
pub struct Args {
    /// A model file written by `sbn fit`.
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Evaluate the posterior's most likely network (every weight at the sign of its logit).
    #[arg(long)]
    posterior_mode: bool,
    #[command(flatten)]
    posthoc: PostHocArgs,
    #[command(flatten)]
    mc: McArgs,
}

pub fn run(args: Args) -> Result<()> {
    let mut model = args.mc.load_model(&args.model)?;
    if args.posterior_mode {
        model.network = model.network.posterior_mode();
    }
    let data = args.data.load_for(&model)?;
    let predictor = args.posthoc.predictor(&model, &args.model)?;
    let (_, scores) = evaluate(&predictor, &data, &args.mc.config_for(&model.network, data.len())?)?;
    if args.json {
        out!("{}", serde_json::to_string(&scores)?);
    } else {
        out!("model     {}", args.model.display());
        out!("data      {} ({} examples)", data.name, scores.n_examples);
        out!("samples   S_w = {} weight samples × S_z = {} noise samples", args.mc.weight_samples, args.mc.noise_samples);
        out!("accuracy  {:.2}%", 100.0 * scores.accuracy);
        out!("NLL       {:.4} nats", scores.nll);
        out!("Brier     {:.4} (sum over classes)", scores.brier);
        out!("ECE       {:.2}% (15 equal-width bins), {:.2}% (equal mass)", 100.0 * scores.ece, 100.0 * scores.ece_equal_mass);
        out!("MCE       {:.2}%   classwise ECE {:.2}%", 100.0 * scores.mce, 100.0 * scores.classwise_ece);
    }
    Ok(())
}
