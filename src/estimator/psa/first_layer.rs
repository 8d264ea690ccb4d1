//! PSA's first layer: a Bernoulli layer on real input needs the weight-flip bracket
//! `σ(a_j − 2γ_j W_ji x_i) − σ(a_j)` for every weight and example. With `W_ji = ±1` the bracket
//! takes one of two values per (example, unit, input value): `d±_nj(v) = σ(a_nj ∓ 2γ_j v) − σ(a_nj)`.
//! On 8-bit data (at most 256 distinct input values) `r d⁺` and `r d⁻` are computed once per
//! example, unit and value present in the example, and the pair loop only picks one of the two by
//! the sign of `W_ji` and adds it. This is the hot loop of a PSA step, so it runs in f32 (sums
//! flushed to f64 every 256 examples) on the widest SIMD unit, in blocks of units whose tables and
//! sums stay in cache.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::simd;

/// Units per block (the lanes of two AVX-512 registers): a block's sums (`n_in × JB`) and tables
/// (`256 × JB`) stay in L2.
const JB: usize = 32;
/// Examples summed in f32 before the sums are added to the f64 totals.
const FLUSH: usize = 256;

/// First Bernoulli layer on real input: the per-pair weight-flip term
/// `∂q_ji = −W_ji mean_n r_nj [σ(a_nj − 2γ_j W_ji x_ni) − σ(a_nj)]`.
///
/// Parallel over blocks of units; each block sums the batch in order, so the result does not
/// depend on the thread count. Relative error about 1e-6 (f32), far below the estimator's noise.
pub(super) fn first_layer_weight_flips(w: &DMatrix<f64>, gamma: &DVector<f64>, a: &DMatrix<f64>, p: &DMatrix<f64>, r: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    let n_out = w.nrows();
    let batch = x.ncols();
    // e^{−a} with a clamped so that it stays finite in f32 (σ is saturated beyond).
    let e_neg_a: Vec<f32> = crate::dispatch!(a.iter().map(|&a| simd::exp_f32(-(a as f32).clamp(-80.0, 80.0))).collect());
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let r32: Vec<f32> = r.iter().map(|&v| v as f32).collect();
    let two_gamma: Vec<f32> = gamma.iter().map(|&g| 2.0 * g as f32).collect();
    let levels = input_levels(x);
    let sums: Vec<Vec<f64>> = (0..n_out.div_ceil(JB))
        .into_par_iter()
        .map(|blk| {
            let units = blk * JB..(blk * JB + JB).min(n_out);
            // Bit jj of plus[i] is set when W_{j0+jj, i} = +1.
            let plus: Vec<u32> = w.as_slice().chunks_exact(n_out).map(|col| col[units.clone()].iter().enumerate().fold(0u32, |m, (jj, &v)| m | (u32::from(v > 0.0) << jj))).collect();
            let block = Block { x, levels: levels.as_ref(), units: units.clone(), n_out, two_gamma: &two_gamma[units], plus: &plus };
            crate::dispatch!(block.sums(&e_neg_a, &p32, &r32))
        })
        .collect();
    let inv_b = 1.0 / batch as f64;
    let mut dq = w.clone();
    for (i, col) in dq.as_mut_slice().chunks_exact_mut(n_out).enumerate() {
        for (d, acc) in col.chunks_mut(JB).zip(&sums) {
            d.iter_mut().zip(&acc[i * JB..]).for_each(|(d, v)| *d *= -v * inv_b);
        }
    }
    dq
}

/// One block of units and what its sums need.
struct Block<'a> {
    x: &'a DMatrix<f64>,
    /// On 8-bit data: the distinct values and every entry's level (row-major `[example][input]`).
    levels: Option<&'a (Vec<f64>, Vec<u8>)>,
    units: std::ops::Range<usize>,
    n_out: usize,
    two_gamma: &'a [f32],
    plus: &'a [u32],
}

impl Block<'_> {
    /// `Σ_n r_nj d^{W_ji}_nj(x_ni)` for the block's units, `n_in × JB` (lanes beyond the block 0).
    #[inline(always)]
    fn sums(&self, e: &[f32], p: &[f32], r: &[f32]) -> Vec<f64> {
        let (n_in, batch) = self.x.shape();
        let m = self.units.len();
        let mut wide = vec![0f64; n_in * JB];
        let mut acc = vec![0f32; n_in * JB];
        // e^{2γ_j v} per level; the (r d⁺, r d⁻) rows of the values seen in the current example.
        let n_levels = self.levels.map_or(1, |(values, _)| values.len());
        let mut table = vec![0f32; n_levels * JB];
        if let Some((values, _)) = self.levels {
            for (row, &v) in table.chunks_exact_mut(JB).zip(values) {
                row.iter_mut().zip(self.two_gamma).for_each(|(t, &g)| *t = simd::exp_f32((g * v as f32).clamp(-80.0, 80.0)));
            }
        }
        let mut flips = vec![0f32; n_levels * 2 * JB];
        let mut seen = vec![usize::MAX; n_levels];
        let (mut en, mut pn, mut rn) = ([0f32; JB], [0f32; JB], [0f32; JB]);
        for n in 0..batch {
            let at = n * self.n_out + self.units.start..n * self.n_out + self.units.end;
            en[..m].copy_from_slice(&e[at.clone()]);
            pn[..m].copy_from_slice(&p[at.clone()]);
            rn[..m].copy_from_slice(&r[at]);
            for i in 0..n_in {
                let v = match self.levels {
                    Some((_, idx)) => idx[n * n_in + i] as usize,
                    None => {
                        let xv = self.x[(i, n)] as f32;
                        table[..m].iter_mut().zip(self.two_gamma).for_each(|(t, &g)| *t = simd::exp_f32((g * xv).clamp(-80.0, 80.0)));
                        seen[0] = usize::MAX;
                        0
                    }
                };
                let pair = &mut flips[v * 2 * JB..(v + 1) * 2 * JB];
                if seen[v] != n {
                    let (dp, dm) = pair.split_at_mut(JB);
                    flip_values(&table[v * JB..(v + 1) * JB], &en, &pn, &rn, dp, dm);
                    seen[v] = n;
                }
                add_selected(&mut acc[i * JB..(i + 1) * JB], pair, self.plus[i]);
            }
            if (n + 1) % FLUSH == 0 || n + 1 == batch {
                wide.iter_mut().zip(acc.iter_mut()).for_each(|(w, v)| {
                    *w += f64::from(*v);
                    *v = 0.0;
                });
            }
        }
        wide
    }
}

/// `dp_j = r_j (σ(a_j − 2γ_j v) − p_j) = r_j (1/(1 + e_j t_j) − p_j)` and
/// `dm_j = r_j (σ(a_j + 2γ_j v) − p_j) = r_j (t_j/(t_j + e_j) − p_j)` (`e = e^{−a}`, `t = e^{2γv}`).
#[inline(always)]
fn flip_values(t: &[f32], e: &[f32; JB], p: &[f32; JB], r: &[f32; JB], dp: &mut [f32], dm: &mut [f32]) {
    let (t, dp, dm) = (&t[..JB], &mut dp[..JB], &mut dm[..JB]);
    for j in 0..JB {
        // 1 + e t may overflow; it is clamped (σ is 0 to f32 precision there).
        dp[j] = r[j] * (1.0 / (1.0 + e[j] * t[j]).min(1e30) - p[j]);
        dm[j] = r[j] * (t[j] / (t[j] + e[j]) - p[j]);
    }
}

/// `acc_j += dp_j` where bit j of `plus` is set, else `dm_j` (`pair = [dp | dm]`).
#[inline(always)]
fn add_selected(acc: &mut [f32], pair: &[f32], plus: u32) {
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

    /// As [`super::add_selected`], 16 lanes at a time with the sign bits as blend masks.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn add_selected(acc: &mut [f32], pair: &[f32], plus: u32) {
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

/// The distinct values of `x` and every entry's level index (row-major `[example][input]`),
/// when there are at most 256 of them.
fn input_levels(x: &DMatrix<f64>) -> Option<(Vec<f64>, Vec<u8>)> {
    let mut values: Vec<f64> = Vec::new();
    // (bits, level) sorted by bits: at most 256 entries, so a binary search beats hashing.
    let mut index: Vec<(u64, u8)> = Vec::with_capacity(256);
    let mut idx = Vec::with_capacity(x.len());
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
        idx.push(last.1);
    }
    Some((values, idx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::noise::sigmoid;

    /// The per-pair definition in f64.
    fn reference(w: &DMatrix<f64>, gamma: &DVector<f64>, a: &DMatrix<f64>, r: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
        let batch = x.ncols();
        DMatrix::from_fn(w.nrows(), w.ncols(), |j, i| {
            -w[(j, i)] * (0..batch).map(|n| r[(j, n)] * (sigmoid(a[(j, n)] - 2.0 * gamma[j] * w[(j, i)] * x[(i, n)]) - sigmoid(a[(j, n)]))).sum::<f64>() / batch as f64
        })
    }

    #[test]
    fn first_layer_flips_match_the_definition_on_levelled_and_real_inputs() {
        let (n_out, n_in, batch) = (37, 70, 5);
        let h = |k: usize| ((k as f64 * 0.618_034).fract() - 0.5) * 2.0;
        let w = DMatrix::from_fn(n_out, n_in, |j, i| if h(j * 31 + i * 7) > 0.0 { 1.0 } else { -1.0 });
        let gamma = DVector::from_fn(n_out, |j, _| 0.05 + 0.3 * h(j + 3).abs());
        let a = DMatrix::from_fn(n_out, batch, |j, n| 3.0 * h(j * 5 + n * 11 + 1));
        let r = DMatrix::from_fn(n_out, batch, |j, n| h(j * 13 + n * 17 + 2));
        let p = a.map(sigmoid);
        let levelled = DMatrix::from_fn(n_in, batch, |i, n| ((i * 7 + n * 3) % 256) as f64 / 255.0 * 4.0 - 2.0);
        let real = DMatrix::from_fn(n_in, batch, |i, n| 2.0 * h(i * 3 + n * 101 + 5) + 1e-3 * i as f64);
        assert!(input_levels(&levelled).is_some() && input_levels(&real).is_none());
        for x in [&levelled, &real] {
            let got = first_layer_weight_flips(&w, &gamma, &a, &p, &r, x);
            let want = reference(&w, &gamma, &a, &r, x);
            let scale = want.abs().max();
            assert!((got - &want).abs().max() < 1e-5 * scale, "f32 flips differ from the definition");
        }
    }
}
