//! Straight-through estimators (docs/math.md §4): the sample forward, and a backward pass that treats
//! each binary unit as differentiable.
//!
//! * ST, the SBN-correct form: `x ≈ E[x | a] = 2σ(a) − 1`, so `∂x/∂a = 2σ'(a)`.
//! * Hard ST: `∂x/∂a = 1[|a| ≤ 1]` (Hubara et al., "Binarized Neural Networks", 2016).
//!
//! Bernoulli weights: `∂/∂q_ji ≈ 2 ∂ℓ/∂W_ji` at the sampled weights (`E[W] = 2q − 1`).

use nalgebra::DMatrix;

use super::gradient::{DeferredProduct, Gradient, LayerGrad, column_mean, scale_grad};
use super::{Estimate, Estimator, EstimatorKind};
use crate::engine::{Columns, Engine};
use crate::error::Result;
use crate::model::noise::sigmoid_prime;
use crate::model::softmax::{nll, softmax_into};
use crate::model::{Draws, ForwardSample, Network, Unfolding, WeightSample};

/// The surrogate derivative `∂x/∂a` of a binary unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surrogate {
    /// `2σ'(a)`.
    Sigmoid,
    /// `1[|a| ≤ 1]`.
    Hard,
}

impl Surrogate {
    #[inline]
    fn derivative(self, a: f64) -> f64 {
        match self {
            Surrogate::Sigmoid => 2.0 * sigmoid_prime(a),
            Surrogate::Hard => {
                if a.abs() <= 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// A straight-through estimator with the given surrogate.
#[derive(Clone, Copy, Debug)]
pub struct StraightThrough {
    surrogate: Surrogate,
}

impl StraightThrough {
    /// The estimator with the given surrogate `∂x/∂a`.
    pub fn new(surrogate: Surrogate) -> Self {
        StraightThrough { surrogate }
    }

    /// The loss at the sample and the straight-through gradient.
    pub fn backward(&self, net: &Network, fwd: &ForwardSample, y: &[usize]) -> Estimate {
        self.backward_deferring(net, fwd, y, false).0
    }

    /// [`backward`](Self::backward); with `defer`, the fast engine leaves the weight-gradient
    /// products of dense layers as their factors ([`DeferredProduct`]).
    fn backward_deferring(&self, net: &Network, fwd: &ForwardSample, y: &[usize], defer: bool) -> (Estimate, Vec<DeferredProduct>) {
        let l = net.n_hidden();
        let mut deferred = Vec::new();
        let (n_classes, batch) = fwd.logits.shape();
        // ∂ℓ/∂o = softmax(o) − e_y per example.
        let mut g = DMatrix::zeros(n_classes, batch);
        let mut loss = 0.0;
        for n in 0..batch {
            let o = fwd.logits.column(n);
            softmax_into(o.as_slice(), g.column_mut(n).as_mut_slice());
            g[(y[n], n)] -= 1.0;
            loss += nll(o.as_slice(), y[n]);
        }
        let mut layers = Vec::with_capacity(l + 1);
        for k in (0..=l).rev() {
            if k < l {
                // ∂ℓ/∂a = ∂ℓ/∂x ⊙ surrogate(a).
                g.zip_apply(&fwd.hidden[k].a, |d, a| *d *= self.surrogate.derivative(a));
            }
            let (grad, dx) = linear_backward(net, fwd, k, &g, defer.then_some(&mut deferred));
            layers.push(grad);
            if let Some(dx) = dx {
                g = dx;
            }
        }
        layers.reverse();
        (Estimate { loss: loss / batch as f64, grad: Gradient { layers } }, deferred)
    }
}

/// Backward through layer `k`'s linear map given `g = ∂ℓ/∂a` (`n_out × B`): the layer's gradient
/// (Bernoulli weights by the straight-through rule `∂q = 2 ∂ℓ/∂W`) and, above the first layer,
/// `∂ℓ/∂x^{k−1}`.
/// A convolution works on its patches (see [`Unfolding`]), like PSA's backward pass. With
/// `deferred`, a dense layer's weight-gradient product on the fast engine goes there (and its `w`
/// is left empty).
fn linear_backward(
    net: &Network,
    fwd: &ForwardSample,
    k: usize,
    g: &DMatrix<f64>,
    deferred: Option<&mut Vec<DeferredProduct>>,
) -> (LayerGrad, Option<DMatrix<f64>>) {
    let layer = &net.layers()[k];
    let (ws, engine) = (fwd.weights, fwd.weights.engine());
    let x_in = fwd.patches_of(k);
    let g = layer.channels_of(g);
    let bias = column_mean(&g);
    // `α h xᵀ`, or its factors when deferring.
    let deferred = deferred.filter(|_| engine == Engine::Fast && layer.conv.is_none());
    let product = |alpha: f64, h: &DMatrix<f64>| match deferred {
        Some(deferred) => {
            let mut h32 = Vec::new();
            Columns::Values(h).to_f32_into(&mut h32);
            deferred.push(DeferredProduct::new(k, h32, x_in, alpha, vec![0.0; h.nrows()]));
            DMatrix::zeros(0, 0)
        }
        None => crate::engine::mul_tr_scaled(engine, alpha, h, x_in),
    };
    let (grad, dx) = match layer.scale() {
        None => (LayerGrad { w: product(1.0 / g.ncols() as f64, &g), scale: None, bias }, (k > 0).then(|| ws.tr_mul(net, k, &g))),
        Some(gamma) => {
            let s = if k == net.n_hidden() { fwd.out_s.as_ref() } else { fwd.hidden[k].s.as_ref() };
            let dgamma = scale_grad(&g, s.expect("Bernoulli layers record S").as_slice());
            // ∂ℓ/∂(W x) = γ ⊙ g.
            let mut gg = g.into_owned();
            for mut col in gg.column_iter_mut() {
                col.component_mul_assign(gamma);
            }
            let dq = product(2.0 / gg.ncols() as f64, &gg);
            (LayerGrad { w: dq, scale: Some(dgamma), bias }, (k > 0).then(|| ws.tr_mul(net, k, &gg)))
        }
    };
    (grad.scaled(layer.positions() as f64), dx.map(|d| layer.fold(d)))
}

impl Estimator for StraightThrough {
    fn kind(&self) -> EstimatorKind {
        match self.surrogate {
            Surrogate::Sigmoid => EstimatorKind::St,
            Surrogate::Hard => EstimatorKind::HardSt,
        }
    }

    fn is_unbiased(&self) -> bool {
        false
    }

    fn estimate(&self, net: &Network, x: &DMatrix<f64>, y: &[usize], ws: &WeightSample, draws: &mut dyn Draws) -> Result<Estimate> {
        Ok(self.backward(net, &net.forward(x, ws, draws), y))
    }

    fn estimate_chunk(
        &self,
        net: &Network,
        x: &DMatrix<f64>,
        y: &[usize],
        ws: &WeightSample,
        draws: &mut dyn Draws,
    ) -> Result<(Estimate, Vec<DeferredProduct>)> {
        Ok(self.backward_deferring(net, &net.forward(x, ws, draws), y, true))
    }
}
