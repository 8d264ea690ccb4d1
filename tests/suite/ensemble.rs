//! Ensembles (docs/math.md §5.1): the ensemble's predictive is exactly its members' predictives,
//! each with its own seed, pooled; members that disagree on classes, input size or scaling are
//! refused with both named; two models that disagree make an ensemble with a larger model part
//! than either; the CLI takes `--member` and `sbn fit --members K` fits and resumes members.

use rand::SeedableRng;
use sbn::data::embedded::digits;
use sbn::data::{Dataset, InputScaling};
use sbn::ensemble::{Ensemble, member_seed};
use sbn::evaluate::predict_dataset;
use sbn::fitted::FittedModel;
use sbn::metrics::argmax;
use sbn::model::init::{InitConfig, random_network};
use sbn::montecarlo::McConfig;
use sbn::session::{FitOptions, fit};
use sbn::spec::{ModelSpec, NetworkSpec};
use sbn::uncertainty::Uncertainty;

use crate::common::cli::{sbn, temp_dir};

fn classes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// An untrained model of `dims` from `seed` (64 inputs for the digits).
fn model(dims: &[usize], seed: u64, scaling: InputScaling, names: &[&str]) -> FittedModel {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let net = random_network(dims, &vec![sbn::WeightKind::Bernoulli; dims.len() - 1], InitConfig::default(), &mut rng).unwrap();
    FittedModel::new(net, scaling, classes(names), Vec::new()).unwrap()
}

fn unit() -> InputScaling {
    InputScaling::Affine { alpha: 1.0 / 16.0, offset: -0.5 }
}

fn some_digits(n: usize) -> Dataset {
    digits().subset(&(0..n).collect::<Vec<_>>())
}

#[test]
fn the_ensemble_predictive_is_its_members_predictives_pooled() {
    let names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    // Members of other architectures: the pooled predictive does not care.
    let members = [model(&[64, 16, 10], 1, unit(), &names), model(&[64, 8, 8, 10], 2, unit(), &names), model(&[64, 32, 10], 3, unit(), &names)];
    let data = some_digits(70);
    let config = McConfig { weight_samples: 3, noise_samples: 2, seed: 11, ..McConfig::default() };
    let ensemble = Ensemble::new(members.iter().enumerate().map(|(m, f)| (format!("m{m}.sbn"), f)).collect()).unwrap();
    let pooled = predict_dataset(&ensemble, &data, &config).unwrap();
    assert_eq!((pooled.n_examples, pooled.weight_samples, pooled.noise_samples), (70, 9, 2));
    let alone: Vec<_> = members.iter().enumerate().map(|(m, f)| predict_dataset(f, &data, &McConfig { seed: member_seed(11, m), ..config }).unwrap()).collect();
    for n in 0..data.len() {
        let concatenated: Vec<f64> = alone.iter().flat_map(|p| p.example(n).to_vec()).collect();
        assert_eq!(pooled.example(n), &concatenated[..], "example {n}");
    }
    // Member 0 draws with the seed itself: a one-member ensemble is its model; the others differ.
    assert_eq!(member_seed(11, 0), 11);
    assert!(member_seed(11, 1) != 11 && member_seed(11, 1) != member_seed(11, 2));
    let one = Ensemble::new(vec![("m0.sbn".to_string(), &members[0])]).unwrap();
    assert_eq!(predict_dataset(&one, &data, &config).unwrap(), alone[0]);
}

#[test]
fn members_that_disagree_on_classes_inputs_or_scaling_are_refused() {
    let names = ["a", "b", "c"];
    let base = model(&[4, 8, 3], 1, unit(), &names);
    let cases = [
        (model(&[4, 8, 3], 2, unit(), &["a", "c", "b"]), "classes"),
        (model(&[5, 8, 3], 2, unit(), &names), "inputs"),
        (model(&[4, 8, 3], 2, InputScaling::Affine { alpha: 0.5, offset: 0.0 }, &names), "input scaling"),
    ];
    for (other, what) in &cases {
        let err = Ensemble::new(vec![("first.sbn".to_string(), &base), ("second.sbn".to_string(), other)]).err().expect(what).to_string();
        assert!(err.contains("first.sbn") && err.contains("second.sbn") && err.contains(what), "{what}: {err}");
    }
    assert!(Ensemble::<FittedModel>::new(Vec::new()).err().unwrap().to_string().contains("no members"));
}

/// A small fit on the digits whose labels are moved by `shift` classes (`y → y + shift mod 10`),
/// the class names kept: a model that means something else by every class.
fn fitted_on_shifted_labels(shift: usize, seed: u64) -> FittedModel {
    let d = digits();
    let labels: Vec<usize> = d.labels().unwrap().iter().map(|&y| (y + shift) % 10).collect();
    let moved = Dataset::new("digits", d.features.clone(), d.dim, labels, d.class_names().to_vec()).unwrap();
    let mut spec = ModelSpec::new(NetworkSpec::dense(&[24], sbn::WeightKind::Bernoulli));
    (spec.training.epochs, spec.training.seed) = (10, seed);
    let (train, valid) = moved.split(0.2, 1);
    fit(&spec.check("spec").unwrap(), &train, &valid, &FitOptions::default(), &mut ()).unwrap().model
}

#[test]
fn two_models_that_disagree_make_an_ensemble_with_a_larger_model_part() {
    let (a, b) = (fitted_on_shifted_labels(0, 1), fitted_on_shifted_labels(1, 2));
    let data = some_digits(400);
    let config = McConfig { weight_samples: 4, noise_samples: 2, seed: 5, ..McConfig::default() };
    let (pa, pb) = (predict_dataset(&a, &data, &config).unwrap(), predict_dataset(&b, &data, &McConfig { seed: member_seed(5, 1), ..config }).unwrap());
    let ensemble = Ensemble::new(vec![("a.sbn".to_string(), &a), ("b.sbn".to_string(), &b)]).unwrap();
    let pe = predict_dataset(&ensemble, &data, &config).unwrap();
    let disagree: Vec<usize> = (0..data.len()).filter(|&n| argmax(&pa.mean(n)) != argmax(&pb.mean(n))).collect();
    assert!(disagree.len() > data.len() / 2, "the two models disagree on {} of {} digits", disagree.len(), data.len());
    // On the members' own draws, the mixture's model part is the members' mean model part plus
    // the Jensen–Shannon divergence of their predictive means (H(p̄) − mean H(p_s), pooled):
    // disagreement adds to it, digit by digit.
    let entropy = |p: &[f64]| -p.iter().filter(|&&v| v > 0.0).map(|&v| v * v.ln()).sum::<f64>();
    let (ua, ub, ue) = (Uncertainty::from_predictive(&pa).unwrap(), Uncertainty::from_predictive(&pb).unwrap(), Uncertainty::from_predictive(&pe).unwrap());
    let mut jsd_sum = 0.0;
    for n in 0..data.len() {
        let (ma, mb) = (pa.mean(n), pb.mean(n));
        let mix: Vec<f64> = ma.iter().zip(&mb).map(|(a, b)| (a + b) / 2.0).collect();
        let jsd = entropy(&mix) - (entropy(&ma) + entropy(&mb)) / 2.0;
        let want = (ua.model[n] + ub.model[n]) / 2.0 + jsd;
        assert!((ue.model[n] - want).abs() < 1e-9, "digit {n}: ensemble model part {} against {want}", ue.model[n]);
        if disagree.contains(&n) {
            jsd_sum += jsd;
        }
    }
    let (mean_of, jsd) = (|u: &Uncertainty| disagree.iter().map(|&n| u.model[n]).sum::<f64>() / disagree.len() as f64, jsd_sum / disagree.len() as f64);
    let (ma, mb, me) = (mean_of(&ua), mean_of(&ub), mean_of(&ue));
    assert!(jsd > 0.005 && me > (ma + mb) / 2.0 + 0.005, "ensemble model part {me:.4}, members {ma:.4} and {mb:.4}, divergence {jsd:.4}");
    eprintln!("on the {} digits the members disagree on: model part {me:.4} against {ma:.4} and {mb:.4} (divergence {jsd:.4})", disagree.len());
}

#[test]
fn the_cli_fits_members_and_predicts_with_them() {
    let dir = temp_dir("ensemble-cli");
    let p = |f: &str| dir.join(f).display().to_string();
    std::fs::write(dir.join("spec.toml"), "[network]\nhidden = [16]\nweights = \"bernoulli\"\n[training]\nepochs = 1\nbatch_size = 64\n").unwrap();
    let fit_members = |extra: &[&str]| sbn(&[&["fit", &p("spec.toml"), "--train", "embedded:digits", "--members", "2", "--out", &p("m.sbn")], extra].concat());
    let (ok, _, err) = sbn(&["fit", &p("spec.toml"), "--train", "embedded:digits", "--members", "0", "--out", &p("m.sbn")]);
    assert!(!ok && err.contains("--members 0"), "{err}");
    let (ok, _, err) = fit_members(&[]);
    assert!(ok, "{err}");
    assert!(err.contains("member 2/2") && err.contains("--temperature") && err.contains(&p("m-2.sbn")), "{err}");
    // The members are two seeds of the spec: other models.
    assert_ne!(std::fs::read(dir.join("m-1.sbn")).unwrap(), std::fs::read(dir.join("m-2.sbn")).unwrap());
    // Each member's file names the validation split all of them were validated on: the base seed's.
    let spec = |f: &str| sbn::io::ModelFile::load(&dir.join(f)).unwrap().spec;
    let (first, second) = (spec("m-1.sbn"), spec("m-2.sbn"));
    assert_ne!(first.training.seed, second.training.seed);
    assert_eq!((first.validation_split_seed(), second.validation_split_seed()), (first.training.seed, first.training.seed));
    // A second run refuses to overwrite; --resume keeps both finished members as they are.
    let (ok, _, err) = fit_members(&[]);
    assert!(!ok && err.contains("--force"), "{err}");
    let network = |f: &str| sbn::io::ModelFile::load(&dir.join(f)).unwrap().fitted.network;
    let before = network("m-2.sbn");
    std::fs::remove_file(dir.join("m-2.sbn.ckpt")).unwrap();
    std::fs::remove_file(dir.join("m-2.sbn")).unwrap();
    let (ok, _, err) = fit_members(&["--resume"]);
    assert!(ok, "{err}");
    assert_eq!(network("m-2.sbn"), before, "the member fitted again is the same fit");

    let mc = ["--weight-samples", "3", "--noise-samples", "2"];
    let evaluate = |extra: &[&str]| sbn(&[&["evaluate", &p("m-1.sbn"), "--data", "embedded:digits", "--json"], extra, &mc[..]].concat());
    let (ok, out, err) = evaluate(&["--member", &p("m-2.sbn")]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["members"].as_array().map(Vec::len), Some(2), "{out}");
    let (ok, _, err) = evaluate(&["--member", &p("m-2.sbn"), "--posthoc"]);
    assert!(!ok && err.contains("--posthoc") && err.contains("--temperature"), "{err}");
    let (ok, _, err) = evaluate(&["--member", &p("m-2.sbn"), "--temperature", "0"]);
    assert!(!ok && err.contains("--temperature 0"), "{err}");
    let (ok, out, err) =
        sbn(&[&["shift", &p("m-1.sbn"), "--member", &p("m-2.sbn"), "--data", "embedded:digits"], &mc[..], &["--kinds", "rotate", "--out", &p("shift")]]
            .concat());
    assert!(ok && out.contains("clean: accuracy"), "{err}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("shift/shift.json")).unwrap()).unwrap();
    assert_eq!(json["weight_samples"].as_u64(), Some(6), "3 from each member, pooled");
    assert!(json["kinds"][0]["results"][0]["auroc"]["energy"].is_number());
    let _ = std::fs::remove_dir_all(&dir);
}
