//! Confidence intervals for metrics (docs/math.md §8): the Wilson score interval of a proportion
//! (Wilson 1927), for accuracy and each reliability bin's accuracy, and seeded percentile
//! bootstrap intervals (Efron 1979) for everything else.
//!
//! The bootstrap draws replicate `r`'s resample from its own stream `(seed, 0xB007, r)`, so the
//! intervals depend on the seed only, not on the number of threads.

use rand::RngExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::error::{Result, SbnError};

/// A point estimate with a confidence interval around it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The estimate on the data as given.
    pub estimate: f64,
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

/// The two-sided standard normal quantile `z` with `P(|Z| ≤ z) = confidence`.
fn normal_quantile(confidence: f64) -> Result<f64> {
    check_confidence(confidence)?;
    Ok(Normal::standard().inverse_cdf(0.5 + confidence / 2.0))
}

fn check_confidence(confidence: f64) -> Result<()> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(SbnError::invalid("confidence level", format!("{confidence} is not strictly between 0 and 1")));
    }
    Ok(())
}

/// The Wilson score interval of `successes` out of `n` at `confidence` (e.g. 0.95):
/// `(p̂ + z²/2n ± z √(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)`. Unlike the normal approximation it stays
/// in `[0, 1]` and has a sensible width at `p̂ = 0` or 1. With `n = 0` it is all of `[0, 1]`.
pub fn wilson(successes: usize, n: usize, confidence: f64) -> Result<Interval> {
    let z = normal_quantile(confidence)?;
    if successes > n {
        return Err(SbnError::invalid("wilson interval", format!("{successes} successes out of {n}")));
    }
    if n == 0 {
        return Ok(Interval { estimate: 0.0, lower: 0.0, upper: 1.0 });
    }
    let (nf, p) = (n as f64, successes as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / (1.0 + z2 / nf);
    // At 0 or n successes the bound on that side is exactly 0 or 1 (rounding would miss it).
    let lower = if successes == 0 { 0.0 } else { (centre - half).max(0.0) };
    let upper = if successes == n { 1.0 } else { (centre + half).min(1.0) };
    Ok(Interval { estimate: p, lower, upper })
}

/// How bootstrap intervals are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Resamples `B`.
    pub replicates: usize,
    /// Confidence level of the intervals, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the resamples.
    pub seed: u64,
}

impl Default for Bootstrap {
    /// 200 replicates, 95 %, seed 0.
    fn default() -> Self {
        Bootstrap { replicates: 200, confidence: 0.95, seed: 0 }
    }
}

impl Bootstrap {
    /// Checks the settings: at least 2 replicates, a level strictly between 0 and 1.
    pub fn check(&self) -> Result<()> {
        if self.replicates < 2 {
            return Err(SbnError::invalid("bootstrap", format!("{} replicates; at least 2 are needed", self.replicates)));
        }
        check_confidence(self.confidence)
    }

    /// The indices (into `0..n` for each group size of `sizes`) of replicate `r`: every group
    /// resampled with replacement on its own (e.g. in-distribution and OOD examples).
    pub fn resample(&self, r: usize, sizes: &[usize]) -> Vec<Vec<usize>> {
        let mut rng = crate::rng::stream(self.seed, &[0xB007, r as u64]);
        sizes.iter().map(|&n| (0..n).map(|_| rng.random_range(0..n)).collect()).collect()
    }

    /// Percentile intervals of the statistics `stat` computes from a resample (one index list per
    /// group of `sizes`), around `stat` of the data as given. Replicates run in parallel, each on
    /// its own stream, so the result does not depend on the thread count.
    pub fn intervals(&self, sizes: &[usize], stat: impl Fn(&[Vec<usize>]) -> Result<Vec<f64>> + Sync) -> Result<Vec<Interval>> {
        self.check()?;
        let identity: Vec<Vec<usize>> = sizes.iter().map(|&n| (0..n).collect()).collect();
        let estimate = stat(&identity)?;
        let replicates = (0..self.replicates).into_par_iter().map(|r| stat(&self.resample(r, sizes))).collect::<Result<Vec<_>>>()?;
        let alpha = (1.0 - self.confidence) / 2.0;
        Ok(estimate
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                let mut v: Vec<f64> = replicates.iter().map(|r| r[i]).collect();
                v.sort_by(f64::total_cmp);
                Interval { estimate: e, lower: quantile(&v, alpha), upper: quantile(&v, 1.0 - alpha) }
            })
            .collect())
    }
}

/// The `q`-quantile of sorted values, interpolated linearly between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = q * (sorted.len() - 1) as f64;
    let (i, frac) = (h.floor() as usize, h - h.floor());
    if i + 1 < sorted.len() { sorted[i] + frac * (sorted[i + 1] - sorted[i]) } else { sorted[i] }
}

/// The Wilson interval of every bin's accuracy (hits recovered as `round(accuracy · count)`).
pub fn bin_intervals(table: &super::ReliabilityTable, confidence: f64) -> Result<Vec<Interval>> {
    table.bins.iter().map(|b| wilson((b.accuracy * b.count as f64).round() as usize, b.count, confidence)).collect()
}
