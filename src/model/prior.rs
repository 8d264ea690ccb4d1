//! The Bernoulli prior `p(W = +1) = π` and the KL divergence of the posterior from it (docs/math.md §2).

use serde::{Deserialize, Serialize};

use super::noise::{log_sigmoid, logit, sigmoid};
use crate::error::{Result, SbnError};

/// Independent Bernoulli prior on every ±1 weight.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BernoulliPrior {
    pi: f64,
}

impl Default for BernoulliPrior {
    fn default() -> Self {
        BernoulliPrior { pi: 0.5 }
    }
}

impl BernoulliPrior {
    /// A prior with `p(W = +1) = pi`, `0 < pi < 1`.
    pub fn new(pi: f64) -> Result<Self> {
        if pi > 0.0 && pi < 1.0 {
            Ok(BernoulliPrior { pi })
        } else {
            Err(SbnError::invalid("prior", format!("π must lie strictly between 0 and 1, got {pi}")))
        }
    }

    /// `p(W = +1)`.
    pub fn p(&self) -> f64 {
        self.pi
    }

    /// `logit π`, the prior's natural parameter.
    pub fn logit(&self) -> f64 {
        logit(self.pi)
    }

    /// `KL(Bernoulli(σ(θ)) ‖ Bernoulli(π)) = q log(q/π) + (1 − q) log((1 − q)/(1 − π))`.
    pub fn kl(&self, theta: f64) -> f64 {
        let q = sigmoid(theta);
        q * (log_sigmoid(theta) - self.pi.ln()) + (1.0 - q) * (log_sigmoid(-theta) - (-self.pi).ln_1p())
    }

    /// `Σ KL` over `thetas`, in a form whose loop vectorizes: with `e = e^{−|θ|}`, the entropy of
    /// `q = σ(θ)` is `H = ln(1 + e) + |θ| e/(1 + e)` (no cancellation at either tail) and
    /// `KL = −H − q ln π − (1 − q) ln(1 − π)`. Agrees with [`kl`](Self::kl) to rounding.
    pub fn kl_sum(&self, thetas: &[f64]) -> f64 {
        let (ln_pi, ln_1m_pi) = (self.pi.ln(), (-self.pi).ln_1p());
        let mut lanes = [0.0; 8];
        let chunks = thetas.chunks_exact(8);
        let tail = chunks.remainder();
        let kl = |t: f64| {
            let e = crate::simd::exp(-t.abs());
            let tail_q = e / (1.0 + e); // σ(−|θ|)
            let entropy = crate::simd::ln_normal(1.0 + e) + t.abs() * tail_q;
            let q = if t >= 0.0 { 1.0 - tail_q } else { tail_q };
            -entropy - q * ln_pi - (1.0 - q) * ln_1m_pi
        };
        crate::simd::dispatch!(for c in chunks {
            lanes.iter_mut().zip(c).for_each(|(l, &t)| *l += kl(t));
        });
        lanes.iter().sum::<f64>() + tail.iter().map(|&t| kl(t)).sum::<f64>()
    }

    /// `∂KL/∂q = θ − logit π` (the natural-gradient direction used by mirror descent).
    pub fn kl_grad_q(&self, theta: f64) -> f64 {
        theta - self.logit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_at_the_prior_and_positive_elsewhere() {
        let prior = BernoulliPrior::new(0.3).unwrap();
        assert!(prior.kl(prior.logit()).abs() < 1e-15);
        assert!(prior.kl(2.0) > 0.0 && prior.kl(-4.0) > 0.0);
        assert!(BernoulliPrior::new(1.0).is_err() && BernoulliPrior::new(f64::NAN).is_err());
    }

    #[test]
    fn kl_sum_agrees_with_the_sum_of_kl() {
        for &pi in &[0.5, 0.03, 0.9] {
            let prior = BernoulliPrior::new(pi).unwrap();
            let thetas: Vec<f64> = (0..203).map(|i| (i as f64 - 101.0) * 0.37).chain([0.0, -0.0, 40.0, -40.0, 700.0, -700.0, prior.logit()]).collect();
            let want: f64 = thetas.iter().map(|&t| prior.kl(t)).sum();
            let got = prior.kl_sum(&thetas);
            assert!((got - want).abs() <= 1e-12 * want, "π = {pi}: {got} vs {want}");
            for &t in &thetas {
                assert!((prior.kl_sum(&[t]) - prior.kl(t)).abs() <= 1e-13 * (1.0 + prior.kl(t)), "π = {pi}, θ = {t}");
            }
        }
    }

    /// `∂KL/∂θ = q(1 − q)(θ − logit π)`, the chain rule the optimizer applies to `∂KL/∂q`.
    fn kl_grad_logit(prior: &BernoulliPrior, theta: f64) -> f64 {
        let q = sigmoid(theta);
        q * (1.0 - q) * prior.kl_grad_q(theta)
    }

    #[test]
    fn kl_gradient_matches_finite_differences() {
        for &pi in &[0.5, 0.2, 0.9] {
            let prior = BernoulliPrior::new(pi).unwrap();
            for &t in &[-6.0, -1.3, 0.0, 0.4, 3.0, 9.0] {
                let h = 1e-5;
                let fd = (prior.kl(t + h) - prior.kl(t - h)) / (2.0 * h);
                assert!((fd - kl_grad_logit(&prior, t)).abs() < 1e-8 * (1.0 + fd.abs()), "π={pi} θ={t}: {fd} vs {}", kl_grad_logit(&prior, t));
                // ∂KL/∂q by differences in q.
                let q = sigmoid(t);
                let (qa, qb) = (q + 1e-7, q - 1e-7);
                if qa < 1.0 && qb > 0.0 {
                    let fdq = (prior.kl(logit(qa)) - prior.kl(logit(qb))) / 2e-7;
                    assert!((fdq - prior.kl_grad_q(t)).abs() < 1e-4 * (1.0 + fdq.abs()));
                }
            }
        }
    }
}
