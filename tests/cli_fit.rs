//! The command line round trip (fit → model file → evaluate) on the embedded digits, and bad input
//! to `fit` and `evaluate`: clear errors naming the file and field, a non-zero exit, no panic and
//! no partial model file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn sbn(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sbn")).args(args).output().unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!e.contains("panicked"), "panic: {e}");
    (out.status.success(), o, e)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sbn-cli-fit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

const SPEC: &str = "[network]\nhidden = [64]\nweights = \"bernoulli\"\n[objective]\nbeta = 0.01\n[training]\nlr = 0.003\nlogit_lr = 0.1\nbatch_size = 32\nepochs = 3\nchunk = 16\n";

#[test]
fn fit_save_evaluate_round_trip_on_the_digits() {
    let dir = temp_dir("round");
    let spec = write(&dir, "spec.toml", SPEC);
    let model = dir.join("m.sbn");
    let (ok, _, err) = sbn(&["fit", &spec, "--train", "embedded:digits", "--out", model.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, out, err) = sbn(&["evaluate", model.to_str().unwrap(), "--data", "embedded:digits", "--json", "--weight-samples", "4", "--noise-samples", "2"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["accuracy", "nll", "brier", "ece"] {
        assert!(v[key].is_number(), "missing {key}: {out}");
    }
    // Far above chance (10%) after three epochs.
    assert!(v["accuracy"].as_f64().unwrap() > 0.6, "{out}");
    // Data of another input size is refused.
    let mnist = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist10k-images-idx3-ubyte.gz");
    let (ok, _, err) = sbn(&["evaluate", model.to_str().unwrap(), "--data", mnist]);
    assert!(!ok && err.contains("784") && err.contains("64"), "{err}");
    let (ok, _, err) = sbn(&["evaluate", model.to_str().unwrap(), "--data", "embedded:digits", "--weight-samples", "0"]);
    assert!(!ok && err.contains("weight-samples"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_specs_and_data_are_refused_without_a_model_file() {
    let dir = temp_dir("bad");
    let model = dir.join("m.sbn");
    let m = model.to_str().unwrap();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (write(&dir, "unknown.toml", &format!("{SPEC}colour = 1\n")), vec!["unknown.toml", "colour"]),
        (write(&dir, "zero.toml", "[network]\nhidden = [8, 0]\nweights = \"real\"\n"), vec!["zero.toml", "network.hidden[1]"]),
        (write(&dir, "kinds.toml", "[network]\nhidden = [8]\nweights = [\"real\"]\n"), vec!["kinds.toml", "network.weights"]),
    ];
    for (spec, expected) in &cases {
        let (ok, _, err) = sbn(&["fit", spec, "--train", "embedded:digits", "--out", m]);
        assert!(!ok, "{spec} accepted");
        for e in expected {
            assert!(err.contains(e), "{spec}: '{e}' not in: {err}");
        }
        assert!(!model.exists());
    }
    let spec = write(&dir, "ok.toml", SPEC);
    let nan = write(&dir, "nan.csv", "a,b,label\n1,2,0\n3,NaN,1\n");
    let (ok, _, err) = sbn(&["fit", &spec, "--train", &nan, "--out", m]);
    assert!(!ok && err.contains("nan.csv") && err.contains('3'), "{err}");
    let (ok, _, err) = sbn(&["fit", &spec, "--train", "/nonexistent/train.csv", "--out", m]);
    assert!(!ok && err.contains("/nonexistent/train.csv"), "{err}");
    assert!(!model.exists());
    let junk = write(&dir, "junk.sbn", "not a model");
    let (ok, _, err) = sbn(&["evaluate", &junk, "--data", "embedded:digits"]);
    assert!(!ok && err.contains("junk.sbn"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The Bernoulli logits of every layer of a model file's network, in order.
fn logits(path: &Path) -> Vec<f64> {
    network_logits(&sbn::io::ModelFile::load(path).unwrap().network)
}

fn network_logits(net: &sbn::model::Network) -> Vec<f64> {
    let mut out = Vec::new();
    for layer in net.layers() {
        if let sbn::model::Weights::Bernoulli { logits, .. } = &layer.weights {
            out.extend(logits.iter().copied());
        }
    }
    out
}

#[test]
fn fit_can_start_from_a_fitted_model_with_a_tempered_posterior() {
    let dir = temp_dir("init");
    let det_spec = write(&dir, "det.toml", &SPEC.replace("beta = 0.01", "beta = 0.0").replace("epochs = 3", "epochs = 2\nestimator = \"st\"\npoint_weights = true"));
    let det = dir.join("det.sbn");
    let (ok, _, err) = sbn(&["fit", &det_spec, "--train", "embedded:digits", "--out", det.to_str().unwrap()]);
    assert!(ok, "{err}");
    // Learning rates so small that one epoch leaves the start in place.
    let still = write(&dir, "still.toml", &SPEC.replace("lr = 0.003\nlogit_lr = 0.1", "lr = 1e-9\nlogit_lr = 1e-9").replace("epochs = 3", "epochs = 1"));
    let out = dir.join("bayes.sbn");
    let (ok, _, err) = sbn(&["fit", &still, "--train", "embedded:digits", "--out", out.to_str().unwrap(), "--init", det.to_str().unwrap(), "--init-temperature", "0.05"]);
    assert!(ok, "{err}");
    let (start, fitted) = (logits(&det), logits(&out));
    assert_eq!(start.len(), fitted.len());
    let off = start.iter().zip(&fitted).filter(|&(&s, &f)| (f - s / 0.05).abs() > 1e-3 * (1.0 + f.abs())).count();
    assert_eq!(off, 0, "{off} of {} logits are not the initial model's divided by the temperature", start.len());
    // From the checkpoint: the run's best network as trained, whose latent logits are not the ±40
    // of the point-weight model file.
    let ckpt = dir.join("det.sbn.ckpt");
    let (ok, _, err) = sbn(&["fit", &still, "--train", "embedded:digits", "--out", out.to_str().unwrap(), "--init", ckpt.to_str().unwrap()]);
    assert!(ok, "{err}");
    let best = match sbn::io::ModelFile::load(&ckpt).unwrap().state.unwrap().best {
        Some((_, net)) => net,
        None => panic!("no best network in the checkpoint"),
    };
    let (latent, fitted) = (network_logits(&best), logits(&out));
    assert!(latent.iter().filter(|t| t.abs() < 39.0).count() > latent.len() / 2, "the checkpoint holds no latent logits");
    let off = latent.iter().zip(&fitted).filter(|&(&s, &f)| (f - s).abs() > 1e-3 * (1.0 + f.abs())).count();
    assert_eq!(off, 0, "{off} of {} logits are not the checkpoint's best network's", latent.len());
    // Another architecture, a resume and a bad temperature are refused, naming what is wrong.
    let wide = write(&dir, "wide.toml", &SPEC.replace("hidden = [64]", "hidden = [32]"));
    let m = dir.join("m.sbn");
    let (ok, _, err) = sbn(&["fit", &wide, "--train", "embedded:digits", "--out", m.to_str().unwrap(), "--init", det.to_str().unwrap()]);
    assert!(!ok && err.contains("det.sbn") && err.contains("architecture"), "{err}");
    let (ok, _, err) = sbn(&["fit", &still, "--train", "embedded:digits", "--out", m.to_str().unwrap(), "--init", det.to_str().unwrap(), "--resume"]);
    assert!(!ok && err.contains("--resume"), "{err}");
    let (ok, _, err) = sbn(&["fit", &still, "--train", "embedded:digits", "--out", m.to_str().unwrap(), "--init", det.to_str().unwrap(), "--init-temperature", "0"]);
    assert!(!ok && err.contains("--init-temperature"), "{err}");
    assert!(!m.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
