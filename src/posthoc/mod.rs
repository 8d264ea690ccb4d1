//! Post-hoc calibration of the Monte Carlo predictive (docs/math.md §10): a small map, fitted by
//! negative log-likelihood on held-out labelled data, that makes the predictive's confidence match
//! its accuracy without retraining.
//!
//! * [`PostHoc::Temperature`] (Guo et al. 2017): every weight sample's class probabilities are
//!   tempered, `p̄_s^T ∝ exp(ln p̄_s / T)`, then mixed as before. The calibrated predictive is
//!   still a mixture over weight samples, so the split total = data + model (§5) stays defined.
//! * [`PostHoc::Vector`]: a per-class scale and bias on the same per-sample log-probabilities,
//!   `p̄_s^V ∝ exp(a ⊙ ln p̄_s + b)`, again mixed over `s`; temperature scaling is the case
//!   `a = 1/T`, `b = 0`, and the fit starts there.
//! * [`PostHoc::Histogram`] (Zadrozny & Elkan 2001, top-label form): the mixture's top-label
//!   confidence is replaced by the accuracy of its equal-mass bin. It acts on the mixture only:
//!   every weight sample of the calibrated predictive is that one distribution, so its model part
//!   is 0.
//!
//! Probabilities are floored at [`PROB_FLOOR`] before the log, as the NLL floors them.
//!
//! ```
//! use sbn::posthoc::{Method, PostHoc};
//! use sbn::predictive::Predictive;
//!
//! # fn main() -> sbn::Result<()> {
//! // Two examples, one weight sample, two classes: sure of class 0 both times, right once.
//! let p = Predictive { n_examples: 2, n_classes: 2, weight_samples: 1, noise_samples: 1, per_weight_sample: vec![0.99, 0.01, 0.99, 0.01] };
//! let map = PostHoc::fit(Method::Temperature, &p, &[0, 1])?;
//! let PostHoc::Temperature(t) = map else { unreachable!() };
//! assert!(t > 1.0); // overconfident: the temperature flattens it
//! let calibrated = map.apply(&p)?;
//! assert!(calibrated.mean(0)[0] < 0.99);
//! # Ok(())
//! # }
//! ```

mod histogram;
mod temperature;
mod vector;

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SbnError};
use crate::metrics::check_probabilities;
use crate::metrics::scores::PROB_FLOOR;
use crate::predictive::Predictive;

pub use histogram::HISTOGRAM_BINS;
pub use temperature::{TEMPERATURE_RANGE, fit_temperature};

/// A fitted post-hoc calibration map (see the module documentation for what each one does).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostHoc {
    /// Temperature scaling with temperature `T > 0` (above 1 flattens, below 1 sharpens).
    Temperature(f64),
    /// Vector scaling: `p̄_s ∝ exp(scale ⊙ ln p̄_s + bias)`, one scale and one bias per class.
    Vector {
        /// `a_k`, one per class.
        scale: Vec<f64>,
        /// `b_k`, one per class.
        bias: Vec<f64>,
    },
    /// Top-label histogram binning: the bin of a confidence `c` is the number of `edges` below or
    /// at `c`, and the calibrated confidence is that bin's `accuracy`.
    Histogram {
        /// The inner bin boundaries, increasing (one fewer than the bins).
        edges: Vec<f64>,
        /// The smoothed accuracy `(hits + 1)/(count + 2)` of every bin on the fitting data.
        accuracy: Vec<f64>,
    },
}

/// Which map to fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// [`PostHoc::Temperature`].
    Temperature,
    /// [`PostHoc::Vector`].
    Vector,
    /// [`PostHoc::Histogram`] with [`HISTOGRAM_BINS`] equal-mass bins.
    Histogram,
}

impl FromStr for Method {
    type Err = SbnError;

    fn from_str(s: &str) -> Result<Method> {
        match s {
            "temperature" => Ok(Method::Temperature),
            "vector" => Ok(Method::Vector),
            "histogram" => Ok(Method::Histogram),
            other => Err(SbnError::invalid("post-hoc method", format!("unknown method '{other}'; expected temperature, vector or histogram"))),
        }
    }
}

impl PostHoc {
    /// Fits a map of `method` to the predictive `pred` of labelled data (`labels` in the model's
    /// class order) by minimizing the NLL of the calibrated mixture (histogram binning: by bin
    /// accuracies). On the fitting data temperature scaling never has a higher NLL than `T = 1`,
    /// and vector scaling (started at the fitted temperature, descent steps only) never a higher one
    /// than temperature scaling.
    pub fn fit(method: Method, pred: &Predictive, labels: &[usize]) -> Result<PostHoc> {
        check_labelled(pred, labels)?;
        Ok(match method {
            Method::Temperature => PostHoc::Temperature(fit_temperature(pred, labels)?),
            Method::Vector => {
                let (scale, bias) = vector::fit(pred, labels, fit_temperature(pred, labels)?);
                PostHoc::Vector { scale, bias }
            }
            Method::Histogram => {
                let (edges, accuracy) = histogram::fit(&pred.means(), pred.n_classes, labels, HISTOGRAM_BINS)?;
                PostHoc::Histogram { edges, accuracy }
            }
        })
    }

    /// The calibrated predictive of `pred` (same shape, same sample counts).
    pub fn apply(&self, pred: &Predictive) -> Result<Predictive> {
        pred.validate("post-hoc calibration")?;
        self.check(pred.n_classes, "post-hoc calibration")?;
        Ok(match self {
            PostHoc::Temperature(t) if *t == 1.0 => pred.clone(),
            PostHoc::Temperature(t) => log_linear(pred, &vec![1.0 / t; pred.n_classes], &vec![0.0; pred.n_classes]),
            PostHoc::Vector { scale, bias } => log_linear(pred, scale, bias),
            PostHoc::Histogram { edges, accuracy } => histogram::apply(pred, edges, accuracy),
        })
    }

    /// Checks a map (e.g. read from a file) for a model of `n_classes` classes: a finite positive
    /// temperature; one finite scale and bias per class; increasing edges in `[0, 1]` and one
    /// accuracy in `[0, 1]` per bin. `place` names the map in errors.
    pub fn check(&self, n_classes: usize, place: &str) -> Result<()> {
        let bad = |message: String| Err(SbnError::invalid(place, message));
        match self {
            PostHoc::Temperature(t) if !(t.is_finite() && *t > 0.0) => bad(format!("temperature {t} is not a finite positive number")),
            PostHoc::Temperature(_) => Ok(()),
            PostHoc::Vector { scale, bias } if scale.len() != n_classes || bias.len() != n_classes => {
                bad(format!("vector scaling has {} scales and {} biases for {n_classes} classes", scale.len(), bias.len()))
            }
            PostHoc::Vector { scale, bias } if scale.iter().chain(bias).any(|v| !v.is_finite()) => bad("vector scaling has a non-finite value".into()),
            PostHoc::Vector { .. } => Ok(()),
            PostHoc::Histogram { edges, accuracy } => histogram::check(edges, accuracy).map_err(|m| SbnError::invalid(place, m)),
        }
    }

    /// The method's name, as `--fit` spells it.
    pub fn method_name(&self) -> &'static str {
        match self {
            PostHoc::Temperature(_) => "temperature",
            PostHoc::Vector { .. } => "vector",
            PostHoc::Histogram { .. } => "histogram",
        }
    }
}

impl fmt::Display for PostHoc {
    /// One line: the method and its parameters, briefly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" ");
        match self {
            PostHoc::Temperature(t) => write!(f, "temperature scaling, T = {t:.4}"),
            PostHoc::Vector { scale, bias } => write!(f, "vector scaling, scales [{}], biases [{}]", list(scale), list(bias)),
            PostHoc::Histogram { accuracy, .. } => write!(f, "histogram binning, {} equal-mass bins, accuracies [{}]", accuracy.len(), list(accuracy)),
        }
    }
}

/// A map as stored with a model: the map and what it was fitted on (reports state it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostHocFit {
    /// The map.
    pub map: PostHoc,
    /// The name of the data set it was fitted on.
    pub data: String,
    /// Examples of that data set.
    pub n_examples: usize,
    /// `S_w` of the predictive it was fitted on.
    pub weight_samples: usize,
    /// `S_z` of that predictive.
    pub noise_samples: usize,
}

impl fmt::Display for PostHocFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (fitted on {}, {} examples, S_w = {} × S_z = {})", self.map, self.data, self.n_examples, self.weight_samples, self.noise_samples)
    }
}

/// Checks the predictive and its labels for fitting.
fn check_labelled(pred: &Predictive, labels: &[usize]) -> Result<()> {
    pred.validate("post-hoc fit")?;
    if labels.len() != pred.n_examples {
        return Err(SbnError::invalid("post-hoc fit", format!("{} labels for {} examples", labels.len(), pred.n_examples)));
    }
    check_probabilities("post-hoc fit", &pred.means(), pred.n_classes, labels).map(|_| ())
}

/// `ln max(p, PROB_FLOOR)` of every entry of the predictive, `[example][sample][class]`.
fn log_probs(pred: &Predictive) -> Vec<f64> {
    pred.per_weight_sample.iter().map(|p| p.max(PROB_FLOOR).ln()).collect()
}

/// `softmax(a ⊙ l + b)` into `out`.
fn scaled_softmax(l: &[f64], a: &[f64], b: &[f64], out: &mut [f64]) {
    let z: Vec<f64> = l.iter().zip(a).zip(b).map(|((l, a), b)| a * l + b).collect();
    crate::model::softmax::softmax_into(&z, out);
}

/// Every weight sample's `p̄_s` replaced by `softmax(a ⊙ ln p̄_s + b)`.
fn log_linear(pred: &Predictive, a: &[f64], b: &[f64]) -> Predictive {
    let k = pred.n_classes;
    let mut out = pred.clone();
    let lp = log_probs(pred);
    out.per_weight_sample.par_chunks_mut(k).zip(lp.par_chunks(k)).for_each(|(row, l)| scaled_softmax(l, a, b, row));
    out
}

/// Examples per block of the NLL's blocked sum (fixed, so the sum does not depend on threads).
const BLOCK: usize = 64;

/// The mean NLL of the mixture `(1/S) Σ_s softmax(a ⊙ l_s + b)` on `labels` (`lp` from
/// [`log_probs`], `s_w` samples and `k` classes per example) and, with `gradient`, its gradient
/// with respect to `a` and `b` (`[∂a…, ∂b…]`). Summed in fixed blocks in a fixed order.
fn mixture_nll(lp: &[f64], s_w: usize, k: usize, labels: &[usize], a: &[f64], b: &[f64], gradient: bool) -> (f64, Vec<f64>) {
    let per_example = s_w * k;
    let blocks: Vec<(f64, Vec<f64>)> = lp
        .par_chunks(per_example * BLOCK)
        .zip(labels.par_chunks(BLOCK))
        .map(|(block, ys)| {
            let mut sum = (0.0, vec![0.0; if gradient { 2 * k } else { 0 }]);
            let mut q = vec![0.0; per_example];
            for (l, &y) in block.chunks(per_example).zip(ys) {
                for (q_s, l_s) in q.chunks_mut(k).zip(l.chunks(k)) {
                    scaled_softmax(l_s, a, b, q_s);
                }
                let m_y = q.chunks(k).map(|q_s| q_s[y]).sum::<f64>() / s_w as f64;
                sum.0 -= m_y.max(PROB_FLOOR).ln();
                if gradient {
                    add_gradient(&q, l, y, m_y * s_w as f64, k, &mut sum.1);
                }
            }
            sum
        })
        .collect();
    let n = labels.len() as f64;
    let mut total = (0.0, vec![0.0; if gradient { 2 * k } else { 0 }]);
    for (v, g) in blocks {
        total.0 += v;
        total.1.iter_mut().zip(g).for_each(|(t, g)| *t += g);
    }
    total.1.iter_mut().for_each(|g| *g /= n);
    (total.0 / n, total.1)
}

/// Adds one example's gradient of `−ln m_y` (`sum_q_y = Σ_s q_sy = S·m_y`):
/// `∂/∂z_sk = −q_sy (1[k = y] − q_sk) / Σ_s q_sy`, then `∂a_k += ∂z_sk · l_sk`, `∂b_k += ∂z_sk`.
fn add_gradient(q: &[f64], l: &[f64], y: usize, sum_q_y: f64, k: usize, grad: &mut [f64]) {
    let sum_q_y = sum_q_y.max(PROB_FLOOR);
    for (q_s, l_s) in q.chunks(k).zip(l.chunks(k)) {
        for c in 0..k {
            let dz = -q_s[y] * (f64::from(u8::from(c == y)) - q_s[c]) / sum_q_y;
            grad[c] += dz * l_s[c];
            grad[k + c] += dz;
        }
    }
}
