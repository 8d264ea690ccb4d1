//! Users' own data through the command line: class identity by name (a test file that lacks some
//! classes is scored as the model's classes say), data without labels, quoted CSV fields, the
//! features-only library entry point, and output into a closed pipe.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use sbn::data::{Dataset, Features};
use sbn::evaluate::{predict_dataset, predict_features};
use sbn::montecarlo::{Engine, McConfig};

use crate::common::cli::{sbn, temp_dir};
const SPEC: &str = "[network]\nhidden = [32]\nweights = \"bernoulli\"\n[objective]\nbeta = 0.01\n[training]\nlr = 0.003\nlogit_lr = 0.1\nbatch_size = 32\nepochs = 2\nchunk = 16\n";

/// The embedded digits as CSV rows: 64 pixel values and the class number.
fn digit_rows() -> Vec<(Vec<u8>, usize)> {
    let ds = sbn::data::embedded::digits();
    let Features::Bytes(v) = &ds.features else { panic!("digits are bytes") };
    v.chunks(64).zip(ds.labels().unwrap()).map(|(x, &y)| (x.to_vec(), y)).collect()
}

/// CSV text of `rows` with each label written by `label` (`None`: no label column).
fn csv(rows: &[(Vec<u8>, usize)], label: Option<&dyn Fn(usize) -> String>) -> String {
    rows.iter()
        .map(|(x, y)| {
            let mut fields: Vec<String> = x.iter().map(u8::to_string).collect();
            if let Some(l) = label {
                fields.push(l(*y));
            }
            fields.join(",") + "\n"
        })
        .collect()
}

/// Rows of a predict CSV output, split with the csv crate (class names may hold commas).
fn read_predictions(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

fn accuracy(json: &str) -> f64 {
    serde_json::from_str::<serde_json::Value>(json).unwrap()["accuracy"].as_f64().unwrap()
}

#[test]
fn a_test_file_without_some_classes_is_scored_by_class_name() {
    let dir = temp_dir("cli-data-subset");
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    std::fs::write(dir.join("spec.toml"), SPEC).unwrap();
    let rows = digit_rows();
    // Names that sort like the numbers: the two fits see the same classes in the same order, so
    // they give the same model.
    let name = |y: usize| format!("c{y}");
    std::fs::write(dir.join("train-int.csv"), csv(&rows, Some(&|y| y.to_string()))).unwrap();
    std::fs::write(dir.join("train-named.csv"), csv(&rows, Some(&name))).unwrap();
    // Test rows without classes 0 and 1: by its own sorted labels such a file would number class 2
    // as 0, and every score would be off.
    let subset: Vec<_> = rows.iter().take(400).filter(|(_, y)| *y >= 2).cloned().collect();
    std::fs::write(dir.join("sub-int.csv"), csv(&subset, Some(&|y| y.to_string()))).unwrap();
    std::fs::write(dir.join("sub-named.csv"), csv(&subset, Some(&name))).unwrap();
    std::fs::write(dir.join("sub-nolabel.csv"), csv(&subset, None)).unwrap();
    for kind in ["int", "named"] {
        let (ok, _, err) = sbn(&["fit", &p("spec.toml"), "--train", &p(&format!("train-{kind}.csv")), "--out", &p(&format!("{kind}.sbn"))]);
        assert!(ok, "{err}");
    }
    let mc = ["--weight-samples", "4", "--noise-samples", "2"];
    let evaluate = |model: &str, data: &str| {
        let (ok, out, err) = sbn(&[&["evaluate", &p(model), "--data", &p(data), "--json"][..], &mc].concat());
        assert!(ok, "{err}");
        accuracy(&out)
    };
    let (acc_int, acc_named) = (evaluate("int.sbn", "sub-int.csv"), evaluate("named.sbn", "sub-named.csv"));
    assert!(acc_int > 0.6, "accuracy {acc_int} with integer labels");
    assert_eq!(acc_named, acc_int, "the same rows and model, labels written as names");

    // Per example: the same predictions with integer labels, names, and no labels at all; the
    // label column holds the model's class names; the accuracy is what the predictions say.
    let predict = |model: &str, data: &str, out: &str| {
        let (ok, _, err) = sbn(&[&["predict", &p(model), "--data", &p(data), "--out", &p(out)][..], &mc].concat());
        assert!(ok, "{err}");
        read_predictions(&dir.join(out))
    };
    let (h_int, r_int) = predict("int.sbn", "sub-int.csv", "p-int.csv");
    let (h_named, r_named) = predict("named.sbn", "sub-named.csv", "p-named.csv");
    let (h_none, r_none) = predict("named.sbn", "sub-nolabel.csv", "p-none.csv");
    assert_eq!(&h_named[..3], ["example", "label", "predicted"]);
    assert_eq!(h_int[3], "p_0");
    assert_eq!(&h_none[..2], ["example", "predicted"], "no label column for data without labels");
    assert_eq!(h_named[3], "p_c0");
    assert_eq!(r_int.len(), subset.len());
    for ((a, b), c) in r_int.iter().zip(&r_named).zip(&r_none) {
        assert_eq!(format!("c{}", a[1]), b[1], "label");
        assert_eq!(format!("c{}", a[2]), b[2], "predicted class");
        assert_eq!(a[3..], b[3..], "probabilities and uncertainties");
        assert_eq!(b[2..], c[1..], "the same prediction without labels");
    }
    let hits = r_named.iter().filter(|r| r[1] == r[2]).count();
    assert!((hits as f64 / subset.len() as f64 - acc_named).abs() < 1e-12, "{hits} hits, accuracy {acc_named}");

    // A label the model does not know is named with its place and the model's classes.
    let mut bad = csv(&subset[..5], Some(&name));
    bad.push_str(&csv(&subset[..1], Some(&|_| "c10".into())));
    std::fs::write(dir.join("bad.csv"), bad).unwrap();
    let (ok, _, err) = sbn(&["evaluate", &p("named.sbn"), "--data", &p("bad.csv")]);
    assert!(!ok && err.contains("bad.csv:6, column 65") && err.contains("label `c10`") && err.contains("c0, c1, c2"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn quoted_labels_and_unlabelled_idx_files() {
    let dir = temp_dir("cli-data-quoted");
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    std::fs::write(dir.join("spec.toml"), SPEC).unwrap();
    let rows = digit_rows();
    // As a spreadsheet writes it: a header, quoted fields, CRLF, a byte-order mark, names with
    // commas and quotes.
    let names = ["zero, round", "one \"stick\"", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    let mut text = String::from("\u{feff}");
    text.push_str(&(0..64).map(|j| format!("\"px{j}\"")).chain(std::iter::once("\"digit\"".to_string())).collect::<Vec<_>>().join(","));
    text.push_str("\r\n");
    for (x, y) in &rows {
        let label = format!("\"{}\"", names[*y].replace('"', "\"\""));
        text.push_str(&(x.iter().map(u8::to_string).chain(std::iter::once(label)).collect::<Vec<_>>().join(",") + "\r\n"));
    }
    std::fs::write(dir.join("sheet.csv"), text).unwrap();
    let (ok, _, err) = sbn(&["fit", &p("spec.toml"), "--train", &p("sheet.csv"), "--label", "digit", "--out", &p("m.sbn")]);
    assert!(ok, "{err}");
    let model = sbn::io::ModelFile::load(&dir.join("m.sbn")).unwrap().fitted;
    assert!(model.class_names.contains(&"zero, round".to_string()) && model.class_names.contains(&"one \"stick\"".to_string()), "{:?}", model.class_names);
    let (ok, _, err) =
        sbn(&["predict", &p("m.sbn"), "--data", &p("sheet.csv"), "--label", "digit", "--weight-samples", "2", "--noise-samples", "2", "--out", &p("pred.csv")]);
    assert!(ok, "{err}");
    let (header, preds) = read_predictions(&dir.join("pred.csv"));
    assert!(header.contains(&"p_zero, round".to_string()), "{header:?}");
    assert_eq!(preds.iter().filter(|r| r[1] == "zero, round").count(), rows.iter().filter(|(_, y)| *y == 0).count());

    // IDX images without a labels file predict; with one, the labels are matched to the model's
    // classes ("0".."9", by number); --no-label ignores it.
    let digits_model = dir.join("d.sbn");
    let (ok, _, err) = sbn(&["fit", &p("spec.toml"), "--train", "embedded:digits", "--out", digits_model.to_str().unwrap()]);
    assert!(ok, "{err}");
    let n = 50u32;
    let mut images = 0x0803u32.to_be_bytes().to_vec();
    for d in [n, 8, 8] {
        images.extend_from_slice(&d.to_be_bytes());
    }
    rows[..n as usize].iter().for_each(|(x, _)| images.extend_from_slice(x));
    std::fs::write(dir.join("few-images-idx3-ubyte"), &images).unwrap();
    let mc = ["--weight-samples", "2", "--noise-samples", "2"];
    let predict = |out: &str, extra: &[&str]| {
        let (ok, _, err) =
            sbn(&[&["predict", digits_model.to_str().unwrap(), "--data", &p("few-images-idx3-ubyte"), "--out", &p(out)][..], &mc, extra].concat());
        assert!(ok, "{err}");
        read_predictions(&dir.join(out))
    };
    let (header, unlabelled) = predict("idx.csv", &[]);
    assert_eq!(&header[..2], ["example", "predicted"]);
    assert_eq!(unlabelled.len(), n as usize);
    let (ok, _, err) = sbn(&["evaluate", digits_model.to_str().unwrap(), "--data", &p("few-images-idx3-ubyte")]);
    assert!(!ok && err.contains("few-labels-idx1-ubyte"), "evaluating needs labels: {err}");
    let mut labels = 0x0801u32.to_be_bytes().to_vec();
    labels.extend_from_slice(&n.to_be_bytes());
    labels.extend(rows[..n as usize].iter().map(|(_, y)| *y as u8));
    std::fs::write(dir.join("few-labels-idx1-ubyte"), &labels).unwrap();
    let (header, labelled) = predict("idx-labelled.csv", &[]);
    assert_eq!(&header[..3], ["example", "label", "predicted"]);
    assert!(labelled.iter().zip(&rows).all(|(r, (_, y))| r[1] == y.to_string()));
    assert_eq!(labelled.iter().map(|r| &r[2..]).collect::<Vec<_>>(), unlabelled.iter().map(|r| &r[1..]).collect::<Vec<_>>());
    let (header, _) = predict("idx-nolabel.csv", &["--no-label"]);
    assert_eq!(&header[..2], ["example", "predicted"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn features_alone_predict_like_a_data_set() {
    let dir = temp_dir("cli-data-features");
    std::fs::write(dir.join("spec.toml"), SPEC).unwrap();
    let out = dir.join("m.sbn");
    let (ok, _, err) = sbn(&["fit", dir.join("spec.toml").to_str().unwrap(), "--train", "embedded:digits", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let model = sbn::io::ModelFile::load(&out).unwrap().fitted;
    let config = McConfig { weight_samples: 3, noise_samples: 2, seed: 5, engine: Engine::Auto };
    let digits = sbn::data::embedded::digits().subset(&(0..70).collect::<Vec<_>>());
    let features: Vec<f64> = (0..digits.len()).flat_map(|n| (0..64).map(move |i| (n, i))).map(|(n, i)| digits.feature(n, i)).collect();
    let from_features = predict_features(&model, &features, &config).unwrap();
    assert_eq!(from_features.predictive, predict_dataset(&model, &digits, &config).unwrap());
    for n in 0..digits.len() {
        let (t, d, m) = (from_features.uncertainty.total[n], from_features.uncertainty.data[n], from_features.uncertainty.model[n]);
        assert!((t - d - m).abs() < 1e-12 && m > -1e-12);
    }
    // One example; the same numbers as a one-example data set.
    let one = predict_features(&model, &features[..64], &config).unwrap();
    let single = Dataset::unlabelled("one", Features::Bytes(features[..64].iter().map(|&v| v as u8).collect()), 64).unwrap();
    assert_eq!(one.predictive, predict_dataset(&model, &single, &config).unwrap());
    assert_eq!(one.class(0), sbn::metrics::argmax(&one.probabilities(0)));
    // Not whole examples, or not finite: errors.
    assert!(predict_features(&model, &features[..63], &config).unwrap_err().to_string().contains("64 inputs"));
    let other = Dataset::unlabelled("other", Features::Bytes(vec![0; 10]), 5).unwrap();
    assert!(matches!(predict_dataset(&model, &other, &config), Err(sbn::SbnError::InputSize { found: 5, expected: 64, .. })));
    let mut nan = features[..64].to_vec();
    nan[5] = f64::NAN;
    assert!(predict_features(&model, &nan, &config).unwrap_err().to_string().contains("feature 5"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = temp_dir("cli-data-pipe");
    std::fs::write(dir.join("spec.toml"), SPEC).unwrap();
    let model = dir.join("m.sbn");
    let (ok, _, err) = sbn(&["fit", dir.join("spec.toml").to_str().unwrap(), "--train", "embedded:digits", "--out", model.to_str().unwrap()]);
    assert!(ok, "{err}");
    // `sbn calibrate … | head -c 100`: far more output than a pipe buffers, the reader leaves early.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sbn"))
        .args(["calibrate", model.to_str().unwrap(), "--data", "embedded:digits", "--bins", "20000", "--weight-samples", "2", "--noise-samples", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 100];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success() && !err.contains("panicked") && err.is_empty(), "{status}: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
