//! The library's errors as Python exceptions, carrying the library's message: files that cannot
//! be read or written raise `OSError` (its subclass for the cause), a fit that diverged
//! `RuntimeError`, everything else (bad input, damaged or mismatched files, unsupported requests)
//! `ValueError`.

use std::io::ErrorKind;

use pyo3::PyErr;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyNotADirectoryError, PyOSError, PyPermissionError, PyRuntimeError, PyValueError,
};
use sbn::SbnError;

/// The Python exception of a library error.
pub fn to_py(e: SbnError) -> PyErr {
    let message = e.to_string();
    match &e {
        SbnError::Io { source, .. } => match source.kind() {
            ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            ErrorKind::AlreadyExists => PyFileExistsError::new_err(message),
            ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
            ErrorKind::NotADirectory => PyNotADirectoryError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        SbnError::Divergence { .. } => PyRuntimeError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// `Result<T, SbnError>` into `PyResult<T>`.
pub trait IntoPy<T> {
    /// The value, or the error as a Python exception.
    fn py_err(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for sbn::Result<T> {
    fn py_err(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}
