//! The fit loop: minibatches, the ELBO gradient, the optimizer, per-epoch validation with the MC
//! predictive, the best model kept, a checkpoint written atomically after every epoch (and on
//! interruption), and `--resume`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::init::data_dependent_init;
use super::optim::Optimizer;
use super::step::estimate_batch;
use crate::data::{Dataset, InputBatch, InputScaling};
use crate::error::{Result, SbnError};
use crate::io::{ModelFile, TrainState};
use crate::model::init::{random_layers, InitConfig, LayerShape};
use crate::model::{BernoulliPrior, Network};
use crate::objective::Objective;
use crate::predict::{predictive, Engine, McConfig};
use crate::rng;
use crate::spec::{ModelSpec, Schedule};

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean estimator value of the expected NLL over the epoch's batches.
    pub train_nll: f64,
    /// `KL(q ‖ p)` at the end of the epoch (nats).
    pub kl: f64,
    /// `F = nll + β·KL/N`.
    pub objective: f64,
    pub valid_accuracy: f64,
    pub valid_nll: f64,
    /// Mean weight entropy (nats) and share of weights with q in (0.05, 0.95).
    pub weight_entropy: f64,
    pub uncertain_share: f64,
    pub seconds: f64,
    pub lr: f64,
}

/// How a run is driven (not part of the model).
#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Where the best model goes; its checkpoint is `<out>.ckpt`.
    pub out: Option<PathBuf>,
    /// Continue from `<out>.ckpt`.
    pub resume: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current batch, saving a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// Stop after this many batches of this invocation (simulates an interruption in tests).
    pub stop_after_batches: Option<usize>,
    /// Start from this model's network instead of a fresh one, e.g. deterministic pre-training
    /// before a Bayesian fit: same architecture and weight kinds (`[network]` of the spec, apart
    /// from `init_logit`) and fitted on the same training data (same input scaling). The string
    /// names it in error messages (its path).
    pub init: Option<(String, ModelFile)>,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct FitOutcome {
    /// The best model (lowest validation NLL) with the full history.
    pub model: ModelFile,
    /// The network after the last batch run.
    pub last: Network,
    /// False when the run stopped early (interrupted); the checkpoint then allows `--resume`.
    pub completed: bool,
}

/// The checkpoint path that belongs to a model path.
pub fn checkpoint_path(out: &std::path::Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".ckpt");
    PathBuf::from(s)
}

/// Posterior diagnostics: the mean entropy of the Bernoulli weights (nats) and the share with
/// `q ∈ (0.05, 0.95)`. Both are 0 for a network without Bernoulli weights.
pub fn posterior_spread(net: &Network) -> (f64, f64) {
    let (mut h, mut uncertain, mut n) = (0.0, 0usize, 0usize);
    for layer in net.layers() {
        if let Some(q) = layer.q() {
            for &q in q.iter() {
                h += crate::model::softmax::entropy(&[q, 1.0 - q]);
                uncertain += usize::from(q > 0.05 && q < 0.95);
                n += 1;
            }
        }
    }
    if n == 0 { (0.0, 0.0) } else { (h / n as f64, uncertain as f64 / n as f64) }
}

/// Checks, before anything is allocated, that training a network of `shapes` on examples of `d0`
/// features fits in memory: about eight copies of the parameters (the network, the optimizer's
/// two moments, a gradient per thread, the best network, the checkpoint being written), and per
/// parallel chunk about eight matrices per unit plus a convolution's patches.
fn check_training_memory(shapes: &[LayerShape], d0: usize, batch: usize, chunk: usize) -> Result<()> {
    let mut params = 0u128;
    let mut per_example = d0 as u128;
    for shape in shapes {
        let (rows, fan_in, units, patches) = match *shape {
            LayerShape::Dense { n_in, n_out } => (n_out, n_in, n_out as u128, 0),
            LayerShape::Conv(c) => (c.out_c, c.fan_in(), c.out_features() as u128, c.fan_in() as u128 * c.positions() as u128),
        };
        params += rows as u128 * (fan_in as u128 + 2);
        per_example += 8 * units + patches;
    }
    let widths: Vec<String> = shapes.iter().map(|s| s.features().1.to_string()).collect();
    let what = format!("network ({d0} → {})", widths.join(" → "));
    crate::limits::ensure_fits(&what, &format!("training its {params} parameters"), params.checked_mul(8 * 8))?;
    let threads = rayon::current_num_threads().max(1) as u128;
    let step = per_example.checked_mul(8 * threads * chunk.min(batch) as u128).and_then(|b| b.checked_add(8 * batch as u128 * d0 as u128));
    crate::limits::ensure_fits(&format!("training.chunk = {chunk}, training.batch_size = {batch}"), "a training step's unit matrices", step)
}

/// Trains a network of shape `spec` on `train`, validating on `valid` after every epoch.
pub fn fit(spec: &ModelSpec, train: &Dataset, valid: &Dataset, opts: &FitOptions) -> Result<FitOutcome> {
    spec.check("spec")?;
    for (ds, what) in [(train, "training"), (valid, "validation")] {
        if ds.is_empty() {
            return Err(SbnError::invalid(ds.source(), format!("the {what} data is empty")));
        }
    }
    train.check_trainable()?;
    let train_labels = train.require_labels("fitting")?;
    if valid.dim != train.dim {
        return Err(SbnError::invalid(valid.source(), format!("validation data has {} features, training data {}", valid.dim, train.dim)));
    }
    // The validation file numbers its classes by what it contains: match them to the training data's by name.
    let valid_labels = valid.labels_for(train.class_names())?;
    let t = &spec.training;
    let seed = t.seed;
    let scaling = InputScaling::fit(train);
    let n_train = train.len();
    let objective = Objective { beta: spec.objective.beta, n_train, prior: BernoulliPrior::new(spec.objective.prior_pi)? };
    let estimator = t.estimator.build();
    let augment_geometry = if t.augment.is_active() { Some(spec.image_geometry(train.dim, train.image_shape, "training.augment", "augmentations")?) } else { None };
    // A batch larger than the data is the whole data.
    let batch_size = t.batch_size.min(n_train);
    let batches_per_epoch = n_train.div_ceil(batch_size);
    let total_batches = batches_per_epoch.saturating_mul(t.epochs);
    let shapes = spec.layer_shapes(train.dim, train.image_shape, train.n_classes(), scaling.zero_input())?;
    check_training_memory(&shapes, train.dim, batch_size, t.chunk)?;

    let ckpt = opts.out.as_deref().map(checkpoint_path);
    let (mut net, mut opt, mut history, mut epoch0, mut batch0, mut running, mut best, elapsed0) = match (&ckpt, opts.resume) {
        (Some(path), true) => {
            let file = ModelFile::load(path)?;
            // Only the number of epochs may change (to extend or shorten a run; the schedule follows it).
            let mut written = file.spec.clone();
            written.training.epochs = spec.training.epochs;
            if &written != spec {
                return Err(SbnError::invalid(path.display().to_string(), "checkpoint was written for another spec (only training.epochs may differ)"));
            }
            if file.scaling != scaling || file.network.input_dim() != train.dim || file.class_names != train.class_names() {
                return Err(SbnError::invalid(path.display().to_string(), "checkpoint was written for other training data"));
            }
            let s = file.state.ok_or_else(|| SbnError::invalid(path.display().to_string(), "not a checkpoint (no training state)"))?;
            (file.network, s.optimizer, file.history, s.epoch, s.batch, s.running, s.best, s.elapsed)
        }
        (None, true) => return Err(SbnError::invalid("--resume", "needs an output path to find the checkpoint")),
        _ => {
            let mut net = match &opts.init {
                Some((name, file)) => {
                    let mut network = file.spec.network.clone();
                    network.init_logit = spec.network.init_logit;
                    if network != spec.network || file.network.input_dim() != train.dim {
                        return Err(SbnError::invalid(name, "has another architecture ([network] of its spec differs from this spec's, apart from init_logit)"));
                    }
                    if file.scaling != scaling {
                        return Err(SbnError::invalid(name, "was fitted on other training data (its input scaling differs)"));
                    }
                    if file.class_names != train.class_names() {
                        return Err(SbnError::invalid(name, format!("was fitted on other classes ({}) than the training data's ({})", crate::data::list_classes(&file.class_names), crate::data::list_classes(train.class_names()))));
                    }
                    file.network.clone()
                }
                None => {
                    let init = InitConfig { logit_scale: spec.network.init_logit, weight_std: 1.0 };
                    let mut net = random_layers(&shapes, &spec.kinds(), init, &mut rng::stream(seed, &[10]))?;
                    let n_init = n_train.min(512);
                    let idx: Vec<usize> = (0..n_init).map(|i| i * n_train / n_init).collect();
                    data_dependent_init(&mut net, &scaling.apply(train, &idx)?, rng::stream_seed(seed, &[11]));
                    net
                }
            };
            let opt = Optimizer::new(t.optimizer, &mut net);
            (net, opt, Vec::new(), 0, 0, [0.0; 3], None, 0.0)
        }
    };

    let v = &spec.validation;
    let valid_config = McConfig { weight_samples: v.weight_samples, noise_samples: v.noise_samples, seed: 0, engine: Engine::Auto };
    crate::predict::check_memory(&net, valid.len(), &valid_config, &format!("validation.weight_samples = {}", v.weight_samples))?;
    let mut valid_storage = None;
    let valid_inputs = InputBatch::from_dataset(valid, &scaling, &mut valid_storage)?;
    let bar = if opts.progress { ProgressBar::new(total_batches as u64) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} batches, {elapsed} elapsed, {eta} left  {msg}").expect("valid template").progress_chars("=> "));
    bar.set_position(epoch0.saturating_mul(batches_per_epoch).saturating_add(batch0) as u64);
    let started = Instant::now();
    let mut epoch_started = Instant::now();
    let mut ran = 0usize;
    let save_state = |net: &Network, opt: &Optimizer, history: &[EpochRecord], epoch: usize, batch: usize, running: [f64; 3], best: &Option<(f64, Network)>, elapsed: f64| -> Result<()> {
        if let Some(path) = &ckpt {
            let state = TrainState { optimizer: opt.clone(), epoch, batch, running, best: best.clone(), elapsed };
            ModelFile { spec: spec.clone(), scaling: scaling.clone(), class_names: train.class_names().to_vec(), network: net.clone(), history: history.to_vec(), state: Some(state) }.save(path)?;
        }
        Ok(())
    };
    while epoch0 < t.epochs {
        let epoch = epoch0;
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, t.epochs));
        let mut order: Vec<usize> = (0..n_train).collect();
        order.shuffle(&mut rng::stream(seed, &[1, epoch as u64]));
        let lr_factor = match t.schedule {
            Schedule::Constant => 1.0,
            Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / t.epochs as f64).cos()),
        };
        for b in batch0..batches_per_epoch {
            let idx = &order[b * batch_size..((b + 1) * batch_size).min(n_train)];
            let mut x = scaling.apply(train, idx)?;
            if let Some(geometry) = augment_geometry {
                t.augment.apply(&mut x, geometry, scaling.zero_input(), &mut rng::stream(seed, &[4, epoch as u64, b as u64]));
            }
            let y: Vec<usize> = idx.iter().map(|&n| train_labels[n]).collect();
            let est = estimate_batch(&net, &x, &y, estimator.as_ref(), rng::stream_seed(seed, &[2, epoch as u64, b as u64]), t.chunk, t.point_weights)?;
            if !est.loss.is_finite() {
                return Err(SbnError::invalid("training", format!("the loss became {} in epoch {} batch {b}; lower the learning rate", est.loss, epoch + 1)));
            }
            let mut grad_q = est.grad;
            objective.add_kl_gradient(&net, &mut grad_q);
            let grad_theta = grad_q.logit_space(&net);
            opt.update(&mut net, &grad_q, &grad_theta, t.lr * lr_factor, t.logit_lr * lr_factor);
            running[0] += est.loss * idx.len() as f64;
            running[2] += idx.len() as f64;
            bar.inc(1);
            if opts.progress && b % 25 == 0 {
                let last = history.last().map_or(String::new(), |r: &EpochRecord| format!("  last epoch: valid acc {:.2}%, valid nll {:.4}", 100.0 * r.valid_accuracy, r.valid_nll));
                bar.set_message(format!("nll {:.4}  β·KL/N {:.4}{last}", running[0] / running[2], objective.beta * objective.kl(&net) / n_train as f64));
            }
            ran += 1;
            let interrupted = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) || opts.stop_after_batches.is_some_and(|m| ran >= m);
            if interrupted && b + 1 < batches_per_epoch {
                save_state(&net, &opt, &history, epoch, b + 1, running, &best, elapsed0 + started.elapsed().as_secs_f64())?;
                bar.abandon_with_message("interrupted; checkpoint saved, continue with --resume");
                let model = best_model(spec, &scaling, train, &net, &best, &history);
                return Ok(FitOutcome { model, last: net, completed: false });
            }
        }
        // End of epoch: validation and bookkeeping.
        let (valid_accuracy, valid_nll) = validate(&deployed(spec, &net), valid_inputs, &valid_labels, spec, rng::stream_seed(seed, &[3, epoch as u64]))?;
        let value = objective.value(&net, running[0] / running[2]);
        let (weight_entropy, uncertain_share) = posterior_spread(&net);
        let record = EpochRecord {
            epoch: epoch + 1,
            train_nll: value.nll,
            kl: value.kl,
            objective: value.total,
            valid_accuracy,
            valid_nll,
            weight_entropy,
            uncertain_share,
            seconds: epoch_started.elapsed().as_secs_f64(),
            lr: t.lr * lr_factor,
        };
        if opts.progress {
            bar.suspend(|| eprintln!(
            "epoch {:>3}: nll {:.4}  kl {:.1}  F {:.4}  ELBO {:.0} nats  valid acc {:.2}%  valid nll {:.4}  uncertain weights {:.1}%  {:.1}s",
            record.epoch, record.train_nll, record.kl, record.objective, value.elbo(n_train), 100.0 * valid_accuracy, valid_nll, 100.0 * uncertain_share, record.seconds
            ));
        }
        history.push(record);
        if best.as_ref().is_none_or(|(score, _)| valid_nll < *score) {
            best = Some((valid_nll, net.clone()));
        }
        epoch0 += 1;
        batch0 = 0;
        running = [0.0; 3];
        epoch_started = Instant::now();
        let model = best_model(spec, &scaling, train, &net, &best, &history);
        if let Some(out) = &opts.out {
            model.save(out)?;
        }
        save_state(&net, &opt, &history, epoch0, 0, running, &best, elapsed0 + started.elapsed().as_secs_f64())?;
        let stop = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) || opts.stop_after_batches.is_some_and(|m| ran >= m);
        if stop && epoch0 < t.epochs {
            bar.abandon_with_message("interrupted; checkpoint saved, continue with --resume");
            return Ok(FitOutcome { model, last: net, completed: false });
        }
    }
    bar.finish_and_clear();
    let model = best_model(spec, &scaling, train, &net, &best, &history);
    Ok(FitOutcome { model, last: net, completed: true })
}

fn best_model(spec: &ModelSpec, scaling: &InputScaling, train: &Dataset, net: &Network, best: &Option<(f64, Network)>, history: &[EpochRecord]) -> ModelFile {
    ModelFile {
        spec: spec.clone(),
        scaling: scaling.clone(),
        class_names: train.class_names().to_vec(),
        network: deployed(spec, best.as_ref().map_or(net, |(_, n)| n)),
        history: history.to_vec(),
        state: None,
    }
}

/// The network a model file holds: the posterior, or for point-weight training its mode.
fn deployed(spec: &ModelSpec, net: &Network) -> Network {
    if spec.training.point_weights { crate::evaluate::posterior_mode(net) } else { net.clone() }
}

/// Accuracy and NLL of the MC predictive on validation data (`S_w × S_z` samples of the spec).
fn validate(net: &Network, inputs: InputBatch, y: &[usize], spec: &ModelSpec, seed: u64) -> Result<(f64, f64)> {
    let v = &spec.validation;
    let config = McConfig { weight_samples: v.weight_samples, noise_samples: v.noise_samples, seed, engine: Engine::Auto };
    let pred = predictive(net, inputs, &config)?;
    let k = net.n_classes();
    let probs = pred.means();
    let mut correct = 0usize;
    let mut nll = 0.0;
    for (n, &label) in y.iter().enumerate() {
        let p = &probs[n * k..(n + 1) * k];
        let arg = (0..k).max_by(|&a, &b| p[a].total_cmp(&p[b])).expect("classes");
        correct += usize::from(arg == label);
        nll -= p[label].max(1e-12).ln();
    }
    Ok((correct as f64 / y.len() as f64, nll / y.len() as f64))
}
