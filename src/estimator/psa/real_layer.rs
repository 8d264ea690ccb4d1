//! PSA's per-pair flips of a real-weight layer on ±1 input (docs/math.md §3, per-pair layers):
//! per example, `s_i = Σ_j r_j [σ(a_j − 2δ_ji) − σ(a_j)]` with `δ_ji = W_ji x_i`, one sigmoid per
//! weight and example. This is the hot loop of a real-weight PSA step, so it runs in f32 on the
//! widest SIMD unit, fused with its sum over the units `j`.
//!
//! The bracket is evaluated in a form without cancellation,
//! `σ(a − 2δ) − σ(a) = σ(a − 2δ) (1 − σ(a)) (1 − e^{2δ})` with `σ(a − 2δ) = 1 / (1 + e^{−a} e^{2δ})`:
//! per unit and example `e = e^{−a}` and `u = r (1 − σ(a))`, per weight and input sign
//! `T = e^{2δ}` and `M = 1 − e^{2δ}` (both from f64), so that
//! `s_i = Σ_j u_j M_ji / (1 + e_j T_ji)`: per pair one multiply-add for the denominator, a
//! reciprocal and two multiplies, with a relative error of a few f32 roundings per term.
//!
//! Blocks of [`IB`] inputs run in parallel; in a block, the units come in chunks of [`JB`] whose
//! tables stay in L1, and each (input, example) sum is formed in f32 per chunk and added up in f64
//! in chunk order, so the result does not depend on the thread count.
//!
//! Range: `a` is clamped to ±[`A_BOUND`] (σ is saturated to f32 precision beyond, given the weight
//! bound) and weights up to [`MAX_ABS_W`] keep `e T` finite in f32; a layer with a larger weight
//! takes the f64 loop [`real_flip_sensitivities_f64`].

use std::ops::Range;

use nalgebra::DMatrix;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::lanes::Avx512;
use super::lanes::{Lanes, Portable};
use crate::simd;

/// The largest |W| of the f32 loop: `e^{A_BOUND} e^{2 MAX_ABS_W} = e^{82}` stays below the f32
/// maximum (`e^{88.7}`), and where `a` is clamped (|a| > 50) both sigmoids are within
/// `e^{−(50 − 32)} ≈ 1.5e-8` of the same bound.
const MAX_ABS_W: f64 = 16.0;
/// `a` is clamped to `±A_BOUND` in `e = e^{−a}`.
const A_BOUND: f64 = 50.0;
/// Inputs per parallel block.
const IB: usize = 32;
/// Units per chunk (16 registers of 16 lanes): a tile's tables (`TI` inputs × 2 × JB) stay in L1.
const JB: usize = 256;
/// Inputs per register tile.
const TI: usize = 4;
/// Examples per register tile.
const TN: usize = 2;

/// Real-weight layer on ±1 input `x` (`n_in × B`): `s_i = Σ_j r_j [σ(a_j − 2 W_ji x_i) − σ(a_j)]`
/// per example (`a`, `p = σ(a)`, `r`: `n_out × B`), in f32 (see the module documentation).
pub(super) fn real_flip_sensitivities(w: &DMatrix<f64>, a: &DMatrix<f64>, p: &DMatrix<f64>, r: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    let units = Units::new(a, p, r);
    let (n_in, batch) = x.shape();
    let blocks: Option<Vec<Vec<f64>>> = (0..n_in.div_ceil(IB))
        .into_par_iter()
        .map(|b| {
            let inputs = b * IB..(b * IB + IB).min(n_in);
            let block = Block { tables: tables(w, inputs.clone(), units.stride)?, units: &units, x, inputs };
            Some(block.sums())
        })
        .collect();
    let Some(blocks) = blocks else {
        return real_flip_sensitivities_f64(w, a, p, r, x);
    };
    let mut s = DMatrix::zeros(n_in, batch);
    for (b, sums) in blocks.iter().enumerate() {
        let ni = sums.len() / batch;
        for (col, part) in s.as_mut_slice().chunks_exact_mut(n_in).zip(sums.chunks_exact(ni)) {
            col[b * IB..b * IB + ni].copy_from_slice(part);
        }
    }
    s
}

/// Per unit and example, `e = e^{−a}` (a clamped) and `u = r (1 − p)` in f32, example by example,
/// the units in groups of 16 stored as `[e × 16 | u × 16]` (padding: `e = 1`, `u = 0`, a zero term).
struct Units {
    eu: Vec<f32>,
    /// Units per example, padded to a multiple of 16.
    stride: usize,
    batch: usize,
}

impl Units {
    fn new(a: &DMatrix<f64>, p: &DMatrix<f64>, r: &DMatrix<f64>) -> Self {
        let (n_out, batch) = a.shape();
        let stride = n_out.next_multiple_of(16);
        let mut eu = vec![0f32; 2 * stride * batch];
        let (mut e, mut u) = (vec![1f32; stride], vec![0f32; stride]);
        for (n, out) in eu.chunks_exact_mut(2 * stride).enumerate() {
            let at = n * n_out..(n + 1) * n_out;
            let (an, pn, rn) = (&a.as_slice()[at.clone()], &p.as_slice()[at.clone()], &r.as_slice()[at]);
            crate::simd::dispatch!(for (((e, u), (&a, &p)), &r) in e.iter_mut().zip(u.iter_mut()).zip(an.iter().zip(pn)).zip(rn) {
                *e = simd::exp(-a.clamp(-A_BOUND, A_BOUND)) as f32;
                *u = simd::flush_tiny((r * (1.0 - p)) as f32); // no subnormal factor in the pair loop
            });
            interleave(&e, &u, out);
        }
        Units { eu, stride, batch }
    }
}

/// `out` = groups of 16 of `first`, each followed by the same group of `second`.
fn interleave(first: &[f32], second: &[f32], out: &mut [f32]) {
    for ((o, f), s) in out.chunks_exact_mut(32).zip(first.chunks_exact(16)).zip(second.chunks_exact(16)) {
        o[..16].copy_from_slice(f);
        o[16..].copy_from_slice(s);
    }
}

/// Per input of `inputs`, its tables for `x_i = +1` and then for `x_i = −1`, each `stride` units in
/// groups of 16 stored as `[T × 16 | M × 16]`: `T^± = e^{±2W_ji}`, `M^± = 1 − T^±` (padding:
/// `T = 1`, `M = 0`); from one exponential per weight, `T⁻ = 1/T⁺` and `M⁻ = −M⁺ T⁻`. `None` when
/// a weight is beyond [`MAX_ABS_W`] (or not a number).
fn tables(w: &DMatrix<f64>, inputs: Range<usize>, stride: usize) -> Option<Vec<f32>> {
    let n_out = w.nrows();
    let mut t = vec![0f32; inputs.len() * 4 * stride];
    let [mut tp, mut mp, mut tm, mut mm] = [vec![1f32; stride], vec![0f32; stride], vec![1f32; stride], vec![0f32; stride]];
    for (i, tab) in inputs.zip(t.chunks_exact_mut(4 * stride)) {
        let col = &w.as_slice()[i * n_out..(i + 1) * n_out];
        let out_of_range = crate::simd::dispatch!(col.iter().fold(false, |any, w| any | (w.abs() > MAX_ABS_W) | w.is_nan()));
        if out_of_range {
            return None;
        }
        crate::simd::dispatch!(for ((&w, (tp, mp)), (tm, mm)) in col.iter().zip(tp.iter_mut().zip(mp.iter_mut())).zip(tm.iter_mut().zip(mm.iter_mut())) {
            let v = simd::exp(2.0 * w);
            let (m, inv) = (1.0 - v, 1.0 / v);
            (*tp, *mp, *tm, *mm) = (v as f32, m as f32, inv as f32, (-m * inv) as f32);
        });
        let (plus, minus) = tab.split_at_mut(2 * stride);
        interleave(&tp, &mp, plus);
        interleave(&tm, &mm, minus);
    }
    Some(t)
}

/// One block of inputs: their tables and what their sums need.
struct Block<'a> {
    tables: Vec<f32>,
    units: &'a Units,
    x: &'a DMatrix<f64>,
    inputs: Range<usize>,
}

impl Block<'_> {
    /// `s` for the block's inputs, example by example (`B × |inputs|`).
    fn sums(&self) -> Vec<f64> {
        #[cfg(target_arch = "x86_64")]
        if simd::has_avx512() {
            // SAFETY: AVX-512F is present (checked at run time).
            return unsafe { self.sums_avx512() };
        }
        crate::simd::dispatch!(self.sums_portable())
    }

    /// [`Block::sums`] on portable lanes (vectorized for the caller's target features).
    #[inline(always)]
    fn sums_portable(&self) -> Vec<f64> {
        // SAFETY: `Portable` needs no CPU feature.
        unsafe { self.sums_in::<Portable>() }
    }

    /// [`Block::sums`] on AVX-512 lanes.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn sums_avx512(&self) -> Vec<f64> {
        // SAFETY: the caller checked AVX-512F.
        unsafe { self.sums_in::<Avx512>() }
    }

    /// [`Block::sums`] on lanes `L`: chunks of units, then tiles of `TI` inputs × `TN` examples.
    ///
    /// # Safety
    /// The CPU supports `L` (see [`Lanes::splat`]).
    #[inline(always)]
    unsafe fn sums_in<L: Lanes>(&self) -> Vec<f64> {
        let (ni, batch) = (self.inputs.len(), self.units.batch);
        let mut out = vec![0f64; ni * batch];
        for j0 in (0..self.units.stride).step_by(JB) {
            let chunk = j0..(j0 + JB).min(self.units.stride);
            let mut ii = 0;
            while ii < ni {
                // SAFETY: passed on from the caller.
                ii += unsafe { if ni - ii >= TI { self.rows::<L, TI>(ii, chunk.clone(), &mut out) } else { self.rows::<L, 1>(ii, chunk.clone(), &mut out) } };
            }
        }
        out
    }

    /// Inputs `ii..ii + I` of the block over the units `chunk`, every example, added to `out`;
    /// returns `I`.
    ///
    /// # Safety
    /// The CPU supports `L`; `ii + I` inputs exist and `chunk` lies within the stride.
    #[inline(always)]
    unsafe fn rows<L: Lanes, const I: usize>(&self, ii: usize, chunk: Range<usize>, out: &mut [f64]) -> usize {
        let (ni, batch, stride) = (self.inputs.len(), self.units.batch, self.units.stride);
        debug_assert!(ii + I <= ni && chunk.end <= stride);
        let mut n = 0;
        while n < batch {
            // SAFETY: passed on from the caller; the examples exist.
            n += unsafe { if batch - n >= TN { self.tile::<L, I, TN>(ii, n, chunk.clone(), out) } else { self.tile::<L, I, 1>(ii, n, chunk.clone(), out) } };
        }
        I
    }

    /// One register tile: inputs `ii..ii + I` × examples `n..n + N` over the units `chunk`,
    /// `Σ_j u_j M_ji / (1 + e_j T_ji)` with the tables of each pair's input sign; the f32 sums are
    /// added to `out`. Returns `N`.
    ///
    /// # Safety
    /// The CPU supports `L`; the inputs and examples exist and `chunk` lies within the stride.
    #[inline(always)]
    unsafe fn tile<L: Lanes, const I: usize, const N: usize>(&self, ii: usize, n: usize, chunk: Range<usize>, out: &mut [f64]) -> usize {
        let (ni, stride) = (self.inputs.len(), self.units.stride);
        // Groups of 16 come as [e | u] and [T | M]: one pointer per example and per pair.
        let eu: [*const f32; N] = std::array::from_fn(|k| self.units.eu[2 * ((n + k) * stride + chunk.start)..].as_ptr());
        // The tables of input ii + i at example n + k's sign.
        let tab: [[*const f32; N]; I] = std::array::from_fn(|i| {
            std::array::from_fn(|k| {
                let sign = if self.x[(self.inputs.start + ii + i, n + k)] > 0.0 { 0 } else { 1 };
                self.tables[2 * ((2 * (ii + i) + sign) * stride + chunk.start)..].as_ptr()
            })
        });
        // SAFETY: the CPU supports `L` (the caller's guarantee); every load is within `chunk` of a
        // padded row (a multiple of 16 long), and the pointers were made from in-bounds slices.
        unsafe {
            let one = L::splat(1.0);
            let mut acc = [[L::splat(0.0); N]; I];
            for at in (0..2 * chunk.len()).step_by(32) {
                let ev: [L; N] = std::array::from_fn(|k| L::load(eu[k].add(at)));
                let uv: [L; N] = std::array::from_fn(|k| L::load(eu[k].add(at + 16)));
                for i in 0..I {
                    for k in 0..N {
                        let (t, m) = (L::load(tab[i][k].add(at)), L::load(tab[i][k].add(at + 16)));
                        acc[i][k] = uv[k].mul(m).mul_add(ev[k].mul_add(t, one).recip(), acc[i][k]);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (k, a) in row.iter().enumerate() {
                    out[(n + k) * ni + ii + i] += f64::from(a.sum());
                }
            }
        }
        N
    }
}

/// [`real_flip_sensitivities`] in f64 (any weights), with `σ(a − 2δ) = 1 / (1 + e^{−a} e^{2δ})` and
/// `e^{±2W}` tabulated once per batch.
fn real_flip_sensitivities_f64(w: &DMatrix<f64>, a: &DMatrix<f64>, p: &DMatrix<f64>, r: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    let e2w = w.map(|w| (2.0 * w).exp());
    let e2w_neg = w.map(|w| (-2.0 * w).exp());
    let e_neg_a = a.map(|a| (-a).exp());
    let (n_in, batch) = x.shape();
    let mut s = DMatrix::zeros(n_in, batch);
    s.as_mut_slice().par_chunks_mut(n_in).enumerate().for_each(|(n, s_col)| {
        let (ea, pn, rn) = (e_neg_a.column(n), p.column(n), r.column(n));
        let (ea, pn, rn) = (ea.as_slice(), pn.as_slice(), rn.as_slice());
        for i in 0..n_in {
            let t = if x[(i, n)] > 0.0 { e2w.column(i) } else { e2w_neg.column(i) };
            let t = t.as_slice();
            s_col[i] = crate::simd::dispatch!(flip_sum(ea, t, pn, rn));
        }
    });
    s
}

/// `Σ_j r_j (1 / (1 + e_j t_j) − p_j)`.
#[inline(always)]
fn flip_sum(e: &[f64], t: &[f64], p: &[f64], r: &[f64]) -> f64 {
    let mut acc = 0.0;
    for j in 0..e.len() {
        acc += r[j] * (1.0 / (1.0 + e[j] * t[j]) - p[j]);
    }
    acc
}

#[cfg(test)]
mod tests {
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    use super::*;
    use crate::model::noise::sigmoid;

    /// The definition per pair in f64, and per entry the sum of the terms' magnitudes.
    fn reference(w: &DMatrix<f64>, a: &DMatrix<f64>, r: &DMatrix<f64>, x: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
        let term = |j: usize, i: usize, n: usize| r[(j, n)] * (sigmoid(a[(j, n)] - 2.0 * w[(j, i)] * x[(i, n)]) - sigmoid(a[(j, n)]));
        let (n_in, batch) = x.shape();
        let s = DMatrix::from_fn(n_in, batch, |i, n| (0..w.nrows()).map(|j| term(j, i, n)).sum());
        let mag = DMatrix::from_fn(n_in, batch, |i, n| (0..w.nrows()).map(|j| term(j, i, n).abs()).sum());
        (s, mag)
    }

    /// A random layer: weights of scale `w_scale`, pre-activations mostly in ±6 with a few
    /// saturated ones beyond ±50, loss differences in ±2, inputs ±1.
    fn layer(n_out: usize, n_in: usize, batch: usize, w_scale: f64, seed: u64) -> [DMatrix<f64>; 5] {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let w = DMatrix::from_fn(n_out, n_in, |_, _| w_scale * rng.random_range(-1.0..1.0));
        let a = DMatrix::from_fn(n_out, batch, |_, _| if rng.random::<f64>() < 0.02 { rng.random_range(-80.0..80.0) } else { rng.random_range(-6.0..6.0) });
        let r = DMatrix::from_fn(n_out, batch, |_, _| rng.random_range(-2.0..2.0));
        let x = DMatrix::from_fn(n_in, batch, |_, _| if rng.random::<bool>() { 1.0 } else { -1.0 });
        let p = a.map(sigmoid);
        [w, a, p, r, x]
    }

    /// Bound: per entry, 1e-6 of the sum of the terms' magnitudes (each term carries a few f32
    /// roundings, 6e-8 each, and the f32 sums run over at most JB / 16 = 16 terms per lane).
    /// Measured on AVX-512: at most 7.6e-8.
    const REL: f64 = 1e-6;

    #[test]
    fn f32_flips_match_the_definition() {
        // Odd sizes (padding, partial tiles and blocks), several chunks, large weights.
        for (n_out, n_in, batch, w_scale, seed) in [(37, 70, 5, 0.3, 1), (300, 45, 3, 2.0, 2), (16, 4, 2, 16.0, 3), (531, 33, 7, 0.05, 4)] {
            let [w, a, p, r, x] = layer(n_out, n_in, batch, w_scale, seed);
            let got = real_flip_sensitivities(&w, &a, &p, &r, &x);
            let (want, mag) = reference(&w, &a, &r, &x);
            let worst = got.zip_map(&want, |g, w| (g - w).abs()).zip_map(&mag, |d, m| d / m.max(1e-300)).max();
            assert!(worst <= REL, "{n_out}×{n_in}, batch {batch}: relative error {worst:e}");
        }
    }

    #[test]
    fn portable_lanes_match_the_definition_too() {
        let [w, a, p, r, x] = layer(100, 9, 3, 0.5, 5);
        let units = Units::new(&a, &p, &r);
        let block = Block { tables: tables(&w, 0..9, units.stride).unwrap(), units: &units, x: &x, inputs: 0..9 };
        // SAFETY: `Portable` needs no CPU feature.
        let got = unsafe { block.sums_in::<Portable>() };
        let (want, mag) = reference(&w, &a, &r, &x);
        for n in 0..3 {
            for i in 0..9 {
                assert!((got[n * 9 + i] - want[(i, n)]).abs() <= REL * mag[(i, n)], "input {i} example {n}");
            }
        }
    }

    #[test]
    fn large_weights_take_the_f64_loop() {
        let [mut w, a, p, r, x] = layer(20, 6, 4, 1.0, 6);
        w[(3, 2)] = 40.0;
        let got = real_flip_sensitivities(&w, &a, &p, &r, &x);
        let (want, mag) = reference(&w, &a, &r, &x);
        assert!(got.zip_map(&want, |g, w| (g - w).abs()).zip_map(&mag, |d, m| d / m.max(1e-300)).max() < 1e-12);
    }

    #[test]
    fn flips_do_not_depend_on_the_thread_count() {
        let [w, a, p, r, x] = layer(200, 100, 6, 0.2, 7);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| real_flip_sensitivities(&w, &a, &p, &r, &x))
        };
        assert_eq!(run(1), run(3));
    }
}
