//! What a fit from Python reports to: after every batch it checks for signals (Ctrl-C raises
//! `KeyboardInterrupt` in the Python thread that called `fit`), after every epoch it hands the
//! epoch's record to the caller's callback. Either stops the run cleanly when Python raises; the
//! exception is kept and raised once the library has returned.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use sbn::train::{EpochRecord, Flow, Observer, Trainer};

/// Checks signals and calls `progress` with every epoch's record; keeps the first Python error.
pub struct PyObserver {
    /// Called with a dict per epoch (`None`: nobody watches).
    pub progress: Option<Py<PyAny>>,
    /// The exception that stopped the run.
    pub error: Option<PyErr>,
}

impl PyObserver {
    fn flow(&mut self, outcome: PyResult<()>) -> Flow {
        match outcome {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.error.get_or_insert(e);
                Flow::Stop
            }
        }
    }
}

impl Observer for PyObserver {
    fn batch(&mut self, _: &Trainer) -> sbn::Result<Flow> {
        Ok(self.flow(Python::attach(|py| py.check_signals())))
    }

    fn epoch_end(&mut self, trainer: &Trainer) -> sbn::Result<Flow> {
        let epochs = trainer.config().epochs;
        let progress = &self.progress;
        let outcome = Python::attach(|py| {
            py.check_signals()?;
            match (progress, trainer.history().last()) {
                (Some(callback), Some(record)) => callback.call1(py, (record_dict(py, record, epochs)?,)).map(drop),
                _ => Ok(()),
            }
        });
        Ok(self.flow(outcome))
    }
}

/// An epoch's record as a dict (the fields of `sbn::train::EpochRecord`, plus `epochs`, the
/// number of epochs of the run).
pub fn record_dict<'py>(py: Python<'py>, r: &EpochRecord, epochs: usize) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", r.epoch)?;
    d.set_item("epochs", epochs)?;
    for (k, v) in [
        ("train_nll", r.train_nll),
        ("kl", r.kl),
        ("objective", r.objective),
        ("valid_accuracy", r.valid_accuracy),
        ("valid_nll", r.valid_nll),
        ("weight_entropy", r.weight_entropy),
        ("uncertain_share", r.uncertain_share),
        ("seconds", r.seconds),
        ("lr", r.lr),
    ] {
        d.set_item(k, v)?;
    }
    Ok(d)
}
