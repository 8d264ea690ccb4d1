//! The settings of a training run: estimator, optimizer, step sizes and their schedule, batches,
//! seed. Built in code (`TrainingConfig { epochs: 20, ..Default::default() }`) or read from the
//! `[training]` table of a spec; [`TrainingConfig::check`] validates either.

use serde::{Deserialize, Serialize};

use super::optim::OptimizerKind;
use crate::checked::Checked;
use crate::data::augment::Augment;
use crate::engine::Engine;
use crate::error::{Result, SbnError};
use crate::estimator::EstimatorKind;

/// Learning-rate schedule over epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same step sizes in every epoch.
    Constant,
    /// Cosine decay from the learning rate to 0 over the run.
    Cosine,
}

impl Schedule {
    /// The factor on the step sizes in epoch `epoch` (0-based) of `epochs`.
    pub fn factor(self, epoch: usize, epochs: usize) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs as f64).cos()),
        }
    }
}

/// Training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// The gradient estimator.
    pub estimator: EstimatorKind,
    /// How parameters are updated.
    pub optimizer: OptimizerKind,
    /// Adam step size for real weights, scales and biases.
    pub lr: f64,
    /// Step size for the logits θ: Adam's under `adam`, `ε·N` (per-example scale) under `mirror`.
    pub logit_lr: f64,
    /// How the step sizes change over the run.
    pub schedule: Schedule,
    /// Examples per minibatch (a batch larger than the data is the whole data).
    pub batch_size: usize,
    /// Passes over the training data.
    pub epochs: usize,
    /// Seed of every random draw of the run.
    pub seed: u64,
    /// Examples per parallel chunk (fixed, so results do not depend on the thread count).
    pub chunk: usize,
    /// Train a deterministic binary network instead: every forward pass uses the weights at the
    /// sign of their logits (latent weights, BinaryConnect-style), and the model file stores
    /// that network. A reference point against the Bayesian posterior.
    pub point_weights: bool,
    /// Random translations / mirroring of the training images (`[training.augment]`).
    pub augment: Augment,
    /// Where the step's products run: `fast` (popcount and f32) or `reference` (f64).
    pub engine: Engine,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            estimator: EstimatorKind::Psa,
            optimizer: OptimizerKind::Adam,
            lr: 3e-3,
            logit_lr: 1e-2,
            schedule: Schedule::Cosine,
            batch_size: 128,
            epochs: 10,
            seed: 1,
            chunk: 64,
            point_weights: false,
            augment: Augment::default(),
            engine: Engine::Fast,
        }
    }
}

impl TrainingConfig {
    /// Checks what the types do not: positive finite step sizes, at least one example per batch
    /// and chunk, at least one epoch. `source` names the settings in errors (a spec file, or
    /// "training config"); fields are named as in a spec (`training.lr`).
    pub fn check(self, source: &str) -> Result<Checked<TrainingConfig>> {
        let bad = |field: &str, msg: &str| Err(SbnError::invalid(format!("{source}: training.{field}"), msg));
        for (name, v) in [("lr", self.lr), ("logit_lr", self.logit_lr)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, "must be a positive number");
            }
        }
        for (name, v) in [("batch_size", self.batch_size), ("epochs", self.epochs), ("chunk", self.chunk)] {
            if v == 0 {
                return bad(name, "must be at least 1");
            }
        }
        Ok(Checked::assume_checked(self))
    }
}
