//! `sbn predict`, `summary` and `export` through the command line: outputs in both formats, the
//! packed export read back by `predict`, and bad input (input size, zero samples, corrupt or
//! truncated packed file) refused with a clear message and a non-zero exit.

use crate::common::cli::{sbn, temp_dir};
#[test]
fn predict_summary_export_and_bad_input() {
    let dir = temp_dir("cli-predict");
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    std::fs::write(dir.join("spec.toml"), "[network]\nhidden = [40]\nweights = \"bernoulli\"\n[objective]\nbeta = 0.01\n[training]\nlr = 0.003\nlogit_lr = 0.1\nbatch_size = 32\nepochs = 2\nchunk = 16\n").unwrap();
    let (ok, _, err) = sbn(&["fit", &p("spec.toml"), "--train", "embedded:digits", "--out", &p("m.sbn")]);
    assert!(ok, "{err}");

    let (ok, _, err) = sbn(&["predict", &p("m.sbn"), "--data", "embedded:digits", "--weight-samples", "3", "--noise-samples", "2", "--out", &p("pred.csv")]);
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(dir.join("pred.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "example,label,predicted,p_0,p_1,p_2,p_3,p_4,p_5,p_6,p_7,p_8,p_9,total,data,model");
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 1797);
    for r in &rows {
        let total: f64 = r[3..13].iter().sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!((r[13] - r[14] - r[15]).abs() < 1e-5, "total = data + model");
    }
    // A hotter posterior (q = σ(θ/τ), τ = 4) spreads the weights: more model uncertainty.
    let (ok, _, err) = sbn(&[
        "predict",
        &p("m.sbn"),
        "--data",
        "embedded:digits",
        "--weight-samples",
        "3",
        "--noise-samples",
        "2",
        "--posterior-temperature",
        "4",
        "--out",
        &p("hot.csv"),
    ]);
    assert!(ok, "{err}");
    let mean_model = |f: &str| {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let vals: Vec<f64> = text.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
        vals.iter().sum::<f64>() / vals.len() as f64
    };
    let (fit_model, hot_model) = (mean_model("pred.csv"), mean_model("hot.csv"));
    assert!(hot_model > 1.3 * fit_model, "model part {hot_model} at τ = 4 against {fit_model} at τ = 1");
    // A report on the tempered posterior says so in its title.
    let (ok, _, err) = sbn(&[
        "report",
        &p("m.sbn"),
        "--data",
        "embedded:digits",
        "--weight-samples",
        "2",
        "--noise-samples",
        "2",
        "--posterior-temperature",
        "1.5",
        "--out",
        &p("hot-report"),
    ]);
    assert!(ok, "{err}");
    let summary = std::fs::read_to_string(dir.join("hot-report").join("summary.md")).unwrap();
    assert!(summary.lines().next().unwrap().contains("τ = 1.5"), "{summary}");
    let (ok, _, err) = sbn(&["predict", &p("m.sbn"), "--data", "embedded:digits", "--out", &p("pred.json"), "--weight-samples", "2", "--noise-samples", "2"]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("pred.json")).unwrap()).unwrap();
    assert_eq!(json["examples"].as_array().unwrap().len(), 1797);

    let (ok, out, _) = sbn(&["summary", &p("m.sbn")]);
    assert!(ok && out.contains("Binary params"), "{out}");

    // The most likely network, packed: 1 bit per binary weight, and predict reads it.
    let (ok, _, err) = sbn(&["export", &p("m.sbn"), "--out", &p("m.packed")]);
    assert!(ok, "{err}");
    let packed = std::fs::read(dir.join("m.packed")).unwrap();
    let n_weights = 64 * 40 + 40 * 10;
    assert!(packed.len() < n_weights / 8 + 2048, "packed file has {} bytes for {n_weights} weights", packed.len());
    let (ok, _, err) = sbn(&["predict", &p("m.packed"), "--data", "embedded:digits", "--out", &p("packed.csv"), "--noise-samples", "4"]);
    assert!(ok, "{err}");

    // The whole file is checksummed: one flipped bit anywhere (magic, version, header length, the
    // JSON header, the network, the checksum) is refused naming the file, before anything is parsed.
    assert!(packed.starts_with(b"SBNPACKV"));
    let header_len = u64::from_le_bytes(packed[12..20].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&packed[20..20 + header_len]).unwrap();
    assert!(header.contains("class_names"), "{header}");
    for i in 0..packed.len() {
        let mut b = packed.clone();
        b[i] ^= 1 << (i % 8);
        match sbn::io::PackedModelFile::from_bytes(&b, "m.packed") {
            Ok(_) => panic!("a flipped bit in byte {i} of {} went unnoticed", packed.len()),
            Err(e) => assert!(e.to_string().starts_with("m.packed: "), "byte {i}: {e}"),
        }
    }
    let mut b = packed.clone();
    b[20 + header_len / 2] ^= 0x04;
    std::fs::write(dir.join("header.packed"), b).unwrap();
    let (ok, _, err) = sbn(&["predict", &p("header.packed"), "--data", "embedded:digits", "--out", &p("x.csv")]);
    assert!(!ok && err.contains("header.packed") && err.contains("checksum"), "{err}");
    // A version 1 export (magic SBNPACKD, no version, no checksum around the header) is still read.
    let v1 = [b"SBNPACKD".as_slice(), &packed[12..packed.len() - 4]].concat();
    std::fs::write(dir.join("v1.packed"), &v1).unwrap();
    let (ok, _, err) = sbn(&["predict", &p("v1.packed"), "--data", "embedded:digits", "--out", &p("v1.csv"), "--noise-samples", "4"]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(dir.join("v1.csv")).unwrap(), std::fs::read(dir.join("packed.csv")).unwrap());
    let mut future = packed.clone();
    future[8] = 3;
    let e = sbn::io::PackedModelFile::from_bytes(&future, "m.packed").unwrap_err().to_string();
    assert!(e.contains("m.packed") && e.contains("version 3"), "{e}");

    // Bad input.
    let mnist = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist10k-images-idx3-ubyte.gz");
    for model in ["m.sbn", "m.packed"] {
        let (ok, _, err) = sbn(&["predict", &p(model), "--data", mnist, "--out", &p("x.csv")]);
        assert!(!ok && err.contains("784") && err.contains("64"), "{err}");
    }
    let (ok, _, err) = sbn(&["predict", &p("m.sbn"), "--data", "embedded:digits", "--noise-samples", "0", "--out", &p("x.csv")]);
    assert!(!ok && err.contains("noise-samples"), "{err}");
    let (ok, _, err) = sbn(&["predict", &p("m.sbn"), "--data", "embedded:digits", "--posterior-temperature", "0", "--out", &p("x.csv")]);
    assert!(!ok && err.contains("posterior-temperature") && err.contains("positive"), "{err}");
    let (ok, _, err) = sbn(&["predict", &p("m.packed"), "--data", "embedded:digits", "--posterior-temperature", "2", "--out", &p("x.csv")]);
    assert!(!ok && err.contains("posterior-temperature") && err.contains("m.packed"), "{err}");
    for (name, bytes) in [
        ("cut.packed", packed[..packed.len() / 2].to_vec()),
        ("flip.packed", {
            let mut b = packed.clone();
            let i = b.len() - 40;
            b[i] ^= 0x10;
            b
        }),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
        let (ok, _, err) = sbn(&["predict", &p(name), "--data", "embedded:digits", "--out", &p("x.csv")]);
        assert!(!ok && err.contains(name), "{name}: {err}");
    }
    assert!(!dir.join("x.csv").exists(), "no output written on error");
    std::fs::remove_dir_all(&dir).unwrap();
}
