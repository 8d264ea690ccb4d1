//! A fit from a spec, the layer above the [`Trainer`] that `sbn fit` and library users call. It
//! turns a checked spec and data into a network (random and data-dependent initialization, a
//! fitted model's network with [`FitOptions::init`], or a checkpoint's state with
//! [`FitOptions::resume`]), validates with the Monte Carlo predictive after every epoch, keeps the
//! best network, and writes the model and a checkpoint after every epoch and when stopped.
//! Progress and stopping reach the caller through its own [`Observer`]; the library prints nothing.

use std::path::{Path, PathBuf};

use crate::checked::Checked;
use crate::data::{Dataset, InputBatch, InputScaling, list_classes};
use crate::error::{Result, SbnError};
use crate::evaluate::fit_posthoc;
use crate::fitted::FittedModel;
use crate::io::ModelFile;
use crate::model::init::{InitConfig, LayerShape, random_layers};
use crate::model::{BernoulliPrior, Network};
use crate::montecarlo::{Engine, McConfig, predictive};
use crate::objective::Objective;
use crate::posthoc::{Method, PostHocFit};
use crate::predictive::Predictive;
use crate::rng;
use crate::spec::ModelSpec;
use crate::train::data_init::data_dependent_init;
use crate::train::memory::check_training_memory;
use crate::train::{Flow, Observer, Trainer, TrainingData, Validation};

/// How a fit is driven (not part of the model).
#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    /// Where the best model goes after every epoch; its checkpoint is `<out>.ckpt`.
    pub out: Option<PathBuf>,
    /// Continue from `<out>.ckpt`.
    pub resume: bool,
    /// Start from this model's network instead of a fresh one, e.g. deterministic pre-training
    /// before a Bayesian fit: same architecture and weight kinds (`[network]` of the spec, apart
    /// from `init_logit`), fitted on the same training data (same input scaling and classes). The
    /// string names it in error messages (its path).
    pub init: Option<(String, ModelFile)>,
}

/// The result of a fit.
#[derive(Clone, Debug)]
pub struct FitOutcome {
    /// The best model (lowest validation NLL) with the full history.
    pub model: FittedModel,
    /// The network after the last batch run.
    pub last: Network,
    /// False when the observer stopped the run early; the checkpoint then allows resuming.
    pub completed: bool,
}

/// The checkpoint path that belongs to a model path.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".ckpt");
    PathBuf::from(s)
}

/// Fits a network of shape `spec` on `train`, validating on `valid` after every epoch, and
/// reports to `observer` (`&mut ()` for nobody).
///
/// An observer that stops the run after its first epoch, and the run resumed from its checkpoint:
///
/// ```
/// use sbn::data::embedded::digits;
/// use sbn::session::{fit, FitOptions};
/// use sbn::spec::ModelSpec;
/// use sbn::train::{Flow, Observer, Trainer};
///
/// struct FirstEpochOnly;
///
/// impl Observer for FirstEpochOnly {
///     fn epoch_end(&mut self, trainer: &Trainer) -> sbn::Result<Flow> {
///         println!("epoch {}: validation NLL {:.3}", trainer.epoch(), trainer.history()[0].valid_nll);
///         Ok(Flow::Stop)
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec = ModelSpec::parse("[network]\nhidden = [16]\nweights = \"bernoulli\"\n[training]\nepochs = 3\nbatch_size = 64\n", "spec")?;
/// let (train, valid) = digits().split(0.2, 1);
/// let dir = std::env::temp_dir().join(format!("sbn-doc-fit-{}", std::process::id()));
/// let options = FitOptions { out: Some(dir.join("m.sbn")), ..FitOptions::default() };
/// let first = fit(&spec, &train, &valid, &options, &mut FirstEpochOnly)?;
/// assert!(!first.completed && first.model.history.len() == 1);
/// let all = fit(&spec, &train, &valid, &FitOptions { resume: true, ..options }, &mut ())?;
/// assert!(all.completed && all.model.history.len() == 3);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub fn fit(spec: &Checked<ModelSpec>, train: &Dataset, valid: &Dataset, options: &FitOptions, observer: &mut dyn Observer) -> Result<FitOutcome> {
    let valid_labels = check_data(train, valid)?;
    let scaling = InputScaling::fit(train);
    let t = &spec.training;
    let geometry = if t.augment.is_active() { Some(spec.image_geometry(train.dim, train.image_shape, "training.augment", "augmentations")?) } else { None };
    let shapes = spec.layer_shapes(train.dim, train.image_shape, train.n_classes(), scaling.zero_input())?;
    check_training_memory(&shapes, train.dim, t.batch_size.min(train.len()), t.chunk)?;
    let data = TrainingData::new(train, scaling.clone(), geometry)?;
    let mut trainer = start(spec, data, &shapes, options)?;

    let v = &spec.validation;
    let valid_config = McConfig { weight_samples: v.weight_samples, noise_samples: v.noise_samples, seed: 0, engine: Engine::Auto };
    crate::montecarlo::check_memory(trainer.network(), valid.len(), &valid_config, &format!("validation.weight_samples = {}", v.weight_samples))?;
    let mut storage = None;
    let valid_inputs = InputBatch::from_dataset(valid, &scaling, &mut storage)?;
    let ckpt = options.out.as_deref().map(checkpoint_path);
    let mut session = Session { spec, valid_inputs, valid_labels: &valid_labels, out: options.out.as_deref(), ckpt: ckpt.as_deref(), inner: observer };
    let completed = trainer.run(&mut session)?;
    if !completed && trainer.batch() > 0 {
        session.save_checkpoint(&trainer)?;
    }
    Ok(FitOutcome { model: session.best_model(&trainer), last: trainer.network().clone(), completed })
}

/// The start of a fit from a model file (`sbn fit --init`; [`FitOptions::init`]): the file's
/// network, or for a checkpoint the best network of its run as trained (for a point-weight run
/// its latent logits; the model file holds only their signs), with its posterior tempered to
/// `q = σ(θ/τ)` (`temperature` τ; 1 keeps it as it is).
pub fn starting_model(mut file: ModelFile, temperature: f64) -> Result<ModelFile> {
    if let Some((_, best)) = file.state.take().and_then(|s| s.best) {
        file.fitted.network = best;
    }
    file.fitted.network = file.fitted.network.posterior_tempered(temperature)?;
    Ok(file)
}

/// The post-hoc temperature a fit stores with its model (docs/math.md §10): fitted on the
/// validation data `valid`, predicted with the spec's validation samples and the fit's seed, and
/// recorded as fitted on "`valid` (validation)". Also returns that predictive (uncalibrated) and
/// the labels in the model's class order, for scores before and after. The validation data also
/// chose the best epoch, so the NLL after the temperature is slightly optimistic.
pub fn validation_temperature(model: &FittedModel, spec: &ModelSpec, valid: &Dataset) -> Result<(PostHocFit, Predictive, Vec<usize>)> {
    let v = &spec.validation;
    let config = McConfig { weight_samples: v.weight_samples, noise_samples: v.noise_samples, seed: spec.training.seed, engine: Engine::Auto };
    let (mut stored, pred, labels) = fit_posthoc(model, valid, Method::Temperature, &config)?;
    stored.data = format!("{} (validation)", valid.name);
    Ok((stored, pred, labels))
}

/// Checks the data of a fit: both parts non-empty, training data fit to train a classifier, the
/// same features; returns the validation labels as indices of the training data's classes.
fn check_data(train: &Dataset, valid: &Dataset) -> Result<Vec<usize>> {
    for (ds, what) in [(train, "training"), (valid, "validation")] {
        if ds.is_empty() {
            return Err(SbnError::invalid(ds.source(), format!("the {what} data is empty")));
        }
    }
    train.check_trainable()?;
    if valid.dim != train.dim {
        return Err(SbnError::invalid(valid.source(), format!("validation data has {} features, training data {}", valid.dim, train.dim)));
    }
    // The validation file numbers its classes by what it contains: match them to the training data's by name.
    valid.labels_for(train.class_names())
}

/// The trainer of a fit: resumed from the checkpoint, started from another model's network, or
/// from a fresh network.
fn start<'d>(spec: &Checked<ModelSpec>, data: TrainingData<'d>, shapes: &[LayerShape], options: &FitOptions) -> Result<Trainer<'d>> {
    let train = data.dataset();
    let objective = Objective { beta: spec.objective.beta, n_train: train.len(), prior: BernoulliPrior::new(spec.objective.prior_pi)? };
    let config = Checked::assume_checked(spec.training.clone());
    if options.resume {
        let path = checkpoint_path(options.out.as_deref().ok_or_else(|| SbnError::invalid("--resume", "needs an output path to find the checkpoint"))?);
        let file = ModelFile::load(&path)?;
        let place = path.display().to_string();
        // Only the number of epochs may change (to extend or shorten a run; the schedule follows it).
        let mut written = file.spec.clone();
        written.training.epochs = spec.training.epochs;
        if written != **spec {
            return Err(SbnError::mismatch(place, "checkpoint was written for another spec (only training.epochs may differ)"));
        }
        let f = file.fitted;
        if &f.scaling != data.scaling() || f.input_dim() != train.dim || f.class_names != train.class_names() {
            return Err(SbnError::mismatch(place, "checkpoint was written for other training data"));
        }
        let state = file.state.ok_or_else(|| SbnError::invalid(&place, "not a checkpoint (no training state)"))?;
        return Trainer::from_state(config, objective, f.network, f.history, state, data);
    }
    let net = match &options.init {
        Some((name, file)) => init_network(spec, &data, name, file)?,
        None => initial_network(spec, shapes, train, data.scaling())?,
    };
    Ok(Trainer::new(config, objective, net, data))
}

/// The network a fit of `spec` starts from on `train` (layers of `shapes`): random weights from
/// stream 10 of the seed, then scales and biases set from up to 512 training examples
/// (data-dependent initialization, stream 11).
pub fn initial_network(spec: &ModelSpec, shapes: &[LayerShape], train: &Dataset, scaling: &InputScaling) -> Result<Network> {
    let init = InitConfig { logit_scale: spec.network.init_logit, weight_std: 1.0 };
    let mut net = random_layers(shapes, &spec.kinds(), init, &mut rng::stream(spec.training.seed, &[10]))?;
    let (n, n_init) = (train.len(), train.len().min(512));
    let idx: Vec<usize> = (0..n_init).map(|i| i * n / n_init).collect();
    data_dependent_init(&mut net, &scaling.apply(train, &idx)?, rng::stream_seed(spec.training.seed, &[11]));
    Ok(net)
}

/// The network of `file` (named `name`) as the start of a fit of `spec` on `data`, after checking
/// that it has the spec's architecture and was fitted on the same data.
fn init_network(spec: &ModelSpec, data: &TrainingData, name: &str, file: &ModelFile) -> Result<Network> {
    let train = data.dataset();
    let mut network = file.spec.network.clone();
    network.init_logit = spec.network.init_logit;
    let f = &file.fitted;
    if network != spec.network || f.input_dim() != train.dim {
        return Err(SbnError::mismatch(name, "has another architecture ([network] of its spec differs from this spec's, apart from init_logit)"));
    }
    if &f.scaling != data.scaling() {
        return Err(SbnError::mismatch(name, "was fitted on other training data (its input scaling differs)"));
    }
    if f.class_names != train.class_names() {
        return Err(SbnError::mismatch(
            name,
            format!("was fitted on other classes ({}) than the training data's ({})", list_classes(&f.class_names), list_classes(train.class_names())),
        ));
    }
    Ok(f.network.clone())
}

/// The session's observer: validates every epoch, writes the model and the checkpoint, and
/// passes everything on to the caller's observer.
struct Session<'a> {
    spec: &'a ModelSpec,
    valid_inputs: InputBatch<'a>,
    valid_labels: &'a [usize],
    out: Option<&'a Path>,
    ckpt: Option<&'a Path>,
    inner: &'a mut dyn Observer,
}

impl Session<'_> {
    /// The network a model file holds: the posterior, or for point-weight training its mode.
    fn deployed(&self, net: &Network) -> Network {
        if self.spec.training.point_weights { net.posterior_mode() } else { net.clone() }
    }

    /// The model of the best network so far, with the history.
    fn best_model(&self, trainer: &Trainer) -> FittedModel {
        self.fitted(trainer, self.deployed(trainer.best_network()))
    }

    fn fitted(&self, trainer: &Trainer, network: Network) -> FittedModel {
        let data = trainer.data();
        FittedModel {
            network,
            scaling: data.scaling().clone(),
            class_names: data.dataset().class_names().to_vec(),
            history: trainer.history().to_vec(),
            posthoc: None,
        }
    }

    /// Writes the checkpoint: the current network, the history and the trainer's state.
    fn save_checkpoint(&self, trainer: &Trainer) -> Result<()> {
        match self.ckpt {
            Some(path) => {
                ModelFile { spec: self.spec.clone(), fitted: self.fitted(trainer, trainer.network().clone()), state: Some(trainer.state()) }.save(path)
            }
            None => Ok(()),
        }
    }
}

impl Observer for Session<'_> {
    fn batch(&mut self, trainer: &Trainer) -> Result<Flow> {
        self.inner.batch(trainer)
    }

    /// Accuracy and NLL of the Monte Carlo predictive (`S_w × S_z` samples of the spec) of the
    /// network as it would be deployed, noise from stream `(3, epoch)` of the seed.
    fn validate(&mut self, trainer: &Trainer) -> Result<Option<Validation>> {
        let v = &self.spec.validation;
        let seed = rng::stream_seed(self.spec.training.seed, &[3, trainer.epoch() as u64]);
        let config = McConfig { weight_samples: v.weight_samples, noise_samples: v.noise_samples, seed, engine: Engine::Auto };
        let net = self.deployed(trainer.network());
        let probs = predictive(&net, self.valid_inputs, &config)?.means();
        let k = net.n_classes();
        let (mut correct, mut nll) = (0usize, 0.0);
        for (p, &label) in probs.chunks(k).zip(self.valid_labels) {
            let arg = (0..k).max_by(|&a, &b| p[a].total_cmp(&p[b])).expect("classes");
            correct += usize::from(arg == label);
            nll -= p[label].max(1e-12).ln();
        }
        let n = self.valid_labels.len() as f64;
        Ok(Some(Validation { accuracy: correct as f64 / n, nll: nll / n }))
    }

    fn epoch_end(&mut self, trainer: &Trainer) -> Result<Flow> {
        if let Some(out) = self.out {
            ModelFile { spec: self.spec.clone(), fitted: self.best_model(trainer), state: None }.save(out)?;
        }
        self.save_checkpoint(trainer)?;
        self.inner.epoch_end(trainer)
    }
}
