//! Pieces the sampling estimators (REINFORCE, ARM / DisARM, Concrete, ST-Gumbel) share: the
//! uniforms behind a forward sample, uniforms for a given weight sample, re-evaluation of the
//! layers above a changed layer, per-example losses, and the chain rule from pre-activation
//! sensitivities to a layer's real parameters.

use nalgebra::DMatrix;

use super::gradient::{LayerGrad, column_mean, outer_mean, scale_grad};
use crate::model::noise::sample_state;
use crate::model::softmax::{nll, softmax_into};
use crate::model::{Draws, Network, WeightSample};

/// Passes draws through and keeps a copy of every layer's unit uniforms (`n_k × B`), so an
/// estimator can re-use the noise of the shared forward pass ([`Network::forward`]).
pub(crate) struct Recording<'d> {
    inner: &'d mut dyn Draws,
    pub units: Vec<DMatrix<f64>>,
    batch: usize,
}

impl<'d> Recording<'d> {
    pub fn new(inner: &'d mut dyn Draws, batch: usize) -> Self {
        Recording { inner, units: Vec::new(), batch }
    }

    /// The draws passed in (for further draws) and the recorded uniforms.
    pub fn finish(self) -> (&'d mut dyn Draws, Vec<DMatrix<f64>>) {
        (self.inner, self.units)
    }
}

impl Draws for Recording<'_> {
    fn weights(&mut self, k: usize, out: &mut [f64]) {
        self.inner.weights(k, out);
    }
    fn units(&mut self, k: usize, out: &mut [f64]) {
        self.inner.units(k, out);
        if self.units.len() <= k {
            self.units.resize(k + 1, DMatrix::zeros(0, 0));
        }
        self.units[k] = DMatrix::from_column_slice(out.len() / self.batch, self.batch, out);
    }
}

/// Uniforms `u` for the Bernoulli weights that are consistent with the given sample
/// (`W = +1 ⇔ u < q`): drawn from `U[0, q)` where `W = +1` and from `U[q, 1)` where `W = −1`, so
/// `(u, W)` has the joint law of the sampling rule. Fresh uniforms come from `draws`.
pub(crate) fn weight_uniforms(net: &Network, ws: &WeightSample, draws: &mut dyn Draws) -> Vec<Option<DMatrix<f64>>> {
    net.layers()
        .iter()
        .enumerate()
        .map(|(k, layer)| {
            let q = layer.q()?;
            let w = ws.layers[k].as_ref().expect("Bernoulli layers are sampled");
            let mut v = DMatrix::zeros(q.nrows(), q.ncols());
            draws.weights(k, v.as_mut_slice());
            v.zip_zip_apply(&q, w, |v, q, w| *v = if w > 0.0 { *v * q } else { q + *v * (1.0 - q) });
            Some(v)
        })
        .collect()
}

/// Logits after running layers `start..=L` on `input` (the input of layer `start`), with
/// `weights[k]` in use for layer `k` and hidden layer `k` drawn from `uniforms[k]` by the sampling
/// rule.
pub(crate) fn run_from(net: &Network, weights: &[&DMatrix<f64>], start: usize, input: &DMatrix<f64>, uniforms: &[DMatrix<f64>]) -> DMatrix<f64> {
    let l = net.n_hidden();
    let mut x = input.clone();
    for k in start..l {
        let (_, a) = net.layers()[k].preactivation(weights[k], &x);
        x = a.zip_map(&uniforms[k], sample_state);
    }
    net.layers()[l].preactivation(weights[l], &x).1
}

/// The weights in use for every layer.
pub(crate) fn weights_in_use<'a>(net: &'a Network, ws: &'a WeightSample) -> Vec<&'a DMatrix<f64>> {
    (0..net.layers().len()).map(|k| net.weights_in_use(ws, k)).collect()
}

/// Per-example losses `ℓ_n` of logits `o` (`K × B`).
pub(crate) fn losses(logits: &DMatrix<f64>, y: &[usize]) -> Vec<f64> {
    logits.column_iter().zip(y).map(|(o, &yn)| nll(o.as_slice(), yn)).collect()
}

/// `∂ℓ_n/∂o = softmax(o) − e_y` per example (`K × B`).
pub(crate) fn loss_grad(logits: &DMatrix<f64>, y: &[usize]) -> DMatrix<f64> {
    let mut g = DMatrix::zeros(logits.nrows(), logits.ncols());
    for (n, &yn) in y.iter().enumerate() {
        softmax_into(logits.column(n).as_slice(), g.column_mut(n).as_mut_slice());
        g[(yn, n)] -= 1.0;
    }
    g
}

/// The real parameters of layer `k` from per-example sensitivities `g = ∂/∂a` (`n_out × B`), batch
/// mean: `∂W = g xᵀ` (real), `∂γ = g ⊙ S` (Bernoulli), `∂b = g`. The `w` entry of a Bernoulli
/// layer is left at zero for the caller.
pub(crate) fn chain_rule(net: &Network, k: usize, g: &DMatrix<f64>, x_in: &DMatrix<f64>, s: Option<&DMatrix<f64>>) -> LayerGrad {
    let layer = &net.layers()[k];
    let bias = column_mean(g);
    match layer.scale() {
        None => LayerGrad { w: outer_mean(g, x_in), scale: None, bias },
        Some(_) => LayerGrad {
            w: DMatrix::zeros(layer.channels(), layer.fan_in()),
            scale: Some(scale_grad(g, s.expect("Bernoulli layers record S").as_slice())),
            bias,
        },
    }
}
