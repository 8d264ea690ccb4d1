//! The packed engine against the float path: same weight draws and uniforms give identical states
//! and logits; kernels agree; the predictive agrees; export round-trips and refuses bad files.

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use sbn::data::InputBatch;
use sbn::model::noise::uniform;
use sbn::model::{Layer, Network};
use sbn::montecarlo::{self, Engine, McConfig};
use sbn::packed::{BitMatrix, SampledNetwork, summary};
use sbn::popcount::kernel::{self, PackedRows, Variant};

use crate::common::packed::{assert_same_forward, bytes, rng, rngs, sym};

/// A random network `dims` with Bernoulli binary layers after the first; the first and the output
/// layer real or Bernoulli as asked.
fn network(dims: &[usize], first_real: bool, out_real: bool, seed: u64) -> Network {
    let mut r = rng(seed);
    let last = dims.len() - 2;
    let layers = (0..=last)
        .map(|k| {
            let (n_in, n_out) = (dims[k], dims[k + 1]);
            let bias = DVector::from_fn(n_out, |_, _| sym(&mut r, 1.0));
            if (k == 0 && first_real) || (k == last && out_real) {
                Layer::real(DMatrix::from_fn(n_out, n_in, |_, _| sym(&mut r, 1.0)), bias)
            } else {
                let logits = DMatrix::from_fn(n_out, n_in, |_, _| sym(&mut r, 3.0));
                let scale = DVector::from_fn(n_out, |_, _| 0.02 + uniform(&mut r) * (2.0 / n_in as f64).sqrt());
                Layer::bernoulli(logits, scale, bias)
            }
        })
        .collect();
    Network::new(layers).unwrap()
}

fn shape() -> impl Strategy<Value = (Vec<usize>, usize, bool, bool, u64)> {
    (1usize..200, prop::collection::vec(1usize..200, 1..=3), 2usize..12, 1usize..10, any::<bool>(), any::<bool>(), any::<u64>()).prop_map(
        |(d0, hidden, k, batch, first_real, out_real, seed)| {
            let dims: Vec<usize> = std::iter::once(d0).chain(hidden).chain(std::iter::once(k)).collect();
            (dims, batch, first_real, out_real, seed)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn packed_equals_float_on_bytes((dims, batch, first_real, out_real, seed) in shape(), affine in 0usize..3) {
        let net = network(&dims, first_real, out_real, seed);
        let data = bytes(batch * dims[0], seed ^ 1);
        let (alpha, offset) = [(1.0 / 128.0, -1.0), (1.0 / 255.0, -0.5), (0.0137, 0.25)][affine];
        let input = InputBatch::Bytes { data: &data, dim: dims[0], alpha, offset };
        assert_same_forward(&net, input, seed ^ 2, seed ^ 3);
    }

    #[test]
    fn packed_equals_float_on_real_inputs((dims, batch, first_real, out_real, seed) in shape()) {
        let net = network(&dims, first_real, out_real, seed);
        let mut r = rng(seed ^ 4);
        let x = DMatrix::from_fn(dims[0], batch, |_, _| sym(&mut r, 2.0));
        assert_same_forward(&net, InputBatch::Real(&x), seed ^ 5, seed ^ 6);
    }

    #[test]
    fn kernel_variants_equal_portable(rows in 1usize..40, cols in 1usize..300, batch in 1usize..20, seed in any::<u64>()) {
        let mut r = rng(seed);
        let w = BitMatrix::from_fn(rows, cols, |_, _| uniform(&mut r) < 0.5);
        let x = BitMatrix::from_fn(batch, cols, |_, _| uniform(&mut r) < 0.5);
        let pw = PackedRows::new(&w);
        let mut base_xor = vec![0; rows * batch];
        let mut base_and = vec![0; rows * batch];
        kernel::xor_popcount_with(Variant::Portable, &pw, &x, &mut base_xor);
        kernel::and_popcount_with(Variant::Portable, &pw, &x, &mut base_and);
        // Spot-check the definition: S = Σ_i W_ji x_i.
        let dot: i32 = (0..cols).map(|i| if w.get(0, i) == x.get(0, i) { 1 } else { -1 }).sum();
        prop_assert_eq!(base_xor[0], dot);
        for v in Variant::available() {
            let mut out = vec![0; rows * batch];
            kernel::xor_popcount_with(v, &pw, &x, &mut out);
            prop_assert_eq!(&out, &base_xor, "xor, {}", v.name());
            kernel::and_popcount_with(v, &pw, &x, &mut out);
            prop_assert_eq!(&out, &base_and, "and, {}", v.name());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn predictive_packed_equals_float((dims, batch, first_real, out_real, seed) in shape(), use_bytes in any::<bool>()) {
        let net = network(&dims, first_real, out_real, seed);
        let data = bytes((batch + 33) * dims[0], seed);
        let mut r = rng(seed ^ 7);
        let x = DMatrix::from_fn(dims[0], batch + 33, |_, _| sym(&mut r, 2.0));
        let input = if use_bytes {
            InputBatch::Bytes { data: &data, dim: dims[0], alpha: 1.0 / 64.0, offset: -2.0 }
        } else {
            InputBatch::Real(&x)
        };
        let cfg = McConfig { weight_samples: 2, noise_samples: 3, seed, engine: Engine::Packed };
        let packed = montecarlo::predictive(&net, input, &cfg).unwrap();
        let float = montecarlo::predictive(&net, input, &McConfig { engine: Engine::Float, ..cfg }).unwrap();
        prop_assert_eq!(packed.n_examples, batch + 33);
        let worst = packed.per_weight_sample.iter().zip(&float.per_weight_sample).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        prop_assert!(worst <= 1e-12, "predictives differ by {}", worst);
    }
}

#[test]
fn predictive_does_not_depend_on_thread_count() {
    let net = network(&[30, 70, 65, 5], false, false, 11);
    let data = bytes(100 * 30, 12);
    let input = InputBatch::Bytes { data: &data, dim: 30, alpha: 1.0 / 255.0, offset: 0.0 };
    let cfg = McConfig { weight_samples: 3, noise_samples: 2, seed: 5, engine: Engine::Auto };
    let run = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| montecarlo::predictive(&net, input, &cfg).unwrap());
    assert_eq!(run(1), run(2));
}

#[test]
fn bad_requests_are_errors() {
    let net = network(&[10, 20, 3], false, false, 1);
    let data = bytes(40, 2);
    let cfg = McConfig::default();
    let wrong_dim = InputBatch::Bytes { data: &data, dim: 8, alpha: 1.0, offset: 0.0 };
    assert!(montecarlo::predictive(&net, wrong_dim, &cfg).is_err());
    let ragged = InputBatch::Bytes { data: &data[..35], dim: 10, alpha: 1.0, offset: 0.0 };
    assert!(montecarlo::predictive(&net, ragged, &cfg).is_err());
    let ok = InputBatch::Bytes { data: &data, dim: 10, alpha: 1.0, offset: 0.0 };
    assert!(montecarlo::predictive(&net, ok, &McConfig { weight_samples: 0, ..cfg }).is_err());
    assert!(montecarlo::predictive(&net, ok, &McConfig { noise_samples: 0, ..cfg }).is_err());
    assert!(montecarlo::predictive(&net, ok, &cfg).is_ok());
    // A real hidden layer after the first cannot be packed: Packed refuses, Auto falls back.
    let mut r = rng(3);
    let layers = vec![
        Layer::bernoulli(DMatrix::from_fn(6, 10, |_, _| sym(&mut r, 1.0)), DVector::repeat(6, 0.3), DVector::zeros(6)),
        Layer::real(DMatrix::from_fn(4, 6, |_, _| sym(&mut r, 1.0)), DVector::zeros(4)),
        Layer::real(DMatrix::from_fn(3, 4, |_, _| sym(&mut r, 1.0)), DVector::zeros(3)),
    ];
    let mixed = Network::new(layers).unwrap();
    assert!(SampledNetwork::check(&mixed).is_err());
    assert!(montecarlo::predictive(&mixed, ok, &McConfig { engine: Engine::Packed, ..cfg }).is_err());
    assert!(montecarlo::predictive(&mixed, ok, &McConfig { engine: Engine::Auto, ..cfg }).is_ok());
}

#[test]
fn export_round_trip_preserves_predictions() {
    for (first_real, out_real) in [(false, false), (true, true), (false, true)] {
        let net = network(&[70, 65, 129, 4], first_real, out_real, 21);
        let data = bytes(9 * 70, 22);
        let input = InputBatch::Bytes { data: &data, dim: 70, alpha: 1.0 / 255.0, offset: -0.5 };
        for sn in [SampledNetwork::sample(&net, &mut rng(23)).unwrap(), SampledNetwork::most_likely(&net).unwrap()] {
            let back = SampledNetwork::from_bytes(&sn.to_bytes()).unwrap();
            assert_eq!(back.dims(), sn.dims());
            let a = sn.forward(&input, 0..9, &mut rngs(24, 9)).unwrap();
            let b = back.forward(&input, 0..9, &mut rngs(24, 9)).unwrap();
            assert_eq!(a.states, b.states);
            assert_eq!(a.logits, b.logits);
            let pa = montecarlo::predictive_packed(std::slice::from_ref(&sn), input, 3, 9).unwrap();
            let pb = montecarlo::predictive_packed(&[back], input, 3, 9).unwrap();
            assert_eq!(pa, pb);
        }
    }
}

#[test]
fn truncated_or_corrupt_exports_are_errors() {
    let net = network(&[5, 70, 3, 2], true, false, 31);
    let bytes = SampledNetwork::sample(&net, &mut rng(1)).unwrap().to_bytes();
    assert!(SampledNetwork::from_bytes(&bytes).is_ok());
    for len in 0..bytes.len() {
        assert!(SampledNetwork::from_bytes(&bytes[..len]).is_err(), "prefix of {len} bytes accepted");
    }
    for pos in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[pos] ^= flip;
            assert!(SampledNetwork::from_bytes(&bad).is_err(), "corruption at byte {pos} accepted");
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(SampledNetwork::from_bytes(&longer).is_err());
}

#[test]
fn summary_counts_bits_and_macs() {
    let net = network(&[784, 1024, 1024, 10], false, false, 1);
    let s = summary(&net);
    assert_eq!(s.binary_params(), 784 * 1024 + 1024 * 1024 + 1024 * 10);
    assert_eq!(s.float_params(), 2 * (1024 + 1024 + 10));
    assert_eq!(s.binary_macs(), 1024 * 1024 + 1024 * 10);
    assert_eq!(s.float_macs(), 784 * 1024);
    let ratio = s.compression_ratio();
    assert!(ratio > 29.0 && ratio < 32.0, "ratio {ratio}");
    let table = s.to_string();
    assert!(table.contains("Total") && table.contains("compression"));
    // The export stores the same network in about one bit per weight.
    let sn = SampledNetwork::most_likely(&net).unwrap();
    let file = sn.to_bytes().len() as f64;
    let f32_bytes = (s.binary_params() + s.float_params()) as f64 * 4.0;
    assert!(f32_bytes / file > 25.0, "export {file} bytes vs f32 {f32_bytes}");
}
