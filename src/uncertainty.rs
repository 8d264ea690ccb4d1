//! The split of predictive uncertainty into a data part and a model part (docs/math.md §5), per
//! example and summarized, all in nats:
//!
//! ```text
//! total = H[p̄]     data = (1/S_w) Σ_s H[p̄_s]     model = total − data  (mutual information)
//! ```
//!
//! `model ≥ 0` by concavity of the entropy (up to round-off; it is not clamped, so
//! `total = data + model` holds exactly up to floating point).

use serde::{Deserialize, Serialize};

use crate::error::{Result, SbnError};
use crate::metrics::{argmax, check_probabilities};
use crate::model::softmax::entropy;
use crate::predictive::Predictive;

/// Per-example total, data and model uncertainty (nats).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Uncertainty {
    /// `H[p̄]` per example.
    pub total: Vec<f64>,
    /// `(1/S_w) Σ_s H[p̄_s]` per example (expected entropy, aleatoric).
    pub data: Vec<f64>,
    /// `total − data` per example (mutual information `I(y; W | x)`, epistemic).
    pub model: Vec<f64>,
}

impl Uncertainty {
    /// The split for every example of a predictive.
    pub fn from_predictive(p: &Predictive) -> Result<Uncertainty> {
        p.validate("uncertainty")?;
        let n = p.n_examples;
        let (mut total, mut data, mut model) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let t = entropy(&p.mean(i));
            let d = (0..p.weight_samples).map(|s| entropy(p.sample(i, s))).sum::<f64>() / p.weight_samples as f64;
            total.push(t);
            data.push(d);
            model.push(t - d);
        }
        Ok(Uncertainty { total, data, model })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.total.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.total.is_empty()
    }

    /// Means of the three parts over the examples where `keep` is true.
    pub fn means_where(&self, keep: impl Fn(usize) -> bool) -> PartMeans {
        let mut m = PartMeans::default();
        for i in (0..self.len()).filter(|&i| keep(i)) {
            m.count += 1;
            m.total += self.total[i];
            m.data += self.data[i];
            m.model += self.model[i];
        }
        if m.count > 0 {
            let c = m.count as f64;
            m.total /= c;
            m.data /= c;
            m.model /= c;
        }
        m
    }

    /// Summaries overall, by true class, and for correct vs incorrect predictions, where the
    /// prediction is the arg-max of `probs` (row-major `[example][class]`, usually `p̄`).
    pub fn summarize(&self, probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<UncertaintySummary> {
        let n = check_probabilities("uncertainty summary", probs, n_classes, labels)?;
        if n != self.len() {
            return Err(SbnError::invalid("uncertainty summary", format!("{} labels for {} examples", n, self.len())));
        }
        let correct: Vec<bool> = probs.chunks(n_classes).zip(labels).map(|(row, &y)| argmax(row) == y).collect();
        Ok(UncertaintySummary {
            overall: self.means_where(|_| true),
            by_class: (0..n_classes).map(|k| self.means_where(|i| labels[i] == k)).collect(),
            correct: self.means_where(|i| correct[i]),
            incorrect: self.means_where(|i| !correct[i]),
        })
    }
}

/// Mean total, data and model uncertainty over `count` examples (all 0 when `count = 0`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartMeans {
    /// Number of examples averaged over.
    pub count: usize,
    /// Mean total uncertainty.
    pub total: f64,
    /// Mean data part.
    pub data: f64,
    /// Mean model part.
    pub model: f64,
}

/// Where the uncertainty sits: overall, per true class, and on hits vs misses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UncertaintySummary {
    /// Over all examples.
    pub overall: PartMeans,
    /// Indexed by true class.
    pub by_class: Vec<PartMeans>,
    /// Over the examples whose prediction is the label.
    pub correct: PartMeans,
    /// Over the examples whose prediction is not the label.
    pub incorrect: PartMeans,
}

/// The uncertainty scores compared for OOD detection (higher = more OOD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoreKind {
    /// `1 − max_k p̄_k`.
    MaxProbability,
    /// Total uncertainty `H[p̄]`.
    Total,
    /// Data part, `(1/S_w) Σ_s H[p̄_s]`.
    Data,
    /// Model part, the mutual information `total − data`.
    Model,
}

impl ScoreKind {
    /// Every kind, in report order.
    pub const ALL: [ScoreKind; 4] = [ScoreKind::MaxProbability, ScoreKind::Total, ScoreKind::Model, ScoreKind::Data];

    /// A short name for tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            ScoreKind::MaxProbability => "max-probability",
            ScoreKind::Total => "total entropy",
            ScoreKind::Data => "data part",
            ScoreKind::Model => "model part (MI)",
        }
    }
}

/// Per-example score of `kind` for a predictive (higher = more uncertain).
pub fn scores(p: &Predictive, kind: ScoreKind) -> Result<Vec<f64>> {
    match kind {
        ScoreKind::MaxProbability => {
            p.validate("scores")?;
            Ok((0..p.n_examples).map(|i| 1.0 - p.mean(i).iter().copied().fold(0.0, f64::max)).collect())
        }
        ScoreKind::Total => Ok(Uncertainty::from_predictive(p)?.total),
        ScoreKind::Data => Ok(Uncertainty::from_predictive(p)?.data),
        ScoreKind::Model => Ok(Uncertainty::from_predictive(p)?.model),
    }
}
