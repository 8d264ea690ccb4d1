//! Training: minibatch gradient estimates, optimizers, initialization and the fit loop.

pub mod fit;
pub mod init;
pub mod optim;
pub mod step;

pub use fit::{fit, EpochRecord, FitOptions, FitOutcome};
pub use step::estimate_batch;
