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

/// A uniform on `[0, 1)` with 53 random bits, the form every sampler here uses.
#[inline]
pub fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
