//! How a training run reports to its caller and how the caller steers it (the push model of
//! ripgrep's `Sink`): the [`Trainer`] calls an [`Observer`] after every batch and at the end of
//! every epoch, and any call may stop the run. The library prints nothing: a command line shows
//! progress from here and stops on Ctrl-C, a session validates and writes checkpoints.

use super::trainer::Trainer;
use crate::error::Result;

/// Whether the run goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop; the trainer's state can be saved and the run resumed from it.
    Stop,
}

/// The validation score of a network: accuracy and NLL per example of its predictive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Validation {
    /// Share of validation examples whose most probable class is the label.
    pub accuracy: f64,
    /// Mean negative log-likelihood of the labels (nats).
    pub nll: f64,
}

/// What a run calls back. Every method has a default that does nothing and goes on, so `()` is
/// the observer of a run that nobody watches.
pub trait Observer {
    /// After every batch. [`Flow::Stop`] stops the run after this batch (after its epoch's end if
    /// it was the epoch's last batch).
    fn batch(&mut self, trainer: &Trainer) -> Result<Flow> {
        let _ = trainer;
        Ok(Flow::Continue)
    }

    /// At the end of every epoch, before its record is kept: the network's validation score,
    /// if there is validation data.
    fn validate(&mut self, trainer: &Trainer) -> Result<Option<Validation>> {
        let _ = trainer;
        Ok(None)
    }

    /// After the epoch's record is kept (`trainer.history()` ends with it).
    fn epoch_end(&mut self, trainer: &Trainer) -> Result<Flow> {
        let _ = trainer;
        Ok(Flow::Continue)
    }
}

/// Nobody watches: the run goes to its end.
impl Observer for () {}
