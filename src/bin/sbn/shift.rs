//! `sbn shift MODEL [--member MODEL …] --data DATA --out DIR [--kinds …] [--severities …]`: the model on clean test
//! images and on rotated, translated, noisy, blurred, faded and inverted copies of them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sbn::data::shift::{ShiftKind, image_shape};
use sbn::shift::{ShiftConfig, benchmark_observed, write_shift_report};

use crate::common::{DataArgs, PredictFlags};

#[derive(clap::Args)]
pub struct Args {
    /// A model file written by `sbn fit`.
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Output folder for shift.json, shift.md and the plots.
    #[arg(long)]
    out: PathBuf,
    /// Kinds of shift, comma-separated: rotate, shift, noise, blur, contrast, invert (default: all).
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    kinds: Vec<ShiftKind>,
    /// Severities in the kind's unit: KIND=V1,V2,… (repeatable), or V1,V2,… when --kinds names one
    /// kind. Units: rotate degrees, shift pixels, noise σ on a 0–255 scale, blur σ in pixels,
    /// contrast and invert fractions in [0, 1]. Default: five per kind (see README).
    #[arg(long)]
    severities: Vec<String>,
    #[command(flatten)]
    predict: PredictFlags,
}

fn parse_kind(s: &str) -> std::result::Result<ShiftKind, String> {
    s.parse::<ShiftKind>().map_err(|_| format!("unknown kind `{s}`; expected one of {}", ShiftKind::names()))
}

/// The kinds asked for, each with its severities: `--severities` where given, the defaults for
/// `rows × cols` images otherwise.
fn plan(args: &Args, rows: usize, cols: usize) -> Result<Vec<(ShiftKind, Vec<f64>)>> {
    let kinds: Vec<ShiftKind> = if args.kinds.is_empty() { ShiftKind::ALL.to_vec() } else { args.kinds.clone() };
    let mut plan: Vec<(ShiftKind, Vec<f64>)> = kinds.iter().map(|&k| (k, k.default_severities(rows, cols))).collect();
    for given in &args.severities {
        let (kind, list) = match given.split_once('=') {
            Some((k, list)) => (parse_kind(k).map_err(|e| anyhow::anyhow!("--severities {given}: {e}"))?, list),
            None if kinds.len() == 1 => (kinds[0], given.as_str()),
            None => bail!("--severities {given}: name the kind (KIND=V1,V2,…) when --kinds has more than one kind"),
        };
        let values = list
            .split(',')
            .map(|v| v.trim().parse::<f64>().map_err(|_| anyhow::anyhow!("--severities {given}: `{}` is not a number", v.trim())))
            .collect::<Result<Vec<f64>>>()?;
        let Some(entry) = plan.iter_mut().find(|(k, _)| *k == kind) else {
            bail!("--severities {given}: `{kind}` is not one of the kinds asked for ({})", kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "));
        };
        entry.1 = values;
    }
    Ok(plan)
}

pub fn run(args: Args) -> Result<()> {
    let models = args.predict.load(&args.model)?;
    let model = args.predict.predictor(&models)?;
    let data = args.data.load_for(&model)?;
    let (rows, cols) = image_shape(&data)?;
    let shifts = ShiftConfig::new(&plan(&args, rows, cols)?, args.predict.mc.seed).context("--severities")?;
    let config = args.predict.mc.config_for(&model, data.len())?;
    let bar = ProgressBar::new(shifts.n_sets() as u64);
    bar.set_style(
        ProgressStyle::with_template("shift [{bar:30}] {pos}/{len} sets, {elapsed} elapsed, {eta} left  {msg}").expect("valid template").progress_chars("=> "),
    );
    let report = benchmark_observed(&model, &data, &shifts, &config, &mut |done, _, what| {
        bar.set_position(done as u64);
        bar.set_message(what.to_string());
    });
    bar.finish_and_clear();
    let report = report?;
    let mut name = args.model.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
    if models.len() > 1 {
        name = format!("{name} and {} more (ensemble)", models.len() - 1);
    }
    write_shift_report(&report, &name, &args.out)?;
    let c = &report.clean;
    out!("clean: accuracy {:.2}%  NLL {:.4}  ECE {:.2}%  model part {:.4} nats", 100.0 * c.accuracy, c.nll, 100.0 * c.ece, c.uncertainty.model);
    out!("{:<10} {:>9} {:>9} {:>8} {:>8} {:>10} {:>12}", "kind", "severity", "accuracy", "NLL", "ECE", "model part", "AUROC model");
    for k in &report.kinds {
        for r in &k.results {
            let auroc = r.auroc.map_or(f64::NAN, |a| a.model);
            out!(
                "{:<10} {:>9.3} {:>8.2}% {:>8.4} {:>7.2}% {:>10.4} {:>12.3}",
                k.kind.name(),
                r.severity,
                100.0 * r.accuracy,
                r.nll,
                100.0 * r.ece,
                r.uncertainty.model,
                auroc
            );
        }
    }
    out!("→ {}", args.out.join("shift.md").display());
    Ok(())
}
