//! Monte Carlo checks of the sample-based estimators against exact enumeration on small nets, for
//! real and Bernoulli weights (docs/math.md §3–4):
//! * PSA's mean gradient equals the exact gradient for the output layer and the last binary layer
//!   (every component within 4.5 standard errors of the mean);
//! * in earlier layers PSA's relative bias `‖mean ĝ − g‖ / ‖g‖` is below ST's.
//!
//! Fixed seeds; the draw counts make the standard errors small against the gradients, which the
//! tests also check so that a wrong estimator cannot hide in the noise.

use nalgebra::DMatrix;
use sbn::estimator::{EstimatorKind, Exact, Gradient};
use sbn::model::{Network, WeightKind};

use crate::common::{McStats, norm};

fn monte_carlo(net: &Network, x: &DMatrix<f64>, y: &[usize], kind: EstimatorKind, draws: usize, seed: u64) -> McStats {
    crate::common::monte_carlo(net, x, y, kind.build().as_ref(), draws, seed)
}

fn rel_bias(mean: &[f64], exact: &[f64]) -> f64 {
    let diff: Vec<f64> = mean.iter().zip(exact).map(|(a, b)| a - b).collect();
    norm(&diff) / norm(exact)
}

fn exact_layers(net: &Network, x: &DMatrix<f64>, y: &[usize]) -> Vec<Vec<f64>> {
    let g: Gradient = Exact::default().compute(net, x, y).unwrap().grad;
    g.layers.iter().map(|l| l.flatten()).collect()
}

fn problem(dims: &[usize], kinds: &[WeightKind], weight_std: f64, batch: usize, seed: u64) -> (Network, DMatrix<f64>, Vec<usize>) {
    crate::common::problem(dims, kinds, weight_std, (0.9, 0.2), batch, seed)
}

/// Every component of the layers `unbiased` lies within 4.5 standard errors of the exact value;
/// the standard errors are small against the gradient, so the check has power.
fn assert_unbiased(stats: &McStats, exact: &[Vec<f64>], unbiased: &[usize], what: &str) {
    for &k in unbiased {
        let se_norm = norm(&stats.stderr[k]);
        assert!(se_norm < 0.05 * norm(&exact[k]), "{what} layer {k}: too few draws (‖se‖ = {se_norm}, ‖g‖ = {})", norm(&exact[k]));
        for (i, ((m, s), g)) in stats.mean[k].iter().zip(&stats.stderr[k]).zip(&exact[k]).enumerate() {
            assert!((m - g).abs() <= 4.5 * s + 1e-12, "{what} layer {k} entry {i}: mean {m} exact {g} stderr {s}");
        }
    }
}

fn check(dims: &[usize], kinds: &[WeightKind], batch: usize, draws: usize, seed: u64) {
    let (net, x, y) = problem(dims, kinds, 1.0, batch, seed);
    check_net(&net, &x, &y, draws, seed);
}

fn check_net(net: &Network, x: &DMatrix<f64>, y: &[usize], draws: usize, seed: u64) {
    let (net, x, y) = (net.clone(), x.clone(), y.to_vec());
    let dims = net.dims();
    let kinds: Vec<WeightKind> = net.layers().iter().map(|l| l.kind()).collect();
    let exact = exact_layers(&net, &x, &y);
    let psa = monte_carlo(&net, &x, &y, EstimatorKind::Psa, draws, seed + 1);
    let st = monte_carlo(&net, &x, &y, EstimatorKind::St, draws, seed + 1);
    let l = net.n_hidden();
    let what = format!("{dims:?} {kinds:?}");
    assert_unbiased(&psa, &exact, &[l - 1, l], &format!("PSA {what}"));
    for (k, ((psa_k, st_k), exact_k)) in psa.mean.iter().zip(&st.mean).zip(&exact).take(l - 1).enumerate() {
        let (b_psa, b_st) = (rel_bias(psa_k, exact_k), rel_bias(st_k, exact_k));
        eprintln!("{what} layer {k}: relative bias PSA {b_psa:.4}, ST {b_st:.4}");
        assert!(b_psa < b_st, "{what} layer {k}: PSA bias {b_psa} not below ST's {b_st}");
    }
}

#[test]
fn real_weights_psa_matches_exact_in_the_last_layers_and_beats_st_below() {
    use WeightKind::Real;
    check(&[3, 4, 3, 3], &[Real, Real, Real], 4, 40_000, 11);
}

#[test]
fn one_binary_layer_psa_is_unbiased_everywhere() {
    // With one binary layer the first layer is also the last: PSA must be unbiased there too,
    // which checks the per-pair weight-flip term of a Bernoulli layer on real input.
    use WeightKind::{Bernoulli, Real};
    check(&[3, 3, 2], &[Bernoulli, Bernoulli], 4, 40_000, 51);
    check(&[3, 4, 3], &[Real, Real], 4, 40_000, 61);
    check(&[3, 4, 3], &[Bernoulli, Real], 4, 40_000, 71);
}

#[test]
fn the_reference_three_hidden_layer_case() {
    // The network and batch of the conformance case `mlp_3hidden` (the PSA paper's setting).
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/psa_reference_vectors.json");
    let cases = sbn::reference_cases::parse_cases(&std::fs::read_to_string(file).unwrap(), file).unwrap();
    let case = cases.iter().find(|c| c.name == "mlp_3hidden").unwrap();
    check_net(&case.net, &case.x0, &case.y, 40_000, 7);
}

#[test]
fn bernoulli_weights_everywhere() {
    use WeightKind::Bernoulli;
    check(&[2, 3, 2, 2], &[Bernoulli, Bernoulli, Bernoulli], 3, 40_000, 21);
}

#[test]
fn mixed_weight_kinds() {
    use WeightKind::{Bernoulli, Real};
    check(&[2, 3, 3, 2], &[Real, Bernoulli, Bernoulli], 3, 40_000, 31);
    check(&[3, 3, 3, 2], &[Bernoulli, Real, Real], 3, 40_000, 41);
}

#[test]
fn exact_gradient_matches_finite_differences_of_the_exact_loss() {
    use WeightKind::{Bernoulli, Real};
    let (net, x, y) = problem(&[2, 3, 2, 3], &[Bernoulli, Real, Bernoulli], 1.0, 3, 5);
    let exact = Exact::default();
    let grad = exact.compute(&net, &x, &y).unwrap().grad.logit_space(&net);
    let loss = |n: &Network| exact.compute(n, &x, &y).unwrap().loss;
    let h = 1e-5;
    for k in 0..net.layers().len() {
        let flat = grad.layers[k].flatten();
        for (idx, &exact) in flat.iter().enumerate() {
            let bump = |c: f64| crate::common::bumped(&net, k, idx, c);
            let fd = (loss(&bump(h)) - loss(&bump(-h))) / (2.0 * h);
            assert!((fd - exact).abs() < 1e-7, "layer {k} parameter {idx}: finite difference {fd}, exact {exact}");
        }
    }
}
