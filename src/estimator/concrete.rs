//! Relaxed estimators: Concrete / Gumbel-softmax (Maddison, Mnih & Teh, "The Concrete
//! distribution", ICLR 2017; Jang, Gu & Poole, "Categorical reparameterization with
//! Gumbel-softmax", ICLR 2017), ST-Gumbel (Jang et al., hard forward), and the deterministic
//! `tanh` network (a mean-field baseline).
//!
//! The form used here, binary Concrete on ±1 with temperature τ: a unit with pre-activation `a`
//! and logistic noise `z = logit(u)` (the same `u` as the sampling rule, so `sign(a − z)` is the
//! sampled state) is relaxed to
//!
//! `x̃ = tanh((a − z)/(2τ)) = 2σ((a − z)/τ) − 1`,   `∂x̃/∂a = 2σ'((a − z)/τ)/τ`,
//!
//! which tends to `sign(a − z)` as τ → 0. Bernoulli weights are relaxed the same way with the same
//! τ: `W̃_ji = tanh((θ_ji − z_ji)/(2τ))` with `z_ji = logit(u_ji)` and `u_ji` drawn consistently with
//! the given weight sample; their gradient is returned as `∂/∂q = ∂/∂θ / (q(1 − q))`.
//! * [`Relaxation::Concrete`]: the relaxed network forward (real-valued states and weights) and the
//!   exact gradient of that relaxed loss at the fixed noise (biased for the true objective).
//! * [`Relaxation::StGumbel`]: the hard sample forward (the shared [`Network::forward`]); backward
//!   as ST but with `∂x/∂a = 2σ'((a − z)/τ)/τ` and `∂W/∂θ = 2σ'((θ − z)/τ)/τ` at the same noise.
//! * [`DeterministicTanh`]: no noise, `x = tanh(a/2) = 2σ(a) − 1` and weights at their mean
//!   `2q − 1`: the relaxed network at `τ = 1`, `z = 0`, with its exact gradient.
//!
//! The value reported by Concrete and ST-Gumbel is the loss at the hard sample (an unbiased
//! estimate of `E[ℓ]`); [`relaxed_objective`] gives the relaxed loss.

use nalgebra::DMatrix;

use super::gradient::{Gradient, LayerGrad, column_mean, outer_mean, scale_grad};
use super::replay::{Recording, loss_grad, losses, weight_uniforms};
use super::{Estimate, Estimator, EstimatorKind};
use crate::error::{Result, SbnError};
use crate::model::noise::{logit, sigmoid, sigmoid_prime};
use crate::model::{Draws, Network, WeightSample};

/// Default temperature (Maddison et al. recommend λ = 2/3 for binary Concrete).
pub const DEFAULT_TAU: f64 = 2.0 / 3.0;

/// Relaxed forward or relaxed backward only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relaxation {
    /// Relaxed forward, exact gradient of the relaxed loss.
    Concrete,
    /// Hard forward, gradient through the relaxed sample.
    StGumbel,
}

/// Concrete or ST-Gumbel with temperature `tau`.
#[derive(Clone, Copy, Debug)]
pub struct Relaxed {
    /// Concrete (relaxed forward) or ST-Gumbel (hard forward, relaxed backward).
    pub mode: Relaxation,
    /// Temperature `τ > 0` of the relaxation.
    pub tau: f64,
}

impl Relaxed {
    /// Errors unless `tau` is positive and finite.
    pub fn new(mode: Relaxation, tau: f64) -> Result<Self> {
        if !(tau.is_finite() && tau > 0.0) {
            return Err(SbnError::invalid("temperature", format!("must be a positive number, got {tau}")));
        }
        Ok(Relaxed { mode, tau })
    }
}

/// The logistic noise of one relaxed pass: `units[k]` (`n_k × B`) and `weights[k]` (shape of `W^k`,
/// Bernoulli layers).
#[derive(Clone, Debug)]
pub struct RelaxNoise {
    /// Unit noise `z = logit(u)` of hidden layer `k`, `n_k × B`.
    pub units: Vec<DMatrix<f64>>,
    /// Weight noise `z_w` of layer `k` (output layer included), shape of `W^k`; `None` for real layers.
    pub weights: Vec<Option<DMatrix<f64>>>,
}

impl RelaxNoise {
    /// `z = logit(u)` for the given uniforms.
    pub fn from_uniforms(units: &[DMatrix<f64>], weights: &[Option<DMatrix<f64>>]) -> Self {
        RelaxNoise { units: units.iter().map(|u| u.map(logit)).collect(), weights: weights.iter().map(|w| w.as_ref().map(|u| u.map(logit))).collect() }
    }

    /// No noise at all (`z = 0`).
    pub fn zeros(net: &Network, batch: usize) -> Self {
        let units = net.layers()[..net.n_hidden()].iter().map(|l| DMatrix::zeros(l.n_out(), batch)).collect();
        let weights = net.layers().iter().map(|l| l.q().map(|q| DMatrix::zeros(q.nrows(), q.ncols()))).collect();
        RelaxNoise { units, weights }
    }
}

/// What a pass keeps for its backward: every layer's input, `S`, weights in use, and the
/// derivatives `∂x/∂a` (hidden layers) and `∂W/∂q` (Bernoulli layers).
struct Pass {
    inputs: Vec<DMatrix<f64>>,
    s: Vec<Option<DMatrix<f64>>>,
    w: Vec<DMatrix<f64>>,
    dx_da: Vec<DMatrix<f64>>,
    dw_dq: Vec<Option<DMatrix<f64>>>,
    logits: DMatrix<f64>,
}

/// `tanh((v − z)/(2τ))` and its derivative in `v`, `2σ'((v − z)/τ)/τ`.
#[inline]
fn relax(v: f64, z: f64, tau: f64) -> (f64, f64) {
    let t = (v - z) / tau;
    (2.0 * sigmoid(t) - 1.0, 2.0 * sigmoid_prime(t) / tau)
}

/// `∂W̃/∂q` of a relaxed Bernoulli layer: `∂W̃/∂θ / (q(1 − q))`.
fn weight_derivative(theta: &DMatrix<f64>, z: &DMatrix<f64>, tau: f64) -> DMatrix<f64> {
    theta.zip_map(z, |t, z| {
        let v = sigmoid_prime(t);
        if v > 0.0 { relax(t, z, tau).1 / v } else { 0.0 }
    })
}

/// The relaxed network at fixed noise `z`: states `x̃^k = tanh((a^k − z^k)/(2τ))`, Bernoulli weights
/// `W̃ = tanh((θ − z_w)/(2τ))`. Returns the relaxed batch-mean loss and its exact gradient
/// (`∂/∂q` for Bernoulli layers). A smooth function of the parameters for fixed `z`.
pub fn relaxed_objective(net: &Network, x: &DMatrix<f64>, y: &[usize], noise: &RelaxNoise, tau: f64) -> Estimate {
    let l = net.n_hidden();
    let mut pass = Pass { inputs: vec![x.clone()], s: Vec::new(), w: Vec::new(), dx_da: Vec::new(), dw_dq: Vec::new(), logits: DMatrix::zeros(0, 0) };
    for (k, layer) in net.layers().iter().enumerate() {
        let (w, dw) = match layer.scale() {
            Some(_) => {
                let z = noise.weights[k].as_ref().expect("noise for every Bernoulli layer");
                let theta = layer.weight_param();
                (theta.zip_map(z, |t, z| relax(t, z, tau).0), Some(weight_derivative(theta, z, tau)))
            }
            None => (layer.weight_param().clone(), None),
        };
        let (s, a) = layer.preactivation(&w, &pass.inputs[k]);
        pass.s.push(s);
        pass.w.push(w);
        pass.dw_dq.push(dw);
        if k < l {
            let z = &noise.units[k];
            pass.inputs.push(a.zip_map(z, |a, z| relax(a, z, tau).0));
            pass.dx_da.push(a.zip_map(z, |a, z| relax(a, z, tau).1));
        } else {
            pass.logits = a;
        }
    }
    let ell = losses(&pass.logits, y);
    Estimate { loss: ell.iter().sum::<f64>() / ell.len() as f64, grad: backprop(net, &pass, y) }
}

/// Backpropagation through a recorded pass: batch-mean gradient.
fn backprop(net: &Network, pass: &Pass, y: &[usize]) -> Gradient {
    let l = net.n_hidden();
    let mut g = loss_grad(&pass.logits, y);
    let mut layers = Vec::with_capacity(l + 1);
    for k in (0..=l).rev() {
        if k < l {
            g.component_mul_assign(&pass.dx_da[k]);
        }
        let layer = &net.layers()[k];
        let x_in = &pass.inputs[k];
        let bias = column_mean(&g);
        // gg = ∂ℓ/∂(W x): g itself (real) or γ ⊙ g (Bernoulli).
        let (grad, gg) = match layer.scale() {
            None => (LayerGrad { w: outer_mean(&g, x_in), scale: None, bias }, g),
            Some(gamma) => {
                let dgamma = scale_grad(&g, pass.s[k].as_ref().expect("Bernoulli layers record S").as_slice());
                let mut gg = g;
                for mut col in gg.column_iter_mut() {
                    col.component_mul_assign(gamma);
                }
                let mut dq = outer_mean(&gg, x_in);
                if let Some(d) = &pass.dw_dq[k] {
                    dq.component_mul_assign(d);
                }
                (LayerGrad { w: dq, scale: Some(dgamma), bias }, gg)
            }
        };
        layers.push(grad);
        g = if k > 0 { crate::linalg::tr_mul(&pass.w[k], &gg) } else { gg };
    }
    layers.reverse();
    Gradient { layers }
}

impl Estimator for Relaxed {
    fn kind(&self) -> EstimatorKind {
        match self.mode {
            Relaxation::Concrete => EstimatorKind::Concrete,
            Relaxation::StGumbel => EstimatorKind::StGumbel,
        }
    }

    fn is_unbiased(&self) -> bool {
        false
    }

    fn estimate(&self, net: &Network, x: &DMatrix<f64>, y: &[usize], ws: &WeightSample, draws: &mut dyn Draws) -> Result<Estimate> {
        super::dense_only(net, self.kind())?;
        let mut rec = Recording::new(draws, x.ncols());
        let fwd = net.forward(x, ws, &mut rec);
        let (draws, uniforms) = rec.finish();
        let wu = weight_uniforms(net, ws, draws);
        let noise = RelaxNoise::from_uniforms(&uniforms, &wu);
        let ell = losses(&fwd.logits, y);
        let hard_loss = ell.iter().sum::<f64>() / ell.len() as f64;
        let grad = match self.mode {
            Relaxation::Concrete => relaxed_objective(net, x, y, &noise, self.tau).grad,
            Relaxation::StGumbel => {
                let l = net.n_hidden();
                let mut inputs = vec![x.clone()];
                inputs.extend(fwd.hidden.iter().map(|h| h.x.clone()));
                let mut s: Vec<Option<DMatrix<f64>>> = fwd.hidden.iter().map(|h| h.s.clone()).collect();
                s.push(fwd.out_s.clone());
                let pass = Pass {
                    inputs,
                    s,
                    w: (0..=l).map(|k| net.weights_in_use(ws, k).clone()).collect(),
                    dx_da: fwd.hidden.iter().zip(&noise.units).map(|(h, z)| h.a.zip_map(z, |a, z| relax(a, z, self.tau).1)).collect(),
                    dw_dq: net
                        .layers()
                        .iter()
                        .zip(&noise.weights)
                        .map(|(layer, z)| z.as_ref().map(|z| weight_derivative(layer.weight_param(), z, self.tau)))
                        .collect(),
                    logits: fwd.logits.clone(),
                };
                backprop(net, &pass, y)
            }
        };
        Ok(Estimate { loss: hard_loss, grad })
    }
}

/// The deterministic network `x = tanh(a/2) = 2σ(a) − 1` with mean weights `2q − 1`, and its exact
/// gradient: a mean-field baseline that ignores the noise.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeterministicTanh;

impl Estimator for DeterministicTanh {
    fn kind(&self) -> EstimatorKind {
        EstimatorKind::Tanh
    }

    fn is_unbiased(&self) -> bool {
        false
    }

    fn estimate(&self, net: &Network, x: &DMatrix<f64>, y: &[usize], _ws: &WeightSample, _draws: &mut dyn Draws) -> Result<Estimate> {
        super::dense_only(net, self.kind())?;
        Ok(relaxed_objective(net, x, y, &RelaxNoise::zeros(net, x.ncols()), 1.0))
    }
}
