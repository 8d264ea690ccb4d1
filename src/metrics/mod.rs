//! Predictive-quality metrics (docs/math.md §8): proper scores, calibration, selective
//! prediction and out-of-distribution detection.
//!
//! Every metric takes plain slices so it can score any model; probabilities are row-major
//! `[example][class]` with `n_classes` columns, labels are class indices. Input is validated
//! (shape, finiteness, rows summing to 1 within [`SUM_TOLERANCE`]) and bad input is an
//! [`SbnError::Invalid`](crate::SbnError), never a panic.

pub mod calibration;
pub mod interval;
pub mod ood;
pub mod scores;
pub mod selective;

pub use calibration::{Bin, Binning, ReliabilityTable};
pub use interval::{Bootstrap, Interval};
pub use ood::OodScores;
pub use scores::Scores;
pub use selective::RiskCoverage;

use crate::error::{Result, SbnError};
pub use crate::predictive::SUM_TOLERANCE;
use crate::predictive::check_rows;

/// Checks a probability matrix against its labels; returns the number of examples.
///
/// Requires at least one example, `probs.len() == labels.len() * n_classes`, finite entries in
/// `[0, 1]`, rows summing to 1 within [`SUM_TOLERANCE`] and labels below `n_classes`.
pub fn check_probabilities(place: &str, probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<usize> {
    let n = labels.len();
    if n_classes == 0 {
        return Err(SbnError::invalid(place, "n_classes must be positive"));
    }
    if n == 0 {
        return Err(SbnError::invalid(place, "no examples"));
    }
    if probs.len() != n * n_classes {
        return Err(SbnError::invalid(place, format!("{} probabilities for {n} labels × {n_classes} classes", probs.len())));
    }
    check_rows(place, probs, n_classes)?;
    if let Some((i, &y)) = labels.iter().enumerate().find(|&(_, &y)| y >= n_classes) {
        return Err(SbnError::invalid(place, format!("label {y} of example {i} is not below n_classes = {n_classes}")));
    }
    Ok(n)
}

/// Index of the largest entry (the first one on ties).
pub fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// Top-label confidence `max_k p_k` and correctness `argmax p == y` per example (validated).
pub fn top_label(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<(Vec<f64>, Vec<bool>)> {
    check_probabilities("top_label", probs, n_classes, labels)?;
    Ok(probs
        .chunks(n_classes)
        .zip(labels)
        .map(|(row, &y)| {
            let k = argmax(row);
            (row[k].min(1.0), k == y)
        })
        .unzip())
}

/// Checks a score vector: non-empty and finite.
pub(crate) fn check_scores(place: &str, what: &str, scores: &[f64]) -> Result<()> {
    if scores.is_empty() {
        return Err(SbnError::invalid(place, format!("{what}: no scores")));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(SbnError::invalid(place, format!("{what}: score {i} is {}", scores[i])));
    }
    Ok(())
}
