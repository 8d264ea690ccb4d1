//! Confidence intervals (docs/math.md §8): the Wilson interval against a published value and its
//! coverage on simulated Bernoulli data; the bootstrap's coverage of known NLL and Brier values;
//! seeded, thread-count independent resamples; the paired comparison of a model with itself.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use sbn::intervals::{PairedComparison, ScoreIntervals};
use sbn::metrics::interval::{Bootstrap, wilson};
use sbn::predictive::Predictive;

#[test]
fn wilson_matches_the_published_value_and_covers_at_the_nominal_rate() {
    // 8 of 10 at 95 %: [0.4902, 0.9433] (Newcombe 1998, Table I, method 3).
    let i = wilson(8, 10, 0.95).unwrap();
    assert!((i.lower - 0.4902).abs() < 5e-5 && (i.upper - 0.9433).abs() < 5e-5, "{i:?}");
    let edge = wilson(0, 10, 0.95).unwrap();
    assert!(edge.lower == 0.0 && edge.upper > 0.2 && edge.upper < 0.35, "{edge:?}");
    assert!(wilson(11, 10, 0.95).is_err() && wilson(5, 10, 1.0).is_err());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
    for p in [0.3, 0.9] {
        let covered = (0..2000)
            .filter(|_| {
                let hits = (0..200).filter(|_| rng.random::<f64>() < p).count();
                let i = wilson(hits, 200, 0.95).unwrap();
                i.lower <= p && p <= i.upper
            })
            .count();
        let coverage = covered as f64 / 2000.0;
        assert!((0.92..=0.98).contains(&coverage), "p = {p}: coverage {coverage}");
    }
}

/// `n` examples all predicted `row`, labels drawn from `row`: calibrated by construction.
fn simulated(row: &[f64], n: usize, rng: &mut Xoshiro256PlusPlus) -> (Predictive, Vec<usize>) {
    let labels = (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            let mut cum = 0.0;
            row.iter()
                .position(|p| {
                    cum += p;
                    u < cum
                })
                .unwrap_or(row.len() - 1)
        })
        .collect();
    (Predictive { n_examples: n, n_classes: row.len(), weight_samples: 1, noise_samples: 1, per_weight_sample: row.repeat(n) }, labels)
}

#[test]
fn bootstrap_intervals_cover_the_true_nll_and_brier() {
    let row: [f64; 3] = [0.6, 0.3, 0.1];
    // The expected NLL is the entropy of the row; the expected Brier 1 − Σ p².
    let true_nll: f64 = -row.iter().map(|p| p * p.ln()).sum::<f64>();
    let true_brier: f64 = 1.0 - row.iter().map(|p| p * p).sum::<f64>();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let sims = 200;
    let (mut nll_hits, mut brier_hits) = (0, 0);
    for sim in 0..sims {
        let (p, labels) = simulated(&row, 200, &mut rng);
        let ci = ScoreIntervals::compute(&p, &labels, &Bootstrap { replicates: 200, confidence: 0.9, seed: sim }).unwrap();
        nll_hits += usize::from(ci.nll.lower <= true_nll && true_nll <= ci.nll.upper);
        brier_hits += usize::from(ci.brier.lower <= true_brier && true_brier <= ci.brier.upper);
    }
    for (name, hits) in [("NLL", nll_hits), ("Brier", brier_hits)] {
        let coverage = hits as f64 / sims as f64;
        assert!((0.84..=0.96).contains(&coverage), "{name}: 90% intervals covered the truth {coverage} of the time");
    }
}

#[test]
fn bootstrap_depends_on_the_seed_only() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let (p, labels) = simulated(&[0.5, 0.3, 0.2], 300, &mut rng);
    let b = Bootstrap { replicates: 50, confidence: 0.95, seed: 3 };
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| ScoreIntervals::compute(&p, &labels, &b).unwrap())
    };
    assert_eq!(on(1), on(2));
    let other = ScoreIntervals::compute(&p, &labels, &Bootstrap { seed: 4, ..b }).unwrap();
    assert_ne!(on(1).nll, other.nll, "another seed draws other resamples");
    assert!(Bootstrap { replicates: 1, ..b }.check().is_err() && Bootstrap { confidence: 0.0, ..b }.check().is_err());
}

#[test]
fn a_paired_comparison_sees_what_separates_two_models() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let (p, labels) = simulated(&[0.7, 0.2, 0.1], 400, &mut rng);
    let b = Bootstrap { replicates: 100, confidence: 0.95, seed: 0 };
    // A model against itself: every difference exactly 0, every interval of width 0.
    let same = PairedComparison::compute(&p, &p, &labels, &b).unwrap();
    for i in [same.accuracy, same.ece, same.nll, same.brier] {
        assert_eq!((i.estimate, i.lower, i.upper), (0.0, 0.0, 0.0));
    }
    // A flattened copy: the same predictions, a worse NLL, by a margin the interval resolves.
    let flat = Predictive { per_weight_sample: [0.5, 0.3, 0.2].repeat(400), ..p.clone() };
    let d = PairedComparison::compute(&p, &flat, &labels, &b).unwrap();
    assert_eq!((d.accuracy.lower, d.accuracy.upper), (0.0, 0.0));
    assert!(d.nll.estimate > 0.0 && d.nll.lower > 0.0, "{:?}", d.nll);
    let short = Predictive { n_examples: 399, per_weight_sample: p.per_weight_sample[3..].to_vec(), ..p.clone() };
    assert!(PairedComparison::compute(&p, &short, &labels, &b).is_err());
}

#[test]
fn evaluate_and_compare_report_intervals() {
    use crate::common::cli::sbn;
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/model-format-1.sbn");
    let mc = ["--weight-samples", "4", "--noise-samples", "2", "--data", "embedded:digits"];
    let (ok, out, err) = sbn(&[&["evaluate", model, "--json", "--intervals", "--bootstrap", "50"][..], &mc].concat());
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let acc = &v["intervals"]["accuracy"];
    assert!(acc["lower"].as_f64().unwrap() < v["accuracy"].as_f64().unwrap() && acc["upper"].as_f64().unwrap() > v["accuracy"].as_f64().unwrap(), "{out}");
    for key in ["ece", "nll", "brier", "total", "data", "model"] {
        let i = &v["intervals"][key];
        assert!(i["lower"].as_f64().unwrap() <= i["upper"].as_f64().unwrap(), "{key}: {out}");
    }
    assert_eq!(v["intervals"]["bins"].as_array().unwrap().len(), 15);
    let (ok, out, err) = sbn(&[&["compare", model, model, "--json", "--bootstrap", "20"][..], &mc].concat());
    assert!(ok, "{err}");
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["difference"]["nll"], serde_json::json!({"estimate": 0.0, "lower": 0.0, "upper": 0.0}));
    let dir = crate::common::cli::temp_dir("intervals-report");
    let (ok, _, err) = sbn(&[&["report", model, "--intervals", "--bootstrap", "20", "--out", dir.to_str().unwrap()][..], &mc].concat());
    assert!(ok, "{err}");
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    assert!(metrics["intervals"]["ece"]["upper"].is_number() && metrics["accuracy_interval"]["lower"].is_number(), "{metrics}");
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("(Wilson)") && summary.contains("(bootstrap)"), "{summary}");
    let (ok, _, err) = sbn(&[&["evaluate", model, "--intervals", "--confidence", "95"][..], &mc].concat());
    assert!(!ok && err.contains("--confidence 95"), "{err}");
}
