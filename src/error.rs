//! Typed errors of the library. Callers can branch on the variants where code reacts (an input
//! of the wrong size, a checkpoint or model that does not fit the run, a diverged fit, a damaged
//! file); free text is kept for what users write (files, specs, flags). The binary turns errors
//! into messages and exit codes.

use std::path::PathBuf;

/// Everything that can go wrong in the library, with enough context to name the place.
#[derive(Debug, thiserror::Error)]
pub enum SbnError {
    /// Input that does not have the expected form. `place` names the file, case, line or field.
    #[error("{place}: {message}")]
    Invalid {
        /// The file, line, case or field.
        place: String,
        /// What was expected.
        message: String,
    },
    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Examples whose feature count is not the model's input size.
    #[error("{place}: examples have {found} features but the model takes {expected}")]
    InputSize {
        /// The data (file or name).
        place: String,
        /// Features per example in the data.
        found: usize,
        /// Inputs of the model.
        expected: usize,
    },
    /// A checkpoint or a starting model that does not fit the run: another spec, architecture,
    /// training data or classes.
    #[error("{path}: {message}")]
    Mismatch {
        /// The checkpoint or model file.
        path: String,
        /// What differs.
        message: String,
    },
    /// The training loss stopped being finite.
    #[error("training: the loss became {loss} in epoch {epoch} batch {batch}; lower the learning rate")]
    Divergence {
        /// 1-based epoch.
        epoch: usize,
        /// 0-based batch of that epoch.
        batch: usize,
        /// The loss estimate.
        loss: f64,
    },
    /// A file that is not in its expected format: wrong magic bytes, unknown version, checksum
    /// mismatch, truncation.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A request the model or estimator cannot serve (e.g. exact enumeration of a large net).
    #[error("{0}")]
    Unsupported(String),
}

impl SbnError {
    /// Invalid input at `place` (file, case, line or field).
    pub fn invalid(place: impl Into<String>, message: impl Into<String>) -> Self {
        SbnError::Invalid { place: place.into(), message: message.into() }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SbnError::Io { path: path.into(), source }
    }

    /// A checkpoint or model at `path` that does not fit the run.
    pub fn mismatch(path: impl Into<String>, message: impl Into<String>) -> Self {
        SbnError::Mismatch { path: path.into(), message: message.into() }
    }
}

/// Result with the library's error type.
pub type Result<T, E = SbnError> = std::result::Result<T, E>;
