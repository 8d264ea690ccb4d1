//! Proper scoring rules and accuracy on a probability matrix, and the [`Scores`] bundle reported
//! for every benchmark (docs/math.md §8).

use serde::{Deserialize, Serialize};

use super::calibration::{self, Binning};
use super::{argmax, check_probabilities};
use crate::error::Result;
use crate::predictive::Predictive;

/// Probabilities are floored here before the log in [`nll`], so a confident miss costs at most
/// `−ln 1e-12 ≈ 27.6` nats instead of infinity.
pub const PROB_FLOOR: f64 = 1e-12;

/// Number of equal-width (and equal-mass) bins of the reported ECE.
pub const ECE_BINS: usize = 15;

/// Fraction of examples whose arg-max class (first on ties) equals the label.
pub fn accuracy(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<f64> {
    let n = check_probabilities("accuracy", probs, n_classes, labels)?;
    let hits = probs.chunks(n_classes).zip(labels).filter(|(row, y)| argmax(row) == **y).count();
    Ok(hits as f64 / n as f64)
}

/// Mean negative log-likelihood `−(1/N) Σ_n ln max(p_n[y_n], PROB_FLOOR)` in nats.
pub fn nll(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<f64> {
    let n = check_probabilities("nll", probs, n_classes, labels)?;
    let sum: f64 = probs.chunks(n_classes).zip(labels).map(|(row, &y)| -row[y].max(PROB_FLOOR).ln()).sum();
    Ok(sum / n as f64)
}

/// Brier score, convention: per example the sum over classes `Σ_k (p_k − 1[k = y])²`, averaged
/// over examples. Range `[0, 2]`: 0 for a certain hit, 2 for a certain miss.
pub fn brier(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<f64> {
    let n = check_probabilities("brier", probs, n_classes, labels)?;
    let sum: f64 = probs
        .chunks(n_classes)
        .zip(labels)
        .map(|(row, &y)| {
            row.iter()
                .enumerate()
                .map(|(k, &p)| {
                    let d = p - if k == y { 1.0 } else { 0.0 };
                    d * d
                })
                .sum::<f64>()
        })
        .sum();
    Ok(sum / n as f64)
}

/// The headline numbers of one evaluation. `ece`, `mce` and `classwise_ece` use
/// [`ECE_BINS`] equal-width bins, `ece_equal_mass` the same number of equal-mass bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Number of examples scored (`N`).
    pub n_examples: usize,
    /// Fraction of examples whose arg-max class is the label.
    pub accuracy: f64,
    /// Nats, probabilities floored at [`PROB_FLOOR`].
    pub nll: f64,
    /// Sum over classes, averaged over examples (range `[0, 2]`).
    pub brier: f64,
    /// Top-label expected calibration error, equal-width bins.
    pub ece: f64,
    /// Top-label expected calibration error, equal-mass bins.
    pub ece_equal_mass: f64,
    /// Maximum calibration error over non-empty equal-width bins.
    pub mce: f64,
    /// ECE of each class's probability against its indicator, averaged over the classes.
    pub classwise_ece: f64,
    /// `S_w` and `S_z` of the predictive scored, when it came from one (reports must state them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_samples: Option<usize>,
    /// `S_z`, as `weight_samples`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_samples: Option<usize>,
}

impl Scores {
    /// All scores of a probability matrix against its labels.
    pub fn compute(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<Scores> {
        let n_examples = check_probabilities("scores", probs, n_classes, labels)?;
        let width = calibration::reliability(probs, n_classes, labels, Binning::EqualWidth(ECE_BINS))?;
        let mass = calibration::reliability(probs, n_classes, labels, Binning::EqualMass(ECE_BINS))?;
        Ok(Scores {
            n_examples,
            accuracy: accuracy(probs, n_classes, labels)?,
            nll: nll(probs, n_classes, labels)?,
            brier: brier(probs, n_classes, labels)?,
            ece: width.ece(),
            ece_equal_mass: mass.ece(),
            mce: width.mce(),
            classwise_ece: calibration::classwise_ece(probs, n_classes, labels, Binning::EqualWidth(ECE_BINS))?,
            weight_samples: None,
            noise_samples: None,
        })
    }

    /// Scores of the Monte Carlo mean `p̄` of a predictive, recording its sample counts.
    pub fn from_predictive(predictive: &Predictive, labels: &[usize]) -> Result<Scores> {
        predictive.validate("scores")?;
        let mut s = Scores::compute(&predictive.means(), predictive.n_classes, labels)?;
        s.weight_samples = Some(predictive.weight_samples);
        s.noise_samples = Some(predictive.noise_samples);
        Ok(s)
    }
}
