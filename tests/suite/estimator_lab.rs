//! The estimator lab (docs/math.md §4): REINFORCE (with and without baseline), ARM and DisARM are
//! unbiased against exact enumeration on small nets of both weight kinds; Concrete and the
//! deterministic tanh network have the exact gradient of their (smooth) objectives, checked by
//! central differences; REINFORCE without baseline reproduces the reference vectors; every
//! estimator trains from a spec.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::estimator::concrete::{RelaxNoise, relaxed_objective};
use sbn::estimator::{EstimatorKind, Exact, Gradient};
use sbn::model::{GivenDraws, Network, RngDraws, WeightKind};
use serde_json::Value;

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/psa_reference_vectors.json");

use crate::common::{monte_carlo, norm};

fn problem(dims: &[usize], kinds: &[WeightKind], batch: usize, seed: u64) -> (Network, DMatrix<f64>, Vec<usize>) {
    crate::common::problem(dims, kinds, 1.0, (1.8, 0.4), batch, seed)
}

/// Every component of every layer within 4.5 standard errors of the exact gradient, with
/// `‖se‖ < 10% ‖g‖` per layer so the check has power.
fn assert_unbiased(net: &Network, x: &DMatrix<f64>, y: &[usize], kind: EstimatorKind, draws: usize, seed: u64) {
    let exact: Vec<Vec<f64>> = Exact::default().compute(net, x, y).unwrap().grad.layers.iter().map(|l| l.flatten()).collect();
    let stats = monte_carlo(net, x, y, kind.build().as_ref(), draws, seed);
    let kinds: Vec<WeightKind> = net.layers().iter().map(|l| l.kind()).collect();
    let what = format!("{kind} {:?} {kinds:?}", net.dims());
    for (k, exact_k) in exact.iter().enumerate() {
        let (se, g) = (norm(&stats.stderr[k]), norm(exact_k));
        eprintln!("{what} layer {k}: ‖se‖/‖g‖ = {:.3}", se / g);
        assert!(se < 0.1 * g, "{what} layer {k}: too few draws (‖se‖ = {se}, ‖g‖ = {g})");
        for (i, ((m, s), e)) in stats.mean[k].iter().zip(&stats.stderr[k]).zip(exact_k).enumerate() {
            assert!((m - e).abs() <= 4.5 * s + 1e-12, "{what} layer {k} entry {i}: mean {m}, exact {e}, stderr {s}");
        }
    }
}

/// Real weights, then Bernoulli weights with one and with two hidden layers.
fn unbiased_on_both_kinds(kind: EstimatorKind, draws_real: usize, draws_bernoulli: usize) {
    use WeightKind::{Bernoulli, Real};
    let (net, x, y) = problem(&[2, 3, 2, 2], &[Real, Real, Real], 3, 3);
    assert_unbiased(&net, &x, &y, kind, draws_real, 101);
    let (net, x, y) = problem(&[2, 3, 2], &[Bernoulli, Bernoulli], 3, 4);
    assert_unbiased(&net, &x, &y, kind, draws_bernoulli / 4, 102);
    let (net, x, y) = problem(&[2, 3, 2, 2], &[Bernoulli, Bernoulli, Bernoulli], 3, 19);
    assert_unbiased(&net, &x, &y, kind, draws_bernoulli, 103);
}

#[test]
fn arm_is_unbiased() {
    unbiased_on_both_kinds(EstimatorKind::Arm, 40_000, 100_000);
}

#[test]
fn disarm_is_unbiased() {
    unbiased_on_both_kinds(EstimatorKind::DisArm, 40_000, 100_000);
}

#[test]
fn reinforce_without_baseline_is_unbiased() {
    unbiased_on_both_kinds(EstimatorKind::ReinforceNb, 100_000, 300_000);
}

#[test]
fn reinforce_with_baseline_is_unbiased() {
    unbiased_on_both_kinds(EstimatorKind::Reinforce, 100_000, 300_000);
}

// ---- Smooth objectives: central differences ----

/// `grad` (logit space) against central differences of `loss` in every parameter of every layer.
fn assert_matches_finite_differences(net: &Network, grad: &Gradient, loss: &dyn Fn(&Network) -> f64, tol: f64) {
    let grad = grad.logit_space(net);
    let h = 1e-5;
    for k in 0..net.layers().len() {
        let flat = grad.layers[k].flatten();
        for (idx, &analytic) in flat.iter().enumerate() {
            let bump = |c: f64| crate::common::bumped(net, k, idx, c);
            let fd = (loss(&bump(h)) - loss(&bump(-h))) / (2.0 * h);
            assert!((fd - analytic).abs() < tol * (1.0 + fd.abs()), "layer {k} parameter {idx}: finite difference {fd}, analytic {analytic}");
        }
    }
}

fn random_uniforms(rows: usize, cols: usize, rng: &mut Xoshiro256PlusPlus) -> DMatrix<f64> {
    use rand::RngExt;
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(0.02..0.98))
}

#[test]
fn concrete_gradient_matches_finite_differences_of_the_relaxed_loss() {
    use WeightKind::{Bernoulli, Real};
    for (kinds, tau) in [([Bernoulli, Real, Bernoulli], 0.7), ([Real, Real, Real], 0.4), ([Bernoulli, Bernoulli, Bernoulli], 1.5)] {
        let (net, x, y) = problem(&[2, 3, 2, 3], &kinds, 4, 9);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let units: Vec<DMatrix<f64>> = net.dims()[1..net.dims().len() - 1].iter().map(|&n| random_uniforms(n, 4, &mut rng)).collect();
        let weights: Vec<Option<DMatrix<f64>>> = net.layers().iter().map(|l| l.q().map(|q| random_uniforms(q.nrows(), q.ncols(), &mut rng))).collect();
        let noise = RelaxNoise::from_uniforms(&units, &weights);
        let est = relaxed_objective(&net, &x, &y, &noise, tau);
        assert_matches_finite_differences(&net, &est.grad, &|n| relaxed_objective(n, &x, &y, &noise, tau).loss, 1e-6);
    }
}

#[test]
fn concrete_estimator_is_the_relaxed_gradient_at_the_drawn_noise() {
    // Real weights, given uniforms: the estimator's gradient is the relaxed objective's at z = logit(u).
    use WeightKind::Real;
    let (net, x, y) = problem(&[2, 3, 2, 3], &[Real, Real, Real], 4, 9);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(6);
    let units: Vec<DMatrix<f64>> = vec![random_uniforms(3, 4, &mut rng), random_uniforms(2, 4, &mut rng)];
    let mut draws = GivenDraws { units: units.clone(), weights: vec![] };
    let ws = net.sample_weights(&mut draws);
    let got = EstimatorKind::Concrete.build().estimate(&net, &x, &y, &ws, &mut draws).unwrap();
    let want = relaxed_objective(&net, &x, &y, &RelaxNoise::from_uniforms(&units, &[None, None, None]), sbn::estimator::concrete::DEFAULT_TAU);
    assert_eq!(got.grad, want.grad);
}

#[test]
fn deterministic_tanh_gradient_matches_finite_differences() {
    use WeightKind::{Bernoulli, Real};
    let est = EstimatorKind::Tanh.build();
    for kinds in [[Real, Real, Real], [Bernoulli, Real, Bernoulli]] {
        let (net, x, y) = problem(&[2, 3, 2, 3], &kinds, 4, 13);
        let run = |n: &Network| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
            let ws = n.sample_weights(&mut RngDraws(&mut rng));
            est.estimate(n, &x, &y, &ws, &mut RngDraws(&mut rng)).unwrap()
        };
        assert_matches_finite_differences(&net, &run(&net).grad, &|n| run(n).loss, 1e-6);
    }
}

#[test]
fn st_gumbel_uses_the_sample_in_the_output_layer_like_st() {
    use WeightKind::Real;
    let (net, x, y) = problem(&[2, 3, 2, 3], &[Real, Real, Real], 4, 9);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let units = vec![random_uniforms(3, 4, &mut rng), random_uniforms(2, 4, &mut rng)];
    let run = |kind: EstimatorKind| {
        let mut d = GivenDraws { units: units.clone(), weights: vec![] };
        let ws = net.sample_weights(&mut d);
        kind.build().estimate(&net, &x, &y, &ws, &mut d).unwrap()
    };
    let (gum, st) = (run(EstimatorKind::StGumbel), run(EstimatorKind::St));
    assert_eq!(gum.loss, st.loss);
    let out = net.layers().len() - 1;
    assert!((&gum.grad.layers[out].w - &st.grad.layers[out].w).amax() < 1e-14);
    assert_ne!(gum.grad.layers[0].w, st.grad.layers[0].w);
}

// ---- Reference vectors ----

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn reinforce_without_baseline_reproduces_the_reference_vectors() {
    let text = std::fs::read_to_string(REFERENCE).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = sbn::reference_cases::parse_cases(&text, REFERENCE).unwrap();
    for (case, want) in cases.iter().zip(doc["cases"].as_array().unwrap()) {
        let got = case.run(&[EstimatorKind::ReinforceNb], 0).unwrap();
        let (got, want) = (&got["reinforce-nb"], &want["reinforce_no_baseline"]);
        for key in ["loss_at_sample", "dW", "db"] {
            let (g, w) = (flat(&got[key]), flat(&want[key]));
            assert_eq!(g.len(), w.len(), "{} {key}", case.name);
            for (i, (a, b)) in g.iter().zip(&w).enumerate() {
                assert!((a - b).abs() <= 1e-10, "{} {key}[{i}]: got {a}, reference {b}", case.name);
            }
        }
    }
}

// ---- Training ----

#[test]
fn every_estimator_trains_from_a_spec() {
    let all = sbn::data::embedded::digits();
    let idx: Vec<usize> = (0..all.len()).step_by(6).collect();
    let (train, valid) = all.subset(&idx).split(0.2, 1);
    for kind in EstimatorKind::ALL.into_iter().filter(|&k| k != EstimatorKind::Exact) {
        let spec = format!(
            "[network]\nhidden = [16]\nweights = \"bernoulli\"\n[training]\nestimator = \"{kind}\"\nbatch_size = 50\nepochs = 1\nseed = 3\nchunk = 25\n[validation]\nweight_samples = 2\nnoise_samples = 2\n"
        );
        let spec = sbn::spec::ModelSpec::parse(&spec, "spec").unwrap();
        assert_eq!(spec.training.estimator, kind);
        let out = sbn::session::fit(&spec, &train, &valid, &sbn::session::FitOptions::default(), &mut ()).unwrap();
        let rec = &out.model.history[0];
        eprintln!("{kind}: train nll {:.4}, valid accuracy {:.3}", rec.train_nll, rec.valid_accuracy);
        assert!(rec.train_nll.is_finite() && rec.valid_nll.is_finite(), "{kind}: {rec:?}");
        assert!((0.0..=1.0).contains(&rec.valid_accuracy), "{kind}: {rec:?}");
    }
}

#[test]
fn names_round_trip() {
    for kind in EstimatorKind::ALL {
        assert_eq!(kind.name().parse::<EstimatorKind>().unwrap(), kind);
        assert_eq!(kind.build().kind(), kind);
    }
    assert_eq!("reinforce_no_baseline".parse::<EstimatorKind>().unwrap(), EstimatorKind::ReinforceNb);
    assert_eq!("ST-Gumbel".parse::<EstimatorKind>().unwrap(), EstimatorKind::StGumbel);
}

#[test]
fn gradcheck_reports_the_exact_estimator_as_perfect_and_writes_charts() {
    use WeightKind::Real;
    use sbn::gradient_study::{GradcheckConfig, gradcheck, plot_report};
    let (net, x, y) = problem(&[2, 3, 2, 2], &[Real, Real, Real], 3, 3);
    let estimators = vec![EstimatorKind::Exact.build(), EstimatorKind::Arm.build()];
    let config = GradcheckConfig { draws: 50, group_sizes: vec![1, 10, 100], seed: 1 };
    let report = gradcheck(&net, &x, &y, &estimators, &config).unwrap();
    assert_eq!(report.group_sizes, vec![1, 10], "M above R is skipped");
    for l in &report.estimators[0].layers {
        assert!(l.relative_bias < 1e-12 && l.variance < 1e-20 && (l.mean_cosine - 1.0).abs() < 1e-12, "{l:?}");
    }
    let arm = &report.estimators[1].layers;
    assert!(arm.iter().all(|l| l.cosine_of_mean[1] > l.cosine_of_mean[0]), "averaging helps: {arm:?}");
    let dir = std::env::temp_dir().join(format!("sbn-gradcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stems = plot_report(&report, &dir).unwrap();
    assert_eq!(stems.len(), 3);
    assert!(stems.iter().all(|s| s.with_extension("png").exists() && s.with_extension("svg").exists()));
    std::fs::remove_dir_all(&dir).unwrap();
}
