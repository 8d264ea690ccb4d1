//! Exact enumeration (docs/math.md §4): the expected loss and its gradient for tiny nets, the ground
//! truth every other estimator is tested against.
//!
//! For fixed weights, the distribution of the states is propagated layer by layer through the
//! transition matrices `T_k[s][t] = P(x^k = t | x^{k−1} = s)`; expected losses flow back the same
//! way, and the gradient is `Σ_s P(s) Σ_t T[s][t] E[ℓ | t] ∂log T[s][t]/∂θ` (exact: every state
//! is enumerated). Bernoulli weights are enumerated on top, with `∂/∂q` from the derivative of
//! each configuration's probability.

use nalgebra::{DMatrix, DVector};

use super::gradient::{Gradient, LayerGrad};
use super::{Estimate, Estimator, EstimatorKind};
use crate::error::{Result, SbnError};
use crate::model::noise::sigmoid;
use crate::model::softmax::{nll, softmax};
use crate::model::{Draws, Layer, Network, Unfolding, WeightSample};

/// Exact enumeration, refusing nets whose enumeration would exceed the limits.
#[derive(Clone, Copy, Debug)]
pub struct Exact {
    /// Largest number of enumerated Bernoulli weights.
    pub max_weights: usize,
    /// Largest `n_{k−1} + n_k` (a transition matrix has `2^{n_{k−1}+n_k}` entries).
    pub max_pair_bits: usize,
}

impl Default for Exact {
    fn default() -> Self {
        Exact { max_weights: 20, max_pair_bits: 22 }
    }
}

impl Estimator for Exact {
    fn kind(&self) -> EstimatorKind {
        EstimatorKind::Exact
    }

    fn is_unbiased(&self) -> bool {
        true
    }

    fn estimate(&self, net: &Network, x: &DMatrix<f64>, y: &[usize], _ws: &WeightSample, _draws: &mut dyn Draws) -> Result<Estimate> {
        self.compute(net, x, y)
    }
}

/// One enumerable Bernoulli weight: layer, row, column.
type WeightSlot = (usize, usize, usize);

impl Exact {
    /// The exact expected batch-mean loss and its gradient (`∂/∂q` for Bernoulli weights).
    pub fn compute(&self, net: &Network, x: &DMatrix<f64>, y: &[usize]) -> Result<Estimate> {
        let slots: Vec<WeightSlot> = net
            .layers()
            .iter()
            .enumerate()
            .filter(|(_, l)| l.scale().is_some())
            .flat_map(|(k, l)| (0..l.fan_in()).flat_map(move |i| (0..l.channels()).map(move |j| (k, j, i))))
            .collect();
        if slots.len() > self.max_weights {
            return Err(SbnError::Unsupported(format!("exact enumeration: {} Bernoulli weights exceed the limit of {}", slots.len(), self.max_weights)));
        }
        let dims = net.dims();
        let widths = &dims[1..dims.len() - 1];
        if widths.windows(2).any(|p| p[0] + p[1] > self.max_pair_bits) || widths.iter().any(|&n| n > self.max_pair_bits) {
            return Err(SbnError::Unsupported(format!("exact enumeration: hidden widths {widths:?} are too large")));
        }
        let q: Vec<Option<DMatrix<f64>>> = net.layers().iter().map(|l| l.q()).collect();
        let slot_q: Vec<f64> = slots.iter().map(|&(k, j, i)| q[k].as_ref().expect("Bernoulli")[(j, i)]).collect();

        let mut total = Gradient::zeros(net);
        let mut expected = 0.0;
        let mut weights: Vec<DMatrix<f64>> = net.layers().iter().map(|l| l.weight_param().clone()).collect();
        for config in 0u64..(1u64 << slots.len()) {
            // Configuration bit e set ⇔ weight e is +1.
            let factors: Vec<f64> = slot_q.iter().enumerate().map(|(e, &q)| if config >> e & 1 == 1 { q } else { 1.0 - q }).collect();
            for (e, &(k, j, i)) in slots.iter().enumerate() {
                weights[k][(j, i)] = if config >> e & 1 == 1 { 1.0 } else { -1.0 };
            }
            let (loss, grad) = given_weights(net, &weights, x, y);
            let prob: f64 = factors.iter().product();
            expected += prob * loss;
            total.add_scaled(prob, &grad);
            // ∂P/∂q_e = ± Π_{e' ≠ e} factor_e'; the Bernoulli entries of `grad` are zero.
            for (e, &(k, j, i)) in slots.iter().enumerate() {
                let others: f64 = factors.iter().enumerate().filter(|&(f, _)| f != e).map(|(_, v)| v).product();
                let sign = if config >> e & 1 == 1 { 1.0 } else { -1.0 };
                total.layers[k].w[(j, i)] += sign * others * loss;
            }
        }
        Ok(Estimate { loss: expected, grad: total })
    }
}

/// The states of `n` binary units indexed by a bit mask (bit j set ⇔ unit j is +1).
fn state_vector(mask: usize, n: usize) -> DVector<f64> {
    DVector::from_fn(n, |j, _| if mask >> j & 1 == 1 { 1.0 } else { -1.0 })
}

/// `P(x = t | a) = Π_j σ(t_j a_j)` for every state `t`, and the per-unit
/// `∂log P/∂a_j = t_j (1 − σ(t_j a_j))`.
fn transition_row(a: &DVector<f64>) -> Vec<f64> {
    let n = a.len();
    (0..1usize << n).map(|t| (0..n).map(|j| sigmoid(if t >> j & 1 == 1 { a[j] } else { -a[j] })).product()).collect()
}

/// Exact batch-mean loss and gradient of the real parameters (`W` of real layers, `γ`, `b`) for
/// fixed weights (`weights[k]` = the weights in use for layer `k`).
fn given_weights(net: &Network, weights: &[DMatrix<f64>], x: &DMatrix<f64>, y: &[usize]) -> (f64, Gradient) {
    let l = net.n_hidden();
    let batch = x.ncols();
    let mut grad = Gradient::zeros(net);
    let mut loss = 0.0;
    for n in 0..batch {
        // inputs[k]: the possible inputs of layer k with their probabilities.
        let mut inputs: Vec<Vec<DVector<f64>>> = vec![vec![x.column(n).into_owned()]];
        let mut probs: Vec<Vec<f64>> = vec![vec![1.0]];
        // Per layer and reachable state: (S, a) of the layer's units.
        type Preactivations = Vec<(Option<DVector<f64>>, DVector<f64>)>;
        let mut pre: Vec<Preactivations> = Vec::with_capacity(l);
        let mut trans: Vec<Vec<Vec<f64>>> = Vec::with_capacity(l);
        for k in 0..l {
            let layer = &net.layers()[k];
            let n_out = layer.n_out();
            let pa: Vec<_> = inputs[k].iter().map(|v| preactivation(layer, &weights[k], v)).collect();
            let t: Vec<Vec<f64>> = pa.iter().map(|(_, a)| transition_row(a)).collect();
            let mut next = vec![0.0; 1 << n_out];
            for (s, row) in t.iter().enumerate() {
                for (tt, p) in row.iter().enumerate() {
                    next[tt] += probs[k][s] * p;
                }
            }
            inputs.push((0..1usize << n_out).map(|m| state_vector(m, n_out)).collect());
            probs.push(next);
            pre.push(pa);
            trans.push(t);
        }
        // Output layer: value and gradient per last-layer state.
        let out = net.output();
        let mut value: Vec<f64> = Vec::with_capacity(inputs[l].len());
        for (s, xs) in inputs[l].iter().enumerate() {
            let (s_out, o) = preactivation(out, &weights[l], xs);
            let ell = nll(o.as_slice(), y[n]);
            value.push(ell);
            let ps = probs[l][s];
            loss += ps * ell;
            let mut d = DVector::from_vec(softmax(o.as_slice()));
            d[y[n]] -= 1.0;
            accumulate(out, &mut grad.layers[l], ps, &d, xs, s_out.as_ref());
        }
        // Hidden layers, top down: G[s]_j = Σ_t T[s][t] v(t) t_j (1 − σ(t_j a_j(s))).
        for k in (0..l).rev() {
            let n_out = net.layers()[k].n_out();
            let mut value_below = vec![0.0; inputs[k].len()];
            for (s, xs) in inputs[k].iter().enumerate() {
                let (s_lin, a) = &pre[k][s];
                let mut gsum = DVector::zeros(n_out);
                for (t, &pt) in trans[k][s].iter().enumerate() {
                    value_below[s] += pt * value[t];
                    for j in 0..n_out {
                        let tj = if t >> j & 1 == 1 { 1.0 } else { -1.0 };
                        gsum[j] += pt * value[t] * tj * (1.0 - sigmoid(tj * a[j]));
                    }
                }
                accumulate(&net.layers()[k], &mut grad.layers[k], probs[k][s], &gsum, xs, s_lin.as_ref());
            }
            value = value_below;
        }
    }
    grad.scale(1.0 / batch as f64);
    (loss / batch as f64, grad)
}

/// The pre-activation of one example: `(S, a)` as in [`crate::model::Layer::preactivation`].
fn preactivation(layer: &Layer, w: &DMatrix<f64>, x: &DVector<f64>) -> (Option<DVector<f64>>, DVector<f64>) {
    let (s, a) = layer.preactivation(w, &DMatrix::from_column_slice(x.len(), 1, x.as_slice()));
    (s.map(|s| DVector::from_column_slice(s.as_slice())), DVector::from_column_slice(a.as_slice()))
}

/// Adds `c · ∂/∂θ` of a layer whose pre-activation has sensitivity `d = ∂/∂a` (per unit) at input
/// `x`: real `W` gets `d xᵀ`, `γ` gets `d ⊙ S`, `b` gets `d`, each summed over the positions of a
/// convolution. Bernoulli weights are left to the caller.
fn accumulate(layer: &Layer, g: &mut LayerGrad, c: f64, d: &DVector<f64>, x: &DVector<f64>, s: Option<&DVector<f64>>) {
    let column = |v: &DVector<f64>| layer.to_channels(DMatrix::from_column_slice(v.len(), 1, v.as_slice()));
    let d = column(d);
    match (g.scale.as_mut(), s) {
        (Some(gs), Some(s)) => gs.axpy(c, &d.component_mul(&column(s)).column_sum(), 1.0),
        _ => {
            let x = DMatrix::from_column_slice(x.len(), 1, x.as_slice());
            g.w.gemm(c, &d, &layer.unfold(&x).transpose(), 1.0);
        }
    }
    g.bias.axpy(c, &d.column_sum(), 1.0);
}
