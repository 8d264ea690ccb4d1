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
mod metrics;
mod model;
mod observer;
mod spec;

use std::path::{Path, PathBuf};

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::{PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sbn::data::Features;
use sbn::io::{ModelFile, OutputLock};
use sbn::session::{FitOptions, checkpoint_path, fit as fit_session, starting_model, validation_temperature};

use crate::errors::IntoPy;
use crate::model::Model;
use crate::observer::PyObserver;

/// Labelled validation data as the Python layer passes it: features, class indices, class names.
type Valid<'py> = (Bound<'py, PyAny>, PyReadonlyArray1<'py, i64>, Vec<String>);

/// Where a fit writes and how it starts: `out` (the model after every epoch, its checkpoint
/// `out.ckpt`), `resume` (continue from `out.ckpt`), `force` (overwrite an earlier run's files),
/// `init` (a model, or the path of a model file or checkpoint, to start from) and
/// `init_temperature` (its posterior tempered to `q = σ(θ/τ)` first).
type Run<'py> = (Option<PathBuf>, bool, bool, Option<Bound<'py, PyAny>>, f64);

/// Fits a model (see `sbn.fit` for the arguments; this is its compiled part). Without `valid`,
/// the spec's `validation.fraction` of the training data is held out with the spec's seed, as
/// `sbn fit` does, so the same spec and data give the same model as the command line; as
/// `sbn fit` does, the model then stores a post-hoc temperature fitted on the validation data.
#[pyfunction]
#[pyo3(signature = (x, labels, names, image_shape, spec_path, overrides, valid, progress, run = (None, false, false, None, 1.0)))]
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
    run: Run<'_>,
) -> PyResult<Model> {
    let (out, resume, force, init, init_temperature) = run;
    let spec = spec::build(spec_path.as_deref(), overrides)?;
    let init = init.map(|i| start_from(py, &i, init_temperature)).transpose()?;
    if resume && init.is_some() {
        return Err(PyValueError::new_err("init and resume=True exclude each other: a resumed fit continues from its checkpoint"));
    }
    if resume && out.is_none() {
        return Err(PyValueError::new_err("resume=True needs out=MODEL: the fit continues from the checkpoint MODEL.ckpt"));
    }
    let _lock = out.as_deref().map(|o| claim_output(o, resume, force)).transpose()?;
    let mut train = arrays::labelled(x, "X", labels, names, "y")?;
    if let Some((rows, cols)) = image_shape {
        train = train.with_image_shape(rows, cols).py_err()?;
    }
    let given_valid = valid.is_some();
    let (train, valid) = match valid {
        Some((vx, vl, vn)) => (train, arrays::labelled(&vx, "valid X", vl, vn, "valid")?),
        None => spec.hold_out_validation(&train),
    };
    let mut observer = PyObserver { progress, error: None };
    let options = FitOptions { out: out.clone(), resume, init };
    let outcome = py.detach(|| fit_session(&spec, &train, &valid, &options, &mut observer));
    if let Some(e) = observer.error {
        return Err(e);
    }
    let fitted = outcome.py_err()?.model;
    let held_out = if given_valid { "the data of fit(valid=…)" } else { "the share of the training data held out" };
    let fitted = py
        .detach(|| -> sbn::Result<_> {
            let (mut stored, _, _) = validation_temperature(&fitted, &spec, &valid)?;
            stored.data = format!("{held_out} (validation)");
            let fitted = fitted.with_posthoc(Some(stored))?;
            if let Some(out) = &out {
                ModelFile { spec: spec.clone().into_inner(), fitted: fitted.clone(), state: None }.save(out)?;
            }
            Ok(fitted)
        })
        .py_err()?;
    Ok(Model::fitted(fitted, spec.into_inner()))
}

/// The model a fit starts from: `init` is a `Model` or the path of a model file or checkpoint
/// (whose best network is taken), tempered by `temperature`.
fn start_from(py: Python<'_>, init: &Bound<'_, PyAny>, temperature: f64) -> PyResult<(String, ModelFile)> {
    let (name, file) = match init.cast::<Model>() {
        Ok(model) => ("init".to_string(), model.get().model_file("init")?),
        Err(_) => {
            let path: PathBuf = init.extract().map_err(|_| PyValueError::new_err("init: expected a fitted model or the path of a model file or checkpoint"))?;
            (path.display().to_string(), py.detach(|| ModelFile::load(&path)).py_err()?)
        }
    };
    let file = starting_model(file, temperature).map_err(|e| PyValueError::new_err(format!("init_temperature: {e}")))?;
    Ok((name, file))
}

/// Before a fit that writes `out`: its lock (no second writer), and no earlier run's model or
/// checkpoint overwritten unless `force` (or continued, with `resume`).
fn claim_output(out: &Path, resume: bool, force: bool) -> PyResult<OutputLock> {
    if out.is_dir() {
        return Err(PyIsADirectoryError::new_err(format!("out={}: is a folder; give the model's file name", out.display())));
    }
    let lock = OutputLock::acquire(out, "sbn.fit (Python)").py_err()?;
    let ckpt = checkpoint_path(out);
    if resume && !ckpt.exists() {
        return Err(PyFileNotFoundError::new_err(format!("resume=True: there is no checkpoint {} to continue from", ckpt.display())));
    }
    let existing: Vec<String> = [out, ckpt.as_path()].iter().filter(|p| p.exists()).map(|p| p.display().to_string()).collect();
    if !force && !resume && !existing.is_empty() {
        let what = if ckpt.exists() { format!(", or resume=True to continue that run from {}", ckpt.display()) } else { String::new() };
        return Err(PyFileExistsError::new_err(format!(
            "{} already exist{} from an earlier fit: pass force=True to overwrite{what}",
            existing.join(" and "),
            if existing.len() == 1 { "s" } else { "" }
        )));
    }
    Ok(lock)
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
    m.add_function(wrap_pyfunction!(metrics::reliability_table, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::ood_detection, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::auroc, m)?)?;
    m.add("MAX_INTEGER_LABEL", sbn::data::csv::MAX_INTEGER_LABEL)?;
    Ok(())
}
