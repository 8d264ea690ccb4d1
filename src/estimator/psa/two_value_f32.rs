//! The two-value flip terms of a Bernoulli layer on binary input (docs/math.md §3) in f32, for
//! the fast engine: `d±_j = σ(a_j ∓ 2γ_j) − σ(a_j)` in a form without cancellation,
//! `d± = e (1 − T±) σ(a) / (1 + e T±)` with `e = e^{−a}` and `T± = e^{±2γ}` (so a small `γ` loses
//! no digits), taken at `|a|` so that `e ≤ 1`, then `r c` and `r h` with `c = (d⁺ + d⁻)/2`,
//! `h = (d⁺ − d⁻)/2`. `r h` stays in f32
//! for the f32 products; the sums of `r c` (per unit over the examples, per example over the
//! units) are accumulated in f64.

use nalgebra::{DMatrix, DVector, RowDVector};

/// Beyond this `|γ|` the f64 path runs (below it `e^{2|γ|} ≤ e^{30}` and its products with
/// `e^{−|a|} ≤ 1` stay far inside f32's range; where `e^{−|a|}` reaches f32's floor, `|a| ≥ 87`,
/// every `|d±|` is below `e^{−57}`).
const MAX_GAMMA: f64 = 15.0;

/// `(r h` in f32 (the units × examples layout of `r`), `mean_n r c` per unit, `Σ_j r c` per
/// example`)`, or `None` when some `|γ_j|` exceeds [`MAX_GAMMA`]. `a` is in `r`'s memory layout.
pub(super) fn flip_terms(gamma: &DVector<f64>, a: &[f64], r: &DMatrix<f64>) -> Option<(Vec<f32>, Vec<f64>, RowDVector<f64>)> {
    if gamma.iter().any(|g| g.is_nan() || g.abs() > MAX_GAMMA) {
        return None;
    }
    let (rows, cols) = r.shape();
    assert!(a.len() == r.len(), "a and r differ in size");
    // Per unit: T± = e^{±2γ} and 1 − T± (from expm1, exact for small γ).
    let tables = |sign: f64| -> (Vec<f32>, Vec<f32>) { gamma.iter().map(|&g| (((sign * 2.0 * g).exp()) as f32, (-(sign * 2.0 * g).exp_m1()) as f32)).unzip() };
    let ((t_plus, m_plus), (t_minus, m_minus)) = (tables(1.0), tables(-1.0));
    let mut rh = vec![0f32; rows * cols];
    let (mut rc_unit, mut rc_example) = (vec![0f64; rows], RowDVector::zeros(cols));
    let mut rc = vec![0f32; rows];
    let columns = rh.chunks_exact_mut(rows.max(1)).zip(a.chunks_exact(rows.max(1)).zip(r.as_slice().chunks_exact(rows.max(1))));
    for ((rh_n, (a_n, r_n)), rc_n) in columns.zip(rc_example.iter_mut()) {
        crate::simd::dispatch!(unit_flip_terms([&t_plus, &m_plus, &t_minus, &m_minus], a_n, r_n, rh_n, &mut rc));
        *rc_n = rc.iter().map(|&v| f64::from(v)).sum();
        rc_unit.iter_mut().zip(&rc).for_each(|(s, &v)| *s += f64::from(v));
    }
    rc_unit.iter_mut().for_each(|s| *s /= cols as f64);
    Some((rh, rc_unit, rc_example))
}

/// One example's column: `r h` into `rh` and `r c` into `rc` (every slice as long as `a`; the
/// tables are `T⁺, 1 − T⁺, T⁻, 1 − T⁻` per unit). Equal lengths, so the loop vectorizes.
#[inline(always)]
fn unit_flip_terms([t_plus, m_plus, t_minus, m_minus]: [&[f32]; 4], a: &[f64], r: &[f64], rh: &mut [f32], rc: &mut [f32]) {
    let n = a.len();
    let (t_plus, m_plus, t_minus, m_minus, r, rh, rc) = (&t_plus[..n], &m_plus[..n], &t_minus[..n], &m_minus[..n], &r[..n], &mut rh[..n], &mut rc[..n]);
    for j in 0..n {
        // At s = |a| (so e = e^{−s} ≤ 1 never overflows): D± = σ(s ∓ 2γ) − σ(s), from
        // T = e^{±2γ}. Since σ(−x) = 1 − σ(x), at a < 0 d⁺ = −D⁻ and d⁻ = −D⁺: r h takes
        // D⁺ − D⁻ either way, r c takes ±(D⁺ + D⁻) with the sign of a.
        let e = crate::simd::exp_f32(-(a[j].abs() as f32));
        let sp = e / (1.0 + e);
        let big_plus = sp * m_plus[j] / (1.0 + e * t_plus[j]);
        let big_minus = sp * m_minus[j] / (1.0 + e * t_minus[j]);
        let half_r = 0.5 * r[j] as f32;
        let sign = if a[j] < 0.0 { -half_r } else { half_r };
        rh[j] = crate::simd::flush_tiny(half_r * (big_plus - big_minus)); // an f32 product's operand
        rc[j] = sign * (big_plus + big_minus);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::noise::sigmoid;

    #[test]
    fn flip_terms_match_their_definition_in_f64() {
        let (rows, cols) = (37, 5);
        let gamma = DVector::from_fn(rows, |j, _| [1e-4, 0.01, 0.3, 2.0, 14.0][j % 5] * if j % 2 == 0 { 1.0 } else { -1.0 });
        let a: Vec<f64> = (0..rows * cols).map(|i| ((i * 37) % 101) as f64 * 0.9 - 45.0).collect();
        let r = DMatrix::from_fn(rows, cols, |j, n| ((j + 3 * n) % 7) as f64 * 0.4 - 1.2);
        let (rh, c_mean, rc_sum) = flip_terms(&gamma, &a, &r).unwrap();
        let (mut want_c, mut size_c) = (vec![0.0; rows], vec![0.0; rows]);
        for n in 0..cols {
            let (mut col_sum, mut col_size) = (0.0, 0.0);
            for j in 0..rows {
                let (av, g) = (a[n * rows + j], gamma[j]);
                let (dp, dm) = (sigmoid(av - 2.0 * g) - sigmoid(av), sigmoid(av + 2.0 * g) - sigmoid(av));
                let (rc, rhv) = (0.5 * r[(j, n)] * (dp + dm), 0.5 * r[(j, n)] * (dp - dm));
                // Relative to the terms' size (f32), with an absolute floor for the clamped tails.
                let tol = 1e-6 * (dp.abs() + dm.abs()) * r[(j, n)].abs() + 1e-12;
                assert!((f64::from(rh[n * rows + j]) - rhv).abs() <= tol, "r h at ({j}, {n}): {} against {rhv}", rh[n * rows + j]);
                // c is second order in γ (d⁺ and d⁻ nearly cancel), so its rounding is relative
                // to the first-order terms' size, as for h.
                let size = 0.5 * r[(j, n)].abs() * (dp.abs() + dm.abs());
                (col_sum, col_size) = (col_sum + rc, col_size + size);
                want_c[j] += rc / cols as f64;
                size_c[j] += size / cols as f64;
            }
            assert!((rc_sum[n] - col_sum).abs() <= 1e-6 * col_size + 1e-12, "Σ r c of example {n}: {} against {col_sum}", rc_sum[n]);
        }
        for j in 0..rows {
            assert!((c_mean[j] - want_c[j]).abs() <= 1e-6 * size_c[j] + 1e-12, "mean r c of unit {j}: {} against {}", c_mean[j], want_c[j]);
        }
        assert!(flip_terms(&DVector::from_element(rows, 16.0), &a, &r).is_none());
    }

    /// Saturated units (large |a|) give terms far below f32's normal range; they reach the f32
    /// products as 0, never as subnormals (which slow the products many times over).
    #[test]
    fn saturated_units_give_no_subnormal_terms() {
        let (rows, cols) = (16, 40);
        let gamma = DVector::from_fn(rows, |j, _| 0.05 + 0.1 * j as f64);
        let a: Vec<f64> = (0..rows * cols).map(|i| if i % 2 == 0 { 60.0 } else { -40.0 } + (i % 41) as f64).collect();
        let r = DMatrix::from_fn(rows, cols, |j, n| 1e-3 * (1 + j + n) as f64);
        let (rh, _, _) = flip_terms(&gamma, &a, &r).unwrap();
        assert!(rh.iter().all(|&v| v == 0.0 || v.is_normal()), "a subnormal r h term");
        assert!(rh.contains(&0.0) && rh.iter().any(|&v| v != 0.0), "expected both flushed and kept terms");
    }
}
