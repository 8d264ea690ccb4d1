//! `sbn predict`, `sbn summary` and `sbn export`: the packed-bit Monte Carlo predictive per
//! example, the larq-style model summary, and the packed export of one network.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use sbn::data::LabelPolicy;
use sbn::evaluate::predict_dataset;
use sbn::io::{write_atomic, ModelFile, PackedModelFile};
use sbn::packed::{summary, SampledNetwork};
use sbn::data::InputBatch;
use sbn::montecarlo::predictive_packed;
use sbn::uncertainty::Uncertainty;
use serde_json::json;

use crate::common::{ensure_not_an_input, load_data, load_features, DataArgs, McArgs};

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
    mc: McArgs,
}

pub fn predict(args: PredictArgs) -> Result<()> {
    let config = args.mc.config()?;
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext != "csv" && ext != "json" {
        bail!("--out {}: expected a .csv or .json file name", args.out.display());
    }
    ensure_not_an_input("--out", &args.out, &[&args.model, Path::new(&args.data)])?;
    let bytes = std::fs::read(&args.model).map_err(|e| sbn::SbnError::io(&args.model, e))?;
    let place = args.model.display().to_string();
    let packed = PackedModelFile::sniff(&bytes);
    let model = if packed { None } else { Some(args.mc.temper(ModelFile::from_bytes(&bytes, &place)?.fitted)?) };
    let packed = if packed { Some(PackedModelFile::from_bytes(&bytes, &place)?) } else { None };
    let (n_features, class_names) = match (&model, &packed) {
        (Some(m), _) => (m.network.input_dim(), m.class_names.clone()),
        (_, Some(p)) => (p.network.dims()[0], p.class_names.clone()),
        _ => unreachable!("a model or a packed network"),
    };
    let data_args = DataArgs { data: args.data.clone(), label: args.label.clone() };
    let policy = if args.no_label { LabelPolicy::Absent } else { LabelPolicy::IfPresent };
    let mut data = load_data(&args.data, &data_args.options(policy, n_features))?;
    if data.is_labelled() {
        data.align_classes(&class_names)?;
    }
    let pred = match (&model, &packed) {
        (Some(model), _) => predict_dataset(model, &data, &args.mc.config_for(&model.network, data.len())?)?,
        (_, Some(packed)) => {
            if args.mc.posterior_temperature != 1.0 {
                bail!("--posterior-temperature: {place} is a packed network (one weight sample); temper its model file instead");
            }
            if data.dim != n_features {
                return Err(sbn::SbnError::InputSize { place: data.source().to_string(), found: data.dim, expected: n_features }.into());
            }
            let mut storage = None;
            let inputs = InputBatch::from_dataset(&data, &packed.scaling, &mut storage)?;
            predictive_packed(std::slice::from_ref(&packed.network), inputs, config.noise_samples, config.seed)?
        }
        _ => unreachable!("a model or a packed network"),
    };
    let unc = Uncertainty::from_predictive(&pred)?;
    let k = pred.n_classes;
    let probs = pred.means();
    let predicted: Vec<&str> = probs.chunks(k).map(|p| class_names[sbn::metrics::argmax(p)].as_str()).collect();
    let labels: Option<Vec<&str>> = data.labels().map(|l| l.iter().map(|&c| class_names[c].as_str()).collect());
    let text = if ext == "csv" {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["example".to_string()];
        header.extend(labels.is_some().then(|| "label".to_string()));
        header.push("predicted".into());
        header.extend(class_names.iter().map(|c| format!("p_{c}")));
        header.extend(["total", "data", "model"].map(String::from));
        w.write_record(&header)?;
        for n in 0..pred.n_examples {
            let mut row = vec![n.to_string()];
            row.extend(labels.as_ref().map(|l| l[n].to_string()));
            row.push(predicted[n].to_string());
            row.extend(probs[n * k..(n + 1) * k].iter().map(|p| format!("{p:.6}")));
            row.extend([unc.total[n], unc.data[n], unc.model[n]].map(|u| format!("{u:.6}")));
            w.write_record(&row)?;
        }
        w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        let rows: Vec<_> = (0..pred.n_examples)
            .map(|n| {
                let mut row = json!({"predicted": predicted[n], "probabilities": &probs[n * k..(n + 1) * k], "total": unc.total[n], "data": unc.data[n], "model": unc.model[n]});
                if let Some(l) = &labels {
                    row["label"] = json!(l[n]);
                }
                row
            })
            .collect();
        serde_json::to_vec(&json!({"classes": class_names, "weight_samples": pred.weight_samples, "noise_samples": pred.noise_samples, "examples": rows}))?
    };
    write_atomic(&args.out, &text)?;
    let labelled = if data.is_labelled() { "" } else { " (data without labels)" };
    eprintln!("{} predictions (S_w = {}, S_z = {}) written to {}{labelled}", pred.n_examples, pred.weight_samples, pred.noise_samples, args.out.display());
    Ok(())
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

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A model file written by `sbn fit`.
    model: PathBuf,
    /// Output file for the packed network.
    #[arg(long)]
    out: PathBuf,
    /// Export one network sampled from the posterior with this seed instead of the most likely one.
    #[arg(long)]
    sample_seed: Option<u64>,
}

pub fn export(args: ExportArgs) -> Result<()> {
    ensure_not_an_input("--out", &args.out, &[&args.model])?;
    let model = ModelFile::load(&args.model)?.fitted;
    let network = match args.sample_seed {
        Some(seed) => sbn::montecarlo::sample_network(&model.network, seed)?,
        None => SampledNetwork::most_likely(&model.network)?,
    };
    let file = PackedModelFile { scaling: model.scaling, class_names: model.class_names, network };
    let bytes = file.to_bytes();
    write_atomic(&args.out, &bytes)?;
    let s = summary(&model.network);
    eprintln!("packed network: {} bytes ({:.1} KiB); float32 weights would take {:.1} KiB", bytes.len(), bytes.len() as f64 / 1024.0, s.float32_kib());
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
    use sbn::montecarlo::{predictive_float, sample_networks, sample_weights, Engine, McConfig};
    use std::time::Instant;
    let model = args.mc.load_model(&args.model)?;
    let data = load_features(&args.data, model.network.input_dim())?;
    let config = McConfig { engine: Engine::Packed, ..args.mc.config_for(&model.network, data.len())? };
    sbn::montecarlo::check_memory(&model.network, args.float_examples.min(data.len()), &McConfig { engine: Engine::Float, ..config }, &format!("--weight-samples {}", config.weight_samples))?;
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
    let max_diff = float.per_weight_sample.iter().zip(&packed.per_weight_sample[..m * config.weight_samples * k]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let (p, f) = (rate(data.len(), packed_secs), rate(m, float_secs));
    out!("MC predictive, S_w = {} × S_z = {}, {} threads", config.weight_samples, config.noise_samples, rayon::current_num_threads());
    out!("packed: {} images in {:.2} s = {:.0} image·samples/s", data.len(), packed_secs, p);
    out!("float:  {m} images in {:.2} s = {:.0} image·samples/s", float_secs, f);
    out!("packed / float = {:.1}×; largest difference of p̄_s on the shared images: {max_diff:.1e}", p / f);
    Ok(())
}
