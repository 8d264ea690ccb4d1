//! The packed engine on convolutional networks against the float path: same weight draws and
//! uniforms give identical states and logits; the predictive agrees; export round-trips; what
//! cannot be packed is refused.

use nalgebra::DMatrix;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::SbnError;
use sbn::data::InputBatch;
use sbn::model::init::{InitConfig, LayerShape, random_layers};
use sbn::model::noise::uniform;
use sbn::model::{Conv2d, Network, WeightKind, Weights};
use sbn::montecarlo::{self, Engine, McConfig};
use sbn::packed::{SampledNetwork, summary};

use crate::common::packed::{assert_same_forward, bytes, rng, rngs, sym};

fn below(r: &mut Xoshiro256PlusPlus, n: usize) -> usize {
    ((uniform(r) * n as f64) as usize).min(n - 1)
}

/// Builds a network of `shapes` (the first layer real or Bernoulli as asked, the output layer real
/// or Bernoulli, Bernoulli in between) with random logits, scales and biases.
fn build(shapes: &[LayerShape], first_real: bool, out_real: bool, seed: u64) -> Network {
    let mut r = rng(seed);
    let last = shapes.len() - 1;
    let kinds: Vec<WeightKind> =
        (0..=last).map(|k| if (k == 0 && first_real) || (k == last && out_real) { WeightKind::Real } else { WeightKind::Bernoulli }).collect();
    let mut net = random_layers(shapes, &kinds, InitConfig::default(), &mut r).unwrap();
    for layer in net.layers_mut() {
        let fan_in = layer.fan_in() as f64;
        layer.bias.iter_mut().for_each(|b| *b = sym(&mut r, 1.0));
        match &mut layer.weights {
            Weights::Bernoulli { logits, scale } => {
                logits.iter_mut().for_each(|t| *t = sym(&mut r, 3.0));
                scale.iter_mut().for_each(|g| *g = 0.02 + uniform(&mut r) * (2.0 / fan_in).sqrt());
            }
            Weights::Real { w } => w.iter_mut().for_each(|v| *v = sym(&mut r, 1.0)),
        }
    }
    net
}

/// A random conv network on `h × w × c` inputs: 1–3 convolutions (kernel 1–3, stride 1–2, pad
/// 0–1, channel counts around 64 included), 0–1 dense hidden layers, a dense output. The first
/// convolution pads with `first_pad`, later ones with ±1.
fn random_shapes(seed: u64, first_pad: f64) -> Vec<LayerShape> {
    let mut r = rng(seed);
    let (mut h, mut w, mut c) = (3 + below(&mut r, 6), 3 + below(&mut r, 6), [1, 2, 3][below(&mut r, 3)]);
    let mut shapes = Vec::new();
    let n_conv = 1 + below(&mut r, 3);
    for k in 0..n_conv {
        let out_c = [1, 3, 5, 17, 64, 65, 70][below(&mut r, 7)];
        let mut kernel = 1 + below(&mut r, 3);
        let stride = 1 + below(&mut r, 2);
        let pad = below(&mut r, 2).min(kernel - 1);
        kernel = kernel.min(h.min(w) + 2 * pad);
        let pad_value = if k == 0 {
            first_pad
        } else if uniform(&mut r) < 0.5 {
            1.0
        } else {
            -1.0
        };
        let g = Conv2d { in_h: h, in_w: w, in_c: c, out_c, kernel, stride, pad, pad_value };
        assert!(g.check("test").is_ok(), "{g:?}");
        shapes.push(LayerShape::Conv(g));
        (h, w, c) = (g.out_h(), g.out_w(), out_c);
    }
    let mut n = h * w * c;
    if uniform(&mut r) < 0.5 {
        let m = 1 + below(&mut r, 40);
        shapes.push(LayerShape::Dense { n_in: n, n_out: m });
        n = m;
    }
    shapes.push(LayerShape::Dense { n_in: n, n_out: 2 + below(&mut r, 4) });
    shapes
}

const SCALINGS: [(f64, f64); 3] = [(1.0 / 255.0, 0.0), (1.0 / 128.0, -1.0), (0.0137, 0.25)];

#[test]
fn random_conv_networks_on_bytes() {
    for seed in 0..40u64 {
        let (alpha, offset) = SCALINGS[seed as usize % 3];
        // The float path's convention (pad = a zero pixel), and a general pad value.
        let first_pad = if seed % 4 == 3 { 0.7 } else { offset };
        let shapes = random_shapes(seed, first_pad);
        let net = build(&shapes, seed % 5 == 1, seed % 3 == 2, seed);
        let d0 = net.input_dim();
        let batch = 1 + seed as usize % 4;
        let data = bytes(batch * d0, seed ^ 1);
        let input = InputBatch::Bytes { data: &data, dim: d0, alpha, offset };
        assert_same_forward(&net, input, seed ^ 2, seed ^ 3);
    }
}

#[test]
fn random_conv_networks_on_real_inputs() {
    for seed in 100..130u64 {
        let mut r = rng(seed ^ 4);
        let shapes = random_shapes(seed, sym(&mut r, 1.0));
        let net = build(&shapes, seed % 3 == 0, seed % 2 == 0, seed);
        let batch = 1 + seed as usize % 3;
        let x = DMatrix::from_fn(net.input_dim(), batch, |_, _| sym(&mut r, 2.0));
        assert_same_forward(&net, InputBatch::Real(&x), seed ^ 5, seed ^ 6);
    }
}

/// The shapes the brief names explicitly: stride 1 and 2, pad 0 and 1, pad value ±1, 70 channels,
/// conv → dense hidden → output.
fn named_shapes(first_pad: f64) -> Vec<LayerShape> {
    let c1 = Conv2d { in_h: 8, in_w: 7, in_c: 2, out_c: 70, kernel: 3, stride: 1, pad: 1, pad_value: first_pad };
    let c2 = Conv2d { in_h: 8, in_w: 7, in_c: 70, out_c: 33, kernel: 3, stride: 2, pad: 1, pad_value: 1.0 };
    let c3 = Conv2d { in_h: c2.out_h(), in_w: c2.out_w(), in_c: 33, out_c: 65, kernel: 2, stride: 1, pad: 0, pad_value: -1.0 };
    let c4 = Conv2d { in_h: c3.out_h(), in_w: c3.out_w(), in_c: 65, out_c: 9, kernel: 2, stride: 1, pad: 1, pad_value: -1.0 };
    vec![
        LayerShape::Conv(c1),
        LayerShape::Conv(c2),
        LayerShape::Conv(c3),
        LayerShape::Conv(c4),
        LayerShape::Dense { n_in: c4.out_features(), n_out: 20 },
        LayerShape::Dense { n_in: 20, n_out: 4 },
    ]
}

#[test]
fn named_shapes_agree_on_bytes_and_reals() {
    for (seed, (alpha, offset)) in SCALINGS.into_iter().enumerate() {
        let seed = seed as u64;
        let net = build(&named_shapes(offset), false, seed == 1, 200 + seed);
        let data = bytes(3 * net.input_dim(), seed);
        assert_same_forward(&net, InputBatch::Bytes { data: &data, dim: net.input_dim(), alpha, offset }, seed ^ 7, seed ^ 8);
        let mut r = rng(seed);
        let x = DMatrix::from_fn(net.input_dim(), 2, |_, _| sym(&mut r, 1.5));
        assert_same_forward(&net, InputBatch::Real(&x), seed ^ 9, seed ^ 10);
    }
}

#[test]
fn predictive_packed_equals_float_and_auto_packs() {
    let net = build(&named_shapes(-0.5), false, false, 300);
    assert!(SampledNetwork::check(&net).is_ok());
    let n = 40; // more than one block of examples
    let data = bytes(n * net.input_dim(), 301);
    let input = InputBatch::Bytes { data: &data, dim: net.input_dim(), alpha: 1.0 / 255.0, offset: -0.5 };
    let cfg = McConfig { weight_samples: 2, noise_samples: 2, seed: 302, engine: Engine::Packed };
    let packed = montecarlo::predictive(&net, input, &cfg).unwrap();
    let float = montecarlo::predictive(&net, input, &McConfig { engine: Engine::Float, ..cfg }).unwrap();
    let auto = montecarlo::predictive(&net, input, &McConfig { engine: Engine::Auto, ..cfg }).unwrap();
    let worst = packed.per_weight_sample.iter().zip(&float.per_weight_sample).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst <= 1e-12, "predictives differ by {worst}");
    assert_eq!(auto, packed);
}

#[test]
fn export_round_trip_keeps_the_geometry() {
    let net = build(&named_shapes(0.0), true, false, 400);
    let data = bytes(3 * net.input_dim(), 401);
    let input = InputBatch::Bytes { data: &data, dim: net.input_dim(), alpha: 1.0 / 255.0, offset: 0.0 };
    for sn in [SampledNetwork::sample(&net, &mut rng(402)).unwrap(), SampledNetwork::most_likely(&net).unwrap()] {
        let bytes = sn.to_bytes();
        let back = SampledNetwork::from_bytes(&bytes).unwrap();
        assert_eq!(back.dims(), sn.dims());
        for k in 0..net.layers().len() {
            assert_eq!(back.conv(k), net.layers()[k].conv.as_ref());
        }
        let a = sn.forward(&input, 0..3, &mut rngs(403, 3)).unwrap();
        let b = back.forward(&input, 0..3, &mut rngs(403, 3)).unwrap();
        assert_eq!(a.states, b.states);
        assert_eq!(a.logits, b.logits);
        for len in (0..bytes.len()).step_by(7) {
            assert!(SampledNetwork::from_bytes(&bytes[..len]).is_err(), "prefix of {len} bytes accepted");
        }
    }
}

#[test]
fn unpackable_convolutions_are_refused_with_a_fallback() {
    // A hidden convolution padding with a non-±1 value.
    let mut shapes = named_shapes(0.0);
    if let LayerShape::Conv(g) = &mut shapes[1] {
        g.pad_value = 0.5;
    }
    let net = build(&shapes, false, false, 500);
    assert!(matches!(SampledNetwork::check(&net), Err(SbnError::Unsupported(_))));
    assert!(SampledNetwork::sample(&net, &mut rng(1)).is_err());
    let data = bytes(2 * net.input_dim(), 501);
    let input = InputBatch::Bytes { data: &data, dim: net.input_dim(), alpha: 1.0 / 255.0, offset: 0.0 };
    let cfg = McConfig { weight_samples: 1, noise_samples: 1, seed: 0, engine: Engine::Packed };
    assert!(montecarlo::predictive(&net, input, &cfg).is_err());
    assert!(montecarlo::predictive(&net, input, &McConfig { engine: Engine::Auto, ..cfg }).is_ok());
    // A real-weight hidden convolution.
    let mut r = rng(502);
    let kinds = [WeightKind::Bernoulli, WeightKind::Real, WeightKind::Bernoulli, WeightKind::Bernoulli, WeightKind::Bernoulli, WeightKind::Bernoulli];
    let net = random_layers(&named_shapes(0.0), &kinds, InitConfig::default(), &mut r).unwrap();
    assert!(matches!(SampledNetwork::check(&net), Err(SbnError::Unsupported(_))));
}

#[test]
fn summary_counts_convolutions() {
    let shapes = named_shapes(0.0);
    let net = build(&shapes, false, false, 600);
    let s = summary(&net);
    for (l, shape) in s.layers.iter().zip(&shapes) {
        match shape {
            LayerShape::Conv(g) => {
                assert!(l.conv);
                assert_eq!((l.n_in, l.n_out), (g.in_h * g.in_w * g.in_c, g.out_h() * g.out_w() * g.out_c));
                assert_eq!(l.binary_params, g.out_c * g.kernel * g.kernel * g.in_c);
                assert_eq!(l.float_params, 2 * g.out_c);
                let macs = g.out_h() * g.out_w() * g.out_c * g.kernel * g.kernel * g.in_c;
                assert_eq!(l.binary_macs + l.float_macs, macs);
            }
            LayerShape::Dense { n_in, n_out } => {
                assert!(!l.conv);
                assert_eq!(l.binary_macs + l.float_macs, n_in * n_out);
            }
        }
    }
    // First layer on (8-bit) real inputs counts as float work, the rest binary.
    assert_eq!(s.layers[0].binary_macs, 0);
    assert!(s.layers[1..].iter().all(|l| l.float_macs == 0));
    assert!(s.to_string().contains("conv 2 bernoulli"));
}
