//! The pretrained models of `pretrained/` and the formats they and exports use: the digits model
//! and the convolutional Fashion-MNIST model (when the data set is installed) score exactly what
//! their reports say, compact files round-trip within their stated bound and
//! damaged ones are errors naming the file, and `sbn export --format compact|safetensors` write
//! what the library reads back.

use std::path::Path;

use rand::SeedableRng;
use sbn::WeightKind;
use sbn::data::InputScaling;
use sbn::data::embedded::digits;
use sbn::evaluate::evaluate;
use sbn::fitted::FittedModel;
use sbn::io::{ModelFile, SafetensorsModel, quantize};
use sbn::model::init::{InitConfig, random_network};
use sbn::montecarlo::{Engine, McConfig};
use sbn::spec::ModelSpec;

use crate::common::cli::{sbn, temp_dir};

const DIGITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pretrained/digits.sbn");
const DIGITS_REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/pretrained/digits/metrics.json");
const CONV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pretrained/fashion-mnist-conv.sbn");
const CONV_REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/pretrained/fashion-mnist-conv/metrics.json");

fn config() -> McConfig {
    McConfig { weight_samples: 16, noise_samples: 8, seed: 0, engine: Engine::Auto }
}

#[test]
fn the_pretrained_digits_model_scores_what_its_report_says() {
    let model = ModelFile::load(Path::new(DIGITS)).unwrap().fitted;
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(DIGITS_REPORT).unwrap()).unwrap();
    let (_, s) = evaluate(&model, &digits(), &config()).unwrap();
    assert_eq!(s.n_examples, 1797);
    assert_eq!(s.accuracy, report["scores"]["accuracy"].as_f64().unwrap());
    assert_eq!(s.nll, report["scores"]["nll"].as_f64().unwrap());
    assert_eq!(s.ece, report["scores"]["ece"].as_f64().unwrap());
    // The demo's held-out fifth (seed 1, as `sbn demo` splits), the number the README gives.
    let (_, test) = digits().split(0.2, 1);
    let (_, t) = evaluate(&model, &test, &config()).unwrap();
    assert_eq!((t.n_examples, (t.accuracy * t.n_examples as f64).round() as usize), (359, 346));
}

#[test]
fn the_pretrained_convolutional_model_scores_what_its_report_says() {
    let file = ModelFile::load(Path::new(CONV)).unwrap();
    let spec = ModelSpec::from_toml(include_str!("../../models/fashion-mnist-conv-fc.toml"), "fashion-mnist-conv-fc.toml").unwrap();
    assert_eq!(file.spec.network, spec.network, "the shipped model is the spec's architecture");
    // Quantizing a compact file again keeps every code.
    for path in [CONV, DIGITS] {
        assert!(ModelFile::load(Path::new(path)).unwrap().to_compact_bytes() == std::fs::read(path).unwrap(), "{path} changes when saved compact again");
    }
    let fashion = Path::new("/usr/share/datasets/fashion-mnist");
    if !fashion.is_dir() {
        eprintln!("skipping the scores: {} not installed", fashion.display());
        return;
    }
    let options = sbn::data::LoadOptions { role: sbn::data::Role::Test, ..Default::default() };
    let test = sbn::data::load(fashion, &options).unwrap();
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(CONV_REPORT).unwrap()).unwrap();
    let (_, s) = evaluate(&file.fitted, &test, &config()).unwrap();
    assert_eq!(s.n_examples, 10_000);
    assert_eq!(s.accuracy, report["scores"]["accuracy"].as_f64().unwrap());
    assert_eq!(s.nll, report["scores"]["nll"].as_f64().unwrap());
    assert_eq!(s.ece, report["scores"]["ece"].as_f64().unwrap());
}

/// A model file of a random 64-16-10 network with a stored history-free digits spec.
fn random_file(kinds: &[WeightKind]) -> ModelFile {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(5);
    let mut net = random_network(&[64, 16, 10], kinds, InitConfig::default(), &mut rng).unwrap();
    // Logits of very different sizes in one layer, and an exact zero.
    for l in net.layers_mut() {
        if l.kind() == WeightKind::Bernoulli {
            let mut w = l.weight_param().map(|v| v * 7.0);
            w[(0, 0)] = 0.0;
            w[(1, 1)] = -1e-12;
            *l = sbn::model::Layer::bernoulli(w, l.scale().unwrap().clone(), l.bias.clone());
        }
    }
    let spec = ModelSpec::from_toml(include_str!("../../models/digits.toml"), "digits.toml").unwrap();
    let classes = (0..10).map(|c| c.to_string()).collect();
    ModelFile { spec, fitted: FittedModel::new(net, InputScaling::Affine { alpha: 0.25, offset: -2.0 }, classes, Vec::new()).unwrap(), state: None }
}

#[test]
fn compact_files_round_trip_within_their_bound() {
    for kinds in [[WeightKind::Bernoulli; 2], [WeightKind::Real, WeightKind::Bernoulli]] {
        let file = random_file(&kinds);
        let back = ModelFile::from_bytes(&file.to_compact_bytes(), "m.sbn").unwrap();
        assert_eq!((&back.spec, &back.fitted.scaling, &back.fitted.class_names), (&file.spec, &file.fitted.scaling, &file.fitted.class_names));
        for (a, b) in file.fitted.network.layers().iter().zip(back.fitted.network.layers()) {
            assert_eq!((a.kind(), a.scale(), &a.bias, a.conv), (b.kind(), b.scale(), &b.bias, b.conv));
            if a.kind() == WeightKind::Real {
                assert_eq!(a.weight_param(), b.weight_param());
                continue;
            }
            let (steps, _) = quantize(a.weight_param());
            let (wa, wb) = (a.weight_param(), b.weight_param());
            for (j, i) in (0..wa.nrows()).flat_map(|j| (0..wa.ncols()).map(move |i| (j, i))) {
                let (x, y) = (wa[(j, i)], wb[(j, i)]);
                assert!((x - y).abs() <= steps[j] / 2.0 * (1.0 + 1e-12), "θ {x} → {y}, step {}", steps[j]);
                assert_eq!(x >= 0.0, y >= 0.0, "the sign of θ {x} is kept");
            }
        }
        if kinds[0] == WeightKind::Bernoulli {
            // Smaller; on this small net the JSON header (the spec) weighs in, so not yet an eighth.
            let (compact, full) = (file.to_compact_bytes().len(), file.to_bytes().len());
            assert!(compact * 3 < full, "{compact} of {full} bytes");
        }
    }
}

#[test]
fn damaged_compact_files_are_errors_naming_the_file() {
    let bytes = random_file(&[WeightKind::Bernoulli; 2]).to_compact_bytes();
    for cut in [0, 4, 12, 40, bytes.len() / 2, bytes.len() - 1] {
        let e = ModelFile::from_bytes(&bytes[..cut], "c.sbn").unwrap_err().to_string();
        assert!(e.starts_with("c.sbn: "), "cut at {cut}: {e}");
    }
    for at in [9, 30, bytes.len() / 2, bytes.len() - 2] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        let e = ModelFile::from_bytes(&damaged, "c.sbn").unwrap_err().to_string();
        assert!(e.starts_with("c.sbn: "), "byte {at}: {e}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(ModelFile::from_bytes(&longer, "c.sbn").unwrap_err().to_string().starts_with("c.sbn: "));
}

#[test]
fn export_writes_compact_and_safetensors_files_the_library_reads() {
    let dir = temp_dir("export-formats");
    let p = |f: &str| dir.join(f).display().to_string();
    let file = random_file(&[WeightKind::Bernoulli; 2]);
    file.save(Path::new(&p("m.sbn"))).unwrap();
    let (ok, _, err) = sbn(&["export", &p("m.sbn"), "--format", "safetensors", "--sample-seed", "3", "--out", &p("m.safetensors")]);
    assert!(ok, "{err}");
    let st = SafetensorsModel::load(Path::new(&p("m.safetensors"))).unwrap();
    assert_eq!(st, SafetensorsModel::new(FittedModel { history: Vec::new(), ..file.fitted.clone() }, Some(3)).unwrap());
    let (ok, _, err) = sbn(&["export", &p("m.sbn"), "--format", "compact", "--out", &p("c.sbn")]);
    assert!(ok && err.contains("compact model file"), "{err}");
    assert_eq!(ModelFile::load(Path::new(&p("c.sbn"))).unwrap(), ModelFile::from_bytes(&file.to_compact_bytes(), "c").unwrap());
    let (ok, out, err) = sbn(&["evaluate", &p("c.sbn"), "--data", "embedded:digits"]);
    assert!(ok && out.contains("accuracy"), "{err}");
    let before = std::fs::read(p("c.sbn")).unwrap();
    let (ok, _, err) = sbn(&["calibrate", &p("c.sbn"), "--data", "embedded:digits", "--fit", "temperature", "--save"]);
    assert!(!ok && err.contains("compact model file"), "{err}");
    assert_eq!(std::fs::read(p("c.sbn")).unwrap(), before, "the compact file is left as it was");
    let (ok, _, err) = sbn(&["export", &p("m.sbn"), "--format", "compact", "--sample-seed", "1", "--out", &p("d.sbn")]);
    assert!(!ok && err.contains("--sample-seed"), "{err}");
    // A safetensors file is not a model file: an error naming it, not a panic.
    let (ok, _, err) = sbn(&["evaluate", &p("m.safetensors"), "--data", "embedded:digits"]);
    assert!(!ok && err.contains("m.safetensors"), "{err}");
}
