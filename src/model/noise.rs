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

/// `2^53`: a 64-bit random word `w` encodes the uniform `u = (w >> 11)·2^{-53}` ([`uniform`]).
pub const UNIT: f64 = 9_007_199_254_740_992.0;

/// The sampling rule on integers: `threshold(a) = ⌈2^53·σ(a)⌉`, so that for every 53-bit `k`,
/// `k < threshold(a)` ⇔ `k·2^{-53} < σ(a)` (`2^53·σ(a)` is exact, and `k < x` ⇔ `k < ⌈x⌉` for an
/// integer `k`): unit state `+1` iff `(w >> 11) < threshold(a)`, exactly [`sample_state`] on the
/// uniform of word `w`.
#[inline]
pub fn threshold(a: f64) -> u64 {
    (sigmoid(a) * UNIT).ceil() as u64
}

/// How far (in units of `2^{-53}`) a threshold of [`approximate_thresholds`] may be from
/// [`threshold`]'s: the true distance is below `2^34` (tested), and words this close to an
/// approximate threshold (probability `2^{-16}` per unit) are decided by the exact rule.
pub const WORD_MARGIN: u64 = 1 << 36;

/// [`threshold`] of every `a`, up to [`WORD_MARGIN`]: `σ` in f32 (16 lanes per AVX-512 vector,
/// `crate::simd::exp_f32`) on `a` clamped to `±40`, where `2^53·σ` is within `2^{53}e^{−40}` of
/// 0 or `2^53`. Rounding `a` to f32 moves `σ` by at most `|a|·2^{−26}`, the f32 `σ` itself is
/// good to about `2^{−22}`; both are far inside the margin.
pub fn approximate_thresholds(a: &[f64], out: &mut [u64]) {
    crate::simd::dispatch!(out.iter_mut().zip(a).for_each(|(t, &a)| {
        let x = a.clamp(-40.0, 40.0) as f32;
        let p = 1.0 / (1.0 + crate::simd::exp_f32(-x));
        let v = f64::from(p) * UNIT;
        // A NaN `a` gives 0 (never fires, as `u < σ(NaN)` is false); any other v is in [0, 2^53].
        *t = to_word(if v >= 0.0 { v } else { 0.0 });
    }));
}

/// `v ∈ [0, 2^53]` as `u64` (rounded toward 0): a vector conversion, where the saturating `as`
/// would convert lane by lane.
#[inline(always)]
fn to_word(v: f64) -> u64 {
    debug_assert!((0.0..=UNIT).contains(&v));
    // SAFETY: the callers pass a finite v in [0, 2^53], within u64.
    unsafe { v.to_int_unchecked::<u64>() }
}

/// States from words and thresholds: bit `j` of `out` set iff `(w_j >> 11) < t_j`. Returns
/// `false` when some `w_j >> 11` lies within `margin` of `t_j` (probability ≈ `2·margin/2^53` per
/// unit): with thresholds known only up to `margin`, those decisions may differ from the exact
/// ones, and the caller decides the units again by [`threshold`].
pub fn decide_words(t: &[u64], w: &[u64], margin: u64, out: &mut [u64]) -> bool {
    assert!(t.len() == w.len() && out.len() == t.len().div_ceil(64), "one word and one threshold per unit, one output bit each");
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked); the lengths are checked above.
        return unsafe { x86::decide_words(t, w, margin, out) };
    }
    decide_words_portable(t, w, margin, out)
}

/// [`decide_words`] without vector intrinsics.
fn decide_words_portable(t: &[u64], w: &[u64], margin: u64, out: &mut [u64]) -> bool {
    let mut near = false;
    for ((word, t), w) in out.iter_mut().zip(t.chunks(64)).zip(w.chunks(64)) {
        *word = 0;
        for (i, (&t, &w)) in t.iter().zip(w).enumerate() {
            let k = w >> 11;
            *word |= u64::from(k < t) << i;
            near |= k.wrapping_sub(t).wrapping_add(margin) < 2 * margin;
        }
    }
    !near
}

/// [`decide_words`] in AVX-512: eight units per compare, the compare masks assembled into the
/// output words.
// The AVX-512 intrinsics are stable since Rust 1.89 (see `crate::packed::kernel`).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use std::arch::x86_64::*;

    /// See [`super::decide_words`]; `out.len() = ⌈t.len()/64⌉` and `w.len() = t.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) fn decide_words(t: &[u64], w: &[u64], margin: u64, out: &mut [u64]) -> bool {
        let n = t.len();
        let (m1, m2) = (_mm512_set1_epi64(margin as i64), _mm512_set1_epi64(margin.wrapping_mul(2) as i64));
        let (mut bits, mut near) = (0u64, 0u8);
        for g in 0..n / 8 {
            // SAFETY: units 8g..8g + 8 are below n, in both slices.
            let (k, tt) =
                unsafe { (_mm512_srli_epi64::<11>(_mm512_loadu_si512(w.as_ptr().add(8 * g).cast())), _mm512_loadu_si512(t.as_ptr().add(8 * g).cast())) };
            bits |= u64::from(_mm512_cmplt_epu64_mask(k, tt)) << (8 * (g % 8));
            if margin != 0 {
                near |= _mm512_cmplt_epu64_mask(_mm512_add_epi64(_mm512_sub_epi64(k, tt), m1), m2);
            }
            if g % 8 == 7 {
                out[g / 8] = bits;
                bits = 0;
            }
        }
        let mut near_tail = false;
        for j in n / 8 * 8..n {
            let k = w[j] >> 11;
            bits |= u64::from(k < t[j]) << (j % 64);
            near_tail |= k.wrapping_sub(t[j]).wrapping_add(margin) < margin.wrapping_mul(2);
        }
        if !n.is_multiple_of(64) {
            out[n / 64] = bits;
        }
        near == 0 && !near_tail
    }

    /// `e^y` for `y ∈ [−20, 20]` to a relative `2^{−18}`: `y = n ln2 + r`, `|r| ≤ ln2/2`, the
    /// degree-5 Taylor polynomial of `e^r` (error `r^6/720 < 2.5e-6`), scaled by `2^n`.
    #[target_feature(enable = "avx512f")]
    fn exp_coarse(y: __m512) -> __m512 {
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(y, _mm512_set1_ps(std::f32::consts::LOG2_E)));
        let r = _mm512_sub_ps(y, _mm512_mul_ps(n, _mm512_set1_ps(std::f32::consts::LN_2)));
        let mut p = _mm512_set1_ps(1.0 / 120.0);
        for c in [1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }

    /// Sixteen f64 (two vectors) as one f32 vector.
    #[target_feature(enable = "avx512f")]
    fn to_f32x16(lo: __m512d, hi: __m512d) -> __m512 {
        let (lo, hi) = (_mm512_cvtpd_ps(lo), _mm512_cvtpd_ps(hi));
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi)))
    }

    /// The top 24 bits of sixteen words (two vectors) as uniforms `⌊u·2^24⌋·2^{−24}` in f32.
    #[target_feature(enable = "avx512f")]
    fn top_uniforms(lo: __m512i, hi: __m512i) -> __m512 {
        let (lo, hi) = (_mm512_cvtepi64_epi32(_mm512_srli_epi64::<40>(lo)), _mm512_cvtepi64_epi32(_mm512_srli_epi64::<40>(hi)));
        let k = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
        _mm512_mul_ps(_mm512_cvtepu32_ps(k), _mm512_set1_ps(1.0 / 16_777_216.0))
    }

    /// See [`super::decide_preactivations`]: sixteen units per step; with `u₋ = ⌊u·2^24⌋·2^{−24}`
    /// (so `u₋ ≤ u < u₋ + 2^{−24}`) and the f32 `p ≈ σ(a)`, `u₋ + 2^{−24} + M ≤ p` means surely
    /// `u < σ(a)`, `u₋ ≥ p + M` surely not (`M` = [`super::COARSE_MARGIN`]); a NaN `a` is never
    /// sure. The rest, and a tail of fewer than 16 units, by the exact rule.
    #[target_feature(enable = "avx512f")]
    pub(super) fn decide_coarse(a: &[f64], w: &[u64], out: &mut [u64]) {
        let n = a.len();
        let exact = |j: usize| u64::from(w[j] >> 11 < super::threshold(a[j]));
        let (lo_u, lo_m) = (_mm512_set1_ps(1.0 / 16_777_216.0 + super::COARSE_MARGIN), _mm512_set1_ps(super::COARSE_MARGIN));
        let mut bits = 0u64;
        for g in 0..n / 16 {
            // SAFETY: units 16g..16g + 16 are below n, in both slices.
            let (a32, u) = unsafe {
                let (pa, pw) = (a.as_ptr().add(16 * g), w.as_ptr().add(16 * g));
                (to_f32x16(_mm512_loadu_pd(pa), _mm512_loadu_pd(pa.add(8))), top_uniforms(_mm512_loadu_si512(pw.cast()), _mm512_loadu_si512(pw.add(8).cast())))
            };
            // Clamped to ±20 (σ within 2.1e-9 of 0 or 1 beyond); a NaN stays NaN (second operands).
            let x = _mm512_min_ps(_mm512_set1_ps(20.0), _mm512_max_ps(_mm512_set1_ps(-20.0), a32));
            let p = _mm512_div_ps(_mm512_set1_ps(1.0), _mm512_add_ps(_mm512_set1_ps(1.0), exp_coarse(_mm512_sub_ps(_mm512_setzero_ps(), x))));
            let plus = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(_mm512_add_ps(u, lo_u), p);
            let minus = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(u, _mm512_add_ps(p, lo_m));
            let mut word = u64::from(plus);
            let mut unsure = !(plus | minus);
            while unsure != 0 {
                let l = unsure.trailing_zeros() as usize;
                word |= exact(16 * g + l) << l;
                unsure &= unsure - 1;
            }
            bits |= word << (16 * (g % 4));
            if g % 4 == 3 {
                out[g / 4] = bits;
                bits = 0;
            }
        }
        for j in n / 16 * 16..n {
            bits |= exact(j) << (j % 64);
        }
        if !n.is_multiple_of(64) {
            out[n / 64] = bits;
        }
    }
}

/// Half-width of the band around the f32 `σ(a)` of [`decide_preactivations`] (AVX-512) inside
/// which the exact rule decides: `2^{−16}` (1.5e-5), against an error of the f32 `σ` of about
/// 6e-7 (a quarter of the degree-5 remainder, plus rounding). The tests put uniforms at 0.6
/// margins from `σ(a)`, which an error that large would decide wrongly.
pub const COARSE_MARGIN: f32 = 1.0 / 65_536.0;

/// The sampling rule on words for pre-activations `a`, exactly: bit `j` of `out` set iff
/// `(w_j >> 11) < threshold(a_j)`. With AVX-512, `σ(a)` in f32 (16 lanes, degree-5 `e^r`) is
/// compared with the uniform's top 24 bits and decides every unit whose uniform is more than
/// [`COARSE_MARGIN`] from it; the others (probability `≈ 2^{−15}` per unit) are decided by
/// [`threshold`]. Elsewhere: [`approximate_thresholds`] into `t` (scratch, as long as `a`), then
/// [`decide_words`] and [`settle_near`].
pub fn decide_preactivations(a: &[f64], w: &[u64], t: &mut [u64], out: &mut [u64]) {
    assert!(a.len() == w.len() && a.len() == t.len() && out.len() == a.len().div_ceil(64), "one word per unit, one output bit each");
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked); the lengths are checked above.
        return unsafe { x86::decide_coarse(a, w, out) };
    }
    decide_preactivations_portable(a, w, t, out);
}

/// [`decide_preactivations`] without AVX-512: f32 thresholds, then the exact rule near them.
fn decide_preactivations_portable(a: &[f64], w: &[u64], t: &mut [u64], out: &mut [u64]) {
    approximate_thresholds(a, t);
    if !decide_words(t, w, WORD_MARGIN, out) {
        settle_near(a, t, w, WORD_MARGIN, out);
    }
}

/// After [`decide_words`] with approximate thresholds `t` returned `false`: the units whose word
/// lies within `margin` of `t_j` are decided again by the exact rule, `(w_j >> 11) <
/// threshold(a_j)`; the others keep their bit.
pub fn settle_near(a: &[f64], t: &[u64], w: &[u64], margin: u64, out: &mut [u64]) {
    for (j, ((&a, &t), &w)) in a.iter().zip(t).zip(w).enumerate() {
        let k = w >> 11;
        if k.wrapping_sub(t).wrapping_add(margin) < margin.wrapping_mul(2) {
            let bit = 1u64 << (j % 64);
            if k < threshold(a) {
                out[j / 64] |= bit;
            } else {
                out[j / 64] &= !bit;
            }
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
    fn integer_thresholds_are_the_rule() {
        let tiny = 1.0 / UNIT;
        for a in [-800.0, -40.0, -3.3, -1e-300, 0.0, 0.7, 36.0, 38.0, 800.0, f64::NAN] {
            let t = threshold(a);
            for k in [0, 1, t.saturating_sub(2), t.saturating_sub(1), t, t + 1, (1u64 << 53) - 1] {
                let k = k.min((1 << 53) - 1);
                assert_eq!(k < t, sample_state(a, k as f64 * tiny) > 0.0, "a = {a}, k = {k}");
            }
        }
    }

    #[test]
    fn approximate_thresholds_are_within_the_margin() {
        let mut a: Vec<f64> = (0..2_000_000).map(|i| (i as f64 - 1_000_000.0) * 0.000_05).collect();
        a.extend((0..200_000).map(|i| (i as f64 - 100_000.0) * 0.0011));
        a.extend([-1e300, -800.0, -745.5, -709.0, -40.0, -1e-300, 0.0, 1e-300, 40.0, 709.0, 800.0, 1e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        let mut t = vec![0u64; a.len()];
        approximate_thresholds(&a, &mut t);
        let worst = a.iter().zip(&t).map(|(&a, &t)| t.abs_diff(threshold(a))).max().unwrap();
        assert!(worst < 1 << 34, "worst distance {worst}");
        const { assert!(WORD_MARGIN >= 4 << 34) };
    }

    #[test]
    fn word_decisions_equal_the_rule() {
        let a: Vec<f64> = (0..300).map(|j| (j as f64 - 150.0) * 0.13).collect();
        let mut approx = vec![0u64; a.len()];
        approximate_thresholds(&a, &mut approx);
        let t: Vec<u64> = a.iter().map(|&a| threshold(a)).collect();
        // Words on, just below and just above the thresholds, beyond the margin, and random ones.
        let mut state = 5u64;
        for shift in [-3i64, -1, 0, 1, 2, 3 << 36, 0] {
            let w: Vec<u64> = t
                .iter()
                .map(|&t| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    // Far shifts point away from the nearer end of [0, 2^53).
                    let shift = if shift > 3 && t > 1 << 52 { -shift } else { shift };
                    if shift == 0 && state & 1 == 0 { state } else { ((t as i64 + shift).clamp(0, (1 << 53) - 1) as u64) << 11 | 0x7ff }
                })
                .collect();
            let want: Vec<bool> = a.iter().zip(&w).map(|(&a, &w)| sample_state(a, uniform_of(w)) > 0.0).collect();
            let bit = |bits: &[u64], j: usize| bits[j / 64] >> (j % 64) & 1 == 1;
            let mut bits = vec![0u64; 5];
            let sure = decide_words(&approx, &w, WORD_MARGIN, &mut bits);
            assert_eq!(sure, shift == 3 << 36, "shift {shift}");
            let mut portable = vec![0u64; 5];
            assert_eq!(decide_words_portable(&approx, &w, WORD_MARGIN, &mut portable), sure);
            assert_eq!(portable, bits, "portable, shift {shift}");
            if !sure {
                settle_near(&a, &approx, &w, WORD_MARGIN, &mut bits);
            }
            assert!((0..a.len()).all(|j| bit(&bits, j) == want[j]), "approximate thresholds, shift {shift}");
            assert!(decide_words(&t, &w, 0, &mut bits));
            assert!((0..a.len()).all(|j| bit(&bits, j) == want[j]), "exact thresholds, shift {shift}");
        }
    }

    #[test]
    fn preactivation_decisions_equal_the_rule() {
        // Dense and extreme pre-activations; uniforms on, near and a few margins away from σ(a),
        // on both sides, and random ones.
        let mut a: Vec<f64> = (0..40_000).map(|i| (i as f64 - 20_000.0) * 0.0011).collect();
        a.extend([-1e300, -800.0, -40.0, -20.5, -19.9, 19.9, 20.5, 40.0, 800.0, 1e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0]);
        a.extend((0..1000).map(|i| i as f64 * 0.37 - 185.0));
        let m = f64::from(COARSE_MARGIN);
        let mut state = 11u64;
        for offset in [-3.0 * m, -1.5 * m, -0.6 * m, -1e-12, 0.0, 1e-12, 0.6 * m, 1.5 * m, 3.0 * m, f64::NAN] {
            let w: Vec<u64> = a
                .iter()
                .map(|&a| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let u = sigmoid(a) + offset;
                    if u.is_nan() || !(0.0..1.0).contains(&u) { state } else { ((u * UNIT) as u64) << 11 | state >> 53 }
                })
                .collect();
            let (mut t, mut bits) = (vec![0u64; a.len()], vec![0u64; a.len().div_ceil(64)]);
            decide_preactivations(&a, &w, &mut t, &mut bits);
            let mut portable = vec![0u64; bits.len()];
            decide_preactivations_portable(&a, &w, &mut t, &mut portable);
            assert_eq!(portable, bits, "portable, offset {offset}");
            for (j, (&a, &w)) in a.iter().zip(&w).enumerate() {
                assert_eq!(bits[j / 64] >> (j % 64) & 1 == 1, sample_state(a, uniform_of(w)) > 0.0, "a = {a}, offset {offset}");
            }
        }
    }

    fn uniform_of(w: u64) -> f64 {
        (w >> 11) as f64 / UNIT
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
