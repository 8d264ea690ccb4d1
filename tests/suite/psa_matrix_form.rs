//! The two-value matrix form of PSA for Bernoulli layers on binary inputs (docs/math.md §3) equals the
//! per-pair formula it replaces, over random shapes (widths that are not multiples of 64 included).

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use sbn::estimator::psa::binary_input_flips;

fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

/// The per-pair definitions: `s_i = Σ_j r_j [σ(a_j − 2γ_j W_ji x_i) − σ(a_j)]` per example and
/// `∂q_ji = mean_n −W_ji r_j [σ(a_j − 2γ_j W_ji x_i) − σ(a_j)]`.
fn per_pair(w: &DMatrix<f64>, gamma: &DVector<f64>, a: &DMatrix<f64>, r: &DMatrix<f64>, x: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
    let (n_out, n_in) = w.shape();
    let batch = x.ncols();
    let mut dq = DMatrix::zeros(n_out, n_in);
    let mut s = DMatrix::zeros(n_in, batch);
    for n in 0..batch {
        for j in 0..n_out {
            for i in 0..n_in {
                let bracket = sigmoid(a[(j, n)] - 2.0 * gamma[j] * w[(j, i)] * x[(i, n)]) - sigmoid(a[(j, n)]);
                s[(i, n)] += r[(j, n)] * bracket;
                dq[(j, i)] -= w[(j, i)] * r[(j, n)] * bracket / batch as f64;
            }
        }
    }
    (dq, s)
}

fn pm1(v: f64) -> f64 {
    if v < 0.5 { -1.0 } else { 1.0 }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn matrix_form_equals_per_pair(
        n_in in 1usize..150, n_out in 1usize..150, batch in 1usize..5, seed in 0u64..1_000_000,
    ) {
        // A small deterministic generator so that shapes and values vary with the seed.
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64) / ((1u64 << 53) as f64)
        };
        let w = DMatrix::from_fn(n_out, n_in, |_, _| pm1(next()));
        let gamma = DVector::from_fn(n_out, |_, _| 0.01 + 2.0 * next());
        let a = DMatrix::from_fn(n_out, batch, |_, _| 6.0 * (next() - 0.5));
        let r = DMatrix::from_fn(n_out, batch, |_, _| 2.0 * (next() - 0.5));
        let x = DMatrix::from_fn(n_in, batch, |_, _| pm1(next()));
        let (dq, s) = binary_input_flips(&w, &gamma, &a, &a.map(sigmoid), &r, &x);
        let (dq_ref, s_ref) = per_pair(&w, &gamma, &a, &r, &x);
        for (got, want) in dq.iter().zip(dq_ref.iter()).chain(s.iter().zip(s_ref.iter())) {
            prop_assert!((got - want).abs() <= 1e-12 * (1.0 + want.abs()), "{got} vs {want}");
        }
    }
}
