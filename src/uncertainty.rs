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
    /// Data part, the expected entropy `(1/S_w) Σ_s H[p̄_s]`.
    Data,
    /// Model part, the mutual information `total − data`.
    Model,
    /// The energy score (Liu et al. 2020), `−ln Σ_k exp(z_k)`, of the logits
    /// `z_k = (1/S_w) Σ_s ln p̄_s,k` (see [`energy_scores`]).
    Energy,
    /// Variation ratio: `1 −` the fraction of weight samples whose arg-max is the modal class.
    VariationRatio,
}

impl ScoreKind {
    /// Every kind, in report order.
    pub const ALL: [ScoreKind; 6] =
        [ScoreKind::MaxProbability, ScoreKind::Total, ScoreKind::Model, ScoreKind::Data, ScoreKind::Energy, ScoreKind::VariationRatio];

    /// A short name for tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            ScoreKind::MaxProbability => "max-probability",
            ScoreKind::Total => "total entropy",
            ScoreKind::Data => "expected entropy (data part)",
            ScoreKind::Model => "model part (MI)",
            ScoreKind::Energy => "energy",
            ScoreKind::VariationRatio => "variation ratio",
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
        ScoreKind::Energy => energy_scores(p),
        ScoreKind::VariationRatio => variation_ratios(p),
    }
}

/// The energy `−ln Σ_k exp(z_k)` of logits `z` (computed stably, from the largest logit).
pub fn energy(logits: &[f64]) -> f64 {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    -(m + logits.iter().map(|z| (z - m).exp()).sum::<f64>().ln())
}

/// The energy score of every example. The predictive keeps normalized probabilities, not the
/// network's logits, and the energy of any log-probability vector is `−ln 1 = 0`; so the logits
/// are the mean log-probabilities over the weight samples, `z_k = (1/S_w) Σ_s ln p̄_s,k` (floored
/// at [`PROB_FLOOR`](crate::metrics::scores::PROB_FLOOR)), whose `exp` is the geometric mean of the
/// samples' probabilities. The energy is then `≥ 0`, 0 exactly when every weight sample gives the
/// same `p̄_s`, and grows as they disagree: with one weight sample it is 0 for every example.
pub fn energy_scores(p: &Predictive) -> Result<Vec<f64>> {
    p.validate("energy scores")?;
    let floor = crate::metrics::scores::PROB_FLOOR;
    Ok((0..p.n_examples)
        .map(|n| {
            let mut z = vec![0.0; p.n_classes];
            for s in 0..p.weight_samples {
                z.iter_mut().zip(p.sample(n, s)).for_each(|(z, v)| *z += v.max(floor).ln() / p.weight_samples as f64);
            }
            energy(&z)
        })
        .collect())
}

/// The variation ratio of every example: `1 − m/S_w`, `m` the number of weight samples whose
/// arg-max (first on ties) is the most frequent one.
pub fn variation_ratios(p: &Predictive) -> Result<Vec<f64>> {
    p.validate("variation ratios")?;
    Ok((0..p.n_examples)
        .map(|n| {
            let mut votes = vec![0usize; p.n_classes];
            (0..p.weight_samples).for_each(|s| votes[argmax(p.sample(n, s))] += 1);
            1.0 - *votes.iter().max().expect("classes") as f64 / p.weight_samples as f64
        })
        .collect())
}

/// The mean of every score of `kinds` over the examples of each class (`class_of[n]`, e.g. the
/// label or the predicted class): `[class][kind]`, with the number of examples of each class.
pub fn mean_scores_by_class(p: &Predictive, kinds: &[ScoreKind], class_of: &[usize]) -> Result<Vec<(usize, Vec<f64>)>> {
    if class_of.len() != p.n_examples || class_of.iter().any(|&c| c >= p.n_classes) {
        return Err(SbnError::invalid("scores by class", format!("{} classes given for {} examples of {} classes", class_of.len(), p.n_examples, p.n_classes)));
    }
    let all = kinds.iter().map(|&k| scores(p, k)).collect::<Result<Vec<_>>>()?;
    Ok((0..p.n_classes)
        .map(|c| {
            let members: Vec<usize> = (0..p.n_examples).filter(|&n| class_of[n] == c).collect();
            let mean = |v: &Vec<f64>| if members.is_empty() { 0.0 } else { members.iter().map(|&n| v[n]).sum::<f64>() / members.len() as f64 };
            (members.len(), all.iter().map(mean).collect())
        })
        .collect())
}
