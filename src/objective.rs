//! The objective (docs/math.md §2): the negative ELBO per example,
//! `F = (1/N) Σ_n E[ℓ_n] + (β/N) KL(q ‖ p)`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::estimator::Gradient;
use crate::estimator::gradient::PARAMETER_BLOCK;
use crate::model::{BernoulliPrior, Network};

/// The negative ELBO per training example with KL weight `β` over `N` training examples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// KL weight: 1 is the ELBO, 0 the plain expected loss (the PSA paper's objective).
    pub beta: f64,
    /// Number of training examples `N`.
    pub n_train: usize,
    /// The prior `p(W_ji = +1) = π` of the Bernoulli weights.
    pub prior: BernoulliPrior,
}

/// The two parts of `F` and their weighted sum.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveValue {
    /// Expected NLL per example (an estimate).
    pub nll: f64,
    /// `KL(q ‖ p)` summed over all Bernoulli weights (nats).
    pub kl: f64,
    /// `F = nll + β·KL/N`.
    pub total: f64,
}

impl ObjectiveValue {
    /// The ELBO in nats, `−N·F` with `β = 1`: `−(N·nll + KL)`.
    pub fn elbo(&self, n_train: usize) -> f64 {
        -(n_train as f64 * self.nll + self.kl)
    }
}

impl Objective {
    /// `KL(q ‖ p)` of every Bernoulli weight of `net`.
    pub fn kl(&self, net: &Network) -> f64 {
        // In parallel over fixed blocks, their sums added in order: the same on any thread count.
        let blocks = net.layers().iter().filter(|l| l.scale().is_some()).flat_map(|l| l.weight_param().as_slice().chunks(PARAMETER_BLOCK));
        let sums: Vec<f64> = blocks.collect::<Vec<_>>().into_par_iter().map(|b| self.prior.kl_sum(b)).collect();
        0.0 + sums.into_iter().sum::<f64>()
    }

    /// `F` from an estimate of the expected NLL per example.
    pub fn value(&self, net: &Network, nll: f64) -> ObjectiveValue {
        let kl = self.kl(net);
        ObjectiveValue { nll, kl, total: nll + self.beta * kl / self.n_train as f64 }
    }

    /// Adds `(β/N) ∂KL/∂q = (β/N)(θ − logit π)` to a gradient of the expected loss in `q` space.
    pub fn add_kl_gradient(&self, net: &Network, grad: &mut Gradient) {
        let c = self.beta / self.n_train as f64;
        for (g, layer) in grad.layers.iter_mut().zip(net.layers()) {
            if layer.scale().is_some() {
                g.w.as_mut_slice().par_chunks_mut(PARAMETER_BLOCK).zip(layer.weight_param().as_slice().par_chunks(PARAMETER_BLOCK)).for_each(|(g, theta)| {
                    g.iter_mut().zip(theta).for_each(|(d, &t)| *d += c * self.prior.kl_grad_q(t));
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WeightKind;
    use crate::model::init::{InitConfig, random_network};
    use rand::SeedableRng;

    #[test]
    fn kl_gradient_of_the_network_matches_finite_differences() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        let kinds = [WeightKind::Bernoulli, WeightKind::Real, WeightKind::Bernoulli];
        let net = random_network(&[3, 4, 2, 2], &kinds, InitConfig { logit_scale: 1.3, weight_std: 1.0 }, &mut rng).unwrap();
        let obj = Objective { beta: 0.7, n_train: 5, prior: BernoulliPrior::new(0.3).unwrap() };
        let mut grad = Gradient::zeros(&net);
        obj.add_kl_gradient(&net, &mut grad);
        let grad = grad.logit_space(&net);
        for k in [0, 2] {
            for idx in 0..net.layers()[k].n_weights() {
                let h = 1e-6;
                let mut plus = net.clone();
                plus.layers_mut()[k].weight_param_mut().as_mut_slice()[idx] += h;
                let mut minus = net.clone();
                minus.layers_mut()[k].weight_param_mut().as_mut_slice()[idx] -= h;
                let fd = (obj.value(&plus, 0.0).total - obj.value(&minus, 0.0).total) / (2.0 * h);
                let an = grad.layers[k].w.as_slice()[idx];
                assert!((fd - an).abs() < 1e-8, "layer {k} weight {idx}: {fd} vs {an}");
            }
        }
        // Real layers get no KL gradient.
        assert!(grad.layers[1].w.iter().all(|&v| v == 0.0));
    }
}
