//! The Monte Carlo predictive distribution (docs/math.md §5) as a plain record: for every example, the
//! class probabilities `p̄_s(y|x)` of each weight sample `s` (activation noise already averaged over
//! `S_z` noise samples). The packed and float inference paths produce it; metrics and the
//! uncertainty split read it.

use crate::error::{Result, SbnError};

/// `p̄_s(y | x_n)` for `n < n_examples`, `s < weight_samples`, `y < n_classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictive {
    /// Number of examples `N`.
    pub n_examples: usize,
    /// Number of classes `K`.
    pub n_classes: usize,
    /// `S_w`, the number of weight samples.
    pub weight_samples: usize,
    /// `S_z`, the number of activation-noise samples per weight sample.
    pub noise_samples: usize,
    /// Row-major `[example][weight sample][class]`.
    pub per_weight_sample: Vec<f64>,
}

/// How far a probability row may sum from 1 before it is rejected.
pub const SUM_TOLERANCE: f64 = 1e-6;

/// Checks that every row of `probs` is a probability vector (finite, in `[0, 1]`, sum 1 ± tol).
pub(crate) fn check_rows(place: &str, probs: &[f64], n_classes: usize) -> Result<()> {
    for (i, row) in probs.chunks(n_classes).enumerate() {
        if let Some(p) = row.iter().find(|p| !p.is_finite() || **p < 0.0 || **p > 1.0 + SUM_TOLERANCE) {
            return Err(SbnError::invalid(place, format!("row {i}: {p} is not a probability")));
        }
        let sum: f64 = row.iter().sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(SbnError::invalid(place, format!("row {i} sums to {sum}, not 1")));
        }
    }
    Ok(())
}

impl Predictive {
    /// Checks a predictive's shape (at least one example, class and weight sample) and that every
    /// `p̄_s` is a probability vector.
    pub fn validate(&self, place: &str) -> Result<()> {
        let p = self;
        if p.n_examples == 0 || p.n_classes == 0 || p.weight_samples == 0 {
            return Err(SbnError::invalid(
                place,
                format!("empty predictive ({} examples, {} classes, {} weight samples)", p.n_examples, p.n_classes, p.weight_samples),
            ));
        }
        if p.per_weight_sample.len() != p.n_examples * p.weight_samples * p.n_classes {
            return Err(SbnError::invalid(
                place,
                format!(
                    "{} probabilities for {} examples × {} weight samples × {} classes",
                    p.per_weight_sample.len(),
                    p.n_examples,
                    p.weight_samples,
                    p.n_classes
                ),
            ));
        }
        check_rows(place, &p.per_weight_sample, p.n_classes)
    }

    /// An all-zero predictive of the given shape.
    pub fn zeros(n_examples: usize, n_classes: usize, weight_samples: usize, noise_samples: usize) -> Self {
        Predictive { n_examples, n_classes, weight_samples, noise_samples, per_weight_sample: vec![0.0; n_examples * weight_samples * n_classes] }
    }

    /// `p̄_s(· | x_n)`.
    pub fn sample(&self, n: usize, s: usize) -> &[f64] {
        let start = (n * self.weight_samples + s) * self.n_classes;
        &self.per_weight_sample[start..start + self.n_classes]
    }

    /// All weight samples of example `n`, `[s][class]`.
    pub fn example(&self, n: usize) -> &[f64] {
        let len = self.weight_samples * self.n_classes;
        &self.per_weight_sample[n * len..(n + 1) * len]
    }

    /// `p̄(· | x_n) = (1/S_w) Σ_s p̄_s(· | x_n)`.
    pub fn mean(&self, n: usize) -> Vec<f64> {
        let mut p = vec![0.0; self.n_classes];
        for s in 0..self.weight_samples {
            for (acc, v) in p.iter_mut().zip(self.sample(n, s)) {
                *acc += v;
            }
        }
        p.iter_mut().for_each(|v| *v /= self.weight_samples as f64);
        p
    }

    /// `p̄` for every example, row-major `[example][class]`.
    pub fn means(&self) -> Vec<f64> {
        (0..self.n_examples).flat_map(|n| self.mean(n)).collect()
    }
}
