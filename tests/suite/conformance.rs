//! Reproduces every case of the PSA reference vectors (`tests/data/psa_reference_vectors.json`,
//! computed by the PSA paper's reference code, shekhovt/PSA-Neurips2020 at 9cf996f, in float64):
//! sampled states, PSA value and gradients, ST, Hard-ST, and the exact expected loss and gradient.

use sbn::estimator::EstimatorKind;
use sbn::model::GivenDraws;
use sbn::reference_cases::parse_cases;
use serde_json::Value;

const TOL: f64 = 1e-10;
const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/psa_reference_vectors.json");

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("unexpected {other}"),
    }
}

/// PSA's input flip sensitivities of a real-weight layer on binary input (every hidden layer but
/// the first) come from an f32 loop (`src/estimator/psa/real_layer.rs`); the layers they reach,
/// those below the last hidden layer, get the tolerance of PSA's f32 first-layer loop: 1e-5 of
/// the layer's gradient norm (the loop's own error is below 1e-7 of its terms' magnitudes).
const F32_REL: f64 = 1e-5;

fn assert_close(what: &str, got: &Value, want: &Value) {
    assert_close_to(what, got, want, TOL);
}

fn assert_close_to(what: &str, got: &Value, want: &Value, tol: f64) {
    let (g, w) = (flat(got), flat(want));
    assert_eq!(g.len(), w.len(), "{what}: length");
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= tol, "{what}[{i}]: got {a}, reference {b} (diff {:e})", (a - b).abs());
    }
}

/// PSA's gradient `key` (`dW` or `db`) layer by layer: exact to [`TOL`] in the last hidden layer
/// and the output layer, to [`F32_REL`] of the layer's norm below (see there).
fn assert_psa_close(what: &str, got: &Value, want: &Value, n_hidden: usize) {
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(got.len(), want.len(), "{what}: layers");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        let norm = flat(w).iter().map(|v| v * v).sum::<f64>().sqrt();
        let tol = if k + 1 < n_hidden { F32_REL * norm.max(1e-3) } else { TOL };
        assert_close_to(&format!("{what} layer {k}"), g, w, tol);
    }
}

#[test]
fn sampled_states_match_the_reference() {
    let doc = reference();
    let cases = parse_cases(&std::fs::read_to_string(FILE).unwrap(), FILE).unwrap();
    for (case, want) in cases.iter().zip(doc["cases"].as_array().unwrap()) {
        let mut draws = GivenDraws { units: case.uniforms.clone().unwrap(), weights: vec![] };
        let ws = case.net.sample_weights(&mut draws);
        let fwd = case.net.forward(&case.x0, &ws, &mut draws);
        for (k, h) in fwd.hidden.iter().enumerate() {
            let want_k = &want["states"][k];
            for n in 0..case.x0.ncols() {
                for j in 0..h.x.nrows() {
                    assert_eq!(h.x[(j, n)], want_k[n][j].as_f64().unwrap(), "{} layer {k} example {n} unit {j}", case.name);
                }
            }
        }
    }
}

#[test]
fn every_estimator_matches_the_reference() {
    let doc = reference();
    let cases = parse_cases(&std::fs::read_to_string(FILE).unwrap(), FILE).unwrap();
    assert!(cases.len() >= 2);
    for (case, want) in cases.iter().zip(doc["cases"].as_array().unwrap()) {
        let got = case.run(&EstimatorKind::ALL, 0).unwrap();
        for (key, value_key) in [("psa", "loss_estimate"), ("st", "loss_at_sample"), ("hardst", "loss_at_sample"), ("exact", "expected_loss")] {
            let what = format!("{} {key}", case.name);
            assert_close(&format!("{what} {value_key}"), &got[key][value_key], &want[key][value_key]);
            for grad in ["dW", "db"] {
                if key == "psa" {
                    assert_psa_close(&format!("{what} {grad}"), &got[key][grad], &want[key][grad], case.net.n_hidden());
                } else {
                    assert_close(&format!("{what} {grad}"), &got[key][grad], &want[key][grad]);
                }
            }
        }
    }
}
