//! Training: minibatch gradient estimates, optimizers, and the fit loop.

pub mod optim;
pub mod step;

pub use step::estimate_batch;
