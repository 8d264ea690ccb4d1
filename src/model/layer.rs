//! A stochastic layer (dense or convolutional) and its two weight kinds (docs/math.md §1).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::conv::{Conv2d, Unfolding};
use super::noise::sigmoid;
use crate::error::{Result, SbnError};
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

/// The weight parameters of a layer, shape `[n_out, n_in]` (row = output unit) for a dense layer,
/// `[C_out, kernel²·C_in]` (row = output channel) for a convolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Weights {
    /// `a = W x + b`.
    Real {
        /// The weights `W`.
        w: DMatrix<f64>,
    },
    /// `a = γ ⊙ (W x) + b` with `W_ji ~ Bernoulli(σ(θ_ji))` on ±1.
    Bernoulli {
        /// The logits `θ`, `q = σ(θ)`.
        logits: DMatrix<f64>,
        /// The per-unit scale `γ`, one entry per row of `θ`.
        scale: DVector<f64>,
    },
}

/// A layer: weights, bias and, for a convolution, its geometry. Hidden layers feed the sign
/// nonlinearity; the output layer (dense) gives logits.
///
/// A dense layer has one unit per row of `W`. A convolution applies `W` (`C_out × kernel²·C_in`)
/// to every patch of its input ([`Conv2d`]): its `n_out = P·C_out` units share the `C_out` rows of
/// weights, scales and biases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// `W` (real) or `θ` and `γ` (Bernoulli).
    pub weights: Weights,
    /// The bias `b`, one entry per row of the weights.
    pub bias: DVector<f64>,
    /// The geometry when the layer is a convolution; `None` for a dense layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<Conv2d>,
}

impl Layer {
    /// A real-weight layer.
    pub fn real(w: DMatrix<f64>, bias: DVector<f64>) -> Self {
        assert_eq!(w.nrows(), bias.len(), "bias length must equal the number of output units");
        Layer { weights: Weights::Real { w }, bias, conv: None }
    }

    /// A Bernoulli-weight layer with logits θ, scale γ and bias b.
    pub fn bernoulli(logits: DMatrix<f64>, scale: DVector<f64>, bias: DVector<f64>) -> Self {
        assert_eq!(logits.nrows(), bias.len(), "bias length must equal the number of output units");
        assert_eq!(logits.nrows(), scale.len(), "scale length must equal the number of output units");
        Layer { weights: Weights::Bernoulli { logits, scale }, bias, conv: None }
    }

    /// This layer as the convolution `conv`: `W` must have `C_out` rows and `kernel²·C_in` columns.
    pub fn with_conv(mut self, conv: Conv2d) -> Result<Self> {
        conv.check("convolution")?;
        if self.channels() != conv.out_c || self.fan_in() != conv.fan_in() {
            return Err(SbnError::invalid(
                "convolution",
                format!("weights are {}×{} but the geometry needs {}×{}", self.channels(), self.fan_in(), conv.out_c, conv.fan_in()),
            ));
        }
        self.conv = Some(conv);
        Ok(self)
    }

    /// Real or Bernoulli weights.
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

    /// The weight matrix parameter, mutable: `W` (real) or `θ` (Bernoulli).
    #[cfg(test)]
    pub(crate) fn weight_param_mut(&mut self) -> &mut DMatrix<f64> {
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

    /// Input features (`H·W·C_in` for a convolution).
    pub fn n_in(&self) -> usize {
        self.conv.map_or_else(|| self.fan_in(), |c| c.in_features())
    }

    /// Units (`P·C_out` for a convolution).
    pub fn n_out(&self) -> usize {
        self.conv.map_or_else(|| self.channels(), |c| c.out_features())
    }

    /// Rows of `W` (= entries of `γ` and `b`): the units of a dense layer, the output channels of
    /// a convolution.
    pub fn channels(&self) -> usize {
        self.weight_param().nrows()
    }

    /// Columns of `W`: inputs per unit.
    pub fn fan_in(&self) -> usize {
        self.weight_param().ncols()
    }

    /// Number of weights.
    pub fn n_weights(&self) -> usize {
        self.weight_param().len()
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
    /// in use (`w_eff`: `W`, or a ±1 sample of a Bernoulli layer). Returns `(S, a)` in the units
    /// layout (`n_out × B`): Bernoulli `S = w_eff x`, `a = γ ⊙ S + b`; real `a = W x + b` and no
    /// `S` (for a convolution, `x` means its patches).
    pub fn preactivation(&self, w_eff: &DMatrix<f64>, x: &DMatrix<f64>) -> (Option<DMatrix<f64>>, DMatrix<f64>) {
        self.preactivation_of_patches(w_eff, &self.unfold(x))
    }

    /// [`Layer::preactivation`] on the unfolded input ([`Unfolding::unfold`]).
    pub fn preactivation_of_patches(&self, w_eff: &DMatrix<f64>, patches: &DMatrix<f64>) -> (Option<DMatrix<f64>>, DMatrix<f64>) {
        self.preactivation_from_product(crate::linalg::mul(w_eff, patches))
    }

    /// [`Layer::preactivation_of_patches`] given the product `w_eff · patches` (`C_out × B·P`),
    /// computed elsewhere (the fast engine's popcount product).
    pub(crate) fn preactivation_from_product(&self, wx: DMatrix<f64>) -> (Option<DMatrix<f64>>, DMatrix<f64>) {
        let (s, a) = self.finish_preactivation(wx);
        (s.map(|s| self.to_units(s)), self.to_units(a))
    }

    /// `(S, a)` from `S = W x` in the channels layout: `a = γ ⊙ S + b` (Bernoulli) or `S + b`.
    fn finish_preactivation(&self, wx: DMatrix<f64>) -> (Option<DMatrix<f64>>, DMatrix<f64>) {
        match self.scale() {
            Some(gamma) => {
                let rows = wx.nrows().max(1);
                let mut a = Vec::with_capacity(wx.len());
                // Slices, not matrix iterators, so that the loop vectorizes.
                let (gamma, bias) = (gamma.as_slice(), self.bias.as_slice());
                crate::simd::dispatch!(for col in wx.as_slice().chunks_exact(rows) {
                    a.extend(col.iter().zip(gamma).zip(bias).map(|((s, g), b)| g * s + b));
                });
                let a = DMatrix::from_vec(wx.nrows(), wx.ncols(), a);
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

impl Unfolding for Layer {
    fn conv(&self) -> Option<&Conv2d> {
        self.conv.as_ref()
    }
}
