//! PSA's first layer: a Bernoulli layer on real input needs the weight-flip bracket
//! `σ(a_j − 2γ_j W_ji x_i) − σ(a_j)` for every weight and example. With `W_ji = ±1` the bracket
//! takes one of two values per (example, unit, input value): `d±_nj(v) = σ(a_nj ∓ 2γ_j v) − σ(a_nj)`.
//! On 8-bit data (at most 256 distinct input values) `r d⁺` and `r d⁻` are computed once per
//! example, unit and value present in the example, and the pair loop only picks one of the two by
//! the sign of `W_ji` and adds it. Entries at the most frequent value (the background of an image)
//! are not visited one by one: every entry gets its example's values at that level, summed once
//! per example, and the pair loop adds the differences for the other entries only. This is the
//! hot loop of a PSA step, so it runs in f32 (sums flushed to f64 every 256 examples) on the
//! widest SIMD unit, in blocks of units whose tables and sums stay in cache.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::lanes::Avx512;
use super::lanes::{Lanes, Portable};
use crate::simd;

/// Units per block (the lanes of four AVX-512 registers): a block's sums (`n_in × JB`) and tables
/// (`256 × JB`) stay in L2.
const JB: usize = 64;
/// One bit per unit of a block.
type Mask = u64;
/// Examples summed in f32 before the sums are added to the f64 totals.
const FLUSH: usize = 256;

/// First Bernoulli layer on real input: the per-pair weight-flip term
/// `∂q_ji = −W_ji mean_n r_nj [σ(a_nj − 2γ_j W_ji x_ni) − σ(a_nj)]`.
///
/// Parallel over blocks of units; each block sums the batch in order, so the result does not
/// depend on the thread count. Relative error about 1e-6 (f32), far below the estimator's noise.
pub(super) fn first_layer_weight_flips(
    w: &DMatrix<f64>,
    gamma: &DVector<f64>,
    a: &DMatrix<f64>,
    p: &DMatrix<f64>,
    r: &DMatrix<f64>,
    x: &DMatrix<f64>,
) -> DMatrix<f64> {
    let n_out = w.nrows();
    let batch = x.ncols();
    // e^{−a} with a clamped so that it stays finite in f32 (σ is saturated beyond).
    // Over slices, not matrix iterators, so that the loops vectorize.
    let e_neg_a: Vec<f32> = crate::simd::dispatch!(a.as_slice().iter().map(|&a| simd::exp_f32(-(a as f32).clamp(-80.0, 80.0))).collect());
    let (p32, r32): (Vec<f32>, Vec<f32>) =
        crate::simd::dispatch!((p.as_slice().iter().map(|&v| v as f32).collect(), r.as_slice().iter().map(|&v| simd::flush_tiny(v as f32)).collect()));
    let two_gamma: Vec<f32> = gamma.iter().map(|&g| 2.0 * g as f32).collect();
    let levels = input_levels(x);
    let sums: Vec<Vec<f64>> = (0..n_out.div_ceil(JB))
        .into_par_iter()
        .map(|blk| {
            let units = blk * JB..(blk * JB + JB).min(n_out);
            crate::simd::dispatch!({
                let plus = plus_masks(w, units.clone());
                let block = Block { x, levels: levels.as_ref(), units: units.clone(), n_out, two_gamma: &two_gamma[units.clone()], plus: &plus };
                block.sums(&e_neg_a, &p32, &r32)
            })
        })
        .collect();
    let inv_b = 1.0 / batch as f64;
    let mut dq = DMatrix::zeros(n_out, w.ncols());
    dq.as_mut_slice().par_chunks_mut(n_out).zip(w.as_slice().par_chunks(n_out)).enumerate().for_each(|(i, (dq, w))| {
        crate::simd::dispatch!(for ((dq, w), acc) in dq.chunks_mut(JB).zip(w.chunks(JB)).zip(&sums) {
            for ((d, &w), &v) in dq.iter_mut().zip(w).zip(&acc[i * JB..]) {
                *d = -w * v * inv_b;
            }
        })
    });
    dq
}

/// Per input `i`, the signs of the block's weights: bit `jj` is set when `W_{j0+jj, i} = +1`.
#[inline(always)]
fn plus_masks(w: &DMatrix<f64>, units: std::ops::Range<usize>) -> Vec<Mask> {
    let mask = |col: &[f64]| col.iter().enumerate().fold(0, |m: Mask, (jj, &v)| m | (Mask::from(v > 0.0) << jj));
    w.as_slice()
        .chunks_exact(w.nrows())
        .map(|col| match <&[f64; JB]>::try_from(&col[units.clone()]) {
            // A full block: fixed length, so the comparisons vectorize.
            Ok(full) => mask(full),
            Err(_) => mask(&col[units.clone()]),
        })
        .collect()
}

/// One block of units and what its sums need.
struct Block<'a> {
    x: &'a DMatrix<f64>,
    /// On 8-bit data: the input's levels (see [`Levels`]).
    levels: Option<&'a Levels>,
    units: std::ops::Range<usize>,
    n_out: usize,
    two_gamma: &'a [f32],
    plus: &'a [Mask],
}

impl Block<'_> {
    /// `Σ_n r_nj d^{W_ji}_nj(x_ni)` for the block's units, `n_in × JB` (lanes beyond the block 0).
    #[inline(always)]
    fn sums(&self, e: &[f32], p: &[f32], r: &[f32]) -> Vec<f64> {
        let (n_in, batch) = self.x.shape();
        let m = self.units.len();
        let mut sums = Sums::new(n_in);
        let (mut en, mut pn, mut rn) = ([0f32; JB], [0f32; JB], [0f32; JB]);
        let mut load = |n: usize| {
            let at = n * self.n_out + self.units.start..n * self.n_out + self.units.end;
            en[..m].copy_from_slice(&e[at.clone()]);
            pn[..m].copy_from_slice(&p[at.clone()]);
            rn[..m].copy_from_slice(&r[at]);
            (en, pn, rn)
        };
        let Some(lv) = self.levels else {
            // Real input: the bracket's two values for every entry.
            let (mut t, mut pair) = ([0f32; JB], [0f32; 2 * JB]);
            for n in 0..batch {
                let (en, pn, rn) = load(n);
                for i in 0..n_in {
                    let xv = self.x[(i, n)] as f32;
                    t[..m].iter_mut().zip(self.two_gamma).for_each(|(t, &g)| *t = simd::exp_f32((g * xv).clamp(-80.0, 80.0)));
                    let (dp, dm) = pair.split_at_mut(JB);
                    flip_values(&t, &en, &pn, &rn, dp, dm);
                    add_selected(sums.row(i), &pair, self.plus[i]);
                }
                sums.end_example(n, batch);
            }
            return sums.total(None);
        };
        // e^{2γ_j v} per level; per example, (r d⁺, r d⁻) of the mode, summed over the batch, and
        // for each other level present its pair relative to the mode's, added to the entries at
        // that level (an example's entries come grouped by level, so the pair stays in L1).
        let mut table = vec![0f32; lv.values.len() * JB];
        for (row, &v) in table.chunks_exact_mut(JB).zip(&lv.values) {
            row.iter_mut().zip(self.two_gamma).for_each(|(t, &g)| *t = simd::exp_f32((g * v as f32).clamp(-80.0, 80.0)));
        }
        let (mut base, mut pair) = ([0f32; 2 * JB], [0f32; 2 * JB]);
        let mut base_sum = [0f64; 2 * JB];
        let mode = usize::from(lv.mode);
        for n in 0..batch {
            let (en, pn, rn) = load(n);
            let (bp, bm) = base.split_at_mut(JB);
            flip_values(&table[mode * JB..(mode + 1) * JB], &en, &pn, &rn, bp, bm);
            base_sum.iter_mut().zip(&base).for_each(|(s, &v)| *s += f64::from(v));
            for group in lv.off_mode(n).chunk_by(|a, b| a.1 == b.1) {
                let v = usize::from(group[0].1);
                let (dp, dm) = pair.split_at_mut(JB);
                flip_values(&table[v * JB..(v + 1) * JB], &en, &pn, &rn, dp, dm);
                pair.iter_mut().zip(&base).for_each(|(d, b)| *d -= b);
                for &(i, _) in group {
                    add_selected(sums.row(i as usize), &pair, self.plus[i as usize]);
                }
            }
            sums.end_example(n, batch);
        }
        // Every entry gets its example's mode pair; the loop above added only the differences.
        sums.total(Some((&base_sum, self.plus)))
    }
}

/// A block's sums, `n_in × JB`: f32 accumulators, flushed into f64 totals every [`FLUSH`] examples.
struct Sums {
    acc: Vec<f32>,
    /// The flushed part (allocated at the first flush).
    wide: Option<Vec<f64>>,
}

impl Sums {
    fn new(n_in: usize) -> Self {
        Sums { acc: vec![0.0; n_in * JB], wide: None }
    }

    /// The f32 accumulators of input `i`.
    #[inline(always)]
    fn row(&mut self, i: usize) -> &mut [f32] {
        &mut self.acc[i * JB..(i + 1) * JB]
    }

    /// After example `n` of `batch`: flush when due (the last examples stay for [`Sums::total`]).
    fn end_example(&mut self, n: usize, batch: usize) {
        if (n + 1).is_multiple_of(FLUSH) && n + 1 < batch {
            let wide = self.wide.get_or_insert_with(|| vec![0.0; self.acc.len()]);
            wide.iter_mut().zip(self.acc.iter_mut()).for_each(|(w, v)| {
                *w += f64::from(*v);
                *v = 0.0;
            });
        }
    }

    /// The totals in f64; with `base = (pair, plus)`, input `i`'s row also gets the pair's half
    /// that its sign mask selects (as in [`add_selected`]).
    #[inline(always)]
    fn total(self, base: Option<(&[f64; 2 * JB], &[Mask])>) -> Vec<f64> {
        let mut out: Vec<f64> = self.acc.iter().map(|&v| f64::from(v)).collect();
        if let Some(wide) = self.wide {
            out.iter_mut().zip(wide).for_each(|(o, w)| *o += w);
        }
        if let Some((pair, plus)) = base {
            let (dp, dm) = pair.split_at(JB);
            for (row, &m) in out.chunks_exact_mut(JB).zip(plus) {
                for jj in 0..JB {
                    row[jj] += if m >> jj & 1 == 1 { dp[jj] } else { dm[jj] };
                }
            }
        }
        out
    }
}

/// `dp_j = r_j (σ(a_j − 2γ_j v) − p_j) = r_j (1/(1 + e_j t_j) − p_j)` and
/// `dm_j = r_j (σ(a_j + 2γ_j v) − p_j) = r_j (t_j/(t_j + e_j) − p_j)` (`e = e^{−a}`, `t = e^{2γv}`).
#[inline(always)]
fn flip_values(t: &[f32], e: &[f32; JB], p: &[f32; JB], r: &[f32; JB], dp: &mut [f32], dm: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx512() {
        // SAFETY: AVX-512F is present (checked at run time).
        unsafe { avx512::flip_values(t, e, p, r, dp, dm) };
        return;
    }
    // SAFETY: `Portable` needs no CPU feature.
    unsafe { flip_values_in::<Portable>(t, e, p, r, dp, dm) }
}

/// [`flip_values`] on lanes `L`.
///
/// # Safety
/// The CPU supports `L` (see [`Lanes::splat`]).
#[inline(always)]
unsafe fn flip_values_in<L: Lanes>(t: &[f32], e: &[f32; JB], p: &[f32; JB], r: &[f32; JB], dp: &mut [f32], dm: &mut [f32]) {
    assert!(t.len() >= JB && dp.len() >= JB && dm.len() >= JB);
    // SAFETY: the CPU supports `L` (the caller's guarantee); every offset is below JB, and every
    // slice holds at least JB values (asserted above).
    unsafe {
        let (one, cap) = (L::splat(1.0), L::splat(1e30));
        for at in (0..JB).step_by(16) {
            let (tv, ev) = (L::load(t.as_ptr().add(at)), L::load(e.as_ptr().add(at)));
            let (pv, rv) = (L::load(p.as_ptr().add(at)), L::load(r.as_ptr().add(at)));
            // 1 + e t may overflow; it is clamped (σ is 0 to f32 precision there).
            let plus = ev.mul_add(tv, one).min(cap).recip();
            let minus = tv.mul(tv.add(ev).recip());
            rv.mul(plus.sub(pv)).store(dp.as_mut_ptr().add(at));
            rv.mul(minus.sub(pv)).store(dm.as_mut_ptr().add(at));
        }
    }
}

/// `acc_j += dp_j` where bit j of `plus` is set, else `dm_j` (`pair = [dp | dm]`).
#[inline(always)]
fn add_selected(acc: &mut [f32], pair: &[f32], plus: Mask) {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx512() {
        // SAFETY: AVX-512F is present (checked at run time); the slices hold JB and 2·JB values.
        unsafe { avx512::add_selected(acc, pair, plus) };
        return;
    }
    let (acc, dp, dm) = (&mut acc[..JB], &pair[..JB], &pair[JB..2 * JB]);
    for j in 0..JB {
        acc[j] += if plus >> j & 1 == 1 { dp[j] } else { dm[j] };
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::JB;

    /// [`super::flip_values`] on AVX-512 lanes.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn flip_values(t: &[f32], e: &[f32; JB], p: &[f32; JB], r: &[f32; JB], dp: &mut [f32], dm: &mut [f32]) {
        // SAFETY: the caller checked AVX-512F.
        unsafe { super::flip_values_in::<super::Avx512>(t, e, p, r, dp, dm) }
    }

    /// As [`super::add_selected`], 16 lanes at a time with the sign bits as blend masks.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn add_selected(acc: &mut [f32], pair: &[f32], plus: super::Mask) {
        assert!(acc.len() >= JB && pair.len() >= 2 * JB);
        for half in 0..JB / 16 {
            // SAFETY: the offsets stay below JB in `acc` and 2·JB in `pair` (asserted above).
            unsafe {
                let k = (plus >> (16 * half)) as __mmask16;
                let dp = _mm512_loadu_ps(pair.as_ptr().add(16 * half));
                let dm = _mm512_loadu_ps(pair.as_ptr().add(JB + 16 * half));
                let a = _mm512_loadu_ps(acc.as_ptr().add(16 * half));
                _mm512_storeu_ps(acc.as_mut_ptr().add(16 * half), _mm512_add_ps(a, _mm512_mask_blend_ps(k, dm, dp)));
            }
        }
    }
}

/// 8-bit input: its distinct values, the most frequent one (the mode, e.g. the background pixel),
/// and per example the entries off the mode. The pair loop visits only those: the mode's term is
/// added to every entry at once, the others as differences to it.
struct Levels {
    values: Vec<f64>,
    mode: u8,
    /// Example `n`'s entries off the mode, `(input, level)`, are `entries[starts[n]..starts[n + 1]]`,
    /// grouped by level (sorted by level, then input).
    starts: Vec<usize>,
    entries: Vec<(u32, u8)>,
}

impl Levels {
    fn off_mode(&self, n: usize) -> &[(u32, u8)] {
        &self.entries[self.starts[n]..self.starts[n + 1]]
    }
}

/// The [`Levels`] of `x`, when it holds at most 256 distinct values.
fn input_levels(x: &DMatrix<f64>) -> Option<Levels> {
    let mut values: Vec<f64> = Vec::new();
    // (bits, level) sorted by bits: at most 256 entries, so a binary search beats hashing.
    let mut index: Vec<(u64, u8)> = Vec::with_capacity(256);
    let mut idx = Vec::with_capacity(x.len());
    let mut counts = [0usize; 256];
    let mut last = (f64::NAN.to_bits(), 0u8);
    for &v in x.iter() {
        let key = v.to_bits();
        if key != last.0 {
            let level = match index.binary_search_by_key(&key, |&(k, _)| k) {
                Ok(at) => index[at].1,
                Err(at) => {
                    if values.len() == 256 {
                        return None;
                    }
                    values.push(v);
                    let l = (values.len() - 1) as u8;
                    index.insert(at, (key, l));
                    l
                }
            };
            last = (key, level);
        }
        counts[usize::from(last.1)] += 1;
        idx.push(last.1);
    }
    let mode = (0..values.len()).max_by_key(|&l| (counts[l], std::cmp::Reverse(l))).unwrap_or(0) as u8;
    let n_in = x.nrows();
    let mut starts = Vec::with_capacity(x.ncols() + 1);
    let mut entries = Vec::with_capacity(x.len() - counts[usize::from(mode)]);
    starts.push(0);
    for n in 0..x.ncols() {
        entries.extend(idx[n * n_in..(n + 1) * n_in].iter().enumerate().filter(|&(_, &l)| l != mode).map(|(i, &l)| (i as u32, l)));
        let start = *starts.last().expect("starts begins with 0");
        entries[start..].sort_unstable_by_key(|&(i, l)| (l, i));
        starts.push(entries.len());
    }
    Some(Levels { values, mode, starts, entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::noise::sigmoid;

    /// The per-pair definition in f64.
    fn reference(w: &DMatrix<f64>, gamma: &DVector<f64>, a: &DMatrix<f64>, r: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
        let batch = x.ncols();
        DMatrix::from_fn(w.nrows(), w.ncols(), |j, i| {
            -w[(j, i)] * (0..batch).map(|n| r[(j, n)] * (sigmoid(a[(j, n)] - 2.0 * gamma[j] * w[(j, i)] * x[(i, n)]) - sigmoid(a[(j, n)]))).sum::<f64>()
                / batch as f64
        })
    }

    #[test]
    fn first_layer_flips_match_the_definition_on_levelled_and_real_inputs() {
        // A small batch, and one long enough for the f32 sums to be flushed.
        for batch in [5, FLUSH + 44] {
            flips_match_the_definition(37, 70, batch);
        }
    }

    fn flips_match_the_definition(n_out: usize, n_in: usize, batch: usize) {
        let h = |k: usize| ((k as f64 * 0.618_034).fract() - 0.5) * 2.0;
        let w = DMatrix::from_fn(n_out, n_in, |j, i| if h(j * 31 + i * 7) > 0.0 { 1.0 } else { -1.0 });
        let gamma = DVector::from_fn(n_out, |j, _| 0.05 + 0.3 * h(j + 3).abs());
        let a = DMatrix::from_fn(n_out, batch, |j, n| 3.0 * h(j * 5 + n * 11 + 1));
        let r = DMatrix::from_fn(n_out, batch, |j, n| h(j * 13 + n * 17 + 2));
        let p = a.map(sigmoid);
        let levelled = DMatrix::from_fn(n_in, batch, |i, n| ((i * 7 + n * 3) % 256) as f64 / 255.0 * 4.0 - 2.0);
        // Mostly background, one example all background, one with none.
        let sparse = DMatrix::from_fn(n_in, batch, |i, n| match n {
            0 => -2.0,
            1 => 0.5 + (i % 3) as f64,
            _ if (i * 5 + n) % 7 < 4 => -2.0,
            _ => ((i * 11 + n) % 5) as f64 - 1.0,
        });
        let real = DMatrix::from_fn(n_in, batch, |i, n| 2.0 * h(i * 3 + n * 101 + 5) + 1e-3 * i as f64);
        assert!(input_levels(&levelled).is_some() && input_levels(&real).is_none());
        let lv = input_levels(&sparse).expect("levelled");
        assert_eq!(lv.values[usize::from(lv.mode)], -2.0);
        assert!(lv.off_mode(0).is_empty() && lv.off_mode(1).len() == n_in);
        for x in [&levelled, &sparse, &real] {
            let got = first_layer_weight_flips(&w, &gamma, &a, &p, &r, x);
            let want = reference(&w, &gamma, &a, &r, x);
            let scale = want.abs().max();
            assert!((got - &want).abs().max() < 1e-5 * scale, "f32 flips differ from the definition");
        }
    }
}
