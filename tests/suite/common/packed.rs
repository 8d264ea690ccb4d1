//! Helpers of the packed-engine tests: seeded generators, random bytes, and the packed-against-float
//! forward comparison.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::data::InputBatch;
use sbn::model::noise::uniform;
use sbn::model::{GivenDraws, Network, RngDraws};
use sbn::packed::SampledNetwork;

pub fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// One generator per example (`n` of them), for [`SampledNetwork::forward`].
pub fn rngs(seed: u64, n: usize) -> Vec<Xoshiro256PlusPlus> {
    (0..n as u64).map(|i| rng(seed.wrapping_mul(1000).wrapping_add(i))).collect()
}

pub fn sym(r: &mut Xoshiro256PlusPlus, scale: f64) -> f64 {
    (2.0 * uniform(r) - 1.0) * scale
}

pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut r = rng(seed);
    (0..n).map(|_| (uniform(&mut r) * 256.0) as u8).collect()
}

/// One forward sample both ways (float through `GivenDraws` holding the uniforms the packed path
/// reads from its generators, one per example, layer by layer): identical states, logits within
/// `1e-9`.
pub fn assert_same_forward(net: &Network, input: InputBatch, weight_seed: u64, noise_seed: u64) {
    let ws = net.sample_weights(&mut RngDraws(&mut rng(weight_seed)));
    let sn = SampledNetwork::sample(net, &mut rng(weight_seed)).unwrap();
    for (a, b) in ws.layers.iter().zip(&sn.weight_sample().layers) {
        assert_eq!(a, b, "the packed draw differs from Network::sample_weights");
    }
    assert_eq!(sn.dims(), &net.dims()[..]);
    let b = input.len();
    let packed = sn.forward(&input, 0..b, &mut rngs(noise_seed, b)).unwrap();
    let mut units: Vec<DMatrix<f64>> = (1..=net.n_hidden()).map(|k| DMatrix::zeros(net.dims()[k], b)).collect();
    for (n, u) in rngs(noise_seed, b).iter_mut().enumerate() {
        for layer in units.iter_mut() {
            layer.column_mut(n).iter_mut().for_each(|v| *v = uniform(u));
        }
    }
    let mut given = GivenDraws { units, weights: vec![] };
    let x0 = input.to_matrix(0..b);
    let float = net.forward(&x0, &ws, &mut given);
    for k in 0..net.n_hidden() {
        assert_eq!(packed.states[k].to_cols_matrix(), float.hidden[k].x, "states of layer {k}");
    }
    let diff = (&packed.logits - &float.logits).abs().max();
    assert!(diff <= 1e-9, "logits differ by {diff}");
}
