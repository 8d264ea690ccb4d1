//! One training step (weight sample, forward, backward) of PSA against ST: a 784-1024-1024-10
//! Bernoulli network at batch 128 (the README's speed table), and the PSA paper's SBN (real weights
//! in every layer, stochastic binary units) at 784-1024-1024-10 / batch 128 and 784-512-512-10 /
//! batch 64 (the sizes the reference PyTorch PSA is timed at). Criterion reports the time per batch;
//! the per-example time is that divided by the batch. Run: `cargo bench --bench train_step`, or one
//! case: `cargo bench --bench train_step -- real_784-512`.
//!
//! The batch is the first training images of Fashion-MNIST (the headline workload) when the data
//! set is installed at `/usr/share/datasets/fashion-mnist` (or `$SBN_FASHION_MNIST`), else of the
//! vendored MNIST sample; either way scaled as `sbn fit` scales them.
//!
//! Every step runs on the fast engine (popcount and f32 products, the default for fitting) and on
//! the reference engine (f64). After criterion's figures for a case, paired measurements: rounds
//! of two steps back to back (order alternating), so that the machine's slow phases hit both, and
//! rounds during which another process ran are dropped; each prints the median times and the
//! median and quartiles of the per-round ratio: PSA / ST on the fast engine, and reference / fast
//! for PSA and for ST.

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::data::{self, InputScaling, LoadOptions, Role};
use sbn::engine::Engine;
use sbn::estimator::{Estimator, EstimatorKind};
use sbn::model::init::{InitConfig, random_network};
use sbn::model::{Network, WeightKind};
use sbn::train::{TrainingConfig, estimate_batch};

/// One benchmark case: the hidden widths, the weight kind of every layer and the batch.
struct Case {
    hidden: usize,
    kind: WeightKind,
    batch: usize,
}

const CASES: [Case; 3] = [
    Case { hidden: 1024, kind: WeightKind::Bernoulli, batch: 128 },
    Case { hidden: 1024, kind: WeightKind::Real, batch: 128 },
    Case { hidden: 512, kind: WeightKind::Real, batch: 64 },
];

fn bench(c: &mut Criterion) {
    // The first free argument is criterion's filter; a case runs (criterion and paired rounds) when
    // its name contains the filter or the filter names one of its benchmarks (`…_b128/psa`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().find(|a| !a.starts_with('-'));
    // Paired rounds only when benchmarking (not with `--list`, `--test` or `--profile-time`).
    let measuring = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| ["--list", "--test", "--profile-time"].contains(&a.as_str()));
    for case in &CASES {
        let name = format!("train_step_784-{h}-{h}-10_{kind}_b{b}", h = case.hidden, kind = case.kind, b = case.batch);
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str()) && !f.starts_with(&name)) {
            continue;
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let net = random_network(&[784, case.hidden, case.hidden, 10], &[case.kind; 3], InitConfig::default(), &mut rng).unwrap();
        let (x, y) = images(case.batch);
        let mut group = c.benchmark_group(&name);
        group.throughput(Throughput::Elements(case.batch as u64));
        group.sample_size(20);
        for (engine, suffix) in [(Engine::Fast, ""), (Engine::Reference, "-reference")] {
            let config = step_config(engine);
            for kind in [EstimatorKind::St, EstimatorKind::Psa] {
                let est = kind.build();
                let mut seed = 0u64;
                group.bench_function(format!("{}{suffix}", kind.name()), |b| {
                    b.iter(|| {
                        seed += 1;
                        estimate_batch(&net, &x, &y, est.as_ref(), seed, &config).unwrap()
                    })
                });
            }
        }
        group.finish();
        if measuring {
            let step = |kind: EstimatorKind, engine| Step { label: format!("{kind} {engine}"), estimator: kind.build(), config: step_config(engine) };
            let (st, psa) = (EstimatorKind::St, EstimatorKind::Psa);
            paired(&name, (&net, &x, &y), [step(st, Engine::Fast), step(psa, Engine::Fast)], 100);
            paired(&name, (&net, &x, &y), [step(psa, Engine::Fast), step(psa, Engine::Reference)], 40);
            paired(&name, (&net, &x, &y), [step(st, Engine::Fast), step(st, Engine::Reference)], 40);
        }
    }
}

/// Chunks of 64 examples, as `sbn fit` runs them by default, on `engine`.
fn step_config(engine: Engine) -> TrainingConfig {
    TrainingConfig { chunk: 64, engine, ..TrainingConfig::default() }
}

/// One kind of training step in a paired measurement.
struct Step {
    label: String,
    estimator: Box<dyn Estimator>,
    config: TrainingConfig,
}

/// `rounds` paired rounds of the steps `a` and `b`; prints medians and the quartiles of `b / a`.
///
/// The machine may be shared: on Linux a round during which another process used the CPU (a
/// clock tick of it in `/proc/stat`) is dropped and run again, up to `10 × rounds` attempts; the
/// line says how many were dropped and whether contended rounds had to be kept.
fn paired(name: &str, (net, x, y): (&Network, &DMatrix<f64>, &[usize]), [a, b]: [Step; 2], rounds: usize) {
    let step = |s: &Step, seed: u64| {
        let start = Instant::now();
        std::hint::black_box(estimate_batch(net, x, y, s.estimator.as_ref(), seed, &s.config).unwrap());
        start.elapsed().as_secs_f64() * 1e3
    };
    let (mut t_a, mut t_b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    let (mut dropped, mut kept_contended) = (0, 0);
    for round in 0..10 * rounds as u64 {
        let before = others_cpu();
        let (ta, tb) = if round % 2 == 0 {
            let ta = step(&a, round);
            (ta, step(&b, round))
        } else {
            let tb = step(&b, round);
            (step(&a, round), tb)
        };
        let contended = matches!((before, others_cpu()), (Some(b0), Some(b1)) if b1 > b0);
        let left = 10 * rounds - round as usize - 1;
        if contended && left >= rounds - t_a.len() {
            dropped += 1;
            continue;
        }
        kept_contended += usize::from(contended);
        t_a.push(ta);
        t_b.push(tb);
        ratio.push(tb / ta);
        if t_a.len() == rounds {
            break;
        }
    }
    let quantile = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    let batch = x.ncols() as f64;
    let (a_ms, b_ms) = (quantile(&mut t_a, 0.5), quantile(&mut t_b, 0.5));
    let (la, lb) = (&a.label, &b.label);
    println!(
        "{name} paired, {rounds} rounds ({dropped} contended rounds dropped, {kept_contended} kept): {la} {a_ms:.1} ms, {lb} {b_ms:.1} ms per batch (medians; {:.3} and {:.3} ms per example); {lb} / {la} median {:.2} (quartiles {:.2}, {:.2})",
        a_ms / batch,
        b_ms / batch,
        quantile(&mut ratio, 0.5),
        quantile(&mut ratio, 0.25),
        quantile(&mut ratio, 0.75)
    );
}

/// Clock ticks of CPU time used by other processes so far (Linux: `/proc/stat` less this process).
fn others_cpu() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).map(|v| v.parse().ok()).collect::<Option<_>>()?;
    let busy = cpu.iter().sum::<u64>() - cpu.get(3)? - cpu.get(4)?;
    let me = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = me.rsplit_once(')')?.1.split_whitespace().collect();
    let mine = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    busy.checked_sub(mine)
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
