//! Packed Monte-Carlo inference benchmarks (the README's speed table).
//!
//! (a) XOR-popcount kernel, 1024×1024 layer, batch 256, one thread: binary MAC/s per variant, and
//!     an f32 nalgebra GEMM of the same shape in the same run.
//! (b) End to end: MC predictive of a 784-1024-1024-10 Bernoulli network (θ = ±2) on 256 byte
//!     images, S_w = 4, S_z = 8, packed against float on the same sampled networks.
//!
//! Besides criterion's figures, each part prints medians and ratios timed in the same run.
//! Run briefly: `cargo bench --bench kernels -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::data::InputBatch;
use sbn::model::noise::uniform;
use sbn::model::{Layer, Network};
use sbn::montecarlo::{self, McConfig};
use sbn::packed::{BitMatrix, summary};
use sbn::popcount::kernel::{self, PackedRows, Variant};

const N: usize = 1024;
const BATCH: usize = 256;

/// Median seconds of `runs` calls.
fn median_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn kernels(c: &mut Criterion) {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(1);
    let w = BitMatrix::from_fn(N, N, |_, _| uniform(&mut r) < 0.5);
    let x = BitMatrix::from_fn(BATCH, N, |_, _| uniform(&mut r) < 0.5);
    let pw = PackedRows::new(&w);
    let wf = DMatrix::<f32>::from_fn(N, N, |_, _| uniform(&mut r) as f32 - 0.5);
    let xf = DMatrix::<f32>::from_fn(N, BATCH, |_, _| uniform(&mut r) as f32 - 0.5);
    let macs = (N * N * BATCH) as f64;
    let mut out = vec![0i32; N * BATCH];
    let mut of = DMatrix::<f32>::zeros(N, BATCH);

    let mut g = c.benchmark_group("xor_popcount_1024x1024_b256");
    g.throughput(Throughput::Elements((N * N * BATCH) as u64));
    for v in Variant::available() {
        g.bench_function(BenchmarkId::from_parameter(v.name()), |b| b.iter(|| kernel::xor_popcount_with(v, &pw, black_box(&x), &mut out)));
    }
    g.bench_function("f32_gemm_nalgebra", |b| b.iter(|| wf.mul_to(black_box(&xf), &mut of)));
    g.finish();

    let gemm = macs / median_secs(9, || wf.mul_to(black_box(&xf), &mut of));
    println!("\n[kernel] 1024x1024 layer, batch 256, one thread (medians of 9):");
    println!("[kernel]   f32 GEMM (nalgebra)   {:8.1} G MAC/s", gemm / 1e9);
    for v in Variant::available() {
        let rate = macs / median_secs(9, || kernel::xor_popcount_with(v, &pw, black_box(&x), &mut out));
        println!(
            "[kernel]   {:<20}  {:8.1} G binary MAC/s  = {:5.2}x the f32 GEMM, {:5.1}% of 0.98 T",
            v.name(),
            rate / 1e9,
            rate / gemm,
            rate / 0.98e12 * 100.0
        );
    }
}

fn end_to_end(c: &mut Criterion) {
    let dims = [784usize, 1024, 1024, 10];
    let mut r = Xoshiro256PlusPlus::seed_from_u64(2);
    let layers = dims
        .windows(2)
        .map(|d| {
            let logits = DMatrix::from_fn(d[1], d[0], |_, _| if uniform(&mut r) < 0.5 { 2.0 } else { -2.0 });
            let scale = DVector::repeat(d[1], 2.0 / (d[0] as f64).sqrt());
            let bias = DVector::from_fn(d[1], |_, _| uniform(&mut r) - 0.5);
            Layer::bernoulli(logits, scale, bias)
        })
        .collect();
    let net = Network::new(layers).unwrap();
    let images: Vec<u8> = (0..BATCH * 784).map(|_| (uniform(&mut r) * 256.0) as u8).collect();
    let input = InputBatch::Bytes { data: &images, dim: 784, alpha: 1.0 / 255.0, offset: 0.0 };
    let cfg = McConfig { weight_samples: 4, noise_samples: 8, seed: 7, ..McConfig::default() };
    let nets = montecarlo::sample_networks(&net, &cfg).unwrap();
    let samples: Vec<_> = nets.iter().map(|n| n.weight_sample()).collect();
    let count = (BATCH * cfg.weight_samples * cfg.noise_samples) as f64;

    let mut g = c.benchmark_group("mc_predictive_784-1024-1024-10_b256_sw4_sz8");
    g.sample_size(10);
    g.throughput(Throughput::Elements(count as u64));
    g.bench_function("packed", |b| b.iter(|| montecarlo::predictive_packed(&nets, input, cfg.noise_samples, cfg.seed).unwrap()));
    g.bench_function("float", |b| b.iter(|| montecarlo::predictive_float(&net, &samples, input, cfg.noise_samples, cfg.seed).unwrap()));
    g.bench_function("packed_with_weight_sampling", |b| b.iter(|| montecarlo::predictive(&net, input, &cfg).unwrap()));
    g.finish();

    let packed = median_secs(5, || drop(montecarlo::predictive_packed(&nets, input, cfg.noise_samples, cfg.seed).unwrap()));
    let float = median_secs(3, || drop(montecarlo::predictive_float(&net, &samples, input, cfg.noise_samples, cfg.seed).unwrap()));
    let agree = {
        let a = montecarlo::predictive_packed(&nets, input, cfg.noise_samples, cfg.seed).unwrap();
        let b = montecarlo::predictive_float(&net, &samples, input, cfg.noise_samples, cfg.seed).unwrap();
        a.per_weight_sample.iter().zip(&b.per_weight_sample).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    };
    println!("\n[e2e] 784-1024-1024-10, 256 byte images, S_w = 4, S_z = 8, {} rayon threads (medians):", rayon::current_num_threads());
    println!("[e2e]   packed {:10.0} image-samples/s ({:.4} s)", count / packed, packed);
    println!("[e2e]   float  {:10.0} image-samples/s ({:.4} s)", count / float, float);
    println!("[e2e]   packed / float = {:.1}x; max |p̄_s difference| = {agree:.2e}", float / packed);
    let s = summary(&net);
    println!("\n{s}");
    println!("export of one sampled network: {} bytes; f32 weights: {} bytes", nets[0].to_bytes().len(), (s.binary_params() + s.float_params()) * 4);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    kernels(&mut c);
    end_to_end(&mut c);
    c.final_summary();
}
