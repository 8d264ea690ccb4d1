//! Training: the [`Trainer`] (the loop as a value, reporting to an [`Observer`]), its
//! configuration, minibatch gradient estimates, optimizers and data-dependent initialization.
//! It depends on the model, the estimators, the objective and the data only; files, progress and
//! validation are its callers' (see `session`).

pub mod config;
pub mod data_init;
pub mod history;
pub mod memory;
pub mod observer;
pub mod optim;
pub mod step;
pub mod trainer;

pub use config::{Schedule, TrainingConfig};
pub use history::EpochRecord;
pub use observer::{Flow, Observer, Validation};
pub use optim::{Optimizer, OptimizerKind, OptimizerState};
pub use step::estimate_batch;
pub use trainer::{TrainState, Trainer, TrainingData};
