//! One training step (weight sample, forward, backward) of PSA against ST for a 784-1024-1024-10
//! Bernoulli network at batch 128 (BENCHMARKS.md §2). Criterion reports the time per batch; the
//! per-example time is that divided by 128. Run: `cargo bench --bench train_step`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::estimator::EstimatorKind;
use sbn::model::init::{random_network, InitConfig};
use sbn::model::WeightKind;
use sbn::train::estimate_batch;

fn bench(c: &mut Criterion) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let kinds = [WeightKind::Bernoulli; 3];
    let net = random_network(&[784, 1024, 1024, 10], &kinds, InitConfig::default(), &mut rng).unwrap();
    let batch = 128;
    // Image-like inputs: one affine map of 8-bit values to [−2, 2].
    let x = DMatrix::from_fn(784, batch, |i, n| ((i * 31 + n * 17) % 256) as f64 / 255.0 * 4.0 - 2.0);
    let y: Vec<usize> = (0..batch).map(|n| n % 10).collect();
    let mut group = c.benchmark_group("train_step_784-1024-1024-10_bernoulli_b128");
    group.throughput(Throughput::Elements(batch as u64));
    group.sample_size(20);
    for kind in [EstimatorKind::St, EstimatorKind::Psa] {
        let est = kind.build();
        let mut seed = 0u64;
        group.bench_function(kind.name(), |b| {
            b.iter(|| {
                seed += 1;
                estimate_batch(&net, &x, &y, est.as_ref(), seed, 64, false).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
