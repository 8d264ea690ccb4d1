//! Sixteen f32 lanes for PSA's per-pair loops ([`super::first_layer`], [`super::real_layer`]): one
//! AVX-512 register where the CPU has it, else an array that the compiler vectorizes for the
//! widest unit it was told about (the kernels over [`Portable`] run inside `simd::dispatch!`).
//!
//! Both give the same values up to rounding: AVX-512 fuses `a b + c` into one rounding and takes
//! reciprocals as an estimate refined by one Newton step (relative error about 1e-8, below f32
//! rounding; `vdivps` is the slow part of these loops), the portable lanes round twice and divide.

/// Lanes in a loop body. The kernels are generic over it and `#[inline(always)]`, so that each
/// instantiation compiles into the caller's target features.
pub(super) trait Lanes: Copy {
    /// Sixteen values from `p`.
    ///
    /// # Safety
    /// `p` is valid for reading 16 values; for [`Avx512`], the CPU has AVX-512F.
    unsafe fn load(p: *const f32) -> Self;

    /// Every lane `v`.
    ///
    /// # Safety
    /// For [`Avx512`], the CPU has AVX-512F.
    unsafe fn splat(v: f32) -> Self;

    /// Writes the lanes to `p`.
    ///
    /// # Safety
    /// `p` is valid for writing 16 values.
    unsafe fn store(self, p: *mut f32);

    /// `self · b + c` (fused on AVX-512).
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `self · b`.
    fn mul(self, b: Self) -> Self;
    /// `self + b`.
    fn add(self, b: Self) -> Self;
    /// `self − b`.
    fn sub(self, b: Self) -> Self;
    /// The lane-wise minimum.
    fn min(self, b: Self) -> Self;
    /// `1 / self` (for positive normal values).
    fn recip(self) -> Self;
    /// The sum of the lanes (in a fixed order).
    fn sum(self) -> f32;
}

/// Sixteen lanes in an array; loops over it vectorize.
#[derive(Clone, Copy)]
pub(super) struct Portable([f32; 16]);

impl Portable {
    #[inline(always)]
    fn zip(self, b: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        Portable(std::array::from_fn(|l| f(self.0[l], b.0[l])))
    }
}

impl Lanes for Portable {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 16 readable values.
        Portable(unsafe { p.cast::<[f32; 16]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Portable([v; 16])
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 16 writable values.
        unsafe { p.cast::<[f32; 16]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        self.mul(b).add(c)
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self.zip(b, |x, y| x * y)
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        self.zip(b, |x, y| x + y)
    }
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        self.zip(b, |x, y| x - y)
    }
    #[inline(always)]
    fn min(self, b: Self) -> Self {
        self.zip(b, f32::min)
    }
    #[inline(always)]
    fn recip(self) -> Self {
        Portable(self.0.map(|x| 1.0 / x))
    }
    #[inline(always)]
    fn sum(self) -> f32 {
        // Halving, as the AVX-512 reduction does.
        let mut v = self.0;
        for half in [8, 4, 2, 1] {
            for l in 0..half {
                v[l] += v[l + half];
            }
        }
        v[0]
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx512::Avx512;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// One AVX-512 register. A value exists only where the CPU has AVX-512F (it is made by
    /// [`Lanes::load`] and [`Lanes::splat`], whose callers check), so the operations are safe.
    #[derive(Clone, Copy)]
    pub struct Avx512(__m512);

    impl super::Lanes for Avx512 {
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            // SAFETY: the caller guarantees 16 readable values and AVX-512F.
            Avx512(unsafe { _mm512_loadu_ps(p) })
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> Self {
            // SAFETY: the caller guarantees AVX-512F.
            Avx512(unsafe { _mm512_set1_ps(v) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            // SAFETY: the caller guarantees 16 writable values; a value implies AVX-512F.
            unsafe { _mm512_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: a value implies AVX-512F (see the type).
            Avx512(unsafe { _mm512_fmadd_ps(self.0, b.0, c.0) })
        }
        #[inline(always)]
        fn mul(self, b: Self) -> Self {
            // SAFETY: as above.
            Avx512(unsafe { _mm512_mul_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            // SAFETY: as above.
            Avx512(unsafe { _mm512_add_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn sub(self, b: Self) -> Self {
            // SAFETY: as above.
            Avx512(unsafe { _mm512_sub_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn min(self, b: Self) -> Self {
            // SAFETY: as above.
            Avx512(unsafe { _mm512_min_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn recip(self) -> Self {
            // SAFETY: as above. A 14-bit estimate and one Newton step: y + y (1 − d y).
            unsafe {
                let y = _mm512_rcp14_ps(self.0);
                Avx512(_mm512_fmadd_ps(y, _mm512_fnmadd_ps(self.0, y, _mm512_set1_ps(1.0)), y))
            }
        }
        #[inline(always)]
        fn sum(self) -> f32 {
            // SAFETY: as above.
            unsafe { _mm512_reduce_add_ps(self.0) }
        }
    }
}
