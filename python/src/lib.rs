//! `sbn._sbn`, the compiled half of the Python package `sbn`: fitting, Monte Carlo prediction,
//! scores and model files, by calling the `sbn` library. The pure-Python `sbn` package on top of
//! it turns labels into class indices and offers the scikit-learn-style `SBNClassifier`; users
//! import `sbn`, not this module.
//!
//! Conventions: arrays in are copied (features as the library stores them), arrays out are new;
//! the GIL is released while the library fits or predicts; library errors become Python
//! exceptions carrying the library's message (`errors`).

mod arrays;
mod errors;
mod model;
mod observer;
mod spec;

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sbn::data::Features;
use sbn::session::{FitOptions, fit as fit_session};

use crate::errors::IntoPy;
use crate::model::Model;
use crate::observer::PyObserver;

/// Labelled validation data as the Python layer passes it: features, class indices, class names.
type Valid<'py> = (Bound<'py, PyAny>, PyReadonlyArray1<'py, i64>, Vec<String>);

/// Fits a model (see `sbn.fit` for the arguments; this is its compiled part). Without `valid`,
/// the spec's `validation.fraction` of the training data is held out with the spec's seed, as
/// `sbn fit` does, so the same spec and data give the same model as the command line.
#[pyfunction]
#[pyo3(signature = (x, labels, names, image_shape, spec_path, overrides, valid, progress))]
#[allow(clippy::too_many_arguments)]
fn fit(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    labels: PyReadonlyArray1<'_, i64>,
    names: Vec<String>,
    image_shape: Option<(usize, usize)>,
    spec_path: Option<PathBuf>,
    overrides: &Bound<'_, PyDict>,
    valid: Option<Valid<'_>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Model> {
    let spec = spec::build(spec_path.as_deref(), overrides)?;
    let mut train = arrays::labelled(x, "X", labels, names, "y")?;
    if let Some((rows, cols)) = image_shape {
        train = train.with_image_shape(rows, cols).py_err()?;
    }
    let (train, valid) = match valid {
        Some((vx, vl, vn)) => (train, arrays::labelled(&vx, "valid X", vl, vn, "valid")?),
        None => train.split(spec.validation.fraction, spec.training.seed),
    };
    let mut observer = PyObserver { progress, error: None };
    let outcome = py.detach(|| fit_session(&spec, &train, &valid, &FitOptions::default(), &mut observer));
    if let Some(e) = observer.error {
        return Err(e);
    }
    Ok(Model::fitted(outcome.py_err()?.model, spec.into_inner()))
}

/// Reads a model file (`sbn fit`'s output) or a packed export (`sbn export`'s).
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
    py.detach(|| Model::read(&path)).py_err()
}

/// A model from the bytes of a model file or a packed export; `name` names it in errors.
#[pyfunction]
#[pyo3(signature = (data, name = "bytes"))]
fn from_bytes(data: &[u8], name: &str) -> PyResult<Model> {
    Model::from_bytes(data, name).py_err()
}

/// Pixels and labels of a data set, as NumPy arrays.
type Arrays<'py> = (Bound<'py, PyArray2<u8>>, Bound<'py, PyArray1<i64>>);

/// The embedded digits (1,797 examples of 8×8 pixels in 0..=16, classes 0–9): `(X, y)` with X a
/// (1797, 64) uint8 array and y an int64 array.
#[pyfunction]
fn digits(py: Python<'_>) -> PyResult<Arrays<'_>> {
    let ds = sbn::data::embedded::digits();
    let Features::Bytes(pixels) = &ds.features else {
        return Err(PyValueError::new_err("the embedded digits are not stored as bytes"));
    };
    let x = numpy::ndarray::Array2::from_shape_vec((ds.len(), ds.dim), pixels.clone()).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let names = ds.class_names();
    let labels = ds.labels().ok_or_else(|| PyValueError::new_err("the embedded digits have no labels"))?;
    let y = labels.iter().map(|&l| names[l].parse::<i64>()).collect::<Result<Vec<_>, _>>().map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((x.into_pyarray(py), y.into_pyarray(py)))
}

/// The module `sbn._sbn`.
#[pymodule]
fn _sbn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(digits, m)?)?;
    m.add("MAX_INTEGER_LABEL", sbn::data::csv::MAX_INTEGER_LABEL)?;
    Ok(())
}
