//! Training: an interrupted run resumed equals an uninterrupted one; 1 and 2 threads give the
//! same model; model files survive a round trip and reject corruption.

use std::path::PathBuf;

use sbn::data::embedded::digits;
use sbn::fitted::FittedModel;
use sbn::io::ModelFile;
use sbn::session::{FitOptions, fit};
use sbn::spec::ModelSpec;

use crate::common::StopAfter;

const SPEC: &str = r#"
[network]
hidden = [24, 16]
weights = "bernoulli"
[objective]
beta = 0.01
[training]
estimator = "psa"
lr = 0.003
logit_lr = 0.1
batch_size = 50
epochs = 2
seed = 7
chunk = 16
[validation]
fraction = 0.2
weight_samples = 2
noise_samples = 2
"#;

/// The history without wall-clock times, which differ between runs.
fn untimed(mut m: FittedModel) -> FittedModel {
    m.history.iter_mut().for_each(|r| r.seconds = 0.0);
    m
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sbn-fit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn data() -> (sbn::data::Dataset, sbn::data::Dataset) {
    // A quarter of the digits keeps the test fast.
    let all = digits();
    let idx: Vec<usize> = (0..all.len()).step_by(4).collect();
    all.subset(&idx).split(0.2, 1)
}

#[test]
fn interrupted_and_resumed_equals_uninterrupted() {
    let spec = ModelSpec::parse(SPEC, "spec").unwrap();
    let (train, valid) = data();
    let dir = temp_dir("resume");
    let whole = fit(&spec, &train, &valid, &FitOptions { out: Some(dir.join("a.sbn")), ..FitOptions::default() }, &mut ()).unwrap();
    assert!(whole.completed);
    // Interrupt in the middle of the first epoch, then resume from the checkpoint.
    let opts = FitOptions { out: Some(dir.join("b.sbn")), ..FitOptions::default() };
    let part = fit(&spec, &train, &valid, &opts, &mut StopAfter(3)).unwrap();
    assert!(!part.completed);
    assert_ne!(part.last, whole.last);
    let resumed = fit(&spec, &train, &valid, &FitOptions { out: Some(dir.join("b.sbn")), resume: true, ..FitOptions::default() }, &mut ()).unwrap();
    assert!(resumed.completed);
    assert_eq!(resumed.last, whole.last, "resumed run differs from the uninterrupted one");
    assert_eq!(resumed.model.history.len(), 2);
    for (a, b) in resumed.model.history.iter().zip(&whole.model.history) {
        assert_eq!((a.train_nll, a.valid_nll, a.valid_accuracy), (b.train_nll, b.valid_nll, b.valid_accuracy));
    }
    let a = ModelFile::load(&dir.join("a.sbn")).unwrap();
    let b = ModelFile::load(&dir.join("b.sbn")).unwrap();
    assert_eq!(a.spec, b.spec);
    assert_eq!(untimed(a.fitted), untimed(b.fitted));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resumed_run_may_change_its_number_of_epochs_and_nothing_else() {
    let spec = ModelSpec::parse(SPEC, "spec").unwrap();
    let (train, valid) = data();
    let dir = temp_dir("extend");
    let out = Some(dir.join("m.sbn"));
    let opts = FitOptions { out: out.clone(), ..FitOptions::default() };
    assert!(!fit(&spec, &train, &valid, &opts, &mut StopAfter(3)).unwrap().completed);
    let mut other = spec.clone().into_inner();
    other.training.lr *= 2.0;
    let other = other.check("spec").unwrap();
    let err = fit(&other, &train, &valid, &FitOptions { out: out.clone(), resume: true, ..FitOptions::default() }, &mut ()).unwrap_err();
    assert!(matches!(err, sbn::SbnError::Mismatch { .. }) && err.to_string().contains("another spec"), "{err}");
    let mut longer = spec.clone().into_inner();
    longer.training.epochs = 3;
    let longer = longer.check("spec").unwrap();
    let resumed = fit(&longer, &train, &valid, &FitOptions { out, resume: true, ..FitOptions::default() }, &mut ()).unwrap();
    assert!(resumed.completed);
    assert_eq!(resumed.model.history.len(), 3);
    assert_eq!(ModelFile::load(&dir.join("m.sbn")).unwrap().spec.training.epochs, 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_and_two_threads_give_the_same_model() {
    let spec = ModelSpec::parse(SPEC, "spec").unwrap();
    let (train, valid) = data();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| fit(&spec, &train, &valid, &FitOptions::default(), &mut ()).unwrap())
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.last, two.last);
    assert_eq!(untimed(one.model), untimed(two.model));
}

#[test]
fn model_files_round_trip_and_reject_corruption() {
    let spec = ModelSpec::parse(SPEC, "spec").unwrap();
    let (train, valid) = data();
    let dir = temp_dir("file");
    let path = dir.join("m.sbn");
    let out = fit(&spec, &train, &valid, &FitOptions { out: Some(path.clone()), ..FitOptions::default() }, &mut ()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let back = ModelFile::from_bytes(&bytes, "m.sbn").unwrap();
    assert_eq!(back.spec, *spec);
    assert_eq!(back.fitted.scaling, out.model.scaling);
    assert_eq!(back.fitted.network, out.model.network);
    assert_eq!(back.fitted.history, out.model.history);
    assert_eq!(back.fitted, out.model);
    // A checkpoint carries the optimizer state and reads back equal too.
    let ckpt = ModelFile::load(&sbn::session::checkpoint_path(&path)).unwrap();
    assert!(ckpt.state.is_some());
    assert_eq!(ModelFile::from_bytes(&ckpt.to_bytes(), "c").unwrap(), ckpt);

    let err = |b: &[u8]| ModelFile::from_bytes(b, "m.sbn").unwrap_err().to_string();
    let mut flipped = bytes.clone();
    let mid = bytes.len() / 2;
    flipped[mid] ^= 0x40;
    assert!(err(&flipped).contains("checksum"), "{}", err(&flipped));
    assert!(matches!(ModelFile::from_bytes(&flipped, "m.sbn"), Err(sbn::SbnError::Format { .. })));
    for cut in [0, 5, 12, 30, bytes.len() / 3, bytes.len() - 1] {
        let e = err(&bytes[..cut]);
        assert!(e.contains("m.sbn"), "{e}");
    }
    let mut other_version = bytes.clone();
    other_version[8] = 9;
    assert!(err(&other_version).contains("format version 9"), "{}", err(&other_version));
    assert!(err(b"hello world, not a model").contains("not an sbn model file"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn point_weight_training_gives_a_deterministic_binary_network() {
    let spec = ModelSpec::parse(&SPEC.replace("chunk = 16", "chunk = 16\npoint_weights = true"), "spec").unwrap();
    let (train, valid) = data();
    let out = fit(&spec, &train, &valid, &FitOptions::default(), &mut ()).unwrap();
    for layer in out.model.network.layers() {
        assert!(layer.weight_param().iter().all(|t| t.abs() == 40.0), "weights not at the mode");
    }
    // Every weight sample is the same network: the per-sample predictives agree exactly.
    let config = sbn::montecarlo::McConfig { weight_samples: 3, noise_samples: 2, seed: 4, engine: sbn::montecarlo::Engine::Auto };
    let pred = sbn::evaluate::predict_dataset(&out.model, &valid, &config).unwrap();
    let a = sbn::montecarlo::sample_networks(&out.model.network, &config).unwrap();
    assert!(a.windows(2).all(|w| w[0].weight_sample().layers == w[1].weight_sample().layers));
    assert_eq!(pred.weight_samples, 3);
}

#[test]
fn augmented_training_resumes_exactly_and_changes_the_model() {
    let plain = ModelSpec::parse(SPEC, "spec").unwrap();
    let spec = ModelSpec::parse(&format!("{SPEC}[training.augment]\nshift = 1\nflip = true\n"), "spec").unwrap();
    assert_eq!(spec.training.augment, sbn::data::augment::Augment { shift: 1, flip: true });
    let (train, valid) = data();
    let dir = temp_dir("augment");
    let whole = fit(&spec, &train, &valid, &FitOptions { out: Some(dir.join("a.sbn")), ..FitOptions::default() }, &mut ()).unwrap();
    let unaugmented = fit(&plain, &train, &valid, &FitOptions::default(), &mut ()).unwrap();
    assert_ne!(whole.last, unaugmented.last, "augmentation left training unchanged");
    // The shifts are drawn per batch, so a run interrupted mid-epoch resumes with the same draws.
    fit(&spec, &train, &valid, &FitOptions { out: Some(dir.join("b.sbn")), ..FitOptions::default() }, &mut StopAfter(3)).unwrap();
    let resumed = fit(&spec, &train, &valid, &FitOptions { out: Some(dir.join("b.sbn")), resume: true, ..FitOptions::default() }, &mut ()).unwrap();
    assert_eq!(resumed.last, whole.last, "resumed augmented run differs from the uninterrupted one");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn augmentation_of_data_without_an_image_shape_names_the_field() {
    let spec = ModelSpec::parse(&format!("{SPEC}[training.augment]\nshift = 2\n"), "spec").unwrap();
    let (train, valid) = sbn::data::toy::two_moons(200, 0.1, 3).split(0.2, 1);
    let err = fit(&spec, &train, &valid, &FitOptions::default(), &mut ()).unwrap_err().to_string();
    assert!(err.contains("training.augment") && err.contains("image"), "{err}");
}
