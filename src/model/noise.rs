//! The logistic activation noise: σ, σ', and the sampling rule of MATH.md §1.
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

/// The sampling rule over a slice: `x[i]` holds the uniform `u_i` on entry and the state for
/// `a[i]` on return, identical to [`sample_state`]. Vectorized as `u(1 + e^{−a}) < 1`; a chunk
/// with an entry within a relative 1e-9 of the boundary (or `u = 0`) is decided by the scalar rule.
pub fn sample_states(a: &[f64], x: &mut [f64]) {
    const MARGIN: f64 = 1e-9;
    assert_eq!(a.len(), x.len(), "one uniform per pre-activation");
    for (a, x) in a.chunks(64).zip(x.chunks_mut(64)) {
        let mut states = [0.0f64; 64];
        let unsure = crate::dispatch!({
            let mut unsure = false;
            for ((s, &u), &a) in states.iter_mut().zip(x.iter()).zip(a) {
                let t = u * (1.0 + crate::simd::exp(-a));
                let plus = (t < 1.0 - MARGIN) & (u > 0.0);
                unsure |= !plus & !(t > 1.0 + MARGIN);
                *s = if plus { 1.0 } else { -1.0 };
            }
            unsure
        });
        if unsure {
            x.iter_mut().zip(a).for_each(|(x, &a)| *x = sample_state(a, *x));
        } else {
            x.copy_from_slice(&states[..x.len()]);
        }
    }
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
