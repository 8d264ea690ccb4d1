//! The training loop as a value: a [`Trainer`] owns the network, the optimizer's state, the
//! objective, the estimator, where the run stands and its history, and steps through minibatches
//! and epochs, reporting to an [`Observer`]. Files, progress and validation belong to its caller
//! (`session` for `sbn fit`).
//!
//! Every random draw comes from a stream of the run's seed: the shuffle of epoch `e` from
//! `(1, e)`, the gradient estimate of batch `b` from `(2, e, b)`, its augmentation from
//! `(4, e, b)`. So a run stopped after any batch and continued from its [`TrainState`] gives
//! the same network as a run that never stopped, on any number of threads.

use std::time::Instant;

use rand::seq::SliceRandom;

use super::config::TrainingConfig;
use super::history::EpochRecord;
use super::observer::{Flow, Observer, Validation};
use super::optim::{Optimizer, OptimizerState};
use super::step::estimate_batch;
use crate::checked::Checked;
use crate::data::{Dataset, InputScaling};
use crate::error::{Result, SbnError};
use crate::estimator::Estimator;
use crate::model::Network;
use crate::objective::Objective;
use crate::rng;

/// The training examples as the trainer reads them: the data set, its labels, the input scaling
/// and, when augmentation is on, the image geometry `[height, width, channels]` it needs.
#[derive(Clone, Debug)]
pub struct TrainingData<'d> {
    dataset: &'d Dataset,
    labels: &'d [usize],
    scaling: InputScaling,
    geometry: Option<[usize; 3]>,
}

impl<'d> TrainingData<'d> {
    /// Labelled, non-empty training data with its input scaling; `geometry` is needed when the
    /// configuration augments images.
    pub fn new(dataset: &'d Dataset, scaling: InputScaling, geometry: Option<[usize; 3]>) -> Result<Self> {
        let labels = dataset.require_labels("training")?;
        if dataset.is_empty() {
            return Err(SbnError::invalid(dataset.source(), "the training data is empty"));
        }
        Ok(TrainingData { dataset, labels, scaling, geometry })
    }

    /// The data set.
    pub fn dataset(&self) -> &'d Dataset {
        self.dataset
    }

    /// The input scaling fitted on it.
    pub fn scaling(&self) -> &InputScaling {
        &self.scaling
    }
}

/// Everything a stopped run needs, besides its network and history, to continue as if it had
/// never stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    /// The optimizer's moments and step count.
    pub optimizer: OptimizerState,
    /// The next epoch (0-based) and batch to run.
    pub epoch: usize,
    /// The next batch of that epoch.
    pub batch: usize,
    /// Running sums of the current epoch (loss, unused, examples), so a resumed epoch reports the same.
    pub running: [f64; 3],
    /// The best network so far and its validation NLL.
    pub best: Option<(f64, Network)>,
    /// Seconds spent training before this state was taken.
    pub elapsed: f64,
}

/// A training run in progress.
///
/// ```
/// use rand::SeedableRng;
/// use sbn::data::{embedded::digits, InputScaling};
/// use sbn::model::init::{random_network, InitConfig};
/// use sbn::model::BernoulliPrior;
/// use sbn::objective::Objective;
/// use sbn::train::{Trainer, TrainingConfig, TrainingData};
/// use sbn::WeightKind;
///
/// # fn main() -> sbn::Result<()> {
/// let data = digits();
/// let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
/// let net = random_network(&[64, 16, 10], &[WeightKind::Bernoulli; 2], InitConfig::default(), &mut rng)?;
/// let config = TrainingConfig { epochs: 2, batch_size: 128, ..TrainingConfig::default() }.check("config")?;
/// let objective = Objective { beta: 0.01, n_train: data.len(), prior: BernoulliPrior::new(0.5)? };
/// let mut trainer = Trainer::new(config, objective, net, TrainingData::new(&data, InputScaling::fit(&data), None)?);
/// trainer.step()?; // one minibatch
/// assert_eq!((trainer.epoch(), trainer.batch()), (0, 1));
/// assert!(trainer.run(&mut ())?); // the rest, nobody watching
/// assert_eq!(trainer.history().len(), 2);
/// # Ok(())
/// # }
/// ```
pub struct Trainer<'d> {
    config: Checked<TrainingConfig>,
    objective: Objective,
    estimator: Box<dyn Estimator>,
    optimizer: Box<dyn Optimizer>,
    net: Network,
    data: TrainingData<'d>,
    epoch: usize,
    batch: usize,
    running: [f64; 3],
    /// The shuffled example order of `order_epoch`.
    order: Vec<usize>,
    order_epoch: Option<usize>,
    history: Vec<EpochRecord>,
    best: Option<(f64, Network)>,
    elapsed_before: f64,
    started: Instant,
    epoch_started: Instant,
}

impl<'d> Trainer<'d> {
    /// A run from its first batch: `net` as initialized, a fresh optimizer.
    pub fn new(config: Checked<TrainingConfig>, objective: Objective, net: Network, data: TrainingData<'d>) -> Self {
        let state = TrainState { optimizer: OptimizerState::fresh(&net), epoch: 0, batch: 0, running: [0.0; 3], best: None, elapsed: 0.0 };
        Self::from_state(config, objective, net, Vec::new(), state, data).expect("a fresh state fits its network")
    }

    /// A run continued from a saved `state` with its network and history (a checkpoint's).
    pub fn from_state(
        config: Checked<TrainingConfig>,
        objective: Objective,
        net: Network,
        history: Vec<EpochRecord>,
        state: TrainState,
        data: TrainingData<'d>,
    ) -> Result<Self> {
        state.optimizer.check(&net)?;
        if state.batch > batches_per_epoch(&config, data.dataset.len()) {
            return Err(SbnError::invalid("training state", format!("batch {} is past the end of an epoch", state.batch)));
        }
        let optimizer = config.optimizer.restore(state.optimizer)?;
        let estimator = config.estimator.build();
        let now = Instant::now();
        Ok(Trainer {
            config,
            objective,
            estimator,
            optimizer,
            net,
            data,
            epoch: state.epoch,
            batch: state.batch,
            running: state.running,
            order: Vec::new(),
            order_epoch: None,
            history,
            best: state.best,
            elapsed_before: state.elapsed,
            started: now,
            epoch_started: now,
        })
    }

    /// Runs epochs until the last one, or until the observer stops the run; whether the run is
    /// complete.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<bool> {
        while !self.is_done() {
            if self.run_epoch(observer)? == Flow::Stop && !self.is_done() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs the rest of the current epoch: its remaining batches, then (unless the observer
    /// stopped the run before the last batch) its validation and record.
    pub fn run_epoch(&mut self, observer: &mut dyn Observer) -> Result<Flow> {
        let mut stop = false;
        while self.batch < self.batches_per_epoch() {
            self.step()?;
            if observer.batch(self)? == Flow::Stop {
                stop = true;
                if self.batch < self.batches_per_epoch() {
                    return Ok(Flow::Stop);
                }
            }
        }
        let validation = observer.validate(self)?;
        self.finish_epoch(validation);
        let flow = observer.epoch_end(self)?;
        Ok(if stop { Flow::Stop } else { flow })
    }

    /// Runs the next batch of the current epoch: a gradient estimate of `F` and an optimizer
    /// step. An error when the epoch has no batch left, or when the loss is no longer finite.
    pub fn step(&mut self) -> Result<()> {
        let (epoch, b) = (self.epoch, self.batch);
        if b >= self.batches_per_epoch() || self.is_done() {
            return Err(SbnError::invalid("training", format!("epoch {} has no batch left; finish it first", epoch + 1)));
        }
        let t = &self.config;
        let n = self.data.dataset.len();
        if self.order_epoch != Some(epoch) {
            self.order = (0..n).collect();
            self.order.shuffle(&mut rng::stream(t.seed, &[1, epoch as u64]));
            self.order_epoch = Some(epoch);
        }
        let size = t.batch_size.min(n);
        let idx = &self.order[b * size..((b + 1) * size).min(n)];
        let mut x = self.data.scaling.apply(self.data.dataset, idx)?;
        if let Some(geometry) = self.data.geometry {
            t.augment.apply(&mut x, geometry, self.data.scaling.zero_input(), &mut rng::stream(t.seed, &[4, epoch as u64, b as u64]));
        }
        let y: Vec<usize> = idx.iter().map(|&i| self.data.labels[i]).collect();
        let est = estimate_batch(&self.net, &x, &y, self.estimator.as_ref(), rng::stream_seed(t.seed, &[2, epoch as u64, b as u64]), t)?;
        if !est.loss.is_finite() {
            return Err(SbnError::Divergence { epoch: epoch + 1, batch: b, loss: est.loss });
        }
        let mut grad_q = est.grad;
        self.objective.add_kl_gradient(&self.net, &mut grad_q);
        let factor = t.schedule.factor(epoch, t.epochs);
        self.optimizer.update(&mut self.net, &grad_q, t.lr * factor, t.logit_lr * factor);
        self.running[0] += est.loss * idx.len() as f64;
        self.running[2] += idx.len() as f64;
        self.batch += 1;
        Ok(())
    }

    /// Ends the current epoch: its record (with `validation`, when there is some) joins the
    /// history, the network becomes the best one if its validation NLL is the lowest so far, and
    /// the next epoch begins.
    pub fn finish_epoch(&mut self, validation: Option<Validation>) -> &EpochRecord {
        let t = &self.config;
        let value = self.objective.value(&self.net, self.running[0] / self.running[2]);
        let (weight_entropy, uncertain_share) = self.net.posterior_spread();
        let record = EpochRecord {
            epoch: self.epoch + 1,
            train_nll: value.nll,
            kl: value.kl,
            objective: value.total,
            valid_accuracy: validation.map_or(f64::NAN, |v| v.accuracy),
            valid_nll: validation.map_or(f64::NAN, |v| v.nll),
            weight_entropy,
            uncertain_share,
            seconds: self.epoch_started.elapsed().as_secs_f64(),
            lr: t.lr * t.schedule.factor(self.epoch, t.epochs),
        };
        if let Some(v) = validation
            && self.best.as_ref().is_none_or(|(score, _)| v.nll < *score)
        {
            self.best = Some((v.nll, self.net.clone()));
        }
        self.history.push(record);
        self.epoch += 1;
        self.batch = 0;
        self.running = [0.0; 3];
        self.epoch_started = Instant::now();
        self.history.last().expect("just pushed")
    }

    /// The state to save: with the network and the history, what [`Trainer::from_state`] needs.
    pub fn state(&self) -> TrainState {
        TrainState {
            optimizer: self.optimizer.state().clone(),
            epoch: self.epoch,
            batch: self.batch,
            running: self.running,
            best: self.best.clone(),
            elapsed: self.elapsed(),
        }
    }

    /// The network as trained so far.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The network with the lowest validation NLL so far (the current one before any validation).
    pub fn best_network(&self) -> &Network {
        self.best.as_ref().map_or(&self.net, |(_, n)| n)
    }

    /// The records of the finished epochs.
    pub fn history(&self) -> &[EpochRecord] {
        &self.history
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainingConfig {
        &self.config
    }

    /// The objective being minimized.
    pub fn objective(&self) -> &Objective {
        &self.objective
    }

    /// The training data.
    pub fn data(&self) -> &TrainingData<'d> {
        &self.data
    }

    /// The current epoch (0-based; equal to the number of epochs once the run is done).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The next batch of the current epoch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        batches_per_epoch(&self.config, self.data.dataset.len())
    }

    /// Batches run over the whole run so far, and in all.
    pub fn progress(&self) -> (usize, usize) {
        let per = self.batches_per_epoch();
        (self.epoch.saturating_mul(per).saturating_add(self.batch), per.saturating_mul(self.config.epochs))
    }

    /// Whether every epoch has run.
    pub fn is_done(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// Mean estimated NLL of the current epoch's batches so far.
    pub fn running_nll(&self) -> f64 {
        self.running[0] / self.running[2]
    }

    /// Seconds spent training, over every session of the run.
    pub fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }
}

/// Batches per epoch of `n` examples (a batch larger than the data is the whole data).
fn batches_per_epoch(config: &TrainingConfig, n: usize) -> usize {
    n.div_ceil(config.batch_size.min(n).max(1))
}
