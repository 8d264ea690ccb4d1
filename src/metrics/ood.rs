//! Out-of-distribution detection (docs/math.md §8): OOD examples are the positives and a higher
//! score means "more OOD" (e.g. entropy, mutual information, 1 − max probability).

use serde::{Deserialize, Serialize};

use super::check_scores;
use crate::error::{Result, SbnError};

/// Detection quality of one score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OodScores {
    /// Number of in-distribution examples (the negatives).
    pub n_in: usize,
    /// Number of OOD examples (the positives).
    pub n_ood: usize,
    /// `P(s_ood > s_in) + ½ P(s_ood = s_in)`.
    pub auroc: f64,
    /// Average precision with OOD as the positive class.
    pub aupr: f64,
    /// False-positive rate at the highest threshold whose true-positive rate is at least 95 %.
    pub fpr_at_95_tpr: f64,
}

/// AUROC, AUPR and FPR at 95 % TPR of `in_scores` (negatives) against `ood_scores` (positives).
pub fn ood_detection(in_scores: &[f64], ood_scores: &[f64]) -> Result<OodScores> {
    Ok(OodScores {
        n_in: in_scores.len(),
        n_ood: ood_scores.len(),
        auroc: auroc(in_scores, ood_scores)?,
        aupr: aupr(in_scores, ood_scores)?,
        fpr_at_95_tpr: fpr_at_tpr(in_scores, ood_scores, 0.95)?,
    })
}

fn check(in_scores: &[f64], ood_scores: &[f64]) -> Result<()> {
    check_scores("ood", "in-distribution", in_scores)?;
    check_scores("ood", "OOD", ood_scores)
}

/// All scores with their class (`true` = OOD), sorted by score descending.
fn ranked(in_scores: &[f64], ood_scores: &[f64]) -> Vec<(f64, bool)> {
    let mut all: Vec<(f64, bool)> = in_scores.iter().map(|&s| (s, false)).chain(ood_scores.iter().map(|&s| (s, true))).collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    all
}

/// Runs over thresholds from the top: calls `visit(tp, fp)` after each group of tied scores.
fn sweep(all: &[(f64, bool)], mut visit: impl FnMut(usize, usize) -> bool) {
    let (mut tp, mut fp) = (0, 0);
    for (k, &(s, positive)) in all.iter().enumerate() {
        if positive {
            tp += 1;
        } else {
            fp += 1;
        }
        if (k + 1 == all.len() || all[k + 1].0 != s) && !visit(tp, fp) {
            return;
        }
    }
}

/// Area under the ROC curve via the rank-sum (Mann–Whitney) statistic, ties counted half;
/// O(n log n).
pub fn auroc(in_scores: &[f64], ood_scores: &[f64]) -> Result<f64> {
    check(in_scores, ood_scores)?;
    let mut all = ranked(in_scores, ood_scores);
    all.reverse(); // ascending: rank 1 is the smallest score
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < all.len() {
        let mut end = start;
        while end < all.len() && all[end].0 == all[start].0 {
            end += 1;
        }
        // Ranks start+1 ..= end share their average.
        let average = (start + 1 + end) as f64 / 2.0;
        rank_sum += average * all[start..end].iter().filter(|e| e.1).count() as f64;
        start = end;
    }
    let (n_pos, n_neg) = (ood_scores.len() as f64, in_scores.len() as f64);
    Ok((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// Average precision `Σ_t (R_t − R_{t−1}) P_t` over the distinct thresholds `t` from the top,
/// OOD as positives (tied scores enter together).
pub fn aupr(in_scores: &[f64], ood_scores: &[f64]) -> Result<f64> {
    check(in_scores, ood_scores)?;
    let n_pos = ood_scores.len() as f64;
    let (mut ap, mut previous_recall) = (0.0, 0.0);
    sweep(&ranked(in_scores, ood_scores), |tp, fp| {
        let recall = tp as f64 / n_pos;
        ap += (recall - previous_recall) * tp as f64 / (tp + fp) as f64;
        previous_recall = recall;
        true
    });
    Ok(ap)
}

/// False-positive rate (fraction of in-distribution flagged) at the highest threshold that flags
/// at least a fraction `tpr` of the OOD examples.
pub fn fpr_at_tpr(in_scores: &[f64], ood_scores: &[f64], tpr: f64) -> Result<f64> {
    check(in_scores, ood_scores)?;
    if !(0.0..=1.0).contains(&tpr) {
        return Err(SbnError::invalid("ood", format!("target TPR {tpr} is outside [0, 1]")));
    }
    let (n_pos, n_neg) = (ood_scores.len() as f64, in_scores.len() as f64);
    let mut fpr = 1.0;
    sweep(&ranked(in_scores, ood_scores), |tp, fp| {
        if tp as f64 >= tpr * n_pos - 1e-9 {
            fpr = fp as f64 / n_neg;
            return false;
        }
        true
    });
    Ok(fpr)
}
