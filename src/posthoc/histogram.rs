//! Top-label histogram binning (Zadrozny & Elkan 2001, applied to the top label): the mixture's
//! confidence `c = max_k p̄_k` is replaced by the accuracy of its bin on the fitting data.
//!
//! Bins have equal mass: the fitting examples sorted by confidence, bin `i` holding sorted
//! positions `⌊iN/B⌋ .. ⌊(i+1)N/B⌋ − 1` (as in the metrics), a boundary halfway between the last
//! confidence of one bin and the first of the next. A bin's accuracy is smoothed,
//! `(hits + 1)/(count + 2)`, so no calibrated confidence is exactly 0 or 1 (an unsmoothed 1 would
//! cost a miss the floored NLL of 27.6 nats), and at least `1/K`. The other classes share the
//! rest, `1 − â`, in proportion to their probabilities, `p̃_k = λ p̄_k`, except that none may
//! reach `â` (water-filling: a class that would is set just below `â`, `â(1 − 10⁻⁹)`, and the rest
//! shared again), so the predicted class is kept.

use crate::error::{Result, SbnError};
use crate::metrics::top_label;
use crate::predictive::Predictive;

/// Bins of the histogram map (as many as the examples when there are fewer).
pub const HISTOGRAM_BINS: usize = 15;

/// Inner edges and smoothed accuracies of `bins` equal-mass bins of the top-label confidence of
/// `probs` (`[example][class]`) against `labels`.
pub(super) fn fit(probs: &[f64], n_classes: usize, labels: &[usize], bins: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (confidence, correct) = top_label(probs, n_classes, labels)?;
    let n = confidence.len();
    let bins = bins.min(n);
    if bins == 0 {
        return Err(SbnError::invalid("histogram binning", "needs at least one bin and one example"));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| confidence[a].total_cmp(&confidence[b]));
    let members = |i: usize| &order[i * n / bins..(i + 1) * n / bins];
    let accuracy = (0..bins)
        .map(|i| {
            let m = members(i);
            (m.iter().filter(|&&j| correct[j]).count() as f64 + 1.0) / (m.len() as f64 + 2.0)
        })
        .collect();
    let edges = (1..bins).map(|i| (confidence[members(i - 1)[members(i - 1).len() - 1]] + confidence[members(i)[0]]) / 2.0).collect();
    Ok((edges, accuracy))
}

/// Why a stored map is not a histogram map, if it is not one.
pub(super) fn check(edges: &[f64], accuracy: &[f64]) -> std::result::Result<(), String> {
    if accuracy.len() != edges.len() + 1 {
        return Err(format!("histogram binning has {} edges for {} bins", edges.len(), accuracy.len()));
    }
    if edges.iter().chain(accuracy).any(|v| !(0.0..=1.0).contains(v)) {
        return Err("histogram binning has an edge or accuracy outside [0, 1]".into());
    }
    if edges.windows(2).any(|w| w[0] > w[1]) {
        return Err("histogram binning's edges are not increasing".into());
    }
    Ok(())
}

/// The calibrated mixture of `row` (one example's `p̄`).
fn calibrate_row(row: &[f64], edges: &[f64], accuracy: &[f64]) -> Vec<f64> {
    let k = row.len();
    let top = crate::metrics::argmax(row);
    let a = accuracy[edges.partition_point(|&e| e <= row[top].min(1.0))].max(1.0 / k as f64);
    let mut out = vec![0.0; k];
    out[top] = a;
    // Water-filling: the others in proportion to p̄, none above `cap` (just below `a`, so that the
    // predicted class stays the only largest); a capped class takes `cap` and the rest is shared
    // again among the uncapped ones.
    let cap = a * (1.0 - 1e-9);
    let mut capped = vec![false; k];
    capped[top] = true;
    loop {
        let free: Vec<usize> = (0..k).filter(|&j| !capped[j]).collect();
        let left = 1.0 - a - cap * (capped.iter().filter(|&&c| c).count() - 1) as f64;
        let mass: f64 = free.iter().map(|&j| row[j]).sum();
        for &j in &free {
            out[j] = if mass > 1e-300 { row[j] * left / mass } else { left / free.len() as f64 };
        }
        let over: Vec<usize> = free.iter().copied().filter(|&j| out[j] > cap).collect();
        if over.is_empty() {
            return out;
        }
        for j in over {
            capped[j] = true;
            out[j] = cap;
        }
    }
}

/// The predictive whose every weight sample is the calibrated mixture.
pub(super) fn apply(pred: &Predictive, edges: &[f64], accuracy: &[f64]) -> Predictive {
    let mut out = pred.clone();
    if pred.n_classes < 2 {
        return out;
    }
    for n in 0..pred.n_examples {
        let calibrated = calibrate_row(&pred.mean(n), edges, accuracy);
        let len = pred.weight_samples * pred.n_classes;
        out.per_weight_sample[n * len..(n + 1) * len].chunks_mut(pred.n_classes).for_each(|s| s.copy_from_slice(&calibrated));
    }
    out
}
