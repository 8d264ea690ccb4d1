//! The fast training engine against the reference engine (`sbn::engine`), on the same draws: the
//! forward pass is the same to the bit (its ±1 × ±1 products are exact popcounts), so the states,
//! pre-activations, logits and loss are equal; the gradients, whose products with a real side run
//! in f32, agree within a relative 1e-5 of each layer's gradient norm (the largest seen on these
//! cases is about 2e-7). PSA and ST, dense and convolutional layers, both weight kinds. The fast
//! engine draws its weights from other streams (`model/fast_sample.rs` tests that draw), so
//! minibatch estimates are compared at the posterior's mode.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::engine::Engine;
use sbn::estimator::EstimatorKind;
use sbn::model::{Network, RngDraws, WeightKind};
use sbn::train::{TrainingConfig, estimate_batch};

use crate::common::{norm, problem};
use crate::conv::{batch_for, conv_net};

/// The networks compared: dense with every mix of kinds around a binary-input layer, and
/// convolutions with ±1 padding (popcount forward), 0 padding on binary input (the f64 forward)
/// and stride.
fn cases() -> Vec<(&'static str, Network, DMatrix<f64>, Vec<usize>)> {
    use WeightKind::{Bernoulli as B, Real as R};
    let mut out = Vec::new();
    for (name, kinds) in [("dense BBB", [B, B, B]), ("dense RBR", [R, B, R]), ("dense BRB", [B, R, B]), ("dense RRR", [R, R, R])] {
        let (net, x, y) = problem(&[12, 70, 66, 4], &kinds, 1.0, (0.3, 0.01), 9, 5);
        out.push((name, net, x, y));
    }
    let convs = conv_net((7, 6, 2), &[(4, 3, 1, 1, 0.0), (6, 3, 2, 1, -1.0), (5, 2, 1, 0, 1.0)], &[40], 3, &[R, B, B, B, B], 3);
    let (x, y) = batch_for(&convs, 6, 1, true);
    out.push(("conv RBBBB", convs, x, y));
    let convs = conv_net((6, 6, 1), &[(3, 3, 1, 1, -0.5), (4, 3, 1, 1, 0.0), (4, 3, 2, 1, 1.0)], &[], 3, &[B, B, R, R], 4);
    let (x, y) = batch_for(&convs, 5, 2, false);
    out.push(("conv BBRR", convs, x, y));
    out
}

#[test]
fn the_fast_engine_draws_the_reference_states_and_agrees_on_gradients() {
    let mut largest = 0.0f64;
    let mut differs = false;
    for (name, net, x, y) in cases() {
        let ws = net.sample_weights_seeded(11);
        let fast_ws = ws.clone().for_engine(Engine::Fast);
        assert_eq!(fast_ws.engine(), Engine::Fast);
        let draws = || Xoshiro256PlusPlus::seed_from_u64(3);
        let (reference, fast) = (net.forward(&x, &ws, &mut RngDraws(&mut draws())), net.forward(&x, &fast_ws, &mut RngDraws(&mut draws())));
        for (k, (r, f)) in reference.hidden.iter().zip(&fast.hidden).enumerate() {
            assert_eq!((&r.a, &r.x, &r.s), (&f.a, &f.x, &f.s), "{name}: layer {k} of the forward pass differs");
        }
        assert_eq!(reference.logits, fast.logits, "{name}: logits differ");
        for kind in [EstimatorKind::Psa, EstimatorKind::St] {
            let est = kind.build();
            let r = est.estimate(&net, &x, &y, &ws, &mut RngDraws(&mut draws())).unwrap();
            let f = est.estimate(&net, &x, &y, &fast_ws, &mut RngDraws(&mut draws())).unwrap();
            assert_eq!(r.loss, f.loss, "{name} {kind}: loss differs");
            for (k, (lr, lf)) in r.grad.layers.iter().zip(&f.grad.layers).enumerate() {
                let (gr, gf) = (lr.flatten(), lf.flatten());
                let scale = norm(&gr).max(1e-3);
                let diff = gr.iter().zip(&gf).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(diff <= 1e-5 * scale, "{name} {kind}: layer {k} differs by {diff:e} (gradient norm {scale:e})");
                largest = largest.max(diff / scale);
                differs |= diff > 0.0;
            }
        }
    }
    // The fast engine really ran its f32 products (else this test could not fail).
    assert!(differs, "the fast engine gave the reference's gradients to the bit");
    eprintln!("largest relative difference of a layer's gradient: {largest:e}");
}

#[test]
fn minibatch_estimates_agree_between_engines_and_thread_counts() {
    // Chunks of 16, 16 and 8: the fast engine stacks the chunks' factors of the dense layers'
    // weight-gradient products and multiplies them once (`DeferredProduct`).
    let (net, x, y) = problem(&[12, 70, 66, 4], &[WeightKind::Bernoulli; 3], 1.0, (0.3, 0.01), 40, 8);
    for kind in [EstimatorKind::Psa, EstimatorKind::St] {
        let estimator = kind.build();
        let run = |engine: Engine, point_weights: bool, threads: usize| {
            let config = TrainingConfig { chunk: 16, engine, point_weights, ..TrainingConfig::default() };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| estimate_batch(&net, &x, &y, estimator.as_ref(), 5, &config).unwrap())
        };
        for engine in [Engine::Fast, Engine::Reference] {
            assert_eq!(run(engine, false, 1).grad, run(engine, false, 2).grad, "{kind}: the {engine} engine depends on the thread count");
        }
        // The engines draw weights from different streams; at the posterior's mode (no weight
        // draw) they see the same network and unit noise.
        let (fast, reference) = (run(Engine::Fast, true, 2), run(Engine::Reference, true, 2));
        assert_eq!(fast.loss, reference.loss, "{kind}");
        for (k, (lf, lr)) in fast.grad.layers.iter().zip(&reference.grad.layers).enumerate() {
            assert_eq!(lf.w.shape(), lr.w.shape(), "{kind}: layer {k}'s weight gradient is not shaped like W");
        }
        let (gf, gr) = (fast.grad.flatten(), reference.grad.flatten());
        let diff = gf.iter().zip(&gr).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(diff > 0.0 && diff <= 1e-5 * norm(&gr), "{kind}: minibatch gradients differ by {diff:e}");
    }
}
