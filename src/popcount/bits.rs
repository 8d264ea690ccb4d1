//! `BitMatrix`: ±1 values packed 64 to a `u64` (docs/math.md §6).
//!
//! Row-major, each row padded to whole words; bit `c % 64` of word `c / 64` holds column `c`. A set
//! bit is `+1`, a clear bit `−1`. Pad bits are always 0, so the XOR of two rows' pads is 0 and a
//! popcount over whole words counts only real columns.

use nalgebra::DMatrix;

/// Bits per word.
pub const WORD: usize = 64;

/// Words needed for `cols` bits.
#[inline]
pub fn words_for(cols: usize) -> usize {
    cols.div_ceil(WORD)
}

/// A `rows × cols` matrix of ±1 values, one bit each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitMatrix {
    rows: usize,
    cols: usize,
    words: usize,
    data: Vec<u64>,
}

impl BitMatrix {
    /// All `−1` (every bit clear).
    pub fn new(rows: usize, cols: usize) -> Self {
        let words = words_for(cols);
        BitMatrix { rows, cols, words, data: vec![0; rows * words] }
    }

    /// From row-major ±1 values (`v > 0` is `+1`).
    #[cfg(test)]
    pub(crate) fn from_signs(rows: usize, cols: usize, values: &[f64]) -> Self {
        assert_eq!(values.len(), rows * cols, "value count differs from rows × cols");
        let mut m = BitMatrix::new(rows, cols);
        for r in 0..rows {
            m.pack_row(r, &values[r * cols..(r + 1) * cols]);
        }
        m
    }

    /// From a predicate on `(row, col)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> bool) -> Self {
        let mut m = BitMatrix::new(rows, cols);
        for r in 0..rows {
            for c in 0..cols {
                if f(r, c) {
                    m.data[r * m.words + c / WORD] |= 1 << (c % WORD);
                }
            }
        }
        m
    }

    /// The rows of a ±1 matrix as bit rows (weights `[n_out, n_in]` → `n_out` rows of `n_in` bits).
    #[cfg(test)]
    pub(crate) fn from_rows_of(m: &DMatrix<f64>) -> Self {
        BitMatrix::from_fn(m.nrows(), m.ncols(), |r, c| m[(r, c)] > 0.0)
    }

    /// The columns of a ±1 matrix as bit rows (states `n × B` → `B` rows of `n` bits).
    pub(crate) fn from_cols_of(m: &DMatrix<f64>) -> Self {
        let mut out = BitMatrix::new(m.ncols(), m.nrows());
        for (c, col) in m.column_iter().enumerate() {
            out.pack_row(c, col.as_slice());
        }
        out
    }

    /// From raw words (`rows × words_for(cols)`); `None` if the length is wrong or a pad bit is set.
    pub fn from_words(rows: usize, cols: usize, data: Vec<u64>) -> Option<Self> {
        let words = words_for(cols);
        if data.len() != rows.checked_mul(words)? {
            return None;
        }
        let m = BitMatrix { rows, cols, words, data };
        (0..rows).all(|r| m.row(r).last().is_none_or(|&w| w & !m.last_word_mask() == 0)).then_some(m)
    }

    /// Overwrites row `r` from ±1 values (`v > 0` is `+1`).
    pub fn pack_row(&mut self, r: usize, values: &[f64]) {
        assert_eq!(values.len(), self.cols, "row length differs from the column count");
        crate::simd::dispatch!(for (word, chunk) in self.row_mut(r).iter_mut().zip(values.chunks(WORD)) {
            *word = chunk.iter().enumerate().fold(0u64, |w, (i, &v)| w | (u64::from(v > 0.0) << i));
        });
    }

    /// Row `r` as ±1 values.
    pub fn unpack_row(&self, r: usize, out: &mut [f64]) {
        assert_eq!(out.len(), self.cols, "row length differs from the column count");
        for (c, v) in out.iter_mut().enumerate() {
            *v = if self.get(r, c) { 1.0 } else { -1.0 };
        }
    }

    /// Row-major ±1 values in f32 into `out` (its storage reused).
    pub(crate) fn to_signs_f32(&self, out: &mut Vec<f32>) {
        out.clear();
        out.reserve(self.rows * self.cols);
        let mut word = [0f32; WORD];
        for r in 0..self.rows {
            let row = self.row(r);
            crate::simd::dispatch!(for (at, &bits) in (0..self.cols).step_by(WORD).zip(row) {
                // −1.0 with its sign bit flipped where the bit is set: branch-free, so it vectorizes.
                for (b, v) in word.iter_mut().enumerate() {
                    *v = f32::from_bits((-1.0f32).to_bits() ^ (((bits >> b) & 1) as u32) << 31);
                }
                out.extend_from_slice(&word[..WORD.min(self.cols - at)]);
            });
        }
    }

    /// Row-major ±1 values.
    pub fn to_signs(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.rows * self.cols];
        if self.cols > 0 {
            for (r, chunk) in out.chunks_mut(self.cols).enumerate() {
                self.unpack_row(r, chunk);
            }
        }
        out
    }

    /// As a ±1 `rows × cols` matrix.
    pub fn to_rows_matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.rows, self.cols, &self.to_signs())
    }

    /// As a ±1 `cols × rows` matrix (bit rows become columns: one example per column).
    pub fn to_cols_matrix(&self) -> DMatrix<f64> {
        DMatrix::from_column_slice(self.cols, self.rows, &self.to_signs())
    }

    /// Whether the value at row `r`, column `c` is `+1`.
    #[inline]
    pub fn get(&self, r: usize, c: usize) -> bool {
        assert!(r < self.rows && c < self.cols, "bit index out of range");
        self.data[r * self.words + c / WORD] >> (c % WORD) & 1 == 1
    }

    /// Sets the value at row `r`, column `c` to `+1` (`plus`) or `−1`.
    #[inline]
    pub fn set(&mut self, r: usize, c: usize, plus: bool) {
        assert!(r < self.rows && c < self.cols, "bit index out of range");
        let w = &mut self.data[r * self.words + c / WORD];
        let bit = 1u64 << (c % WORD);
        if plus { *w |= bit } else { *w &= !bit }
    }

    /// Row `r` as words.
    #[inline]
    pub fn row(&self, r: usize) -> &[u64] {
        &self.data[r * self.words..(r + 1) * self.words]
    }

    /// Row `r` as words, mutable. Callers keep the pad bits 0.
    #[inline]
    pub fn row_mut(&mut self, r: usize) -> &mut [u64] {
        &mut self.data[r * self.words..(r + 1) * self.words]
    }

    /// Number of `+1` entries of row `r`.
    pub fn row_popcount(&self, r: usize) -> u32 {
        self.row(r).iter().map(|w| w.count_ones()).sum()
    }

    /// Mask of the real bits in the last word of a row.
    pub fn last_word_mask(&self) -> u64 {
        match self.cols % WORD {
            0 => u64::MAX,
            k => (1u64 << k) - 1,
        }
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of columns (values per row).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Words per row.
    pub fn words_per_row(&self) -> usize {
        self.words
    }

    /// All words, row-major.
    pub fn as_words(&self) -> &[u64] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_zero_pads() {
        for cols in [1, 63, 64, 65, 130] {
            let vals: Vec<f64> = (0..3 * cols).map(|i| if (i * 7) % 3 == 0 { 1.0 } else { -1.0 }).collect();
            let m = BitMatrix::from_signs(3, cols, &vals);
            assert_eq!(m.to_signs(), vals);
            let mut f32s = vec![7.0; 5];
            m.to_signs_f32(&mut f32s);
            assert_eq!(f32s, vals.iter().map(|&v| v as f32).collect::<Vec<_>>());
            for r in 0..3 {
                assert_eq!(m.row(r).last().unwrap() & !m.last_word_mask(), 0);
                assert_eq!(m.row_popcount(r) as usize, vals[r * cols..(r + 1) * cols].iter().filter(|&&v| v > 0.0).count());
            }
            let dm = m.to_cols_matrix();
            assert_eq!(BitMatrix::from_cols_of(&dm), m);
            assert_eq!(BitMatrix::from_rows_of(&m.to_rows_matrix()), m);
        }
        assert!(BitMatrix::from_words(1, 3, vec![8]).is_none());
        assert!(BitMatrix::from_words(1, 3, vec![7]).is_some());
    }
}
