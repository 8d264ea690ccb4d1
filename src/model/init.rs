//! Initialization of network parameters, kept apart from the layers.

use nalgebra::{DMatrix, DVector};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::layer::{Dense, WeightKind};
use super::network::Network;
use crate::error::{Result, SbnError};

/// How to draw the initial parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitConfig {
    /// Bernoulli layers start with `θ = ±logit_scale` (random sign), i.e. `q = σ(±logit_scale)`.
    pub logit_scale: f64,
    /// Real layers start with `W ~ N(0, weight_std² / n_in)`.
    pub weight_std: f64,
}

impl Default for InitConfig {
    fn default() -> Self {
        InitConfig { logit_scale: 2.0, weight_std: 1.0 }
    }
}

/// A network with shape `dims = [d0, n1, …, nL, K]` and weight kinds `kinds` (one per layer, the
/// output layer last). Biases start at 0 and scales at `1/√n_in`.
pub fn random_network<R: Rng + ?Sized>(dims: &[usize], kinds: &[WeightKind], config: InitConfig, rng: &mut R) -> Result<Network> {
    if kinds.len() + 1 != dims.len() {
        return Err(SbnError::invalid("network", format!("{} layer sizes need {} weight kinds, got {}", dims.len(), dims.len() - 1, kinds.len())));
    }
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    let layers = dims
        .windows(2)
        .zip(kinds)
        .map(|(io, &kind)| {
            let (n_in, n_out) = (io[0], io[1]);
            let bias = DVector::zeros(n_out);
            match kind {
                WeightKind::Real => {
                    let std = config.weight_std / (n_in as f64).sqrt();
                    Dense::real(DMatrix::from_fn(n_out, n_in, |_, _| std * normal.sample(rng)), bias)
                }
                WeightKind::Bernoulli => {
                    let logits = DMatrix::from_fn(n_out, n_in, |_, _| if rng.random::<bool>() { config.logit_scale } else { -config.logit_scale });
                    Dense::bernoulli(logits, DVector::from_element(n_out, 1.0 / (n_in as f64).sqrt()), bias)
                }
            }
        })
        .collect();
    Network::new(layers)
}
