//! PSA's first layer: a Bernoulli layer on real input needs the weight-flip bracket
//! `σ(a_j − 2γ_j W_ji x_i) − σ(a_j)` for every weight and example (no two-value form). This is
//! the hot loop of a PSA step, so it runs in f32 on the widest SIMD unit, with `e^{2γ v}`
//! tabulated per input level when the input has at most 256 distinct values (8-bit data).

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::simd;

/// First Bernoulli layer on real input: the per-pair weight-flip term
/// `∂q_ji = −W_ji mean_n r_nj [σ(a_nj − 2γ_j W_ji x_ni) − σ(a_nj)]`.
///
/// This is the one place PSA needs a sigmoid per weight and example, so it runs in f32 (relative
/// error about 1e-6, far below the estimator's sampling noise) on the widest SIMD unit, as
/// `σ(a − 2δ) = 1 / (1 + e^{−a} e^{2δ})`. Parallel over blocks of input columns; each column sums
/// the batch in order, so the result does not depend on the thread count.
pub(super) fn first_layer_weight_flips(w: &DMatrix<f64>, gamma: &DVector<f64>, a: &DMatrix<f64>, p: &DMatrix<f64>, r: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    const TILE: usize = 4;
    let (n_out, n_in) = w.shape();
    let batch = x.ncols();
    // e^{−a} with a clamped so that it stays finite in f32 (σ is saturated beyond).
    let e_neg_a: Vec<f32> = crate::dispatch!(a.iter().map(|&a| simd::exp_f32(-(a as f32).clamp(-80.0, 80.0))).collect());
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let r32: Vec<f32> = r.iter().map(|&v| v as f32).collect();
    let two_g: Vec<f64> = gamma.iter().map(|g| 2.0 * g).collect();
    let two_gw: Vec<f32> = w.as_slice().chunks(n_out).flat_map(|col| col.iter().zip(&two_g).map(|(w, g)| (g * w) as f32)).collect();
    // Inputs with at most 256 distinct values (8-bit data under one affine map): e^{2γ_j v} is
    // tabulated once per level and unit, so the pair loop needs no exponential.
    let levels = input_levels(x).map(|(values, idx)| {
        let gamma32: Vec<f32> = gamma.iter().map(|&g| 2.0 * g as f32).collect();
        let table: Vec<f32> = crate::dispatch!(values.iter().flat_map(|&v| gamma32.iter().map(move |&g| simd::exp_f32((g * v as f32).clamp(-80.0, 80.0)))).collect());
        (values, idx, table)
    });
    let inv_b = 1.0 / batch as f64;
    let mut dq = DMatrix::zeros(n_out, n_in);
    dq.as_mut_slice().par_chunks_mut(n_out * TILE).enumerate().for_each(|(tile, out)| {
        let i0 = tile * TILE;
        let cols = out.len() / n_out;
        let mut acc = vec![0f32; out.len()];
        for n in 0..batch {
            let range = n * n_out..(n + 1) * n_out;
            let (ea, pn, rn) = (&e_neg_a[range.clone()], &p32[range.clone()], &r32[range]);
            for c in 0..cols {
                let i = i0 + c;
                let acc = &mut acc[c * n_out..(c + 1) * n_out];
                let gw = &two_gw[i * n_out..(i + 1) * n_out];
                match &levels {
                    Some((_, idx, table)) => {
                        let row = &table[idx[n * n_in + i] as usize * n_out..][..n_out];
                        accumulate_flips_tabulated_dispatch(acc, gw, row, ea, pn, rn)
                    }
                    None => crate::dispatch!(accumulate_flips(acc, gw, x[(i, n)] as f32, ea, pn, rn)),
                }
            }
        }
        for (c, (d, acc)) in out.chunks_mut(n_out).zip(acc.chunks(n_out)).enumerate() {
            let wi = w.column(i0 + c);
            for ((d, a), wji) in d.iter_mut().zip(acc).zip(wi.iter()) {
                *d = -wji * f64::from(*a) * inv_b;
            }
        }
    });
    dq
}

/// `acc_j += r_j (1 / (1 + e_j exp(gw_j x)) − p_j)`, in f32.
#[inline(always)]
fn accumulate_flips(acc: &mut [f32], gw: &[f32], x: f32, e: &[f32], p: &[f32], r: &[f32]) {
    let n = acc.len();
    let (gw, e, p, r) = (&gw[..n], &e[..n], &p[..n], &r[..n]);
    for j in 0..n {
        let t = simd::exp_f32(gw[j] * x);
        acc[j] += r[j] * (1.0 / (1.0 + e[j] * t) - p[j]);
    }
}

/// `acc_j += r_j (σ(a_j − 2γ_j W_ji x) − p_j)` from the tabulated `t_j = e^{2γ_j x}` (the sign of
/// `gw_j = 2γ_j W_ji` picks `1/(1 + e_j t_j)` or `t_j/(t_j + e_j)`), in f32.
#[inline(always)]
fn accumulate_flips_tabulated(acc: &mut [f32], gw: &[f32], t: &[f32], e: &[f32], p: &[f32], r: &[f32]) {
    let n = acc.len();
    let (gw, t, e, p, r) = (&gw[..n], &t[..n], &e[..n], &p[..n], &r[..n]);
    for j in 0..n {
        let plus = gw[j] > 0.0;
        let num = if plus { 1.0 } else { t[j] };
        let den = if plus { 1.0 + e[j] * t[j] } else { t[j] + e[j] };
        acc[j] += r[j] * (num / den - p[j]);
    }
}

/// [`accumulate_flips_tabulated`] on the widest unit: with AVX-512 the division becomes a 14-bit
/// reciprocal estimate refined by one Newton step (f32 precision), which is what bounds this loop.
fn accumulate_flips_tabulated_dispatch(acc: &mut [f32], gw: &[f32], t: &[f32], e: &[f32], p: &[f32], r: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx512() {
        // SAFETY: AVX-512F is present (checked at run time); the slices are as long as `acc`.
        unsafe { avx512::accumulate_flips_tabulated(acc, gw, t, e, p, r) };
        return;
    }
    crate::dispatch!(accumulate_flips_tabulated(acc, gw, t, e, p, r))
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// As [`super::accumulate_flips_tabulated`], 16 lanes at a time.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn accumulate_flips_tabulated(acc: &mut [f32], gw: &[f32], t: &[f32], e: &[f32], p: &[f32], r: &[f32]) {
        let n = acc.len();
        assert!(gw.len() >= n && t.len() >= n && e.len() >= n && p.len() >= n && r.len() >= n);
        let (one, two, zero, big) = (_mm512_set1_ps(1.0), _mm512_set1_ps(2.0), _mm512_setzero_ps(), _mm512_set1_ps(1e30));
        let mut j = 0;
        while j + 16 <= n {
            // SAFETY: j + 16 ≤ n ≤ every slice's length.
            unsafe {
                let g = _mm512_loadu_ps(gw.as_ptr().add(j));
                let tt = _mm512_loadu_ps(t.as_ptr().add(j));
                let ee = _mm512_loadu_ps(e.as_ptr().add(j));
                let plus = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(g, zero);
                let num = _mm512_mask_blend_ps(plus, tt, one);
                // 1 + e t may overflow; it is clamped (σ is 0 to f32 precision there).
                let den_plus = _mm512_min_ps(_mm512_fmadd_ps(ee, tt, one), big);
                let den = _mm512_mask_blend_ps(plus, _mm512_add_ps(tt, ee), den_plus);
                let y0 = _mm512_rcp14_ps(den);
                let y = _mm512_mul_ps(y0, _mm512_fnmadd_ps(den, y0, two));
                let diff = _mm512_sub_ps(_mm512_mul_ps(num, y), _mm512_loadu_ps(p.as_ptr().add(j)));
                let out = _mm512_fmadd_ps(_mm512_loadu_ps(r.as_ptr().add(j)), diff, _mm512_loadu_ps(acc.as_ptr().add(j)));
                _mm512_storeu_ps(acc.as_mut_ptr().add(j), out);
            }
            j += 16;
        }
        super::accumulate_flips_tabulated(&mut acc[j..], &gw[j..], &t[j..], &e[j..], &p[j..], &r[j..]);
    }
}

/// The distinct values of `x` and every entry's level index (row-major `[example][input]`),
/// when there are at most 256 of them.
fn input_levels(x: &DMatrix<f64>) -> Option<(Vec<f64>, Vec<u8>)> {
    let mut values: Vec<f64> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut idx = Vec::with_capacity(x.len());
    let mut last = (f64::NAN.to_bits(), 0u8);
    for &v in x.iter() {
        let key = v.to_bits();
        if key != last.0 {
            let level = match index.get(&key) {
                Some(&l) => l,
                None => {
                    if values.len() == 256 {
                        return None;
                    }
                    values.push(v);
                    let l = (values.len() - 1) as u8;
                    index.insert(key, l);
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
