//! `sbn evaluate MODEL [--member MODEL …] --data DATA [--json] [--intervals]`: accuracy, NLL, Brier and calibration of
//! the MC predictive, with confidence intervals; `sbn compare MODEL_A MODEL_B --data DATA`: the
//! paired difference of two models on the same data and draws.

use std::path::PathBuf;

use anyhow::Result;
use sbn::evaluate::evaluate;
use sbn::intervals::{PairedComparison, ScoreIntervals};
use sbn::metrics::interval::wilson;
use serde_json::json;

use crate::common::{DataArgs, IntervalArgs, OneModel, PredictFlags, percent_with, pooled, value_with};

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
    intervals: IntervalArgs,
    #[command(flatten)]
    predict: PredictFlags,
}

pub fn run(args: Args) -> Result<()> {
    let bootstrap = args.intervals.requested(args.predict.mc.seed)?;
    let mut models = args.predict.load(&args.model)?;
    if args.posterior_mode {
        models.iter_mut().for_each(|(_, m)| m.network = m.network.posterior_mode());
    }
    let predictor = args.predict.predictor(&models)?;
    let data = args.data.load_for(&predictor)?;
    let (pred, scores) = evaluate(&predictor, &data, &args.predict.mc.config_for(&predictor, data.len())?)?;
    let labels = data.require_labels("evaluation")?;
    let ci = bootstrap.map(|b| ScoreIntervals::compute(&pred, labels, &b)).transpose()?;
    if args.json {
        let mut v = serde_json::to_value(&scores)?;
        if let Some(ci) = &ci {
            v["intervals"] = serde_json::to_value(ci)?;
        }
        if args.predict.posthoc.posthoc {
            v["posthoc"] = serde_json::to_value(&models[0].1.posthoc)?;
        } else if let Some(t) = args.predict.posthoc.temperature {
            v["temperature"] = json!(t);
        }
        if models.len() > 1 {
            v["members"] = json!(models.iter().map(|(name, _)| name).collect::<Vec<_>>());
        }
        out!("{v}");
        return Ok(());
    }
    let hits = (scores.accuracy * scores.n_examples as f64).round() as usize;
    let acc = wilson(hits, scores.n_examples, args.intervals.confidence)?;
    let level = format!("{:.0}%", 100.0 * args.intervals.confidence);
    out!("model     {}", models.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(" + "));
    out!("data      {} ({} examples)", data.name, scores.n_examples);
    out!(
        "samples   S_w = {} weight samples × S_z = {} noise samples{}",
        pred.weight_samples,
        args.predict.mc.noise_samples,
        pooled(models.len(), args.predict.mc.weight_samples)
    );
    out!("accuracy  {} ({level} Wilson interval)", percent_with(scores.accuracy, Some(&acc)));
    out!("NLL       {} nats", value_with(scores.nll, ci.as_ref().map(|c| &c.nll)));
    out!("Brier     {} (sum over classes)", value_with(scores.brier, ci.as_ref().map(|c| &c.brier)));
    out!("ECE       {} (15 equal-width bins), {:.2}% (equal mass)", percent_with(scores.ece, ci.as_ref().map(|c| &c.ece)), 100.0 * scores.ece_equal_mass);
    out!("MCE       {:.2}%   classwise ECE {:.2}%", 100.0 * scores.mce, 100.0 * scores.classwise_ece);
    if let Some(c) = &ci {
        out!(
            "parts     total {}  data {}  model {} (nats, means)",
            value_with(c.total.estimate, Some(&c.total)),
            value_with(c.data.estimate, Some(&c.data)),
            value_with(c.model.estimate, Some(&c.model))
        );
        out!("          [{level} percentile bootstrap intervals, {} resamples, seed {}]", c.bootstrap.replicates, c.bootstrap.seed);
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Model A, a model file written by `sbn fit`.
    model_a: PathBuf,
    /// Model B: the differences are B − A.
    model_b: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Bootstrap resamples (drawn from --seed).
    #[arg(long, default_value_t = 200)]
    bootstrap: usize,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    #[command(flatten)]
    predict: PredictFlags<OneModel>,
}

/// `sbn compare`: both models predict the same examples with the same Monte Carlo seed; the
/// differences of their scores get paired bootstrap intervals.
pub fn compare(args: CompareArgs) -> Result<()> {
    let bootstrap = IntervalArgs { intervals: true, bootstrap: args.bootstrap, confidence: args.confidence }.settings(args.predict.mc.seed)?;
    let (a, b) = (args.predict.mc.load_model(&args.model_a)?, args.predict.mc.load_model(&args.model_b)?);
    if a.class_names != b.class_names {
        anyhow::bail!("{} and {}: the models have other classes, so their scores are not comparable", args.model_a.display(), args.model_b.display());
    }
    let (a, b) = ([(args.model_a.display().to_string(), a)], [(args.model_b.display().to_string(), b)]);
    let (a, b) = (args.predict.predictor(&a)?, args.predict.predictor(&b)?);
    let data = args.data.load_for(&a)?;
    let config = args.predict.mc.config_for(&a, data.len())?;
    args.predict.mc.config_for(&b, data.len())?;
    let (pa, sa) = evaluate(&a, &data, &config)?;
    let (pb, sb) = evaluate(&b, &data, &config)?;
    let d = PairedComparison::compute(&pa, &pb, data.require_labels("comparison")?, &bootstrap)?;
    if args.json {
        out!("{}", json!({"a": sa, "b": sb, "difference": d}));
        return Ok(());
    }
    out!(
        "A = {}, B = {}, on {} ({} examples), S_w = {} × S_z = {}, seed {}",
        args.model_a.display(),
        args.model_b.display(),
        data.name,
        d.n_examples,
        config.weight_samples,
        config.noise_samples,
        config.seed
    );
    out!(
        "{:<10} {:>10} {:>10} {:>12}  {:.0}% paired bootstrap interval ({} resamples)",
        "",
        "A",
        "B",
        "B − A",
        100.0 * bootstrap.confidence,
        bootstrap.replicates
    );
    for (name, va, vb, i) in [
        ("accuracy", sa.accuracy, sb.accuracy, d.accuracy),
        ("ECE", sa.ece, sb.ece, d.ece),
        ("NLL", sa.nll, sb.nll, d.nll),
        ("Brier", sa.brier, sb.brier, d.brier),
    ] {
        out!("{name:<10} {va:>10.4} {vb:>10.4} {:>12.4}  [{:.4}, {:.4}]", i.estimate, i.lower, i.upper);
    }
    Ok(())
}
