//! Calibration: one binning mechanism ([`Binning`] → [`ReliabilityTable`]) behind ECE, MCE,
//! classwise ECE and the reliability diagram, so every figure and number bins the same way.

use serde::{Deserialize, Serialize};

use super::{check_probabilities, top_label};
use crate::error::{Result, SbnError};

/// How (confidence, outcome) pairs are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Binning {
    /// `n` bins of width `1/n` on `[0, 1]`; bin `i` is `[i/n, (i+1)/n)`, and 1.0 falls in the last.
    EqualWidth(usize),
    /// `n` bins of (as nearly as possible) equal counts: pairs sorted by confidence (stable, so
    /// ties keep input order), bin `i` holding sorted positions `[i·N/n, (i+1)·N/n)`.
    EqualMass(usize),
}

/// One row of a reliability table. Empty bins have `count = 0`, `accuracy = confidence = 0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Equal-width: the bin edges. Equal-mass: the smallest and largest confidence in the bin
    /// (both equal to the previous bin's upper bound, or 0, when empty).
    pub lower: f64,
    /// Upper end of the bin, in the same sense as `lower`.
    pub upper: f64,
    /// Number of pairs in the bin (`n_b`).
    pub count: usize,
    /// Mean outcome (fraction correct) in the bin.
    pub accuracy: f64,
    /// Mean confidence in the bin.
    pub confidence: f64,
}

/// The binned pairs: what ECE, MCE and the reliability diagram are computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityTable {
    /// How the pairs were binned.
    pub binning: Binning,
    /// Total number of pairs.
    pub n: usize,
    /// One row per bin, lowest confidences first; empty bins included.
    pub bins: Vec<Bin>,
}

impl ReliabilityTable {
    /// Bins `(confidence[i], outcome[i])` pairs. Confidences must lie in `[0, 1]`.
    pub fn new(confidence: &[f64], outcome: &[bool], binning: Binning) -> Result<ReliabilityTable> {
        let place = "calibration";
        let n = confidence.len();
        if n == 0 {
            return Err(SbnError::invalid(place, "no examples"));
        }
        if outcome.len() != n {
            return Err(SbnError::invalid(place, format!("{n} confidences but {} outcomes", outcome.len())));
        }
        if let Some(c) = confidence.iter().find(|c| !(0.0..=1.0).contains(*c)) {
            return Err(SbnError::invalid(place, format!("confidence {c} is outside [0, 1]")));
        }
        let n_bins = match binning {
            Binning::EqualWidth(b) | Binning::EqualMass(b) => b,
        };
        if n_bins == 0 {
            return Err(SbnError::invalid(place, "the number of bins must be positive"));
        }
        // Per bin: the sums here, the bounds, and the table's row (≈ 64 bytes in all).
        crate::limits::ensure_fits(&format!("{n_bins} bins"), "the reliability table", crate::limits::product(&[n_bins, 64]))?;
        let mut sums = vec![(0usize, 0.0f64, 0.0f64); n_bins]; // (count, Σ outcome, Σ confidence)
        let mut bounds = vec![(0.0f64, 0.0f64); n_bins];
        match binning {
            Binning::EqualWidth(_) => {
                for (&c, &o) in confidence.iter().zip(outcome) {
                    let i = ((c * n_bins as f64) as usize).min(n_bins - 1);
                    let s = &mut sums[i];
                    s.0 += 1;
                    s.1 += o as u8 as f64;
                    s.2 += c;
                }
                for (i, b) in bounds.iter_mut().enumerate() {
                    *b = (i as f64 / n_bins as f64, (i + 1) as f64 / n_bins as f64);
                }
            }
            Binning::EqualMass(_) => {
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| confidence[a].total_cmp(&confidence[b]));
                let mut previous_upper = 0.0;
                for i in 0..n_bins {
                    let members = &order[i * n / n_bins..(i + 1) * n / n_bins];
                    for &j in members {
                        let s = &mut sums[i];
                        s.0 += 1;
                        s.1 += outcome[j] as u8 as f64;
                        s.2 += confidence[j];
                    }
                    bounds[i] = match (members.first(), members.last()) {
                        (Some(&lo), Some(&hi)) => (confidence[lo], confidence[hi]),
                        _ => (previous_upper, previous_upper),
                    };
                    previous_upper = bounds[i].1;
                }
            }
        }
        let bins = sums
            .into_iter()
            .zip(bounds)
            .map(|((count, hits, conf), (lower, upper))| {
                let (accuracy, confidence) = if count == 0 { (0.0, 0.0) } else { (hits / count as f64, conf / count as f64) };
                Bin { lower, upper, count, accuracy, confidence }
            })
            .collect();
        Ok(ReliabilityTable { binning, n, bins })
    }

    /// Expected calibration error `Σ_b (n_b / N) |acc_b − conf_b|`.
    pub fn ece(&self) -> f64 {
        self.bins.iter().map(|b| b.count as f64 / self.n as f64 * (b.accuracy - b.confidence).abs()).sum()
    }

    /// The ECE split by the side of each bin's gap: `(under, over)`, the parts from bins whose
    /// accuracy lies above their mean confidence (underconfident) and below it (overconfident);
    /// `under + over` is the ECE (up to rounding). The ECE alone cannot tell the two apart.
    pub fn ece_by_side(&self) -> (f64, f64) {
        self.bins.iter().fold((0.0, 0.0), |(under, over), b| {
            let gap = b.count as f64 / self.n as f64 * (b.accuracy - b.confidence);
            if gap > 0.0 { (under + gap, over) } else { (under, over - gap) }
        })
    }

    /// Maximum calibration error `max_b |acc_b − conf_b|` over non-empty bins.
    pub fn mce(&self) -> f64 {
        self.bins.iter().filter(|b| b.count > 0).map(|b| (b.accuracy - b.confidence).abs()).fold(0.0, f64::max)
    }
}

/// Top-label reliability table: confidence `max_k p_k`, outcome `argmax p == y`.
pub fn reliability(probs: &[f64], n_classes: usize, labels: &[usize], binning: Binning) -> Result<ReliabilityTable> {
    let (confidence, correct) = top_label(probs, n_classes, labels)?;
    ReliabilityTable::new(&confidence, &correct, binning)
}

/// Top-label ECE of a probability matrix.
pub fn ece(probs: &[f64], n_classes: usize, labels: &[usize], binning: Binning) -> Result<f64> {
    Ok(reliability(probs, n_classes, labels, binning)?.ece())
}

/// Top-label MCE of a probability matrix.
pub fn mce(probs: &[f64], n_classes: usize, labels: &[usize], binning: Binning) -> Result<f64> {
    Ok(reliability(probs, n_classes, labels, binning)?.mce())
}

/// Classwise ECE: for each class `k`, the ECE of the pairs `(p_k, 1[y = k])` over all examples,
/// averaged over the classes.
pub fn classwise_ece(probs: &[f64], n_classes: usize, labels: &[usize], binning: Binning) -> Result<f64> {
    check_probabilities("classwise_ece", probs, n_classes, labels)?;
    let mut total = 0.0;
    for k in 0..n_classes {
        let p_k: Vec<f64> = probs.chunks(n_classes).map(|row| row[k].min(1.0)).collect();
        let is_k: Vec<bool> = labels.iter().map(|&y| y == k).collect();
        total += ReliabilityTable::new(&p_k, &is_k, binning)?.ece();
    }
    Ok(total / n_classes as f64)
}
