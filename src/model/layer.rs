//! A dense stochastic layer and its two weight kinds (MATH.md §1).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::noise::sigmoid;
use crate::simd;

/// Which kind of weights a layer has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightKind {
    /// Deterministic real weights `W` (the PSA paper's setting).
    Real,
    /// Random ±1 weights with posterior `q(W_ji = +1) = σ(θ_ji)` and a per-unit scale `γ_j`.
    Bernoulli,
}

impl std::fmt::Display for WeightKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WeightKind::Real => "real",
            WeightKind::Bernoulli => "bernoulli",
        })
    }
}

/// The weight parameters of a layer, shape `[n_out, n_in]` (row = output unit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Weights {
    /// `a = W x + b`.
    Real { w: DMatrix<f64> },
    /// `a = γ ⊙ (W x) + b` with `W_ji ~ Bernoulli(σ(θ_ji))` on ±1.
    Bernoulli { logits: DMatrix<f64>, scale: DVector<f64> },
}

/// A dense layer: weights and bias. Hidden layers feed the sign nonlinearity; the output layer
/// gives logits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    pub weights: Weights,
    pub bias: DVector<f64>,
}

impl Dense {
    /// A real-weight layer.
    pub fn real(w: DMatrix<f64>, bias: DVector<f64>) -> Self {
        assert_eq!(w.nrows(), bias.len(), "bias length must equal the number of output units");
        Dense { weights: Weights::Real { w }, bias }
    }

    /// A Bernoulli-weight layer with logits θ, scale γ and bias b.
    pub fn bernoulli(logits: DMatrix<f64>, scale: DVector<f64>, bias: DVector<f64>) -> Self {
        assert_eq!(logits.nrows(), bias.len(), "bias length must equal the number of output units");
        assert_eq!(logits.nrows(), scale.len(), "scale length must equal the number of output units");
        Dense { weights: Weights::Bernoulli { logits, scale }, bias }
    }

    pub fn kind(&self) -> WeightKind {
        match self.weights {
            Weights::Real { .. } => WeightKind::Real,
            Weights::Bernoulli { .. } => WeightKind::Bernoulli,
        }
    }

    /// The weight matrix parameter: `W` (real) or `θ` (Bernoulli).
    pub fn weight_param(&self) -> &DMatrix<f64> {
        match &self.weights {
            Weights::Real { w } => w,
            Weights::Bernoulli { logits, .. } => logits,
        }
    }

    pub fn weight_param_mut(&mut self) -> &mut DMatrix<f64> {
        match &mut self.weights {
            Weights::Real { w } => w,
            Weights::Bernoulli { logits, .. } => logits,
        }
    }

    /// The per-unit scale γ (Bernoulli layers only).
    pub fn scale(&self) -> Option<&DVector<f64>> {
        match &self.weights {
            Weights::Real { .. } => None,
            Weights::Bernoulli { scale, .. } => Some(scale),
        }
    }

    pub fn n_in(&self) -> usize {
        self.weight_param().ncols()
    }

    pub fn n_out(&self) -> usize {
        self.weight_param().nrows()
    }

    /// Number of weights.
    pub fn n_weights(&self) -> usize {
        self.n_in() * self.n_out()
    }

    /// The posterior probabilities `q = σ(θ)` (Bernoulli layers only).
    pub fn q(&self) -> Option<DMatrix<f64>> {
        match &self.weights {
            Weights::Real { .. } => None,
            Weights::Bernoulli { logits, .. } => {
                let mut q = logits.clone();
                simd::sigmoid_in_place(q.as_mut_slice());
                Some(q)
            }
        }
    }

    /// The mean weights `E[W] = 2q − 1` (Bernoulli) or `W` (real).
    pub fn mean_weights(&self) -> DMatrix<f64> {
        match &self.weights {
            Weights::Real { w } => w.clone(),
            Weights::Bernoulli { logits, .. } => logits.map(|t| 2.0 * sigmoid(t) - 1.0),
        }
    }

    /// Pre-activations for inputs `x` (`n_in × B`, one example per column) given the weights
    /// in use (`w_eff`: `W`, or a ±1 sample of a Bernoulli layer). Returns `(S, a)`:
    /// Bernoulli `S = w_eff x`, `a = γ ⊙ S + b`; real `a = W x + b` and no `S`.
    pub fn preactivation(&self, w_eff: &DMatrix<f64>, x: &DMatrix<f64>) -> (Option<DMatrix<f64>>, DMatrix<f64>) {
        let wx = crate::linalg::mul(w_eff, x);
        match self.scale() {
            Some(gamma) => {
                let mut a = wx.clone();
                for mut col in a.column_iter_mut() {
                    for ((aj, g), b) in col.iter_mut().zip(gamma.iter()).zip(self.bias.iter()) {
                        *aj = g * *aj + b;
                    }
                }
                (Some(wx), a)
            }
            None => {
                let mut a = wx;
                for mut col in a.column_iter_mut() {
                    col += &self.bias;
                }
                (None, a)
            }
        }
    }
}
