//! Data-dependent initialization (`sbn::train::data_init`): afterwards a forward sample on the
//! data it saw has pre-activations of mean ≈ 0 and standard deviation ≈ 1 per unit (per channel
//! for a convolution), whatever the scales and biases were before; and the result does not depend
//! on the number of threads.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::model::{Network, RngDraws, Unfolding, WeightKind, Weights};
use sbn::train::data_init::data_dependent_init;

use crate::conv::{batch_for, conv_net};

/// A conv net whose Bernoulli weights are nearly deterministic (|θ| = 8, so another weight sample
/// is almost the same network) and whose scales and biases are far from standardizing.
fn skewed_net() -> (Network, DMatrix<f64>) {
    use WeightKind::{Bernoulli as B, Real as R};
    let mut net = conv_net((8, 8, 1), &[(6, 3, 1, 1, 0.0), (8, 3, 2, 1, -1.0)], &[30], 3, &[R, B, B, R], 7);
    for layer in net.layers_mut() {
        layer.bias.fill(2.0);
        match &mut layer.weights {
            Weights::Bernoulli { logits, scale } => {
                logits.apply(|t| *t = 8.0f64.copysign(*t));
                scale.fill(3.0);
            }
            Weights::Real { w } => *w *= 3.0,
        }
    }
    let (x, _) = batch_for(&net, 300, 3, true);
    (net, x)
}

/// Per-row mean and standard deviation.
fn row_stats(m: &DMatrix<f64>) -> Vec<(f64, f64)> {
    m.row_iter().map(|r| (r.mean(), r.variance().sqrt())).collect()
}

#[test]
fn initialized_preactivations_have_zero_mean_and_unit_deviation() {
    let (mut net, x) = skewed_net();
    let ws = net.sample_weights_seeded(1);
    let before = net.forward(&x, &ws, &mut RngDraws(&mut Xoshiro256PlusPlus::seed_from_u64(2)));
    assert!(row_stats(&before.logits).iter().any(|&(m, s)| m.abs() > 1.0 || (s - 1.0).abs() > 0.5), "the test net starts standardized");
    data_dependent_init(&mut net, &x, 5);
    // Another weight sample and other states than the initialization's own.
    let ws = net.sample_weights_seeded(99);
    let fwd = net.forward(&x, &ws, &mut RngDraws(&mut Xoshiro256PlusPlus::seed_from_u64(4)));
    let layers = fwd.hidden.iter().enumerate().map(|(k, h)| (k, net.layers()[k].to_channels(h.a.clone())));
    for (k, a) in layers.chain(std::iter::once((net.n_hidden(), fwd.logits.clone()))) {
        for (j, (mean, std)) in row_stats(&a).into_iter().enumerate() {
            assert!(mean.abs() < 0.25 && (0.75..1.3).contains(&std), "layer {k} unit {j}: mean {mean:.3}, standard deviation {std:.3}");
        }
    }
}

#[test]
fn initialization_does_not_depend_on_the_thread_count() {
    let (net, x) = skewed_net();
    let init = |threads| {
        let mut net = net.clone();
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| data_dependent_init(&mut net, &x, 5));
        net
    };
    let one = init(1);
    assert_ne!(one, net);
    assert_eq!(one, init(2));
}
