//! Confidence intervals around the scores of a predictive (docs/math.md §8): a Wilson interval
//! for accuracy and for every reliability bin's accuracy, percentile bootstrap intervals for ECE,
//! NLL, Brier and the mean total, data and model parts, and for the OOD AUROC of every score, and
//! the paired comparison of two predictives on the same data ([`PairedComparison`]).

use serde::{Deserialize, Serialize};

use crate::error::{Result, SbnError};
use crate::metrics::calibration::{Binning, ReliabilityTable};
use crate::metrics::interval::{Bootstrap, Interval, bin_intervals, wilson};
use crate::metrics::ood::auroc;
use crate::metrics::scores::{ECE_BINS, PROB_FLOOR};
use crate::metrics::{argmax, check_probabilities};
use crate::predictive::Predictive;
use crate::uncertainty::{ScoreKind, Uncertainty, scores};

/// What every example contributes to the scores: `[confidence, correct, NLL, Brier, total, data,
/// model]` (correct as 0 or 1).
#[derive(Clone, Debug)]
pub struct PerExample {
    rows: Vec<[f64; 7]>,
}

impl PerExample {
    /// The contributions of every example of `pred` with `labels`.
    pub fn new(pred: &Predictive, labels: &[usize]) -> Result<PerExample> {
        pred.validate("intervals")?;
        let probs = pred.means();
        check_probabilities("intervals", &probs, pred.n_classes, labels)?;
        let split = Uncertainty::from_predictive(pred)?;
        let rows = probs
            .chunks(pred.n_classes)
            .zip(labels)
            .enumerate()
            .map(|(n, (p, &y))| {
                let top = argmax(p);
                let brier: f64 = p.iter().enumerate().map(|(k, &v)| (v - f64::from(u8::from(k == y))).powi(2)).sum();
                [p[top].min(1.0), f64::from(u8::from(top == y)), -p[y].max(PROB_FLOOR).ln(), brier, split.total[n], split.data[n], split.model[n]]
            })
            .collect();
        Ok(PerExample { rows })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// `[accuracy, ECE (15 equal-width bins), NLL, Brier, total, data, model]` of the examples at
    /// `idx` (with repeats).
    pub fn scores(&self, idx: &[usize]) -> Result<[f64; 7]> {
        let n = idx.len() as f64;
        let mut means = [0.0; 7];
        for &i in idx {
            means.iter_mut().zip(&self.rows[i]).for_each(|(m, v)| *m += v / n);
        }
        let confidence: Vec<f64> = idx.iter().map(|&i| self.rows[i][0]).collect();
        let correct: Vec<bool> = idx.iter().map(|&i| self.rows[i][1] == 1.0).collect();
        let ece = ReliabilityTable::new(&confidence, &correct, Binning::EqualWidth(ECE_BINS))?.ece();
        Ok([means[1], ece, means[2], means[3], means[4], means[5], means[6]])
    }
}

/// Intervals around the scores of one predictive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreIntervals {
    /// The bootstrap's settings (the Wilson intervals use its confidence level).
    pub bootstrap: Bootstrap,
    /// Wilson interval of the accuracy.
    pub accuracy: Interval,
    /// Bootstrap interval of the ECE (15 equal-width bins).
    pub ece: Interval,
    /// Bootstrap interval of the NLL.
    pub nll: Interval,
    /// Bootstrap interval of the Brier score.
    pub brier: Interval,
    /// Bootstrap interval of the mean total uncertainty.
    pub total: Interval,
    /// Bootstrap interval of the mean data part.
    pub data: Interval,
    /// Bootstrap interval of the mean model part.
    pub model: Interval,
    /// Wilson interval of every bin's accuracy of the 15-bin equal-width reliability table (`[0, 1]`
    /// for an empty bin).
    pub bins: Vec<Interval>,
}

impl ScoreIntervals {
    /// All intervals of `pred` against `labels`.
    pub fn compute(pred: &Predictive, labels: &[usize], bootstrap: &Bootstrap) -> Result<ScoreIntervals> {
        let per = PerExample::new(pred, labels)?;
        let b = bootstrap.intervals(&[per.len()], |idx| Ok(per.scores(&idx[0])?.to_vec()))?;
        let hits = per.rows.iter().filter(|r| r[1] == 1.0).count();
        let all: Vec<usize> = (0..per.len()).collect();
        let confidence: Vec<f64> = all.iter().map(|&i| per.rows[i][0]).collect();
        let correct: Vec<bool> = all.iter().map(|&i| per.rows[i][1] == 1.0).collect();
        let table = ReliabilityTable::new(&confidence, &correct, Binning::EqualWidth(ECE_BINS))?;
        Ok(ScoreIntervals {
            bootstrap: *bootstrap,
            accuracy: wilson(hits, per.len(), bootstrap.confidence)?,
            ece: b[1],
            nll: b[2],
            brier: b[3],
            total: b[4],
            data: b[5],
            model: b[6],
            bins: bin_intervals(&table, bootstrap.confidence)?,
        })
    }
}

/// Bootstrap intervals of the OOD AUROC of every score of [`ScoreKind::ALL`] (in-distribution and
/// OOD examples resampled separately), named as [`ScoreKind::name`].
pub fn auroc_intervals(in_dist: &Predictive, ood: &Predictive, bootstrap: &Bootstrap) -> Result<Vec<(String, Interval)>> {
    let s_in = ScoreKind::ALL.iter().map(|&k| scores(in_dist, k)).collect::<Result<Vec<_>>>()?;
    let s_ood = ScoreKind::ALL.iter().map(|&k| scores(ood, k)).collect::<Result<Vec<_>>>()?;
    let pick = |v: &[f64], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let b = bootstrap
        .intervals(&[in_dist.n_examples, ood.n_examples], |idx| s_in.iter().zip(&s_ood).map(|(a, o)| auroc(&pick(a, &idx[0]), &pick(o, &idx[1]))).collect())?;
    Ok(ScoreKind::ALL.iter().map(|k| k.name().to_string()).zip(b).collect())
}

/// Model B against model A on the same examples: the differences `B − A` of accuracy, ECE, NLL
/// and Brier, each with a paired bootstrap interval (both models' scores computed on the same
/// resample, so what the examples share cancels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// The bootstrap's settings.
    pub bootstrap: Bootstrap,
    /// Number of examples.
    pub n_examples: usize,
    /// Accuracy of B minus accuracy of A.
    pub accuracy: Interval,
    /// ECE (15 equal-width bins) of B minus that of A.
    pub ece: Interval,
    /// NLL of B minus NLL of A.
    pub nll: Interval,
    /// Brier of B minus Brier of A.
    pub brier: Interval,
}

impl PairedComparison {
    /// The comparison of predictives `a` and `b` of the same examples against `labels`.
    pub fn compute(a: &Predictive, b: &Predictive, labels: &[usize], bootstrap: &Bootstrap) -> Result<PairedComparison> {
        if a.n_examples != b.n_examples || a.n_classes != b.n_classes {
            return Err(SbnError::invalid(
                "paired comparison",
                format!("the predictives differ in shape ({} × {} classes against {} × {})", a.n_examples, a.n_classes, b.n_examples, b.n_classes),
            ));
        }
        let (pa, pb) = (PerExample::new(a, labels)?, PerExample::new(b, labels)?);
        let d = bootstrap.intervals(&[pa.len()], |idx| {
            let (sa, sb) = (pa.scores(&idx[0])?, pb.scores(&idx[0])?);
            Ok((0..4).map(|i| sb[i] - sa[i]).collect())
        })?;
        Ok(PairedComparison { bootstrap: *bootstrap, n_examples: pa.len(), accuracy: d[0], ece: d[1], nll: d[2], brier: d[3] })
    }
}
