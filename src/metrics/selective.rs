//! Selective prediction: the risk–coverage curve (abstain on the least confident examples first)
//! and the area under it (AURC).

use serde::{Deserialize, Serialize};

use super::{check_scores, top_label};
use crate::error::{Result, SbnError};

/// A risk–coverage curve. Point `i` keeps every example whose confidence is at least the `i`-th
/// distinct confidence from the top, so tied examples enter together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskCoverage {
    /// Fraction of examples kept, increasing, ending at 1.
    pub coverage: Vec<f64>,
    /// Error rate among the kept examples.
    pub risk: Vec<f64>,
    /// Area under the curve, convention: the right-endpoint step integral
    /// `Σ_i risk_i · (coverage_i − coverage_{i−1})` with `coverage_0 = 0`. Without ties this is
    /// `(1/N) Σ_{k=1..N} risk(first k)`, the usual AURC. Lower is better.
    pub aurc: f64,
}

impl RiskCoverage {
    /// The curve from per-example confidence (higher = more trusted) and correctness.
    pub fn new(confidence: &[f64], correct: &[bool]) -> Result<RiskCoverage> {
        check_scores("risk_coverage", "confidence", confidence)?;
        if correct.len() != confidence.len() {
            return Err(SbnError::invalid("risk_coverage", format!("{} confidences but {} outcomes", confidence.len(), correct.len())));
        }
        let n = confidence.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| confidence[b].total_cmp(&confidence[a]));
        let (mut coverage, mut risk) = (Vec::new(), Vec::new());
        let (mut errors, mut aurc, mut previous) = (0usize, 0.0, 0.0);
        for (k, &i) in order.iter().enumerate() {
            errors += !correct[i] as usize;
            let group_ends = k + 1 == n || confidence[order[k + 1]] != confidence[i];
            if group_ends {
                let c = (k + 1) as f64 / n as f64;
                let r = errors as f64 / (k + 1) as f64;
                aurc += r * (c - previous);
                previous = c;
                coverage.push(c);
                risk.push(r);
            }
        }
        Ok(RiskCoverage { coverage, risk, aurc })
    }

    /// The curve of the top-label confidence of a probability matrix.
    pub fn from_probabilities(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<RiskCoverage> {
        let (confidence, correct) = top_label(probs, n_classes, labels)?;
        RiskCoverage::new(&confidence, &correct)
    }

    /// Risk at the smallest curve point with coverage ≥ `coverage`.
    pub fn risk_at(&self, coverage: f64) -> f64 {
        let i = self.coverage.iter().position(|&c| c >= coverage - 1e-12).unwrap_or(self.coverage.len() - 1);
        self.risk[i]
    }
}
