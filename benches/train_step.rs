//! One training step (weight sample, forward, backward) of PSA against ST for a 784-1024-1024-10
//! Bernoulli network at batch 128 (the README's speed table). Criterion reports the time per batch; the
//! per-example time is that divided by 128. Run: `cargo bench --bench train_step`.
//!
//! The batch is the first 128 Fashion-MNIST training images (the headline workload) when the data
//! set is installed at `/usr/share/datasets/fashion-mnist` (or `$SBN_FASHION_MNIST`), else the first
//! 128 images of the vendored MNIST sample; either way scaled as `sbn fit` scales them.
//!
//! After criterion's figures, a paired measurement: rounds of one ST step and one PSA step back to
//! back (order alternating), so that the machine's slow phases hit both; it prints the median
//! times and the median and quartiles of the per-round ratio PSA / ST.

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::data::{self, InputScaling, LoadOptions, Role};
use sbn::estimator::{Estimator, EstimatorKind};
use sbn::model::init::{InitConfig, random_network};
use sbn::model::{Network, WeightKind};
use sbn::train::estimate_batch;

fn bench(c: &mut Criterion) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let kinds = [WeightKind::Bernoulli; 3];
    let net = random_network(&[784, 1024, 1024, 10], &kinds, InitConfig::default(), &mut rng).unwrap();
    let batch = 128;
    let (x, y) = images(batch);
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
    paired(&net, &x, &y, 100);
}

/// `rounds` paired rounds of one ST and one PSA step; prints medians and the ratio's quartiles.
fn paired(net: &Network, x: &DMatrix<f64>, y: &[usize], rounds: usize) {
    let (st, psa) = (EstimatorKind::St.build(), EstimatorKind::Psa.build());
    let step = |est: &dyn Estimator, seed: u64| {
        let start = Instant::now();
        std::hint::black_box(estimate_batch(net, x, y, est, seed, 64, false).unwrap());
        start.elapsed().as_secs_f64() * 1e3
    };
    let (mut t_st, mut t_psa, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds as u64 {
        let (a, b) = if round % 2 == 0 {
            let a = step(st.as_ref(), round);
            (a, step(psa.as_ref(), round))
        } else {
            let b = step(psa.as_ref(), round);
            (step(st.as_ref(), round), b)
        };
        t_st.push(a);
        t_psa.push(b);
        ratio.push(b / a);
    }
    let quantile = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    println!(
        "paired, {rounds} rounds: ST {:.1} ms, PSA {:.1} ms per batch (medians); PSA / ST median {:.2} (quartiles {:.2}, {:.2})",
        quantile(&mut t_st, 0.5),
        quantile(&mut t_psa, 0.5),
        quantile(&mut ratio, 0.5),
        quantile(&mut ratio, 0.25),
        quantile(&mut ratio, 0.75)
    );
}

/// The first `batch` training images, scaled, and their labels.
fn images(batch: usize) -> (DMatrix<f64>, Vec<usize>) {
    let fashion = std::env::var_os("SBN_FASHION_MNIST").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    let ds = if fashion.is_dir() {
        data::load(&fashion, &LoadOptions { role: Role::Train, ..LoadOptions::default() })
    } else {
        let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k-images-idx3-ubyte.gz");
        data::load(&vendored, &LoadOptions::default())
    }
    .expect("benchmark images");
    eprintln!("train_step: the first {batch} images of {}", ds.name);
    let indices: Vec<usize> = (0..batch).collect();
    let x = InputScaling::fit(&ds).apply(&ds, &indices).expect("scaled images");
    (x, ds.labels().expect("labelled images")[..batch].to_vec())
}

criterion_group!(benches, bench);
criterion_main!(benches);
