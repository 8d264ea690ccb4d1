//! Data-dependent initialization: scales and biases set from one forward sample of a batch of
//! training inputs so that every pre-activation (per channel, for a convolution) starts at zero
//! mean and unit standard deviation (in the spirit of Mishkin & Matas, "All you need is a good
//! init", ICLR 2016).
//!
//! One weight sample (the fast engine's draw) and one pass up the network: layer `k`'s products
//! `W x` are formed once, its scale and bias set from their per-row statistics, and its states
//! drawn with them as the input of layer `k + 1`. The examples go through in fixed chunks, in
//! parallel, each drawing its states from its own stream, and the statistics are summed in chunk
//! order: the result does not depend on the number of threads.

use nalgebra::DMatrix;
use rayon::prelude::*;

use crate::engine::Engine;
use crate::model::{Draws, Network, RngDraws, Weights, noise::sample_states};
use crate::rng;

/// Examples per chunk of the pass.
const CHUNK: usize = 64;

/// Rescales layer after layer, sampling weights and states from `seed`.
pub fn data_dependent_init(net: &mut Network, x: &DMatrix<f64>, seed: u64) {
    let ws = net.sample_weights_for(rng::stream_seed(seed, &[0]), Engine::Fast);
    let mut inputs: Vec<DMatrix<f64>> = (0..x.ncols()).step_by(CHUNK).map(|start| x.columns(start, CHUNK.min(x.ncols() - start)).into_owned()).collect();
    for k in 0..net.layers().len() {
        // W x before scale and bias, in the channels layout (a convolution's positions pool).
        let products: Vec<DMatrix<f64>> = inputs.par_iter().map(|input| net.product(k, input, &ws).1).collect();
        let count: usize = products.iter().map(DMatrix::ncols).sum();
        let mean: Vec<f64> = row_sums(&products, |_, v| v).into_iter().map(|s| s / count as f64).collect();
        let var: Vec<f64> = row_sums(&products, |j, v| (v - mean[j]).powi(2)).into_iter().map(|s| s / count as f64).collect();
        let layer = &mut net.layers_mut()[k];
        let fallback = 1.0 / (layer.fan_in() as f64).sqrt();
        let inv: Vec<f64> = var.iter().map(|v| if v.sqrt() > 1e-8 { 1.0 / v.sqrt() } else { fallback }).collect();
        for (j, (&inv, &mean)) in inv.iter().zip(&mean).enumerate() {
            match &mut layer.weights {
                Weights::Bernoulli { scale, .. } => scale[j] = inv,
                Weights::Real { w } => w.row_mut(j).iter_mut().for_each(|v| *v *= inv),
            }
            layer.bias[j] = -mean * inv;
        }
        if k + 1 < net.layers().len() {
            let layer = &net.layers()[k];
            inputs = products
                .into_par_iter()
                .enumerate()
                .map(|(c, mut wx)| {
                    // A real layer's product scales with its rows (S does not depend on γ).
                    if layer.scale().is_none() {
                        wx.column_iter_mut().for_each(|mut col| col.iter_mut().zip(&inv).for_each(|(v, inv)| *v *= inv));
                    }
                    let (_, a) = layer.preactivation_from_product(wx);
                    let mut states = DMatrix::zeros(a.nrows(), a.ncols());
                    let mut stream = rng::stream(seed, &[1, k as u64, c as u64]);
                    RngDraws(&mut stream).units(k, states.as_mut_slice());
                    sample_states(a.as_slice(), states.as_mut_slice());
                    states
                })
                .collect();
        }
    }
}

/// `Σ_n f(j, m_jn)` per row `j` over the columns of all `chunks` (same row count), each chunk in
/// parallel, the chunks' sums added in order.
fn row_sums(chunks: &[DMatrix<f64>], f: impl Fn(usize, f64) -> f64 + Sync) -> Vec<f64> {
    let rows = chunks[0].nrows();
    let parts: Vec<Vec<f64>> = chunks
        .par_iter()
        .map(|m| {
            let mut sums = vec![0.0; rows];
            for col in m.as_slice().chunks_exact(rows) {
                sums.iter_mut().zip(col).enumerate().for_each(|(j, (s, &v))| *s += f(j, v));
            }
            sums
        })
        .collect();
    parts
        .into_iter()
        .reduce(|mut total, part| {
            total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
            total
        })
        .expect("at least one chunk")
}
