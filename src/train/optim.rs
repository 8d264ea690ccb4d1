//! Optimizers: Adam on all parameters, or mirror descent on the logits of Bernoulli weights
//! (with Adam on the rest).
//!
//! Mirror descent is the Bayesian variant of the update in Meng, Bachmann & Khan, "Training
//! binary neural networks using the Bayesian learning rule" (ICML 2020) and Ajanthan et al.,
//! "Mirror descent view for neural network quantization" (AISTATS 2021): the natural parameter θ
//! moves along the gradient with respect to the mean parameter q,
//! `θ ← θ − ε (N·ĝ_q + β(θ − θ_prior))`; with the step written per example, `ε·N = logit_lr`,
//! the update is `θ ← θ − logit_lr · (ĝ_q + (β/N)(θ − θ_prior))`, the q-space gradient of `F`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SbnError};
use crate::estimator::Gradient;
use crate::estimator::gradient::PARAMETER_BLOCK;
use crate::model::Network;

/// Which optimizer a run uses (the `optimizer` of a spec's `[training]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam on every parameter (θ included).
    Adam,
    /// Mirror descent on the logits (`θ ← θ − ε(N·ĝ_q + β(θ − θ_prior))`), Adam on the rest.
    Mirror,
}

impl OptimizerKind {
    /// A fresh optimizer of this kind for `net`.
    pub fn build(self, net: &Network) -> Box<dyn Optimizer> {
        self.restore(OptimizerState::fresh(net)).expect("a fresh state fits its network")
    }

    /// An optimizer of this kind continuing from `state` (a checkpoint's).
    pub fn restore(self, state: OptimizerState) -> Result<Box<dyn Optimizer>> {
        Ok(match self {
            OptimizerKind::Adam => Box::new(Adam { state }),
            OptimizerKind::Mirror => Box::new(MirrorDescent { state }),
        })
    }
}

/// Updates a network's parameters from the gradient of `F`, one step at a time.
pub trait Optimizer: Send {
    /// Which optimizer this is.
    fn kind(&self) -> OptimizerKind;

    /// One update. `grad_q` is the gradient of `F` with Bernoulli entries in q space (the data
    /// term plus `(β/N)(θ − θ_prior)`); where an optimizer steps θ along the θ-space gradient it
    /// applies `∂/∂θ = q(1 − q) ∂/∂q` itself. `lr` is the step size of real weights, scales and
    /// biases, `logit_lr` that of the logits.
    fn update(&mut self, net: &mut Network, grad_q: &Gradient, lr: f64, logit_lr: f64);

    /// The state a checkpoint keeps.
    fn state(&self) -> &OptimizerState;
}

/// Adam moments for one parameter block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// First moment.
    pub m: Vec<f64>,
    /// Second moment.
    pub v: Vec<f64>,
}

/// What an optimizer carries from step to step: Adam moments per parameter block (weights,
/// scale, bias of every layer, in order) and the step count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// Steps taken.
    pub step: u64,
    /// Moments per parameter block.
    pub moments: Vec<Moments>,
}

impl OptimizerState {
    /// Zero moments for every parameter block of `net`.
    pub fn fresh(net: &Network) -> Self {
        let moments = block_sizes(net).into_iter().map(|n| Moments { m: vec![0.0; n], v: vec![0.0; n] }).collect();
        OptimizerState { step: 0, moments }
    }

    /// Checks that the moments have the shapes of `net`'s parameter blocks.
    pub fn check(&self, net: &Network) -> Result<()> {
        let sizes = block_sizes(net);
        if sizes.len() != self.moments.len() || sizes.iter().zip(&self.moments).any(|(&n, m)| m.m.len() != n || m.v.len() != n) {
            return Err(SbnError::invalid("optimizer state", "does not match the network's parameters"));
        }
        Ok(())
    }
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// Adam (Kingma & Ba 2015) on every parameter, the logits with their own step size.
pub struct Adam {
    state: OptimizerState,
}

/// Mirror descent on the logits of Bernoulli weights, Adam on the other parameters.
pub struct MirrorDescent {
    state: OptimizerState,
}

impl Optimizer for Adam {
    fn kind(&self) -> OptimizerKind {
        OptimizerKind::Adam
    }

    fn update(&mut self, net: &mut Network, grad_q: &Gradient, lr: f64, logit_lr: f64) {
        update(&mut self.state, net, grad_q, lr, logit_lr, false);
    }

    fn state(&self) -> &OptimizerState {
        &self.state
    }
}

impl Optimizer for MirrorDescent {
    fn kind(&self) -> OptimizerKind {
        OptimizerKind::Mirror
    }

    fn update(&mut self, net: &mut Network, grad_q: &Gradient, lr: f64, logit_lr: f64) {
        update(&mut self.state, net, grad_q, lr, logit_lr, true);
    }

    fn state(&self) -> &OptimizerState {
        &self.state
    }
}

/// Sizes of the parameter blocks of a network, in the order of [`blocks_mut`].
fn block_sizes(net: &Network) -> Vec<usize> {
    let mut out = Vec::new();
    for layer in net.layers() {
        out.push(layer.n_weights());
        if let Some(g) = layer.scale() {
            out.push(g.len());
        }
        out.push(layer.bias.len());
    }
    out
}

/// The parameter blocks of a network, in the fixed order (per layer: weights, scale, bias).
fn blocks_mut(net: &mut Network) -> Vec<(&mut [f64], bool)> {
    let mut out = Vec::new();
    for layer in net.layers_mut() {
        let bernoulli = layer.scale().is_some();
        match &mut layer.weights {
            crate::model::Weights::Real { w } => out.push((w.as_mut_slice(), false)),
            crate::model::Weights::Bernoulli { logits, scale } => {
                out.push((logits.as_mut_slice(), bernoulli));
                out.push((scale.as_mut_slice(), false));
            }
        }
        out.push((layer.bias.as_mut_slice(), false));
    }
    out
}

/// The gradient blocks in the same order as [`blocks_mut`].
fn grad_blocks(g: &Gradient) -> Vec<&[f64]> {
    let mut out = Vec::new();
    for l in &g.layers {
        out.push(l.w.as_slice());
        if let Some(s) = &l.scale {
            out.push(s.as_slice());
        }
        out.push(l.bias.as_slice());
    }
    out
}

/// One step of Adam on every block, except the logits under mirror descent, which step with
/// `logit_lr` along the q-space gradient. Adam on a logit block reads its θ-space gradient
/// `q(1 − q) ∂/∂q` from the logit before the step (no θ-space copy of the gradient).
fn update(state: &mut OptimizerState, net: &mut Network, grad_q: &Gradient, lr: f64, logit_lr: f64, mirror: bool) {
    state.step += 1;
    let t = state.step as i32;
    let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
    for (((param, is_logit), mom), gq) in blocks_mut(net).into_iter().zip(&mut state.moments).zip(grad_blocks(grad_q)) {
        if mirror && is_logit {
            for (p, g) in param.iter_mut().zip(gq) {
                *p -= logit_lr * g;
            }
            continue;
        }
        let step = if is_logit { logit_lr } else { lr };
        let moments = mom.m.par_chunks_mut(PARAMETER_BLOCK).zip(mom.v.par_chunks_mut(PARAMETER_BLOCK));
        param.par_chunks_mut(PARAMETER_BLOCK).zip(gq.par_chunks(PARAMETER_BLOCK)).zip(moments).for_each(|((param, gq), (m, v))| {
            let lanes = param.iter_mut().zip(gq).zip(m.iter_mut()).zip(v.iter_mut());
            if is_logit {
                crate::simd::dispatch!(for (((p, &g), m), v) in lanes {
                    let q = crate::simd::sigmoid(*p);
                    (*p, *m, *v) = adam_step(*p, g * (q * (1.0 - q)), *m, *v, step, c1, c2);
                });
            } else {
                crate::simd::dispatch!(for (((p, &g), m), v) in lanes {
                    (*p, *m, *v) = adam_step(*p, g, *m, *v, step, c1, c2);
                });
            }
        });
    }
}

/// One Adam step of a parameter `p` with gradient `g` and moments `m`, `v` (bias corrections
/// `c1`, `c2`): the new `(p, m, v)`. Values in, values out, so the loops over it vectorize.
#[inline(always)]
fn adam_step(p: f64, g: f64, m: f64, v: f64, step: f64, c1: f64, c2: f64) -> (f64, f64, f64) {
    let m = BETA1 * m + (1.0 - BETA1) * g;
    let v = BETA2 * v + (1.0 - BETA2) * g * g;
    (p - step * (m / c1) / ((v / c2).sqrt() + EPS), m, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WeightKind;
    use crate::model::init::{InitConfig, random_network};
    use rand::SeedableRng;

    #[test]
    fn adam_first_step_moves_each_parameter_by_lr_against_the_gradient_sign() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
        let mut net = random_network(&[3, 2, 2], &[WeightKind::Bernoulli, WeightKind::Real], InitConfig::default(), &mut rng).unwrap();
        let before = net.clone();
        let mut g = Gradient::zeros(&net);
        g.layers[1].w[(0, 1)] = 0.3;
        g.layers[0].w[(1, 2)] = -2.0;
        let mut opt = OptimizerKind::Adam.build(&net);
        opt.update(&mut net, &g, 0.01, 0.01);
        let d1 = net.layers()[1].weight_param()[(0, 1)] - before.layers()[1].weight_param()[(0, 1)];
        let d0 = net.layers()[0].weight_param()[(1, 2)] - before.layers()[0].weight_param()[(1, 2)];
        assert!((d1 + 0.01).abs() < 1e-6 && (d0 - 0.01).abs() < 1e-6, "{d1} {d0}");
        assert_eq!(net.layers()[0].bias, before.layers()[0].bias);
    }

    /// Adam fed the q-space gradient steps the logits as Adam on `q(1 − q) ∂/∂q` would, written
    /// out here step by step from [`Gradient::logit_space`].
    #[test]
    fn adam_steps_the_logits_along_the_theta_gradient() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut net =
            random_network(&[4, 3, 2], &[WeightKind::Bernoulli, WeightKind::Real], InitConfig { logit_scale: 2.0, weight_std: 1.0 }, &mut rng).unwrap();
        let mut opt = OptimizerKind::Adam.build(&net);
        let (mut theta, n) = (net.layers()[0].weight_param().clone(), net.layers()[0].n_weights());
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        for (t, factor) in [(1, 1.0), (2, -0.3), (3, 2.5)] {
            let mut g = Gradient::zeros(&net);
            g.layers[0].w.iter_mut().enumerate().for_each(|(i, d)| *d = factor * (i as f64 - 5.0));
            let g_theta = g.logit_space(&net);
            opt.update(&mut net, &g, 0.01, 0.05);
            for (i, th) in theta.iter_mut().enumerate() {
                let gt = g_theta.layers[0].w.as_slice()[i];
                m[i] = BETA1 * m[i] + (1.0 - BETA1) * gt;
                v[i] = BETA2 * v[i] + (1.0 - BETA2) * gt * gt;
                *th -= 0.05 * (m[i] / (1.0 - BETA1.powi(t))) / ((v[i] / (1.0 - BETA2.powi(t))).sqrt() + EPS);
            }
            let got = net.layers()[0].weight_param();
            assert!((got - &theta).abs().max() < 1e-12, "step {t}: {got} vs {theta}");
        }
    }

    #[test]
    fn mirror_descent_steps_the_logits_along_the_q_gradient() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(2);
        let mut net = random_network(&[3, 2, 2], &[WeightKind::Bernoulli, WeightKind::Real], InitConfig::default(), &mut rng).unwrap();
        let before = net.clone();
        let mut gq = Gradient::zeros(&net);
        gq.layers[0].w[(0, 0)] = 0.5;
        let mut opt = OptimizerKind::Mirror.build(&net);
        opt.update(&mut net, &gq, 0.01, 0.1);
        let d = net.layers()[0].weight_param()[(0, 0)] - before.layers()[0].weight_param()[(0, 0)];
        assert!((d + 0.05).abs() < 1e-15);
    }
}
