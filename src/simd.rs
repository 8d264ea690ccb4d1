//! Vectorizable elementwise math (exp, sigmoid) and run-time CPU dispatch.
//!
//! The bodies are plain Rust that the compiler vectorizes; `dispatch!` compiles
//! a body again with AVX-512 or AVX2 enabled and picks the widest one the CPU has at run time, so
//! one build runs on any x86-64 and elsewhere. No fused multiply-adds are introduced, so every
//! variant gives bit-identical results.

/// Runs a closure body compiled for the widest SIMD level this CPU supports.
///
/// `dispatch!(|args| body)` evaluates `body` inside `#[target_feature]` functions for AVX-512
/// and AVX2 on x86-64, falling back to the baseline build.
macro_rules! dispatch {
    ($body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl")]
            unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            if $crate::simd::has_avx512() {
                // SAFETY: the CPU supports the enabled features (checked at run time).
                unsafe {
                    avx512(
                        #[inline(always)]
                        || $body,
                    )
                }
            } else if $crate::simd::has_avx2() {
                // SAFETY: as above.
                unsafe {
                    avx2(
                        #[inline(always)]
                        || $body,
                    )
                }
            } else {
                $body
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $body
        }
    }};
}
pub(crate) use dispatch;

/// True when the CPU has the AVX-512 subsets the kernels use.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512dq")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
}

/// True when the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
pub fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// 1.5 · 2^52: adding it rounds to an integer held in the low mantissa bits.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// `e^x` to about one ulp for `x ∈ [−708, 709]` (inputs are clamped to that range), written so
/// that loops over it vectorize: range reduction `x = k ln2 + r`, a degree-12 Taylor polynomial
/// on `|r| ≤ ln2/2`, and `2^k` assembled from bits.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let x = x.clamp(-708.0, 709.0);
    let shifted = x * std::f64::consts::LOG2_E + ROUND_MAGIC;
    let k = shifted - ROUND_MAGIC;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // The low bits of `shifted` hold k (two's complement); k + 1023 is the biased exponent.
    let two_k = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    p * two_k
}

/// 1.5 · 2^23, the f32 rounding constant.
const ROUND_MAGIC_F32: f32 = 12_582_912.0;

/// `e^x` in f32 (relative error below 2e-7) for `x ∈ [−87, 88]` (clamped), vectorizable like
/// [`exp`]: degree-7 Taylor polynomial on `|r| ≤ ln2/2`.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND_MAGIC_F32;
    let k = shifted - ROUND_MAGIC_F32;
    let r = (x - k * 0.693_145_75) - k * 1.428_606_8e-6;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let two_k = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    p * two_k
}

/// Magnitudes below this (`2^−100`) are flushed to zero in the f32 operands of the fast
/// engine's products ([`flush_tiny`]).
pub const TINY_F32: f32 = 7.888_609e-31;

/// `x`, or 0 when `|x| <` [`TINY_F32`]. The fast engine's f32 products take their real operand
/// through this, so that no operand or partial sum is subnormal: every operand is then 0 or a
/// multiple of `2^−123` (the other side is ±1, or a real weight of ordinary size), and so is every
/// partial sum, which is therefore 0 or normal. Subnormal operands run the FMA units at a
/// fraction of their speed: as units saturated during a fit, PSA's `r ⊙ h` terms reached the
/// subnormal range and one epoch of a wide conv net grew from 88 s to 333 s in seven epochs.
/// A term below `2^−100` is at least `2^−70` below any gradient entry that moves a parameter.
#[inline(always)]
pub fn flush_tiny(x: f32) -> f32 {
    if x.abs() < TINY_F32 { 0.0 } else { x }
}

/// True for the inputs [`ln_normal`] handles (positive normal numbers); callers send the others
/// to `f64::ln`.
#[inline(always)]
pub fn is_normal_positive(x: f64) -> bool {
    let biased = (x.to_bits() >> 52) as i64; // the sign bit makes negative inputs out of range
    (1..0x7ff).contains(&biased)
}

/// Natural logarithm for positive normal `x` (`x = 2^e m`, `m ∈ [√½, √2)`,
/// `ln m = 2 atanh((m − 1)/(m + 1))` as an odd series), branch-free so loops over it vectorize:
/// correct only when [`is_normal_positive`] holds.
#[inline(always)]
pub fn ln_normal(x: f64) -> f64 {
    let bits = x.to_bits();
    let m0 = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let e0 = ((bits >> 52) as i64 - 1023) as f64;
    let big = m0 > std::f64::consts::SQRT_2;
    let m = if big { m0 * 0.5 } else { m0 };
    let e = if big { e0 + 1.0 } else { e0 };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut poly = 1.0 / 23.0;
    for k in (0..11).rev() {
        poly = poly * s2 + 1.0 / (2 * k + 1) as f64;
    }
    e * std::f64::consts::LN_2 + 2.0 * s * poly
}

/// `Σ v` in a fixed order that vectorizes: eight running lanes, then the lanes and the tail.
#[inline(always)]
pub fn sum(v: &[f64]) -> f64 {
    let mut lanes = [0.0; 8];
    let chunks = v.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        lanes.iter_mut().zip(c).for_each(|(l, x)| *l += x);
    }
    lanes.iter().sum::<f64>() + tail.iter().sum::<f64>()
}

/// `σ(a) = 1 / (1 + e^{−a})` through [`exp`].
#[inline(always)]
pub fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + exp(-a))
}

/// Replaces every value `t` by `σ(t)`.
pub fn sigmoid_in_place(v: &mut [f64]) {
    crate::simd::dispatch!(v.iter_mut().for_each(|t| *t = sigmoid(*t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_tiny_zeroes_exactly_the_magnitudes_below_2_to_the_minus_100() {
        let tiny = 2f32.powi(-100);
        assert_eq!(TINY_F32, tiny);
        for (x, want) in [(tiny, tiny), (-tiny, -tiny), (tiny * 0.999, 0.0), (-1e-40, 0.0), (f32::MIN_POSITIVE, 0.0), (0.0, 0.0), (1e-29, 1e-29), (-3.5, -3.5)]
        {
            assert_eq!(flush_tiny(x), want, "{x:e}");
        }
        // A sum of ±operands that are 0 or at least 2^−100 is 0 or normal, as the doc says.
        let ops = [tiny, tiny * (1.0 + f32::EPSILON), -tiny * 1.5, tiny * 3.0];
        for a in ops {
            for b in ops {
                let s = flush_tiny(a) - flush_tiny(b);
                assert!(s == 0.0 || s.is_normal(), "{a:e} − {b:e} = {s:e}");
            }
        }
    }

    #[test]
    fn exp_matches_std_to_a_few_ulp() {
        let mut worst: f64 = 0.0;
        let mut x = -700.0;
        while x < 700.0 {
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 4e-16, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1e6) > 0.0 && exp(1e6).is_finite());
        assert!(exp(f64::NAN).is_nan());
    }

    /// `ln` as the callers use it: [`ln_normal`] where [`is_normal_positive`], else `f64::ln`.
    fn ln(x: f64) -> f64 {
        if is_normal_positive(x) { ln_normal(x) } else { x.ln() }
    }

    #[test]
    fn ln_matches_std() {
        let mut worst: f64 = 0.0;
        let mut x = 1e-300;
        while x < 1e300 {
            for y in [x, x * 1.37, x * 0.71, x * 1.9999] {
                worst = worst.max((ln(y) - y.ln()).abs() / y.ln().abs().max(1.0));
            }
            x *= 3.1;
        }
        assert!(worst < 4e-16, "worst error {worst}");
        assert_eq!(ln(1.0), 0.0);
        assert!(ln(0.0) == f64::NEG_INFINITY && ln(-1.0).is_nan() && ln(f64::INFINITY) == f64::INFINITY);
        assert!((ln(5e-324) - 5e-324f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn exp_f32_is_accurate() {
        let mut worst: f64 = 0.0;
        let mut x = -80.0f32;
        while x < 80.0 {
            let want = f64::from(x).exp();
            worst = worst.max((f64::from(exp_f32(x)) - want).abs() / want);
            x += 0.0173;
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
        assert!(exp_f32(-1e4) > 0.0 && exp_f32(1e4).is_finite());
    }

    #[test]
    fn dispatched_sigmoid_matches_scalar() {
        let mut v: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) * 0.07).collect();
        let expect: Vec<f64> = v.iter().map(|&a| crate::model::noise::sigmoid(a)).collect();
        sigmoid_in_place(&mut v);
        for (a, b) in v.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-15);
        }
    }
}
