//! Post-hoc calibration (docs/math.md §10): temperature scaling never makes the fitting data's NLL
//! worse; on simulated predictives that are too sure or not sure enough, the fitted temperature
//! recovers the distortion and every method lowers the NLL and ECE of held-out data; maps survive
//! the model file, and files written before maps existed still load.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use sbn::data::InputScaling;
use sbn::fitted::FittedModel;
use sbn::io::ModelFile;
use sbn::metrics::scores::Scores;
use sbn::posthoc::{Method, PostHoc, PostHocFit};
use sbn::predictive::Predictive;
use sbn::uncertainty::Uncertainty;

fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

fn nll(p: &Predictive, labels: &[usize]) -> f64 {
    Scores::from_predictive(p, labels).unwrap().nll
}

/// Examples whose true class probabilities are `softmax(z)`, labels drawn from them, and a
/// predictive whose every weight sample is `softmax(factor · (z + jitter_s))`: `factor` > 1 is
/// overconfident, < 1 underconfident. Deterministic in `seed`.
fn distorted(n: usize, k: usize, samples: usize, factor: f64, jitter: f64, seed: u64) -> (Predictive, Vec<usize>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut probs = Vec::with_capacity(n * samples * k);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let z: Vec<f64> = (0..k).map(|_| 3.0 * rng.random::<f64>()).collect();
        let truth = softmax(&z);
        let u: f64 = rng.random();
        let mut cum = 0.0;
        labels.push(
            truth
                .iter()
                .position(|p| {
                    cum += p;
                    u < cum
                })
                .unwrap_or(k - 1),
        );
        for _ in 0..samples {
            let zs: Vec<f64> = z.iter().map(|v| factor * (v + jitter * (rng.random::<f64>() - 0.5))).collect();
            probs.extend(softmax(&zs));
        }
    }
    (Predictive { n_examples: n, n_classes: k, weight_samples: samples, noise_samples: 1, per_weight_sample: probs }, labels)
}

#[test]
fn temperature_scaling_never_raises_the_fitting_nll() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for case in 0..150 {
        let (n, k, s) = (rng.random_range(1..40), rng.random_range(2..6), rng.random_range(1..4));
        let mut probs = Vec::new();
        for _ in 0..n * s {
            // Logits of every scale, some rows nearly one-hot.
            let spread = [0.1, 1.0, 10.0, 60.0][rng.random_range(0..4)];
            probs.extend(softmax(&(0..k).map(|_| spread * (rng.random::<f64>() - 0.5)).collect::<Vec<_>>()));
        }
        let p = Predictive { n_examples: n, n_classes: k, weight_samples: s, noise_samples: 1, per_weight_sample: probs };
        let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..k)).collect();
        let before = nll(&p, &labels);
        let t = PostHoc::fit(Method::Temperature, &p, &labels).unwrap();
        let after_t = nll(&t.apply(&p).unwrap(), &labels);
        assert!(after_t <= before + 1e-9, "case {case}: {t}: NLL {before} → {after_t}");
        let v = PostHoc::fit(Method::Vector, &p, &labels).unwrap();
        let after_v = nll(&v.apply(&p).unwrap(), &labels);
        assert!(after_v <= after_t + 1e-9, "case {case}: {v}: NLL {after_t} (temperature) → {after_v}");
    }
}

#[test]
fn the_fitted_temperature_undoes_a_known_sharpening_or_flattening() {
    for (factor, seed) in [(2.5, 1), (0.4, 2)] {
        let (p, labels) = distorted(4000, 5, 1, factor, 0.0, seed);
        let PostHoc::Temperature(t) = PostHoc::fit(Method::Temperature, &p, &labels).unwrap() else { panic!("not a temperature") };
        // p = softmax(factor · z) is undone by T = factor exactly; sampling noise of the labels only.
        assert!((t / factor - 1.0).abs() < 0.12, "factor {factor}: fitted T = {t}");
        let before = Scores::from_predictive(&p, &labels).unwrap();
        let after = Scores::from_predictive(&PostHoc::Temperature(t).apply(&p).unwrap(), &labels).unwrap();
        assert!(before.ece > 0.08 && after.ece < 0.03, "factor {factor}: ECE {} → {}", before.ece, after.ece);
        assert_eq!(before.accuracy, after.accuracy, "a temperature keeps every arg-max");
    }
}

#[test]
fn every_method_improves_held_out_data_of_a_distorted_mixture() {
    // Four weight samples that disagree a little, then too sure (2.5) or not sure enough (0.4);
    // fitted on one half, scored on the other.
    for (factor, seed) in [(2.5, 3), (0.4, 4)] {
        let (p, labels) = distorted(6000, 4, 4, factor, 0.6, seed);
        let fit_idx: Vec<usize> = (0..3000).collect();
        let test_idx: Vec<usize> = (3000..6000).collect();
        let part = |idx: &[usize]| {
            let len = p.weight_samples * p.n_classes;
            Predictive {
                n_examples: idx.len(),
                per_weight_sample: idx.iter().flat_map(|&n| p.per_weight_sample[n * len..(n + 1) * len].to_vec()).collect(),
                ..p.clone()
            }
        };
        let (fit_p, test_p) = (part(&fit_idx), part(&test_idx));
        let (fit_y, test_y) = (&labels[..3000], &labels[3000..]);
        let before = Scores::from_predictive(&test_p, test_y).unwrap();
        for method in [Method::Temperature, Method::Vector, Method::Histogram] {
            let map = PostHoc::fit(method, &fit_p, fit_y).unwrap();
            let calibrated = map.apply(&test_p).unwrap();
            let after = Scores::from_predictive(&calibrated, test_y).unwrap();
            assert!(after.nll < before.nll - 0.02, "factor {factor}, {map}: held-out NLL {} → {}", before.nll, after.nll);
            assert!(after.ece < 0.5 * before.ece && after.ece < 0.035, "factor {factor}, {map}: held-out ECE {} → {}", before.ece, after.ece);
            if method == Method::Histogram {
                // (Tempering each weight sample can move the mixture's arg-max; binning cannot.)
                assert_eq!(after.accuracy, before.accuracy, "{map} keeps every predicted class");
            }
            let split = Uncertainty::from_predictive(&calibrated).unwrap();
            let mixture_kept = method != Method::Histogram;
            assert_eq!(split.model.iter().any(|&m| m > 1e-6), mixture_kept, "{map}: the model part is kept by the per-sample maps only");
        }
    }
}

#[test]
fn a_map_that_does_not_fit_is_refused() {
    let (p, labels) = distorted(50, 3, 2, 1.0, 0.1, 5);
    assert!(PostHoc::Temperature(0.0).apply(&p).unwrap_err().to_string().contains("temperature"));
    assert!(PostHoc::Temperature(f64::NAN).apply(&p).is_err());
    let short = PostHoc::Vector { scale: vec![1.0; 2], bias: vec![0.0; 2] };
    assert!(short.apply(&p).unwrap_err().to_string().contains("3 classes"));
    let unsorted = PostHoc::Histogram { edges: vec![0.6, 0.5], accuracy: vec![0.4, 0.5, 0.6] };
    assert!(unsorted.apply(&p).unwrap_err().to_string().contains("increasing"));
    assert!(PostHoc::fit(Method::Temperature, &p, &labels[..10]).unwrap_err().to_string().contains("10 labels"));
    assert!("platt".parse::<Method>().unwrap_err().to_string().contains("temperature, vector or histogram"));
}

fn stored(map: PostHoc) -> PostHocFit {
    PostHocFit { map, data: "held-out".into(), n_examples: 3, weight_samples: 16, noise_samples: 8 }
}

const OLD_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/model-format-1.sbn");

#[test]
fn maps_survive_the_model_file_and_old_files_still_load() {
    // Written by `sbn fit tests/data/model-format-1.toml --train embedded:digits` at commit
    // 69646b4, before post-hoc calibration existed.
    let old = ModelFile::load(std::path::Path::new(OLD_MODEL)).unwrap();
    assert_eq!(old.fitted.posthoc, None);
    assert_eq!(old.fitted.class_names.len(), 10);
    for map in [
        PostHoc::Temperature(1.7),
        PostHoc::Vector { scale: (0..10).map(|k| 0.5 + k as f64 / 10.0).collect(), bias: (0..10).map(|k| k as f64 / 100.0 - 0.03).collect() },
        PostHoc::Histogram { edges: vec![0.2, 0.7], accuracy: vec![0.1, 0.5, 0.95] },
    ] {
        let mut file = old.clone();
        file.fitted = file.fitted.with_posthoc(Some(stored(map))).unwrap();
        let back = ModelFile::from_bytes(&file.to_bytes(), "round trip").unwrap();
        assert_eq!(back, file);
    }
    // A stored map that does not fit the model is an error naming the file.
    let mut bad = old.clone();
    bad.fitted.posthoc = Some(stored(PostHoc::Temperature(-1.0)));
    let e = ModelFile::from_bytes(&bad.to_bytes(), "bad.sbn").unwrap_err().to_string();
    assert!(e.contains("bad.sbn") && e.contains("temperature"), "{e}");
    let mut bad = old;
    bad.fitted.posthoc = Some(stored(PostHoc::Vector { scale: vec![1.0; 3], bias: vec![0.0; 3] }));
    assert!(ModelFile::from_bytes(&bad.to_bytes(), "bad.sbn").unwrap_err().to_string().contains("10 classes"));
}

#[test]
fn a_model_without_a_map_says_how_to_get_one() {
    let old = ModelFile::load(std::path::Path::new(OLD_MODEL)).unwrap().fitted;
    let e = old.posthoc_map("m.sbn").unwrap_err().to_string();
    assert!(e.contains("m.sbn") && e.contains("sbn calibrate"), "{e}");
    let with = FittedModel::new(old.network.clone(), InputScaling::Affine { alpha: 1.0, offset: 0.0 }, old.class_names.clone(), Vec::new())
        .unwrap()
        .with_posthoc(Some(stored(PostHoc::Temperature(2.0))))
        .unwrap();
    assert_eq!(with.posthoc_map("m.sbn").unwrap(), &PostHoc::Temperature(2.0));
}

#[test]
fn the_command_line_fits_stores_and_applies_a_map() {
    use crate::common::cli::{sbn, temp_dir};
    let dir = temp_dir("posthoc-cli");
    let model = dir.join("m.sbn");
    std::fs::copy(OLD_MODEL, &model).unwrap();
    let m = model.to_str().unwrap();
    let mc = ["--weight-samples", "4", "--noise-samples", "2"];
    let run = |args: &[&str]| sbn(&[args, &mc[..]].concat());
    // Nothing stored yet: every predicting command says so, naming the file.
    for cmd in
        [&["evaluate", m, "--data", "embedded:digits"][..], &["uncertainty", m, "--data", "embedded:digits"], &["calibrate", m, "--data", "embedded:digits"]]
    {
        let (ok, _, err) = run(&[cmd, &["--posthoc"]].concat());
        assert!(!ok && err.contains("--posthoc") && err.contains("m.sbn") && err.contains("no post-hoc calibration"), "{cmd:?}: {err}");
    }
    let (ok, _, err) = run(&["calibrate", m, "--data", "embedded:digits", "--fit", "platt"]);
    assert!(!ok && err.contains("--fit") && err.contains("platt"), "{err}");
    let plots = dir.join("plots");
    let (ok, out, err) = run(&["calibrate", m, "--data", "embedded:digits", "--fit", "temperature", "--save", "--out", plots.to_str().unwrap()]);
    assert!(ok && out.contains("before") && out.contains("after") && out.contains("temperature scaling, T ="), "{out}{err}");
    for f in ["reliability_before.png", "reliability_before.svg", "reliability_after.png", "reliability_after.svg"] {
        assert!(plots.join(f).is_file(), "{f} missing");
    }
    let stored = ModelFile::load(&model).unwrap().fitted.posthoc.expect("stored");
    assert_eq!((stored.n_examples, stored.weight_samples, stored.noise_samples), (1797, 4, 2));
    let scores = |extra: &[&str]| {
        let (ok, out, err) = run(&[&["evaluate", m, "--data", "embedded:digits", "--json"][..], extra].concat());
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["nll"].as_f64().unwrap()
    };
    // Same data and draws as the fit: the stored temperature cannot raise the NLL.
    let (plain, calibrated) = (scores(&[]), scores(&["--posthoc"]));
    assert!(calibrated < plain, "NLL {plain} → {calibrated} with --posthoc");
    let csv = dir.join("p.csv");
    let (ok, _, err) = run(&["predict", m, "--data", "embedded:digits", "--posthoc", "--out", csv.to_str().unwrap()]);
    assert!(ok && err.contains("post-hoc calibration: temperature"), "{err}");
    let packed = dir.join("m.packed");
    assert!(sbn(&["export", m, "--out", packed.to_str().unwrap()]).0);
    let (ok, _, err) = run(&["predict", packed.to_str().unwrap(), "--data", "embedded:digits", "--posthoc", "--out", csv.to_str().unwrap()]);
    assert!(!ok && err.contains("--posthoc") && err.contains("packed"), "{err}");
}
