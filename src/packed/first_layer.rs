//! The first layer of the packed engine (docs/math.md §6): `a¹` of a block of examples, which does
//! not depend on the activation noise and is computed once per (weight sample, block).
//!
//! * On 8-bit inputs `x⁰ = α v + c` with ±1 weights: `Σ_i W_ji x⁰_i = α Σ_i W_ji v_i + c Σ_i W_ji`,
//!   the first sum from 8 AND-popcount bit-plane passes, the second from the row's popcount.
//! * A first convolution on bytes: the same on the bit planes of its byte patches
//!   ([`super::patches`]); it pads with zero pixels (`v = 0`) and adds `(pad_value − c)·Σ_{padded} W`
//!   when its pad value is not the offset `c`.
//! * On real inputs, or with real first-layer weights: a float matrix product.

use std::ops::Range;

use nalgebra::DMatrix;

use super::network::{PackedLayer, SampledNetwork};
use crate::data::InputBatch;
use crate::model::Conv2d;
use crate::model::conv_bits as patches;
use crate::popcount::bits::BitMatrix;
use crate::popcount::kernel::and_popcount;

impl SampledNetwork {
    /// Pre-activations `a¹` (`n1 × B`, units layout) of examples `range` of `input`; they do not
    /// depend on the activation noise. The input must have been checked against the network.
    pub(super) fn first_preactivation(&self, input: &InputBatch, range: Range<usize>) -> DMatrix<f64> {
        if let Some(g) = &self.convs[0] {
            return self.first_conv_preactivation(g, input, range);
        }
        let (b, n1) = (range.len(), self.dims[1]);
        match (&self.layers[0], input) {
            (PackedLayer::Binary(l), &InputBatch::Bytes { data, dim, alpha, offset }) => {
                let planes = bit_planes(&data[range.start * dim..range.end * dim], dim);
                let mut counts = vec![0i32; 8 * b * n1];
                and_popcount(&l.rows, &planes, &mut counts);
                let mut a = DMatrix::zeros(n1, b);
                let mut acc = vec![0i64; n1];
                for (n, mut col) in a.column_iter_mut().enumerate() {
                    // Σ_i W_ji v_i = Σ_p 2^p (2·popcount(w⁺_j AND β_p) − popcount(β_p)).
                    let vsum: i64 = (0..8).map(|p| i64::from(planes.row_popcount(8 * n + p)) << p).sum();
                    let counts = counts[8 * n * n1..8 * (n + 1) * n1].chunks_exact(n1);
                    let params = self.row_sums.iter().zip(&l.gamma).zip(&l.bias);
                    crate::simd::dispatch!({
                        acc.fill(0);
                        for (p, cp) in counts.enumerate() {
                            acc.iter_mut().zip(cp).for_each(|(t, &c)| *t += i64::from(c) << p);
                        }
                        for ((aj, &t), ((&r, &g), &bias)) in col.iter_mut().zip(&acc).zip(params) {
                            *aj = g * (alpha * (2 * t - vsum) as f64 + offset * r as f64) + bias;
                        }
                    });
                }
                a
            }
            _ => self.first_float(&input.to_matrix(range)),
        }
    }

    /// The first layer in f64 on (unfolded) inputs `x`: `γ ⊙ (W x) + b` or `W x + b`, in the
    /// channels layout (one row per row of `W`).
    fn first_float(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let (w, gamma, bias) = match &self.layers[0] {
            PackedLayer::Binary(l) => (self.first_f64.get_or_init(|| l.bits.to_rows_matrix()), Some(&l.gamma[..]), l.bias.as_slice()),
            PackedLayer::Real { w, bias } => (w, None, bias.as_slice()),
        };
        let mut a = crate::linalg::mul(w, x);
        for col in a.as_mut_slice().chunks_exact_mut(bias.len()) {
            for (c, ac) in col.iter_mut().enumerate() {
                *ac = match gamma {
                    Some(gm) => gm[c] * *ac + bias[c],
                    None => *ac + bias[c],
                };
            }
        }
        a
    }

    /// [`first_preactivation`](Self::first_preactivation) of a convolutional first layer: bit
    /// planes of the byte patches (exact integers), or a float product on the unfolded input.
    fn first_conv_preactivation(&self, g: &Conv2d, input: &InputBatch, range: Range<usize>) -> DMatrix<f64> {
        let (b, n1, pc, co) = (range.len(), self.dims[1], g.positions(), g.out_c);
        match (&self.layers[0], input) {
            (PackedLayer::Binary(l), &InputBatch::Bytes { data, dim, alpha, offset }) => {
                // Padded taps read `pad_value`, the planes read 0 (→ x⁰ = c): correct by
                // `(pad_value − c)·Σ_{padded} W` where the two differ.
                let pad_sums: Option<Vec<i64>> = (g.pad > 0 && g.pad_value != offset).then(|| {
                    let masks = patches::pad_masks(g);
                    let mut cnt = vec![0i32; pc * co];
                    and_popcount(&l.rows, &masks, &mut cnt);
                    (0..pc * co).map(|i| 2 * i64::from(cnt[i]) - i64::from(masks.row_popcount(i / co))).collect()
                });
                let offsets: Vec<f64> = self.row_sums.iter().map(|&r| offset * r as f64).collect();
                // Example by example, CHUNK positions at a time: planes and counts stay in cache.
                const CHUNK: usize = 32;
                let mut a = DMatrix::zeros(n1, b);
                let mut patch = vec![0u8; g.fan_in()];
                let (mut planes, mut counts) = (BitMatrix::new(0, g.fan_in()), Vec::new());
                let mut acc = vec![0i64; co];
                for (n, mut col) in a.column_iter_mut().enumerate() {
                    let ex = &data[(range.start + n) * dim..(range.start + n + 1) * dim];
                    for p0 in (0..pc).step_by(CHUNK) {
                        let m = CHUNK.min(pc - p0);
                        if planes.rows() != 8 * m {
                            planes = BitMatrix::new(8 * m, g.fan_in());
                            counts = vec![0i32; 8 * m * co];
                        }
                        patches::byte_patch_planes(g, ex, p0..p0 + m, &mut patch, &mut planes);
                        and_popcount(&l.rows, &planes, &mut counts);
                        for i in 0..m {
                            let p = p0 + i;
                            // Σ_i W v = Σ_q 2^q (2·popcount(w⁺ AND β_q) − popcount(β_q)).
                            let vsum: i64 = (0..8).map(|q| i64::from(planes.row_popcount(8 * i + q)) << q).sum();
                            acc.fill(0);
                            for q in 0..8 {
                                let cq = &counts[(8 * i + q) * co..(8 * i + q + 1) * co];
                                acc.iter_mut().zip(cq).for_each(|(s, &v)| *s += i64::from(v) << q);
                            }
                            let unit = &mut col.as_mut_slice()[p * co..(p + 1) * co];
                            for (c, ac) in unit.iter_mut().enumerate() {
                                let mut s = alpha * (2 * acc[c] - vsum) as f64 + offsets[c];
                                if let Some(ps) = &pad_sums {
                                    s += (g.pad_value - offset) * ps[p * co + c] as f64;
                                }
                                *ac = l.gamma[c] * s + l.bias[c];
                            }
                        }
                    }
                }
                a
            }
            _ => self.first_float(&g.unfold(&input.to_matrix(range))).reshape_generic(nalgebra::Dyn(n1), nalgebra::Dyn(b)),
        }
    }
}

/// Bit planes of byte inputs: row `8n + p` holds bit `p` of every value of example `n`.
fn bit_planes(data: &[u8], dim: usize) -> BitMatrix {
    let b = data.len() / dim;
    let mut planes = BitMatrix::new(8 * b, dim);
    for (n, ex) in data.chunks_exact(dim).enumerate() {
        patches::pack_planes(ex, &mut planes, 8 * n);
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_planes_reassemble_the_bytes() {
        let data: Vec<u8> = (0..2 * 70).map(|i| (i * 37 % 256) as u8).collect();
        let planes = bit_planes(&data, 70);
        for n in 0..2 {
            for i in 0..70 {
                let v: u32 = (0..8).map(|p| u32::from(planes.get(8 * n + p, i)) << p).sum();
                assert_eq!(v, u32::from(data[n * 70 + i]));
            }
        }
    }
}
