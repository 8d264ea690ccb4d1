//! Typed errors of the library. The binary turns them into messages and exit codes.

use std::path::PathBuf;

/// Everything that can go wrong in the library, with enough context to name the place.
#[derive(Debug, thiserror::Error)]
pub enum SbnError {
    /// Input that does not have the expected form. `place` names the file, case, line or field.
    #[error("{place}: {message}")]
    Invalid { place: String, message: String },
    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
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
}

/// Result with the library's error type.
pub type Result<T, E = SbnError> = std::result::Result<T, E>;
