//! What every epoch of a run measured: the record a fitted model keeps as its history.

use serde::{Deserialize, Serialize};

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean estimator value of the expected NLL over the epoch's batches.
    pub train_nll: f64,
    /// `KL(q ‖ p)` at the end of the epoch (nats).
    pub kl: f64,
    /// `F = nll + β·KL/N`.
    pub objective: f64,
    /// Accuracy of the Monte Carlo predictive on the validation data (NaN without validation).
    pub valid_accuracy: f64,
    /// Its NLL per example (NaN without validation).
    pub valid_nll: f64,
    /// Mean weight entropy (nats).
    pub weight_entropy: f64,
    /// Share of weights with q in (0.05, 0.95).
    pub uncertain_share: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Step size of real parameters in this epoch (after the schedule).
    pub lr: f64,
}

impl EpochRecord {
    /// The ELBO in nats over `n_train` examples, `−(N·nll + KL)` (the β = 1 objective).
    pub fn elbo(&self, n_train: usize) -> f64 {
        -(n_train as f64 * self.train_nll + self.kl)
    }
}
