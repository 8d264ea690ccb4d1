//! Popcount "matrix products" of bit matrices (docs/math.md §6), with run-time CPU dispatch.
//!
//! * XOR form, ±1 dot products: `S_jn = n − 2·popcount(w_j XOR x_n)`.
//! * AND form, for bit planes: `popcount(w⁺_j AND β_n)`, from which
//!   `Σ_i W_ji β_i = 2·popcount(w⁺_j AND β) − popcount(β)`.
//!
//! The weights are first re-laid out as [`PackedRows`]: groups of 8 rows, word-interleaved, so that
//! one 512-bit vector holds word `k` of 8 rows. A kernel step XORs (ANDs) it with word `k` of one
//! input broadcast to all lanes, popcounts and adds: 8 output pairs per step, no horizontal sums.
//! The register tile is 2 groups × 8 inputs (16 accumulators). All variants compute the same
//! integers.

use std::sync::OnceLock;

use super::bits::BitMatrix;

/// Rows per interleaved group (one 512-bit vector of `u64`).
pub const GROUP: usize = 8;

/// The rows of a [`BitMatrix`] laid out for the kernels: groups of 8 rows, word-interleaved
/// (`data[(g·words + k)·8 + r]` = word `k` of row `8g + r`); missing rows of the last group are 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedRows {
    rows: usize,
    cols: usize,
    words: usize,
    groups: usize,
    data: Vec<u64>,
}

impl PackedRows {
    /// The rows of `m` in the kernel layout.
    pub fn new(m: &BitMatrix) -> Self {
        let (rows, cols, words) = (m.rows(), m.cols(), m.words_per_row());
        let groups = rows.div_ceil(GROUP);
        let mut data = vec![0u64; groups * words * GROUP];
        for j in 0..rows {
            let (g, r) = (j / GROUP, j % GROUP);
            for (k, &w) in m.row(j).iter().enumerate() {
                data[(g * words + k) * GROUP + r] = w;
            }
        }
        PackedRows { rows, cols, words, groups, data }
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of bits per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    #[inline]
    fn group(&self, g: usize) -> &[u64] {
        &self.data[g * self.words * GROUP..(g + 1) * self.words * GROUP]
    }
}

/// A kernel implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Plain Rust, `u64::count_ones`, baseline target.
    Portable,
    /// The portable body compiled with the `popcnt` instruction.
    Popcnt,
    /// The portable body compiled with AVX2 + `popcnt` (LLVM vectorizes the lanes with a
    /// `pshufb` nibble lookup).
    Avx2,
    /// AVX-512 VPOPCNTDQ intrinsics.
    Avx512,
}

impl Variant {
    /// Every variant, least preferred first ([`best`](Self::best) is the last one available).
    pub const ALL: [Variant; 4] = [Variant::Portable, Variant::Popcnt, Variant::Avx2, Variant::Avx512];

    /// Whether this CPU can run the variant.
    pub fn is_available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Variant::Portable => true,
                Variant::Popcnt => std::is_x86_feature_detected!("popcnt"),
                Variant::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt"),
                Variant::Avx512 => std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vpopcntdq"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Variant::Portable
        }
    }

    /// The variants this CPU can run.
    pub fn available() -> Vec<Variant> {
        Variant::ALL.into_iter().filter(|v| v.is_available()).collect()
    }

    /// The fastest available variant (detected once).
    pub fn best() -> Variant {
        static BEST: OnceLock<Variant> = OnceLock::new();
        *BEST.get_or_init(|| Variant::available().into_iter().last().unwrap_or(Variant::Portable))
    }

    /// The variant's name in benchmarks and errors.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Portable => "portable",
            Variant::Popcnt => "popcnt",
            Variant::Avx2 => "avx2",
            Variant::Avx512 => "avx512-vpopcntdq",
        }
    }
}

/// `out[n·rows + j] = S_jn = n_bits − 2·popcount(w_j XOR x_n)` with the best variant.
pub fn xor_popcount(w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
    run(Variant::best(), false, w, x, out)
}

/// [`xor_popcount`] with a chosen variant (panics if the CPU lacks it).
pub fn xor_popcount_with(variant: Variant, w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
    run(variant, false, w, x, out)
}

/// `out[n·rows + j] = popcount(w_j AND x_n)` with the best variant.
pub fn and_popcount(w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
    run(Variant::best(), true, w, x, out)
}

/// [`and_popcount`] with a chosen variant (panics if the CPU lacks it).
pub fn and_popcount_with(variant: Variant, w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
    run(variant, true, w, x, out)
}

fn run(variant: Variant, and: bool, w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
    assert_eq!(w.cols, x.cols(), "weight rows and input rows differ in length");
    assert_eq!(out.len(), w.rows * x.rows(), "output length must be inputs × weight rows");
    assert!(variant.is_available(), "kernel variant {} is not available on this CPU", variant.name());
    match (variant, and) {
        (Variant::Portable, false) => portable::<false>(w, x, out),
        (Variant::Portable, true) => portable::<true>(w, x, out),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the variant\'s target features (asserted above).
        (Variant::Popcnt, false) => unsafe { x86::popcnt::<false>(w, x, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the variant\'s target features (asserted above).
        (Variant::Popcnt, true) => unsafe { x86::popcnt::<true>(w, x, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the variant\'s target features (asserted above).
        (Variant::Avx2, false) => unsafe { x86::avx2::<false>(w, x, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the variant\'s target features (asserted above).
        (Variant::Avx2, true) => unsafe { x86::avx2::<true>(w, x, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the variant\'s target features (asserted above).
        (Variant::Avx512, false) => unsafe { x86::avx512::<false>(w, x, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the variant\'s target features (asserted above).
        (Variant::Avx512, true) => unsafe { x86::avx512::<true>(w, x, out) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable variant exists off x86-64"),
    }
}

/// The output value of one pair from its popcount.
#[inline(always)]
fn finish<const AND: bool>(n_bits: usize, pc: u64) -> i32 {
    if AND { pc as i32 } else { n_bits as i32 - 2 * pc as i32 }
}

/// One tile of the portable kernel: a group of 8 rows × `C` inputs.
#[inline(always)]
fn tile_portable<const C: usize, const AND: bool>(w: &PackedRows, g: usize, x: &BitMatrix, n0: usize, out: &mut [i32]) {
    let wg = w.group(g);
    let mut acc = [[0u64; GROUP]; C];
    let xs: [&[u64]; C] = std::array::from_fn(|c| x.row(n0 + c));
    for (k, wv) in wg.chunks_exact(GROUP).enumerate() {
        for c in 0..C {
            let xw = xs[c][k];
            for r in 0..GROUP {
                let v = if AND { wv[r] & xw } else { wv[r] ^ xw };
                acc[c][r] += u64::from(v.count_ones());
            }
        }
    }
    let rows = w.rows;
    let valid = GROUP.min(rows - g * GROUP);
    for (c, lanes) in acc.iter().enumerate() {
        let dst = &mut out[(n0 + c) * rows + g * GROUP..][..valid];
        for (o, &pc) in dst.iter_mut().zip(lanes) {
            *o = finish::<AND>(w.cols, pc);
        }
    }
}

#[inline(always)]
fn portable<const AND: bool>(w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
    const C: usize = 4;
    let batch = x.rows();
    for g in 0..w.groups {
        let mut n = 0;
        while n + C <= batch {
            tile_portable::<C, AND>(w, g, x, n, out);
            n += C;
        }
        while n < batch {
            tile_portable::<1, AND>(w, g, x, n, out);
            n += 1;
        }
    }
}

// The AVX-512 intrinsics are stable since Rust 1.89 (as are the AVX-512 target features that
// `crate::simd` already uses); the manifest's `rust-version` predates that.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{BitMatrix, GROUP, PackedRows, finish, portable};

    #[target_feature(enable = "popcnt")]
    pub(super) fn popcnt<const AND: bool>(w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
        portable::<AND>(w, x, out)
    }

    #[target_feature(enable = "avx2,popcnt")]
    pub(super) fn avx2<const AND: bool>(w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
        portable::<AND>(w, x, out)
    }

    /// Groups × inputs of the AVX-512 register tile.
    const R: usize = 2;
    const C: usize = 8;

    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub(super) fn avx512<const AND: bool>(w: &PackedRows, x: &BitMatrix, out: &mut [i32]) {
        let batch = x.rows();
        let mut g = 0;
        while g < w.groups {
            let full_r = g + R <= w.groups;
            let mut n = 0;
            while n < batch {
                let full_c = n + C <= batch;
                match (full_r, full_c) {
                    (true, true) => tile512::<R, C, AND>(w, g, x, n, out),
                    (true, false) => tile512::<R, 1, AND>(w, g, x, n, out),
                    (false, true) => tile512::<1, C, AND>(w, g, x, n, out),
                    (false, false) => tile512::<1, 1, AND>(w, g, x, n, out),
                }
                n += if full_c { C } else { 1 };
            }
            g += if full_r { R } else { 1 };
        }
    }

    /// `RR` groups of 8 rows × `CC` inputs: word by word, one vector load per group, one broadcast
    /// per input, `RR·CC` XOR/AND + popcount + add.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    #[inline]
    fn tile512<const RR: usize, const CC: usize, const AND: bool>(w: &PackedRows, g0: usize, x: &BitMatrix, n0: usize, out: &mut [i32]) {
        let words = w.words;
        let mut acc = [[_mm512_setzero_si512(); CC]; RR];
        let mut wp = [std::ptr::null::<u64>(); RR];
        for (r, p) in wp.iter_mut().enumerate() {
            *p = w.group(g0 + r).as_ptr();
        }
        let mut xp = [std::ptr::null::<u64>(); CC];
        for (c, p) in xp.iter_mut().enumerate() {
            *p = x.row(n0 + c).as_ptr();
        }
        for k in 0..words {
            let mut wv = [_mm512_setzero_si512(); RR];
            for r in 0..RR {
                // SAFETY: group `g0 + r` holds `words · 8` words, and `k < words`.
                wv[r] = unsafe { _mm512_loadu_si512(wp[r].add(k * GROUP).cast()) };
            }
            for c in 0..CC {
                // SAFETY: every input row holds `words` words.
                let xb = _mm512_set1_epi64(unsafe { *xp[c].add(k) } as i64);
                for r in 0..RR {
                    let v = if AND { _mm512_and_si512(wv[r], xb) } else { _mm512_xor_si512(wv[r], xb) };
                    acc[r][c] = _mm512_add_epi64(acc[r][c], _mm512_popcnt_epi64(v));
                }
            }
        }
        let rows = w.rows;
        for (r, accs) in acc.iter().enumerate() {
            let j0 = (g0 + r) * GROUP;
            let valid = GROUP.min(rows - j0);
            for (c, &a) in accs.iter().enumerate() {
                let dst = &mut out[(n0 + c) * rows + j0..][..valid];
                if valid == GROUP && !AND {
                    let v = _mm512_sub_epi64(_mm512_set1_epi64(w.cols as i64), _mm512_slli_epi64::<1>(a));
                    // SAFETY: `dst` has 8 i32 = 32 bytes.
                    unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), _mm512_cvtepi64_epi32(v)) };
                } else {
                    let mut lanes = [0u64; GROUP];
                    // SAFETY: `lanes` has 8 u64 = 64 bytes.
                    unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), a) };
                    for (o, &pc) in dst.iter_mut().zip(&lanes) {
                        *o = finish::<AND>(w.cols, pc);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(w: &BitMatrix, x: &BitMatrix, and: bool) -> Vec<i32> {
        let mut out = vec![0; w.rows() * x.rows()];
        for n in 0..x.rows() {
            for j in 0..w.rows() {
                out[n * w.rows() + j] = if and {
                    (0..w.cols()).filter(|&i| w.get(j, i) && x.get(n, i)).count() as i32
                } else {
                    (0..w.cols()).map(|i| if w.get(j, i) == x.get(n, i) { 1 } else { -1 }).sum()
                };
            }
        }
        out
    }

    #[test]
    fn every_variant_matches_the_definition() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut bit = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state & 1 == 1
        };
        for &(rows, cols, batch) in &[(1, 1, 1), (7, 63, 3), (17, 64, 9), (33, 65, 17), (24, 200, 8), (9, 130, 2)] {
            let w = BitMatrix::from_fn(rows, cols, |_, _| bit());
            let x = BitMatrix::from_fn(batch, cols, |_, _| bit());
            let pw = PackedRows::new(&w);
            for and in [false, true] {
                let expect = naive(&w, &x, and);
                for v in Variant::available() {
                    let mut out = vec![i32::MIN; rows * batch];
                    run(v, and, &pw, &x, &mut out);
                    assert_eq!(out, expect, "variant {} and={and} shape {rows}x{cols} batch {batch}", v.name());
                }
            }
        }
    }
}
