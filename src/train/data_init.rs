//! Data-dependent initialization: scales and biases set from one forward sample of a batch of
//! training inputs so that every pre-activation (per channel, for a convolution) starts at zero mean and unit standard deviation
//! (in the spirit of Mishkin & Matas, "All you need is a good init", ICLR 2016).

use nalgebra::DMatrix;

use crate::model::{Network, RngDraws, Weights};

/// Rescales layer after layer, sampling weights and states from `seed`.
pub fn data_dependent_init(net: &mut Network, x: &DMatrix<f64>, seed: u64) {
    let mut rng = crate::rng::stream(seed, &[]);
    for k in 0..net.layers().len() {
        let ws = net.sample_weights(&mut RngDraws(&mut rng));
        let fwd = net.forward(x, &ws, &mut RngDraws(&mut rng));
        // W x before scale and bias, in the channels layout (a convolution's positions pool).
        let s = crate::linalg::mul(net.weights_in_use(&ws, k), fwd.patches_of(k));
        let layer = &mut net.layers_mut()[k];
        for j in 0..s.nrows() {
            let row = s.row(j);
            let mean = row.mean();
            let std = row.variance().sqrt();
            let inv = if std > 1e-8 { 1.0 / std } else { 1.0 / (layer.fan_in() as f64).sqrt() };
            match &mut layer.weights {
                Weights::Bernoulli { scale, .. } => scale[j] = inv,
                Weights::Real { w } => w.row_mut(j).iter_mut().for_each(|v| *v *= inv),
            }
            layer.bias[j] = -mean * inv;
        }
    }
}
