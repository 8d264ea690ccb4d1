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

fn assert_close(what: &str, got: &Value, want: &Value) {
    let (g, w) = (flat(got), flat(want));
    assert_eq!(g.len(), w.len(), "{what}: length");
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= TOL, "{what}[{i}]: got {a}, reference {b} (diff {:e})", (a - b).abs());
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
            assert_close(&format!("{what} dW"), &got[key]["dW"], &want[key]["dW"]);
            assert_close(&format!("{what} db"), &got[key]["db"], &want[key]["db"]);
        }
    }
}
