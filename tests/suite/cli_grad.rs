//! `sbn grad`: reproduces the reference file through the command line, and rejects bad input with a
//! message naming the case and field, a non-zero exit and no panic.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::cli::sbn;
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/psa_reference_vectors.json");

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sbn-cli-grad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn reproduces_the_reference_through_the_cli() {
    let (ok, stdout, stderr) = sbn(&["grad", "--case", REFERENCE, "--estimator", "psa", "--estimator", "exact"]);
    assert!(ok, "{stderr}");
    let got: Value = serde_json::from_str(&stdout).unwrap();
    let want: Value = serde_json::from_str(&std::fs::read_to_string(REFERENCE).unwrap()).unwrap();
    for (g, w) in got["cases"].as_array().unwrap().iter().zip(want["cases"].as_array().unwrap()) {
        assert_eq!(g["name"], w["name"]);
        assert!(g.get("st").is_none(), "only the requested estimators are printed");
        let diff = (g["psa"]["loss_estimate"].as_f64().unwrap() - w["psa"]["loss_estimate"].as_f64().unwrap()).abs();
        assert!(diff < 1e-10);
        let diff = (g["exact"]["dW"][0][0][0].as_f64().unwrap() - w["exact"]["dW"][0][0][0].as_f64().unwrap()).abs();
        assert!(diff < 1e-10);
    }
}

/// A valid one-case document, with `edit` applied to the case.
fn case_with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(REFERENCE).unwrap()).unwrap();
    let mut case = doc["cases"][0].as_object().unwrap().clone();
    edit(&mut case);
    doc["cases"] = Value::Array(vec![Value::Object(case)]);
    doc.to_string()
}

fn assert_rejected(name: &str, text: &str, expected: &[&str]) {
    let path = temp_file(name, text);
    let (ok, _, stderr) = sbn(&["grad", "--case", path.to_str().unwrap()]);
    assert!(!ok, "{name}: accepted");
    assert!(!stderr.contains("panicked"), "{name}: panicked: {stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{name}: message does not mention '{e}': {stderr}");
    }
}

#[test]
fn bad_input_is_rejected_with_the_case_and_field_named() {
    assert_rejected("missing.json", &case_with(|c| drop(c.remove("x0"))), &["tiny_1hidden", "x0"]);
    assert_rejected(
        "ragged.json",
        &case_with(|c| {
            c["params"]["W"][0][1].as_array_mut().unwrap().pop();
        }),
        &["tiny_1hidden", "params.W[0][1]", "ragged"],
    );
    assert_rejected(
        "mismatch.json",
        &case_with(|c| {
            for row in c["x0"].as_array_mut().unwrap() {
                row.as_array_mut().unwrap().push(Value::from(1.0));
            }
        }),
        &["tiny_1hidden", "x0"],
    );
    assert_rejected("nan.json", &case_with(|c| c["params"]["b"][0][0] = Value::from("NaN")), &["tiny_1hidden", "params.b[0][0]", "finite"]);
    assert_rejected("label.json", &case_with(|c| c["y"][0] = Value::from(7)), &["tiny_1hidden", "y[0]"]);
    assert_rejected("labels.json", &case_with(|c| drop(c["y"].as_array_mut().unwrap().pop())), &["tiny_1hidden", "y"]);
    assert_rejected("uniforms.json", &case_with(|c| c["uniforms"][0][0][0] = Value::from(1.5)), &["tiny_1hidden", "uniforms[0]"]);
    assert_rejected("syntax.json", "{\"cases\": [ {\"name\": NaN} ]}", &["syntax.json", "line 1"]);
    assert_rejected("nocases.json", "{}", &["cases"]);
    let (ok, _, stderr) = sbn(&["grad", "--case", "/nonexistent/cases.json"]);
    assert!(!ok && stderr.contains("/nonexistent/cases.json"));
}
