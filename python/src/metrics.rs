//! Scores of predictions as Python sees them: the reliability table (the library's one binning,
//! `sbn::metrics::calibration`) and OOD detection (`sbn::metrics::ood`), on arrays the caller
//! has, plus the per-example OOD scores of a predictive (`sbn::uncertainty`) as named arrays.

use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sbn::metrics::calibration::{Binning, ReliabilityTable, reliability};
use sbn::metrics::ood;
use sbn::predictive::Predictive;
use sbn::uncertainty::{ScoreKind, scores};

use crate::arrays;
use crate::errors::IntoPy;

/// The binning of `bins` bins, equal-width or equal-mass.
pub fn binning(bins: usize, equal_mass: bool) -> PyResult<Binning> {
    if bins == 0 {
        return Err(PyValueError::new_err("bins must be at least 1"));
    }
    Ok(if equal_mass { Binning::EqualMass(bins) } else { Binning::EqualWidth(bins) })
}

/// A reliability table as a dict: per bin `lower`, `upper`, `count`, `accuracy`, `confidence`
/// (arrays, lowest confidences first, empty bins included), and `ece`, `mce`, `n_examples`.
pub fn table_dict<'py>(py: Python<'py>, table: &ReliabilityTable) -> PyResult<Bound<'py, PyDict>> {
    let column = |f: fn(&sbn::metrics::Bin) -> f64| arrays::vector(py, table.bins.iter().map(f).collect());
    let d = PyDict::new(py);
    d.set_item("lower", column(|b| b.lower))?;
    d.set_item("upper", column(|b| b.upper))?;
    let counts: Vec<i64> = table.bins.iter().map(|b| b.count as i64).collect();
    d.set_item("count", counts.into_pyarray(py))?;
    d.set_item("accuracy", column(|b| b.accuracy))?;
    d.set_item("confidence", column(|b| b.confidence))?;
    d.set_item("ece", table.ece())?;
    d.set_item("mce", table.mce())?;
    d.set_item("n_examples", table.n)?;
    Ok(d)
}

/// The top-label reliability table of class probabilities `probabilities` (n × K, rows summing
/// to 1) against `labels` (column indices 0…K−1), binned as `sbn calibrate` bins.
#[pyfunction]
#[pyo3(signature = (probabilities, labels, bins = 15, equal_mass = false))]
pub fn reliability_table<'py>(
    py: Python<'py>,
    probabilities: PyReadonlyArray2<'py, f64>,
    labels: PyReadonlyArray1<'py, i64>,
    bins: usize,
    equal_mass: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let p = probabilities.as_array();
    let k = p.ncols();
    let values: Vec<f64> = p.iter().copied().collect();
    let labels = labels
        .as_array()
        .iter()
        .enumerate()
        .map(|(i, &l)| usize::try_from(l).map_err(|_| PyValueError::new_err(format!("labels[{i}] = {l}: a label is a column index 0…{}", k.max(1) - 1))))
        .collect::<PyResult<Vec<usize>>>()?;
    if labels.len() != p.nrows() {
        return Err(PyValueError::new_err(format!("{} labels for {} rows of probabilities", labels.len(), p.nrows())));
    }
    let table = reliability(&values, k, &labels, binning(bins, equal_mass)?).py_err()?;
    table_dict(py, &table)
}

/// AUROC, AUPR and FPR at 95 % TPR of telling `ood_scores` (positives) from `in_scores`
/// (negatives), higher scores meaning "more OOD": `n_in`, `n_ood`, `auroc`, `aupr`,
/// `fpr_at_95_tpr`.
#[pyfunction]
pub fn ood_detection<'py>(py: Python<'py>, in_scores: PyReadonlyArray1<'py, f64>, ood_scores: PyReadonlyArray1<'py, f64>) -> PyResult<Bound<'py, PyDict>> {
    let (a, b) = (in_scores.as_array().to_vec(), ood_scores.as_array().to_vec());
    let r = ood::ood_detection(&a, &b).py_err()?;
    let d = PyDict::new(py);
    d.set_item("n_in", r.n_in)?;
    d.set_item("n_ood", r.n_ood)?;
    d.set_item("auroc", r.auroc)?;
    d.set_item("aupr", r.aupr)?;
    d.set_item("fpr_at_95_tpr", r.fpr_at_95_tpr)?;
    Ok(d)
}

/// `P(s_ood > s_in) + ½ P(s_ood = s_in)`: the AUROC of `ood_scores` against `in_scores`.
#[pyfunction]
pub fn auroc(in_scores: PyReadonlyArray1<'_, f64>, ood_scores: PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
    ood::auroc(&in_scores.as_array().to_vec(), &ood_scores.as_array().to_vec()).py_err()
}

/// The key of a score in the dict of [`score_dict`].
fn key(kind: ScoreKind) -> &'static str {
    match kind {
        ScoreKind::MaxProbability => "max_probability",
        ScoreKind::Total => "total",
        ScoreKind::Data => "data",
        ScoreKind::Model => "model",
        ScoreKind::Energy => "energy",
        ScoreKind::VariationRatio => "variation_ratio",
    }
}

/// Every OOD score of the library (`ScoreKind::ALL`) per example of `p`, keyed by name.
pub fn score_dict<'py>(py: Python<'py>, p: &Predictive) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for kind in ScoreKind::ALL {
        d.set_item(key(kind), arrays::vector(py, scores(p, kind).py_err()?))?;
    }
    Ok(d)
}
