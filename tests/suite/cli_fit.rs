//! The command line round trip (fit → model file → evaluate) on the embedded digits, and bad input
//! to `fit` and `evaluate`: clear errors naming the file and field, a non-zero exit, no panic and
//! no partial model file. Ctrl-C during `fit` (exit 130, the resume command, a bit-identical
//! resumed run), no overwriting without `--force`, and one writer per model.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{sbn, temp_dir};
fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

const SPEC: &str = "[network]\nhidden = [64]\nweights = \"bernoulli\"\n[objective]\nbeta = 0.01\n[training]\nlr = 0.003\nlogit_lr = 0.1\nbatch_size = 32\nepochs = 3\nchunk = 16\n";

#[test]
fn fit_save_evaluate_round_trip_on_the_digits() {
    let dir = temp_dir("cli-fit-round");
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
    let dir = temp_dir("cli-fit-bad");
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
    network_logits(&sbn::io::ModelFile::load(path).unwrap().fitted.network)
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
    let dir = temp_dir("cli-fit-init");
    let det_spec =
        write(&dir, "det.toml", &SPEC.replace("beta = 0.01", "beta = 0.0").replace("epochs = 3", "epochs = 2\nestimator = \"st\"\npoint_weights = true"));
    let det = dir.join("det.sbn");
    let (ok, _, err) = sbn(&["fit", &det_spec, "--train", "embedded:digits", "--out", det.to_str().unwrap()]);
    assert!(ok, "{err}");
    // Learning rates so small that one epoch leaves the start in place.
    let still = write(&dir, "still.toml", &SPEC.replace("lr = 0.003\nlogit_lr = 0.1", "lr = 1e-9\nlogit_lr = 1e-9").replace("epochs = 3", "epochs = 1"));
    let out = dir.join("bayes.sbn");
    let (ok, _, err) =
        sbn(&["fit", &still, "--train", "embedded:digits", "--out", out.to_str().unwrap(), "--init", det.to_str().unwrap(), "--init-temperature", "0.05"]);
    assert!(ok, "{err}");
    let (start, fitted) = (logits(&det), logits(&out));
    assert_eq!(start.len(), fitted.len());
    let off = start.iter().zip(&fitted).filter(|&(&s, &f)| (f - s / 0.05).abs() > 1e-3 * (1.0 + f.abs())).count();
    assert_eq!(off, 0, "{off} of {} logits are not the initial model's divided by the temperature", start.len());
    // From the checkpoint: the run's best network as trained, whose latent logits are not the ±40
    // of the point-weight model file.
    let ckpt = dir.join("det.sbn.ckpt");
    let (ok, _, err) = sbn(&["fit", &still, "--train", "embedded:digits", "--out", out.to_str().unwrap(), "--init", ckpt.to_str().unwrap(), "--force"]);
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
    let (ok, _, err) =
        sbn(&["fit", &still, "--train", "embedded:digits", "--out", m.to_str().unwrap(), "--init", det.to_str().unwrap(), "--init-temperature", "0"]);
    assert!(!ok && err.contains("--init-temperature"), "{err}");
    assert!(!m.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The model file without wall-clock times (epoch seconds, training time), which differ between runs.
fn untimed(path: &Path) -> sbn::io::ModelFile {
    let mut m = sbn::io::ModelFile::load(path).unwrap();
    m.fitted.history.iter_mut().for_each(|r| r.seconds = 0.0);
    if let Some(s) = &mut m.state {
        s.elapsed = 0.0;
    }
    m
}

/// Waits up to `limit` for `child` to end.
fn wait_for(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("sbn fit did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ctrl_c_saves_exits_130_and_the_resumed_run_equals_an_uninterrupted_one() {
    let dir = temp_dir("cli-fit-interrupt");
    let (a, b) = (dir.join("a.sbn"), dir.join("b.sbn"));
    let (a_str, b_str) = (a.to_str().unwrap(), b.to_str().unwrap());
    let bin = env!("CARGO_BIN_EXE_sbn");
    // Long enough that SIGINT, sent when the first epoch is reported, lands mid-run; should the
    // run still end first (a very fast machine), it is repeated with more epochs.
    let mut epochs = 40;
    let (spec, err) = loop {
        let spec = write(&dir, "spec.toml", &SPEC.replace("hidden = [64]", "hidden = [128]").replace("epochs = 3", &format!("epochs = {epochs}")));
        for p in [b.clone(), sbn::session::checkpoint_path(&b)] {
            let _ = std::fs::remove_file(p);
        }
        let mut child = Command::new(bin).args(["fit", &spec, "--train", "embedded:digits", "--out", b_str]).stderr(Stdio::piped()).spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let line = line.unwrap();
                if line.starts_with("epoch ") {
                    let _ = tx.send(());
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            panic!("no epoch reported within 20 s: {}", reader.join().unwrap());
        }
        // While it runs, a second fit to the same model is refused at once, naming the first.
        let (ok, _, second) = sbn(&["fit", &spec, "--train", "embedded:digits", "--out", b_str, "--force"]);
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            assert!(!ok, "a second fit to the same model was accepted: {second}");
            for part in [&format!("pid {}", child.id()), "since", "b.sbn.lock", "b.sbn"] {
                assert!(second.contains(part), "'{part}' not in: {second}");
            }
            assert!(!second.contains("training on"), "the second fit loaded its data: {second}");
        }
        let signalled = !finished && Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success();
        let status = wait_for(&mut child, Duration::from_secs(20));
        let err = reader.join().unwrap();
        assert!(!err.contains("panicked"), "{err}");
        if signalled && status.code() == Some(130) {
            break (spec, err);
        }
        // Otherwise the run ended on its own before it saw SIGINT: try a longer one.
        assert!(status.success(), "status {status:?}: {err}");
        assert!(epochs < 320, "the run of {epochs} epochs ended before SIGINT reached it: {err}");
        epochs *= 2;
    };
    // The exact command that continues the run.
    let hint = err.lines().skip_while(|l| !l.contains("Continue it with:")).nth(1).unwrap_or_else(|| panic!("no resume command: {err}"));
    assert_eq!(hint.trim(), format!("{bin} fit {spec} --train embedded:digits --out {b_str} --resume"), "{err}");
    let ckpt = sbn::io::ModelFile::load(&sbn::session::checkpoint_path(&b)).unwrap();
    assert!(ckpt.fitted.history.len() < epochs, "the checkpoint is of a finished run");
    assert!(!sbn::io::lock_path(&b).exists(), "the lock file outlived the run");
    let words: Vec<&str> = hint.split_whitespace().skip(1).collect();
    let (ok, _, err) = sbn(&words);
    assert!(ok, "{err}");
    let (ok, _, err) = sbn(&["fit", &spec, "--train", "embedded:digits", "--out", a_str]);
    assert!(ok, "{err}");
    assert!(untimed(&a) == untimed(&b), "the resumed model differs from the uninterrupted one");
    let ckpt = |p: &Path| untimed(&sbn::session::checkpoint_path(p));
    assert!(ckpt(&a) == ckpt(&b), "the resumed run's last state differs from the uninterrupted one's");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fit_refuses_to_overwrite_an_earlier_run_or_share_its_output() {
    let dir = temp_dir("cli-fit-overwrite");
    let spec = write(&dir, "spec.toml", &SPEC.replace("epochs = 3", "epochs = 1"));
    let model = dir.join("m.sbn");
    let m = model.to_str().unwrap();
    let ckpt = sbn::session::checkpoint_path(&model);
    let fit = |extra: &[&str]| sbn(&[&["fit", spec.as_str(), "--train", "embedded:digits", "--out", m], extra].concat());
    let (ok, _, err) = fit(&[]);
    assert!(ok, "{err}");
    let before = (std::fs::read(&model).unwrap(), std::fs::read(&ckpt).unwrap());
    // Refused before any work (the data is not even loaded), naming both files and both ways on.
    let (ok, _, err) = fit(&[]);
    assert!(!ok, "an earlier run was overwritten");
    for part in ["m.sbn and ", "m.sbn.ckpt", "--force", "--resume"] {
        assert!(err.contains(part), "'{part}' not in: {err}");
    }
    assert!(!err.contains("training on"), "{err}");
    assert_eq!((std::fs::read(&model).unwrap(), std::fs::read(&ckpt).unwrap()), before);
    // A checkpoint alone (a run interrupted in its first epoch) is protected too.
    std::fs::rename(&model, dir.join("kept.sbn")).unwrap();
    let (ok, _, err) = fit(&[]);
    assert!(!ok && err.contains("m.sbn.ckpt") && err.contains("--force") && err.contains("--resume"), "{err}");
    // A model without its checkpoint: --resume cannot help, and the message says so.
    std::fs::rename(dir.join("kept.sbn"), &model).unwrap();
    std::fs::remove_file(&ckpt).unwrap();
    let (ok, _, err) = fit(&[]);
    assert!(!ok && err.contains("m.sbn") && err.contains("--force") && err.contains("does not exist"), "{err}");
    let (ok, _, err) = sbn(&["fit", &spec, "--train", "embedded:digits", "--out", dir.to_str().unwrap(), "--force"]);
    assert!(!ok && err.contains("is a folder"), "{err}");
    let (ok, _, err) = fit(&["--resume"]);
    assert!(!ok && err.contains("--resume") && err.contains("m.sbn.ckpt") && !err.contains("training on"), "{err}");
    let (ok, _, err) = fit(&["--force"]);
    assert!(ok, "{err}");
    assert!(ckpt.exists());
    // Another holder of the lock: refused at once, naming it; once released, fit works.
    let lock = sbn::io::OutputLock::acquire(&model, "the test holder").unwrap();
    let (ok, _, err) = fit(&["--force"]);
    assert!(!ok, "fit ran while another process held the lock");
    for part in [&format!("pid {}", std::process::id()), "since", "the test holder", "m.sbn.lock"] {
        assert!(err.contains(part), "'{part}' not in: {err}");
    }
    assert!(!err.contains("training on"), "{err}");
    drop(lock);
    // A lock file left by a killed run (no live lock) does not block.
    std::fs::write(sbn::io::lock_path(&model), "pid 99999999\nstarted 0\ncommand sbn fit\n").unwrap();
    let (ok, _, err) = fit(&["--force"]);
    assert!(ok, "{err}");
    assert!(!sbn::io::lock_path(&model).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
