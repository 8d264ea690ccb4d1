//! Initialization of network parameters, kept apart from the layers.

use nalgebra::{DMatrix, DVector};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::conv::Conv2d;
use super::layer::{Layer, WeightKind};
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

/// The shape of one layer to create.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerShape {
    /// A dense layer, `W` of shape `n_out × n_in`.
    Dense {
        /// Inputs of the layer (`n_{k−1}`).
        n_in: usize,
        /// Units of the layer (`n_k`).
        n_out: usize,
    },
    /// A convolution of the given geometry.
    Conv(Conv2d),
}

impl LayerShape {
    /// Dense layers for `dims = [d0, n1, …, nL, K]`.
    pub fn dense(dims: &[usize]) -> Vec<LayerShape> {
        dims.windows(2).map(|io| LayerShape::Dense { n_in: io[0], n_out: io[1] }).collect()
    }

    /// Input and output features.
    pub fn features(&self) -> (usize, usize) {
        match self {
            LayerShape::Dense { n_in, n_out } => (*n_in, *n_out),
            LayerShape::Conv(c) => (c.in_features(), c.out_features()),
        }
    }
}

/// A network with shape `dims = [d0, n1, …, nL, K]` and weight kinds `kinds` (one per layer, the
/// output layer last). Biases start at 0 and scales at `1/√n_in`.
pub fn random_network<R: Rng + ?Sized>(dims: &[usize], kinds: &[WeightKind], config: InitConfig, rng: &mut R) -> Result<Network> {
    if kinds.len() + 1 != dims.len() {
        return Err(SbnError::invalid("network", format!("{} layer sizes need {} weight kinds, got {}", dims.len(), dims.len() - 1, kinds.len())));
    }
    random_layers(&LayerShape::dense(dims), kinds, config, rng)
}

/// A network of the given layer shapes (dense or convolutional) and weight kinds. Convolutions
/// draw their `C_out × kernel²·C_in` shared weights like a dense layer of that fan-in.
pub fn random_layers<R: Rng + ?Sized>(shapes: &[LayerShape], kinds: &[WeightKind], config: InitConfig, rng: &mut R) -> Result<Network> {
    if kinds.len() != shapes.len() {
        return Err(SbnError::invalid("network", format!("{} layers need {} weight kinds, got {}", shapes.len(), shapes.len(), kinds.len())));
    }
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    let layers = shapes
        .iter()
        .zip(kinds)
        .map(|(shape, &kind)| {
            let (fan_in, rows, conv) = match *shape {
                LayerShape::Dense { n_in, n_out } => (n_in, n_out, None),
                LayerShape::Conv(c) => (c.fan_in(), c.out_c, Some(c)),
            };
            let bias = DVector::zeros(rows);
            let layer = match kind {
                WeightKind::Real => {
                    let std = config.weight_std / (fan_in as f64).sqrt();
                    Layer::real(DMatrix::from_fn(rows, fan_in, |_, _| std * normal.sample(rng)), bias)
                }
                WeightKind::Bernoulli => {
                    let logits = DMatrix::from_fn(rows, fan_in, |_, _| if rng.random::<bool>() { config.logit_scale } else { -config.logit_scale });
                    Layer::bernoulli(logits, DVector::from_element(rows, 1.0 / (fan_in as f64).sqrt()), bias)
                }
            };
            match conv {
                Some(c) => layer.with_conv(c),
                None => Ok(layer),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Network::new(layers)
}
