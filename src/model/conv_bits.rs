//! A convolution's patches from packed maps (docs/math.md §6 on [`Conv2d`] inputs): ±1 bits for
//! the packed Monte Carlo and the fast training engine, byte bit planes for a first layer.
//!
//! A patch is packed tightly in the order of the weight columns, entry `(dy·kernel + dx)·C_in + c`
//! at bit `(dy·kernel + dx)·C_in + c`, so a sampled convolution's weight rows (`C_out × fan_in`
//! bits) and the patches go straight into the popcount kernels. Feature maps are HWC, so the `kernel`
//! pixels of one patch row (`dx = 0..kernel`) are one contiguous run of `kernel·C_in` bits in the
//! map and in the patch: a patch is gathered with `kernel` bit-run copies plus the padded runs.

use crate::model::Conv2d;
use crate::popcount::bits::{BitMatrix, WORD};

/// ORs the low `n ≤ 64` bits of `v` into `dst` at bit `d`.
#[inline(always)]
fn or_bits(dst: &mut [u64], d: usize, v: u64, n: usize) {
    let v = if n == WORD { v } else { v & ((1u64 << n) - 1) };
    let (w, b) = (d / WORD, d % WORD);
    dst[w] |= v << b;
    if b != 0 && b + n > WORD {
        dst[w + 1] |= v >> (WORD - b);
    }
}

/// ORs bits `s..s + len` of `src` into `dst` at bit `d`.
#[inline]
fn copy_bits(src: &[u64], mut s: usize, dst: &mut [u64], mut d: usize, mut len: usize) {
    while len > 0 {
        let n = len.min(WORD);
        let (w, b) = (s / WORD, s % WORD);
        let mut v = src[w] >> b;
        if b != 0
            && let Some(&next) = src.get(w + 1)
        {
            v |= next << (WORD - b);
        }
        or_bits(dst, d, v, n);
        s += n;
        d += n;
        len -= n;
    }
}

/// Sets bits `d..d + len` of `dst`.
#[inline]
fn set_ones(dst: &mut [u64], mut d: usize, mut len: usize) {
    while len > 0 {
        let n = len.min(WORD);
        or_bits(dst, d, u64::MAX, n);
        d += n;
        len -= n;
    }
}

/// The in-bounds kernel columns `lo..hi` of output column `ox` (the rest read padding).
#[inline]
fn columns(g: &Conv2d, ox: usize) -> (usize, usize) {
    let x0 = ox * g.stride;
    let lo = g.pad.saturating_sub(x0).min(g.kernel);
    let hi = (g.in_w + g.pad).saturating_sub(x0).min(g.kernel).max(lo);
    (lo, hi)
}

/// The input row read by kernel row `dy` at output row `oy`, `None` in the padding.
#[inline]
fn source_row(g: &Conv2d, oy: usize, dy: usize) -> Option<usize> {
    (oy * g.stride + dy).checked_sub(g.pad).filter(|&y| y < g.in_h)
}

/// Patches of one ±1 map (`src`: `H·W·C_in` bits): row `first + p` of `out` (`fan_in` bits per
/// row) receives the patch at position `p`. Padded entries carry the pad bit (`pad_value > 0` is
/// `+1`); the pad bits of partial words stay 0, as in the weights.
pub(crate) fn gather(g: &Conv2d, src: &[u64], out: &mut BitMatrix, first: usize) {
    let (c, k, ow) = (g.in_c, g.kernel, g.out_w());
    debug_assert!(out.cols() == g.fan_in() && out.rows() >= first + g.positions());
    let pad_bit = g.pad_value > 0.0;
    for p in 0..g.positions() {
        let dst = out.row_mut(first + p);
        dst.fill(0);
        let (oy, ox) = (p / ow, p % ow);
        let (lo, hi) = columns(g, ox);
        for dy in 0..k {
            let d0 = dy * k * c;
            match source_row(g, oy, dy) {
                None => {
                    if pad_bit {
                        set_ones(dst, d0, k * c);
                    }
                }
                Some(y) => {
                    if pad_bit {
                        set_ones(dst, d0, lo * c);
                        set_ones(dst, d0 + hi * c, (k - hi) * c);
                    }
                    if hi > lo {
                        let s = (y * g.in_w + ox * g.stride + lo - g.pad) * c;
                        copy_bits(src, s, dst, d0 + lo * c, (hi - lo) * c);
                    }
                }
            }
        }
    }
}

/// Writes the 8 bit planes of `values` (at most `out.cols()` bytes, the rest 0) into rows
/// `row..row + 8` of `out`: row `row + q` holds bit `q` of every value.
pub(crate) fn pack_planes(values: &[u8], out: &mut BitMatrix, row: usize) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        for (wi, chunk) in values.chunks(WORD).enumerate() {
            // SAFETY: the CPU has AVX-512F and BW (checked).
            let words = unsafe { x86::planes_of(chunk) };
            for (q, w) in words.into_iter().enumerate() {
                out.row_mut(row + q)[wi] = w;
            }
        }
        return;
    }
    for (wi, chunk) in values.chunks(WORD).enumerate() {
        let mut words = [0u64; 8];
        for (i, &v) in chunk.iter().enumerate() {
            for (q, w) in words.iter_mut().enumerate() {
                *w |= u64::from(v >> q & 1) << i;
            }
        }
        for (q, w) in words.into_iter().enumerate() {
            out.row_mut(row + q)[wi] = w;
        }
    }
}

/// Bit planes of up to 64 bytes in AVX-512: plane `q` is the mask of the bytes with bit `q` set.
// The AVX-512 intrinsics are stable since Rust 1.89 (see `super::kernel`).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use std::arch::x86_64::*;

    /// Word `q` holds bit `q` of `chunk[i]` at bit `i` (`chunk.len() ≤ 64`, missing bytes 0).
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) fn planes_of(chunk: &[u8]) -> [u64; 8] {
        debug_assert!(chunk.len() <= 64);
        let mask: __mmask64 = if chunk.len() == 64 { !0 } else { (1u64 << chunk.len()) - 1 };
        // SAFETY: the masked load reads only the `chunk.len()` bytes of `chunk`.
        let v = unsafe { _mm512_maskz_loadu_epi8(mask, chunk.as_ptr().cast()) };
        let mut words = [0u64; 8];
        for (q, w) in words.iter_mut().enumerate() {
            *w = _mm512_test_epi8_mask(v, _mm512_set1_epi8(1 << q));
        }
        words
    }
}

/// Bit planes of the byte patches of one example (`ex`: `H·W·C_in` bytes) at `positions`: row
/// `8(p − start) + q` of `out` holds bit `q` of every entry of patch `p`; padded entries are zero
/// pixels (`v = 0`). `patch` is scratch of `fan_in` bytes.
pub(crate) fn byte_patch_planes(g: &Conv2d, ex: &[u8], positions: std::ops::Range<usize>, patch: &mut [u8], out: &mut BitMatrix) {
    let (c, k, ow) = (g.in_c, g.kernel, g.out_w());
    debug_assert_eq!((out.rows(), out.cols(), patch.len()), (8 * positions.len(), g.fan_in(), g.fan_in()));
    for (i, p) in positions.enumerate() {
        patch.fill(0);
        let (oy, ox) = (p / ow, p % ow);
        let (lo, hi) = columns(g, ox);
        for dy in 0..k {
            if let Some(y) = source_row(g, oy, dy) {
                let s = (y * g.in_w + ox * g.stride + lo - g.pad) * c;
                let d = (dy * k + lo) * c;
                let len = (hi - lo) * c;
                patch[d..d + len].copy_from_slice(&ex[s..s + len]);
            }
        }
        pack_planes(patch, out, 8 * i);
    }
}

/// `P × fan_in` bits: set where the patch at position `p` reads padding.
pub(crate) fn pad_masks(g: &Conv2d) -> BitMatrix {
    let (ow, k, c) = (g.out_w(), g.kernel, g.in_c);
    BitMatrix::from_fn(g.positions(), g.fan_in(), |p, i| g.source(p / ow, p % ow, i / c / k, i / c % k).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn geometries() -> Vec<Conv2d> {
        let mut out = Vec::new();
        for &(h, w, c) in &[(5, 4, 1), (4, 6, 3), (3, 3, 70), (6, 5, 64), (2, 7, 33)] {
            for &(kernel, stride, pad) in &[(1, 1, 0), (3, 1, 1), (3, 2, 1), (2, 2, 0), (3, 1, 2)] {
                for pad_value in [-1.0, 1.0] {
                    let g = Conv2d { in_h: h, in_w: w, in_c: c, out_c: 2, kernel, stride, pad, pad_value };
                    if g.check("g").is_ok() {
                        out.push(g);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn gathered_patches_equal_unfold() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for g in geometries() {
            let b = 2;
            let x = BitMatrix::from_fn(b, g.in_features(), |_, _| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                state >> 63 == 1
            });
            let expect = BitMatrix::from_cols_of(&g.unfold(&x.to_cols_matrix()));
            let mut out = BitMatrix::new(g.positions(), g.fan_in());
            for n in 0..b {
                gather(&g, x.row(n), &mut out, 0);
                for p in 0..g.positions() {
                    assert_eq!(out.row(p), expect.row(n * g.positions() + p), "{g:?}");
                }
            }
        }
    }

    #[test]
    fn byte_planes_equal_unfold_of_bytes() {
        for mut g in geometries() {
            g.pad_value = 0.0;
            let data: Vec<u8> = (0..2 * g.in_features()).map(|i| (i * 97 % 251) as u8).collect();
            let x = DMatrix::from_iterator(g.in_features(), 2, data.iter().map(|&v| f64::from(v)));
            let u = g.unfold(&x);
            let pc = g.positions();
            let mut patch = vec![0u8; g.fan_in()];
            // Positions in two uneven pieces.
            let cut = pc / 3;
            for (n, ex) in data.chunks_exact(g.in_features()).enumerate() {
                for range in [0..cut, cut..pc] {
                    let mut planes = BitMatrix::new(8 * range.len(), g.fan_in());
                    byte_patch_planes(&g, ex, range.clone(), &mut patch, &mut planes);
                    for (i, p) in range.enumerate() {
                        for (e, &v) in u.column(n * pc + p).iter().enumerate() {
                            let back: u32 = (0..8).map(|q| u32::from(planes.get(8 * i + q, e)) << q).sum();
                            assert_eq!(f64::from(back), v, "{g:?} patch {p} entry {e}");
                        }
                    }
                }
            }
            let masks = pad_masks(&g);
            let ones = DMatrix::from_element(g.in_features(), 1, 1.0);
            let u1 = Conv2d { pad_value: 0.0, ..g }.unfold(&ones);
            for p in 0..g.positions() {
                for i in 0..g.fan_in() {
                    assert_eq!(masks.get(p, i), u1[(i, p)] == 0.0);
                }
            }
        }
    }
}
