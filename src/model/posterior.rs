//! Operations on the variational posterior `q = σ(θ)` of a network's Bernoulli weights: its
//! mode, a tempered copy, and how spread it is.

use super::{Network, Weights};
use crate::error::{Result, SbnError};
use crate::model::softmax::entropy;

impl Network {
    /// The posterior's most likely network: every Bernoulli weight fixed at the sign of its logit
    /// (`q` pushed to 0 or 1), i.e. a deterministic binary network of the same shape.
    pub fn posterior_mode(&self) -> Network {
        self.map_logits(|t| if t >= 0.0 { 40.0 } else { -40.0 })
    }

    /// The tempered posterior `q_τ = σ(θ/τ)`: `τ > 1` spreads every Bernoulli weight towards ½
    /// (more model uncertainty), `τ < 1` sharpens it (`τ → 0` is [`Network::posterior_mode`]);
    /// `τ = 1` is the fit.
    pub fn posterior_tempered(&self, tau: f64) -> Result<Network> {
        if !(tau.is_finite() && tau > 0.0) {
            return Err(SbnError::invalid("posterior temperature", format!("must be a positive number, got {tau}")));
        }
        Ok(self.map_logits(|t| t / tau))
    }

    /// Posterior diagnostics: the mean entropy of the Bernoulli weights (nats) and the share with
    /// `q ∈ (0.05, 0.95)`. Both are 0 for a network without Bernoulli weights.
    pub fn posterior_spread(&self) -> (f64, f64) {
        let (mut h, mut uncertain, mut n) = (0.0, 0usize, 0usize);
        for layer in self.layers() {
            if let Some(q) = layer.q() {
                for &q in q.iter() {
                    h += entropy(&[q, 1.0 - q]);
                    uncertain += usize::from(q > 0.05 && q < 0.95);
                    n += 1;
                }
            }
        }
        if n == 0 { (0.0, 0.0) } else { (h / n as f64, uncertain as f64 / n as f64) }
    }

    /// A copy with every Bernoulli logit θ replaced by `f(θ)`.
    fn map_logits(&self, f: impl Fn(f64) -> f64) -> Network {
        let mut out = self.clone();
        for layer in out.layers_mut() {
            if let Weights::Bernoulli { logits, .. } = &mut layer.weights {
                logits.iter_mut().for_each(|t| *t = f(*t));
            }
        }
        out
    }
}
