//! `sbn predict`, `sbn summary` and `sbn export`: the packed-bit Monte Carlo predictive per
//! example, the larq-style model summary, and the packed export of one network.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use sbn::data::LabelPolicy;
use sbn::data::{Dataset, InputBatch};
use sbn::evaluate::{Predictor, predict_dataset};
use sbn::io::{ModelFile, PackedModelFile, SafetensorsModel, write_atomic};
use sbn::montecarlo::predictive_packed;
use sbn::packed::{SampledNetwork, summary};
use sbn::predictive::Predictive;
use sbn::uncertainty::Uncertainty;
use serde_json::json;

use crate::common::{DataArgs, McArgs, PostHocArgs, PredictFlags, calibrated, ensure_not_an_input, load_data, load_features};

#[derive(clap::Args)]
pub struct PredictArgs {
    /// A model file (`sbn fit`) or a packed export (`sbn export`).
    model: PathBuf,
    /// Data to predict: an IDX images file (with or without its labels file), a folder with the
    /// standard files, a CSV file (with a label column, or exactly the model's input columns), or
    /// embedded:digits.
    #[arg(long)]
    data: String,
    /// Label column of CSV data (name or 0-based index; default: the last column, unless the file
    /// has exactly the model's input columns).
    #[arg(long, conflicts_with = "no_label")]
    label: Option<String>,
    /// The data has no labels: every CSV column is an input, an IDX labels file is not read.
    #[arg(long)]
    no_label: bool,
    /// Output file: .csv or .json.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    predict: PredictFlags,
}

pub fn predict(args: PredictArgs) -> Result<()> {
    let (members, mc, posthoc) = (&args.predict.members.paths, &args.predict.mc, &args.predict.posthoc);
    let config = mc.config()?;
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext != "csv" && ext != "json" {
        bail!("--out {}: expected a .csv or .json file name", args.out.display());
    }
    let mut inputs = vec![args.model.as_path(), Path::new(&args.data)];
    inputs.extend(members.iter().map(PathBuf::as_path));
    ensure_not_an_input("--out", &args.out, &inputs)?;
    let model = if members.is_empty() {
        load_predictor(&args.model, mc, posthoc)?
    } else {
        let paths = std::iter::once(&args.model).chain(members);
        let as_is = PostHocArgs::default();
        posthoc.ensemble(paths.map(|p| Ok((p.display().to_string(), load_predictor(p, mc, &as_is)?))).collect::<Result<Vec<_>>>()?)?
    };
    let data_args = DataArgs { data: args.data.clone(), label: args.label.clone() };
    let policy = if args.no_label { LabelPolicy::Absent } else { LabelPolicy::IfPresent };
    let mut data = load_data(&args.data, &data_args.options(policy, model.input_dim()))?;
    if data.is_labelled() {
        data.align_classes(model.classes())?;
    }
    model.check_memory(data.len(), &config, &format!("--weight-samples {}", config.weight_samples))?;
    let pred = predict_dataset(model.as_ref(), &data, &config)?;
    let text = if ext == "csv" { predictions_csv(&pred, &data, model.classes())? } else { predictions_json(&pred, &data, model.classes())? };
    write_atomic(&args.out, &text)?;
    let labelled = if data.is_labelled() { "" } else { " (data without labels)" };
    eprintln!("{} predictions (S_w = {}, S_z = {}) written to {}{labelled}", pred.n_examples, pred.weight_samples, pred.noise_samples, args.out.display());
    Ok(())
}

/// A model file or a packed export, by its magic bytes, as one [`Predictor`]; a fitted model's
/// posterior tempered by `--posterior-temperature` and calibrated by its stored map with
/// `--posthoc` (a packed network can be neither) or by `--temperature`.
fn load_predictor(path: &Path, mc: &McArgs, posthoc: &PostHocArgs) -> Result<Box<dyn Predictor>> {
    let bytes = std::fs::read(path).map_err(|e| sbn::SbnError::io(path, e))?;
    let place = path.display().to_string();
    if PackedModelFile::sniff(&bytes) {
        if mc.posterior_temperature != 1.0 {
            bail!("--posterior-temperature: {place} is a packed network (one weight sample); temper its model file instead");
        }
        if posthoc.posthoc {
            bail!("--posthoc: {place} is a packed network, which stores no post-hoc calibration; predict with its model file instead");
        }
        let packed = PackedModelFile::from_bytes(&bytes, &place)?;
        return calibrated(packed, posthoc.temperature_map()?);
    }
    let model = mc.temper(ModelFile::from_bytes(&bytes, &place)?.fitted)?;
    let map = posthoc.map(&model, &place)?;
    calibrated(model, map)
}

/// The predicted class of example `n` and, with labels, its label, by class name.
fn names<'c>(pred: &Predictive, data: &Dataset, classes: &'c [String]) -> (Vec<&'c str>, Option<Vec<&'c str>>) {
    let predicted = (0..pred.n_examples).map(|n| classes[sbn::metrics::argmax(&pred.mean(n))].as_str()).collect();
    let labels = data.labels().map(|l| l.iter().map(|&c| classes[c].as_str()).collect());
    (predicted, labels)
}

/// One CSV row per example: its number, label (if any), predicted class, class probabilities and
/// the three uncertainties; fields quoted as RFC 4180 wants (class names may hold commas).
fn predictions_csv(pred: &Predictive, data: &Dataset, classes: &[String]) -> Result<Vec<u8>> {
    let unc = Uncertainty::from_predictive(pred)?;
    let (predicted, labels) = names(pred, data, classes);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["example".to_string()];
    header.extend(labels.is_some().then(|| "label".to_string()));
    header.push("predicted".into());
    header.extend(classes.iter().map(|c| format!("p_{c}")));
    header.extend(["total", "data", "model"].map(String::from));
    w.write_record(&header)?;
    for n in 0..pred.n_examples {
        let mut row = vec![n.to_string()];
        row.extend(labels.as_ref().map(|l| l[n].to_string()));
        row.push(predicted[n].to_string());
        row.extend(pred.mean(n).iter().map(|p| format!("{p:.6}")));
        row.extend([unc.total[n], unc.data[n], unc.model[n]].map(|u| format!("{u:.6}")));
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// The same as one JSON object: the classes, the sample counts and one entry per example.
fn predictions_json(pred: &Predictive, data: &Dataset, classes: &[String]) -> Result<Vec<u8>> {
    let unc = Uncertainty::from_predictive(pred)?;
    let (predicted, labels) = names(pred, data, classes);
    let rows: Vec<_> = (0..pred.n_examples)
        .map(|n| {
            let mut row = json!({"predicted": predicted[n], "probabilities": pred.mean(n), "total": unc.total[n], "data": unc.data[n], "model": unc.model[n]});
            if let Some(l) = &labels {
                row["label"] = json!(l[n]);
            }
            row
        })
        .collect();
    Ok(serde_json::to_vec(&json!({"classes": classes, "weight_samples": pred.weight_samples, "noise_samples": pred.noise_samples, "examples": rows}))?)
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    /// A model file written by `sbn fit`.
    model: PathBuf,
}

pub fn show_summary(args: SummaryArgs) -> Result<()> {
    let model = ModelFile::load(&args.model)?.fitted;
    out!("{}", summary(&model.network));
    Ok(())
}

/// What `sbn export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The most likely (or one sampled) network at 1 bit per binary weight, for `sbn predict`.
    Packed,
    /// The model file with its Bernoulli logits in 8 bits each, read by every command like a
    /// model file.
    Compact,
    /// The parameters as row-major tensors in the safetensors format, for NumPy, PyTorch and
    /// other tools (with `--sample-seed`, also one sampled network's ±1 weights as int8).
    Safetensors,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A model file written by `sbn fit`.
    model: PathBuf,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// What to write: packed, compact or safetensors.
    #[arg(long, value_enum, default_value_t = ExportFormat::Packed)]
    format: ExportFormat,
    /// Export one network sampled from the posterior with this seed instead of the most likely one
    /// (packed), or with the parameters (safetensors).
    #[arg(long)]
    sample_seed: Option<u64>,
}

pub fn export(args: ExportArgs) -> Result<()> {
    ensure_not_an_input("--out", &args.out, &[&args.model])?;
    let file = ModelFile::load(&args.model)?;
    let kib = |n: usize| n as f64 / 1024.0;
    match args.format {
        ExportFormat::Compact => {
            if args.sample_seed.is_some() {
                bail!("--sample-seed: a compact model file keeps the whole posterior; sample from it when predicting");
            }
            let bytes = file.to_compact_bytes();
            write_atomic(&args.out, &bytes)?;
            let full = file.to_bytes().len();
            eprintln!(
                "compact model file: {} bytes ({:.1} KiB), {:.1} % of the model file's {:.1} KiB",
                bytes.len(),
                kib(bytes.len()),
                100.0 * bytes.len() as f64 / full as f64,
                kib(full)
            );
        }
        ExportFormat::Safetensors => {
            let bytes = SafetensorsModel::new(file.fitted, args.sample_seed)?.to_bytes()?;
            write_atomic(&args.out, &bytes)?;
            eprintln!("safetensors: {} bytes ({:.1} KiB)", bytes.len(), kib(bytes.len()));
        }
        ExportFormat::Packed => {
            let model = file.fitted;
            let network = match args.sample_seed {
                Some(seed) => sbn::montecarlo::sample_network(&model.network, seed)?,
                None => SampledNetwork::most_likely(&model.network)?,
            };
            let s = summary(&model.network);
            let bytes = PackedModelFile { scaling: model.scaling, class_names: model.class_names, network }.to_bytes();
            write_atomic(&args.out, &bytes)?;
            eprintln!("packed network: {} bytes ({:.1} KiB); float32 weights would take {:.1} KiB", bytes.len(), kib(bytes.len()), s.float32_kib());
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// A model file written by `sbn fit`.
    model: PathBuf,
    #[arg(long)]
    data: String,
    /// Examples for the float path (it is slow); the packed path runs on all of them.
    #[arg(long, default_value_t = 1000)]
    float_examples: usize,
    #[command(flatten)]
    mc: McArgs,
}

/// `sbn bench-predict`: the MC predictive's throughput, packed engine against the float path on
/// the same sampled networks, in one run.
pub fn bench(args: BenchArgs) -> Result<()> {
    use sbn::montecarlo::{Engine, McConfig, predictive_float, sample_networks, sample_weights};
    use std::time::Instant;
    let model = args.mc.load_model(&args.model)?;
    let data = load_features(&args.data, model.network.input_dim())?;
    let config = McConfig { engine: Engine::Packed, ..args.mc.config_for(&model, data.len())? };
    sbn::montecarlo::check_memory(
        &model.network,
        args.float_examples.min(data.len()),
        &McConfig { engine: Engine::Float, ..config },
        &format!("--weight-samples {}", config.weight_samples),
    )?;
    let samples = config.weight_samples as f64 * config.noise_samples as f64;
    let rate = |n: usize, secs: f64| n as f64 * samples / secs;
    let mut storage = None;
    let inputs = InputBatch::from_dataset(&data, &model.scaling, &mut storage)?;
    let started = Instant::now();
    let nets = sample_networks(&model.network, &config)?;
    let packed = predictive_packed(&nets, inputs, config.noise_samples, config.seed)?;
    let packed_secs = started.elapsed().as_secs_f64();
    // Whole blocks of examples, so that both paths draw the same noise for the shared images.
    let m = (args.float_examples.min(data.len()) / sbn::montecarlo::BLOCK).max(1) * sbn::montecarlo::BLOCK;
    let m = m.min(data.len());
    let subset = data.subset(&(0..m).collect::<Vec<_>>());
    let mut storage = None;
    let sub_inputs = InputBatch::from_dataset(&subset, &model.scaling, &mut storage)?;
    let started = Instant::now();
    let weights = sample_weights(&model.network, &config);
    let float = predictive_float(&model.network, &weights, sub_inputs, config.noise_samples, config.seed)?;
    let float_secs = started.elapsed().as_secs_f64();
    let k = packed.n_classes;
    let max_diff =
        float.per_weight_sample.iter().zip(&packed.per_weight_sample[..m * config.weight_samples * k]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let (p, f) = (rate(data.len(), packed_secs), rate(m, float_secs));
    out!("MC predictive, S_w = {} × S_z = {}, {} threads", config.weight_samples, config.noise_samples, rayon::current_num_threads());
    out!("packed: {} images in {:.2} s = {:.0} image·samples/s", data.len(), packed_secs, p);
    out!("float:  {m} images in {:.2} s = {:.0} image·samples/s", float_secs, f);
    out!("packed / float = {:.1}×; largest difference of p̄_s on the shared images: {max_diff:.1e}", p / f);
    Ok(())
}
