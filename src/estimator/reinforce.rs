//! REINFORCE, the score-function estimator (Williams, "Simple statistical gradient-following
//! algorithms for connectionist reinforcement learning", Machine Learning 1992; docs/math.md §4).
//!
//! `∇ E[ℓ] = E[(ℓ − c) ∇ log p(x, W)]` over every sampled binary variable: the hidden units
//! (`∂log p(x_j | a_j)/∂a_j = x_j σ(−x_j a_j)`, then the chain rule to `W`, `γ`, `b` of that layer
//! with the inputs held at the sample) and the Bernoulli weights (`∂log q(W_ji)/∂q_ji = 1/q` if
//! `W_ji = +1`, `−1/(1 − q)` otherwise, multiplied by the batch-mean `ℓ − c`, since the weights are
//! shared by the batch). The output layer's own parameters get their ordinary gradient at the
//! sample; Bernoulli output weights are score-function terms like the others.
//!
//! The baseline `c` does not depend on the current sample, so the estimator stays unbiased. With
//! [`Baseline::RunningMean`] it is the running mean of the batch-mean losses of earlier calls:
//! the estimator is **stateful** (a `Mutex` inside), its result depends on the calls before it,
//! and under parallel chunked training on the order in which chunks run.

use std::sync::Mutex;

use nalgebra::DMatrix;

use super::gradient::{Gradient, LayerGrad, column_mean, outer_mean, scale_grad};
use super::replay::{chain_rule, loss_grad, losses};
use super::{Estimate, Estimator, EstimatorKind};
use crate::error::Result;
use crate::model::noise::sigmoid;
use crate::model::{Draws, ForwardSample, Network, WeightSample};

/// The control variate subtracted from the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// `c = 0` (the reference implementation's form).
    None,
    /// `c` = running mean of earlier batch-mean losses: the plain mean over the first
    /// [`RUNNING_WINDOW`] calls, then an exponential average with rate `1/RUNNING_WINDOW`.
    RunningMean,
}

/// Window of the running-mean baseline.
pub const RUNNING_WINDOW: u64 = 100;

/// The REINFORCE estimator.
#[derive(Debug)]
pub struct Reinforce {
    baseline: Baseline,
    /// `(c, calls so far)`.
    state: Mutex<(f64, u64)>,
}

impl Reinforce {
    /// The estimator with the given baseline; a running mean starts at `c = 0` with no calls seen.
    pub fn new(baseline: Baseline) -> Self {
        Reinforce { baseline, state: Mutex::new((0.0, 0)) }
    }

    /// The current baseline `c`.
    pub fn baseline_value(&self) -> f64 {
        self.state.lock().expect("baseline lock").0
    }

    /// The estimate at the forward sample `fwd` with baseline `c`.
    pub fn backward(net: &Network, fwd: &ForwardSample, y: &[usize], c: f64) -> Estimate {
        let l = net.n_hidden();
        let ell = losses(&fwd.logits, y);
        let batch = ell.len() as f64;
        let mean_loss = ell.iter().sum::<f64>() / batch;
        let mut layers = Vec::with_capacity(l + 1);
        for k in 0..l {
            let h = &fwd.hidden[k];
            // g_jn = (ℓ_n − c) x_jn σ(−x_jn a_jn).
            let mut g = h.x.zip_map(&h.a, |x, a| x * sigmoid(-x * a));
            for (mut col, &e) in g.column_iter_mut().zip(&ell) {
                col *= e - c;
            }
            let mut grad = chain_rule(net, k, &g, fwd.input_of(k), h.s.as_ref());
            score_weights(net, fwd.weights, k, mean_loss - c, &mut grad);
            layers.push(grad);
        }
        // Output layer: the ordinary gradient at the sample.
        let g = loss_grad(&fwd.logits, y);
        let x_l = &fwd.hidden[l - 1].x;
        let mut out = match net.output().scale() {
            None => LayerGrad { w: outer_mean(&g, x_l), scale: None, bias: column_mean(&g) },
            Some(_) => {
                let s = fwd.out_s.as_ref().expect("Bernoulli layers record S");
                LayerGrad { w: DMatrix::zeros(g.nrows(), x_l.nrows()), scale: Some(scale_grad(&g, s.as_slice())), bias: column_mean(&g) }
            }
        };
        score_weights(net, fwd.weights, l, mean_loss - c, &mut out);
        layers.push(out);
        Estimate { loss: mean_loss, grad: Gradient { layers } }
    }
}

/// `∂q_ji = (ℓ̄ − c) ∂log q(W_ji)/∂q_ji` for a Bernoulli layer `k` (no-op for real layers).
fn score_weights(net: &Network, ws: &WeightSample, k: usize, centred: f64, grad: &mut LayerGrad) {
    if let (Some(q), Some(w)) = (net.layers()[k].q(), ws.layers[k].as_ref()) {
        grad.w = q.zip_map(w, |q, w| centred * if w > 0.0 { 1.0 / q } else { -1.0 / (1.0 - q) });
    }
}

impl Estimator for Reinforce {
    fn kind(&self) -> EstimatorKind {
        match self.baseline {
            Baseline::None => EstimatorKind::ReinforceNb,
            Baseline::RunningMean => EstimatorKind::Reinforce,
        }
    }

    fn is_unbiased(&self) -> bool {
        true
    }

    fn estimate(&self, net: &Network, x: &DMatrix<f64>, y: &[usize], ws: &WeightSample, draws: &mut dyn Draws) -> Result<Estimate> {
        super::dense_only(net, self.kind())?;
        let fwd = net.forward(x, ws, draws);
        if self.baseline == Baseline::None {
            return Ok(Self::backward(net, &fwd, y, 0.0));
        }
        let c = self.baseline_value();
        let est = Self::backward(net, &fwd, y, c);
        let mut state = self.state.lock().expect("baseline lock");
        state.1 += 1;
        let rate = 1.0 / state.1.min(RUNNING_WINDOW) as f64;
        state.0 += rate * (est.loss - state.0);
        Ok(est)
    }
}
