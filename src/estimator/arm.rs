//! ARM and DisARM: antithetic, unbiased estimators for the logits of binary variables (Yin & Zhou,
//! "ARM: Augment-REINFORCE-merge gradient for stochastic binary networks", ICLR 2019; Dong, Mnih &
//! Tucker, "DisARM: An antithetic gradient estimator for binary latent variables", NeurIPS 2020).
//!
//! What is implemented, layer by layer (the multi-layer form of both papers), for the forward
//! sample with unit uniforms `u^k` (`x = +1 ⇔ u < σ(a)`):
//! * **Units of hidden layer k.** The antithetic state `x̃^k_j = +1 ⇔ 1 − u^k_j < σ(a^k_j)` (same
//!   `a^k`, so the layers below are shared). The layers above are evaluated for both branches with
//!   the forward pass's uniforms (common random numbers; the upper noise is independent of `u^k`,
//!   so each branch's loss is an unbiased one-sample estimate of `E[ℓ | x^k]`). Per example `n`,
//!   with `f = ℓ_n(x)`, `f̃ = ℓ_n(x̃)`:
//!   ARM `∂a_j = (f̃ − f)(u_j − ½)`; DisARM `∂a_j = ½ (f − f̃) x_j σ(|a_j|) 1[x_j ≠ x̃_j]`.
//!   Real weights, `γ` and `b` of the layer follow by the chain rule through `a^k`.
//! * **Bernoulli weights of layer k** (output layer included) are further binary variables with
//!   logits θ: all weights of the layer get one antithetic partner `W̃ = +1 ⇔ 1 − u < q` (`u`
//!   drawn consistently with the given sample), layers `k..` are re-evaluated on the whole batch
//!   with the same unit uniforms, and `f` is the batch-mean loss; the θ-gradient has the forms
//!   above (`σ(|θ|)`, `W` in place of `σ(|a|)`, `x`), returned as `∂/∂q = ∂/∂θ / (q(1 − q))`.
//! * The output layer's real parameters get their ordinary gradient at the sample.
//!
//! Cost: one extra partial forward pass per layer.

use nalgebra::DMatrix;

use super::gradient::{Gradient, LayerGrad, column_mean, outer_mean, scale_grad};
use super::replay::{Recording, chain_rule, loss_grad, losses, run_from, weight_uniforms, weights_in_use};
use super::{Estimate, Estimator, EstimatorKind};
use crate::error::Result;
use crate::model::noise::{sample_state, sigmoid};
use crate::model::{Draws, Network, WeightSample};

/// Which antithetic combination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Antithetic {
    /// ARM, `(f̃ − f)(u − ½)`.
    Arm,
    /// DisARM, `½ (f − f̃) x σ(|a|) 1[x ≠ x̃]`: ARM Rao-Blackwellized over the uniform given the pair.
    DisArm,
}

impl Antithetic {
    /// The logit gradient of one binary variable: logit `a`, forward uniform `u`, states `x`, `x̃`,
    /// losses `f`, `f̃` of the two branches.
    #[inline]
    fn logit_grad(self, a: f64, u: f64, x: f64, x_anti: f64, f: f64, f_anti: f64) -> f64 {
        match self {
            Antithetic::Arm => (f_anti - f) * (u - 0.5),
            Antithetic::DisArm => {
                if x == x_anti {
                    0.0
                } else {
                    0.5 * (f - f_anti) * x * sigmoid(a.abs())
                }
            }
        }
    }
}

/// The ARM / DisARM estimator.
#[derive(Clone, Copy, Debug)]
pub struct Arm {
    /// ARM or DisARM.
    pub form: Antithetic,
}

impl Arm {
    /// The estimator with the given antithetic combination.
    pub fn new(form: Antithetic) -> Self {
        Arm { form }
    }
}

impl Estimator for Arm {
    fn kind(&self) -> EstimatorKind {
        match self.form {
            Antithetic::Arm => EstimatorKind::Arm,
            Antithetic::DisArm => EstimatorKind::DisArm,
        }
    }

    fn is_unbiased(&self) -> bool {
        true
    }

    fn estimate(&self, net: &Network, x: &DMatrix<f64>, y: &[usize], ws: &WeightSample, draws: &mut dyn Draws) -> Result<Estimate> {
        super::dense_only(net, self.kind())?;
        let l = net.n_hidden();
        let mut rec = Recording::new(draws, x.ncols());
        let fwd = net.forward(x, ws, &mut rec);
        let (draws, uniforms) = rec.finish();
        let wu = weight_uniforms(net, ws, draws);
        let weights = weights_in_use(net, ws);
        let ell = losses(&fwd.logits, y);
        let mean_loss = ell.iter().sum::<f64>() / ell.len() as f64;

        let mut layers = Vec::with_capacity(l + 1);
        for k in 0..l {
            let h = &fwd.hidden[k];
            let u = &uniforms[k];
            let x_anti = h.a.zip_map(u, |a, u| sample_state(a, 1.0 - u));
            let ell_anti = losses(&run_from(net, &weights, k + 1, &x_anti, &uniforms), y);
            let mut g = DMatrix::zeros(h.a.nrows(), h.a.ncols());
            for n in 0..g.ncols() {
                for j in 0..g.nrows() {
                    g[(j, n)] = self.form.logit_grad(h.a[(j, n)], u[(j, n)], h.x[(j, n)], x_anti[(j, n)], ell[n], ell_anti[n]);
                }
            }
            let mut grad = chain_rule(net, k, &g, fwd.input_of(k), h.s.as_ref());
            if let Some(uw) = &wu[k] {
                grad.w = self.weight_grad(net, &weights, k, uw, fwd.input_of(k), &uniforms, y, mean_loss);
            }
            layers.push(grad);
        }
        let g = loss_grad(&fwd.logits, y);
        let x_l = &fwd.hidden[l - 1].x;
        let out = match (&wu[l], net.output().scale()) {
            (Some(uw), Some(_)) => LayerGrad {
                w: self.weight_grad(net, &weights, l, uw, x_l, &uniforms, y, mean_loss),
                scale: Some(scale_grad(&g, fwd.out_s.as_ref().expect("Bernoulli layers record S").as_slice())),
                bias: column_mean(&g),
            },
            _ => LayerGrad { w: outer_mean(&g, x_l), scale: None, bias: column_mean(&g) },
        };
        layers.push(out);
        Ok(Estimate { loss: mean_loss, grad: Gradient { layers } })
    }
}

impl Arm {
    /// `∂/∂q` of the Bernoulli weights of layer `k`: one antithetic weight sample for the layer,
    /// layers `k..` re-evaluated on `input` (the input of layer `k`), batch-mean losses.
    #[allow(clippy::too_many_arguments)]
    fn weight_grad(
        &self,
        net: &Network,
        weights: &[&DMatrix<f64>],
        k: usize,
        uw: &DMatrix<f64>,
        input: &DMatrix<f64>,
        uniforms: &[DMatrix<f64>],
        y: &[usize],
        mean_loss: f64,
    ) -> DMatrix<f64> {
        let theta = net.layers()[k].weight_param();
        let q = net.layers()[k].q().expect("Bernoulli layer");
        let w_anti = theta.zip_map(uw, |t, u| sample_state(t, 1.0 - u));
        let mut anti: Vec<&DMatrix<f64>> = weights.to_vec();
        anti[k] = &w_anti;
        let ell_anti = losses(&run_from(net, &anti, k, input, uniforms), y);
        let f_anti = ell_anti.iter().sum::<f64>() / ell_anti.len() as f64;
        DMatrix::from_fn(q.nrows(), q.ncols(), |j, i| {
            let d_theta = self.form.logit_grad(theta[(j, i)], uw[(j, i)], weights[k][(j, i)], w_anti[(j, i)], mean_loss, f_anti);
            let v = q[(j, i)] * (1.0 - q[(j, i)]);
            if v > 0.0 { d_theta / v } else { 0.0 }
        })
    }
}
