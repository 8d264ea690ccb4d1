//! The logistic activation noise: σ, σ', and the sampling rule of docs/math.md §1.
//!
//! `x = sign(a − z)`, `z ~ Logistic(0, 1)`, so `P(x = +1) = σ(a)`. Every code path samples by the
//! same rule, `x = +1` iff `u < σ(a)` with `u ~ U[0, 1)`, so that injected uniforms reproduce a
//! sample exactly.

use rand::Rng;

/// Logistic sigmoid `σ(a) = 1 / (1 + e^{−a})`, stable for large |a|.
#[inline]
pub fn sigmoid(a: f64) -> f64 {
    if a >= 0.0 {
        1.0 / (1.0 + (-a).exp())
    } else {
        let e = a.exp();
        e / (1.0 + e)
    }
}

/// Derivative of the sigmoid, `σ'(a) = σ(a)(1 − σ(a))`.
#[inline]
pub fn sigmoid_prime(a: f64) -> f64 {
    let p = sigmoid(a);
    p * (1.0 - p)
}

/// `log σ(a)`, stable for large |a|.
#[inline]
pub fn log_sigmoid(a: f64) -> f64 {
    if a >= 0.0 { -(-a).exp().ln_1p() } else { a - a.exp().ln_1p() }
}

/// `logit(p) = log(p / (1 − p))`.
#[inline]
pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// The sampling rule: the ±1 state for pre-activation `a` and uniform `u`.
#[inline]
pub fn sample_state(a: f64, u: f64) -> f64 {
    if u < sigmoid(a) { 1.0 } else { -1.0 }
}

/// Relative band around the decision boundary inside which the exact `σ(a)` decides (see
/// [`decide_states`]).
pub const MARGIN: f64 = 1e-9;

/// The sampling rule for given uniforms as bits (bit `j` of `out` set iff `u_j < σ(a_j)`),
/// exactly [`sample_state`]'s decision. Fast, branch-free and division-free:
/// `u < σ(a) ⇔ t = u·(1 + e^{−a}) < 1`, with the vectorized `e^{−a}` (relative error < 1e-15, tested). `t < 1 − M` (and `u > 0`) surely fires,
/// `t ≥ 1 + M` surely does not (`M` = [`MARGIN`] ≫ the rounding of `t` and of `σ`); if any unit
/// falls between (probability ≈ 2M per unit), the layer is settled by the exact rule.
pub fn decide_states(a: &[f64], u: &[f64], out: &mut [u64]) {
    let mut unsure = 0u64;
    crate::simd::dispatch!({
        for ((word, a), u) in out.iter_mut().zip(a.chunks(64)).zip(u.chunks(64)) {
            let (mut w, mut near) = (0u64, 0u64);
            for (i, (&a, &u)) in a.iter().zip(u).enumerate() {
                let t = u * (1.0 + crate::simd::exp(-a));
                w |= u64::from((t < 1.0 - MARGIN) & (u > 0.0)) << i;
                near |= u64::from(t < 1.0 + MARGIN) << i;
            }
            *word = w;
            unsure |= near & !w;
        }
    });
    if unsure != 0 {
        out.fill(0);
        for (j, (&aj, &u)) in a.iter().zip(u).enumerate() {
            out[j / 64] |= u64::from(u < sigmoid(aj)) << (j % 64);
        }
    }
}

/// The sampling rule over a slice: `x[i]` holds the uniform `u_i` on entry and the state for
/// `a[i]` on return, identical to [`sample_state`] (through [`decide_states`]).
pub fn sample_states(a: &[f64], x: &mut [f64]) {
    assert_eq!(a.len(), x.len(), "one uniform per pre-activation");
    let mut bits = vec![0u64; a.len().div_ceil(64)];
    decide_states(a, x, &mut bits);
    x.iter_mut().enumerate().for_each(|(j, x)| *x = if bits[j / 64] >> (j % 64) & 1 == 1 { 1.0 } else { -1.0 });
}

/// A uniform on `[0, 1)` with 53 random bits, the form every sampler here uses.
#[inline]
pub fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectorized_exp_is_within_the_margin() {
        let mut worst: f64 = 0.0;
        let mut x = -708.0;
        while x < 708.0 {
            worst = worst.max((crate::simd::exp(x) - x.exp()).abs() / x.exp());
            x += 0.000_731;
        }
        assert!(worst < 1e-15, "worst relative error {worst}");
        assert!(worst < MARGIN * 1e-5);
    }

    #[test]
    fn extreme_preactivations_follow_the_exact_rule() {
        let a = [f64::MIN, -1e300, -800.0, -745.0, -709.5, -708.0, -40.0, -1e-300, 0.0, 1e-300, 40.0, 708.5, 709.5, 800.0, 1e300, f64::MAX, f64::NAN];
        let tiny = 1.0 / (1u64 << 53) as f64;
        for u in [0.0, tiny, 0.25, 0.5, 1.0 - 2.0 * tiny, 1.0 - tiny] {
            let us = vec![u; a.len()];
            let mut out = vec![0u64; 1];
            decide_states(&a, &us, &mut out);
            for (j, &aj) in a.iter().enumerate() {
                assert_eq!(out[0] >> j & 1 == 1, u < sigmoid(aj), "a = {aj}, u = {u}");
            }
        }
    }

    #[test]
    fn states_follow_the_exact_rule_at_the_boundary() {
        // u on, just below and just above σ(a): the exact rule `u < σ(a)` decides.
        let a: Vec<f64> = (0..130).map(|j| (j as f64 - 65.0) * 0.37).collect();
        for shift in [-2i64, -1, 0, 1, 2] {
            let u: Vec<f64> = a.iter().map(|&a| f64::from_bits((sigmoid(a).to_bits() as i64 + shift) as u64)).collect();
            let mut out = vec![0u64; 3];
            decide_states(&a, &u, &mut out);
            for (j, (&a, &u)) in a.iter().zip(&u).enumerate() {
                assert_eq!(out[j / 64] >> (j % 64) & 1 == 1, u < sigmoid(a), "unit {j}, shift {shift}");
            }
        }
    }

    #[test]
    fn vectorized_sampling_equals_the_rule() {
        let mut a: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) * 0.05).collect();
        a.extend([-800.0, 800.0, 0.0, -1e6, 1e6]);
        let mut u: Vec<f64> = (0..a.len()).map(|i| (i as f64 * 0.618_034).fract()).collect();
        // Uniforms on the boundary and at 0.
        u[500] = 0.5;
        u[1002] = 0.5;
        u[1003] = 0.0;
        u[1004] = 0.0;
        u[3] = sigmoid(a[3]);
        let want: Vec<f64> = a.iter().zip(&u).map(|(&a, &u)| sample_state(a, u)).collect();
        sample_states(&a, &mut u);
        assert_eq!(u, want);
    }

    #[test]
    fn sigmoid_is_stable_and_symmetric() {
        for &a in &[-800.0, -30.0, -1.0, 0.0, 0.5, 30.0, 800.0] {
            let p = sigmoid(a);
            assert!(p.is_finite() && (0.0..=1.0).contains(&p));
            assert!((p + sigmoid(-a) - 1.0).abs() < 1e-15);
            assert!((log_sigmoid(a) - p.ln()).abs() < 1e-12 || p == 0.0);
        }
        assert!((logit(sigmoid(0.3)) - 0.3).abs() < 1e-14);
    }

    #[test]
    fn sampling_rule_matches_probability() {
        // x = +1 iff u < σ(a): the rule fixes the boundary exactly.
        let a = 0.7;
        assert_eq!(sample_state(a, sigmoid(a) - 1e-12), 1.0);
        assert_eq!(sample_state(a, sigmoid(a)), -1.0);
    }
}
