//! NumPy arrays in and out. Arrays coming in are copied into the library's data sets (the Python
//! layer has already made them 2-D `uint8` or `float64`); arrays going out are new arrays the
//! caller owns. Features follow the library's storage rule (as its CSV loader and
//! `predict_features` do): values that are all integers in 0..=255 are stored as bytes, so a model
//! sees the same inputs whether its data came from a file or from NumPy.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sbn::data::{Dataset, Features};

use crate::errors::IntoPy;

/// The examples of `x` (named `name` in messages) as stored features and their count per example.
pub fn features(x: &Bound<'_, PyAny>, name: &str) -> PyResult<(Features, usize)> {
    if let Ok(bytes) = x.extract::<PyReadonlyArray2<'_, u8>>() {
        let a = bytes.as_array();
        check_shape(a.nrows(), a.ncols(), name)?;
        return Ok((Features::Bytes(a.iter().copied().collect()), a.ncols()));
    }
    let reals = x.extract::<PyReadonlyArray2<'_, f64>>().map_err(|_| PyValueError::new_err(format!("{name}: expected a 2-D array of uint8 or float64")))?;
    let a = reals.as_array();
    check_shape(a.nrows(), a.ncols(), name)?;
    if let Some(((i, j), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(PyValueError::new_err(format!("{name}[{i}, {j}] is {v}: features must be finite numbers")));
    }
    let values: Vec<f64> = a.iter().copied().collect();
    let bytes = values.iter().all(|&v| v.fract() == 0.0 && (0.0..=255.0).contains(&v));
    let stored = if bytes { Features::Bytes(values.iter().map(|&v| v as u8).collect()) } else { Features::Real(values) };
    Ok((stored, a.ncols()))
}

fn check_shape(rows: usize, cols: usize, name: &str) -> PyResult<()> {
    if rows == 0 {
        return Err(PyValueError::new_err(format!("{name} has no examples (0 rows)")));
    }
    if cols == 0 {
        return Err(PyValueError::new_err(format!("{name} has no features (0 columns)")));
    }
    Ok(())
}

/// Labelled examples: features `x` (named `x_name` in messages), class indices `labels` into
/// `names` (the classes as the caller's labels name them; the library matches them to a model's
/// classes by name). The labels are named `name` in messages (`y, example 3: …`).
pub fn labelled(x: &Bound<'_, PyAny>, x_name: &str, labels: PyReadonlyArray1<'_, i64>, names: Vec<String>, name: &str) -> PyResult<Dataset> {
    let (stored, dim) = features(x, x_name)?;
    let index = labels
        .as_array()
        .iter()
        .map(|&l| usize::try_from(l).map_err(|_| PyValueError::new_err(format!("{name}: label index {l} is negative"))))
        .collect::<PyResult<Vec<usize>>>()?;
    Dataset::new(name, stored, dim, index, names).py_err()
}

/// Examples without labels.
pub fn unlabelled(x: &Bound<'_, PyAny>, name: &str) -> PyResult<Dataset> {
    let (stored, dim) = features(x, name)?;
    Dataset::unlabelled(name, stored, dim).py_err()
}

/// A row-major `rows × cols` matrix as a new float64 array.
pub fn matrix<'py>(py: Python<'py>, rows: usize, cols: usize, values: Vec<f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let a = Array2::from_shape_vec((rows, cols), values).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// A vector as a new float64 array.
pub fn vector<'py>(py: Python<'py>, values: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
    values.into_pyarray(py)
}
