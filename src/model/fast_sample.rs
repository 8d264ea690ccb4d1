//! The fast engine's weight draw ([`crate::engine`]): every Bernoulli weight decided by the
//! sampling rule on integers (`W_ji = +1` iff `(w >> 11) < ⌈2^53·σ(θ_ji)⌉`, docs/math.md §1) from
//! the words of a lane generator, straight into the three forms the fast engine uses: the f64
//! ±1 matrix, the packed rows and the f32 matrix. The rule is the reference draw's; the words
//! come from another generator, so the two engines draw different (equally distributed) samples.

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::noise::decide_preactivations;
use crate::engine::FastWeights;
use crate::popcount::BitMatrix;
use crate::popcount::bits::{WORD, words_for};
use crate::rng::LaneRng;

/// A sample of the layer with logits `theta` (`n_out × n_in`) from the streams `(seed, k, block)`,
/// one per block of 64 columns (one word of every packed row), so the draw does not depend on the
/// thread count. Returns the ±1 matrix and, when `packed`, its fast-engine forms.
pub(crate) fn sample_layer(theta: &DMatrix<f64>, seed: u64, k: usize, packed: bool) -> (DMatrix<f64>, Option<FastWeights>) {
    let (rows, cols) = theta.shape();
    let block_len = (rows * WORD).max(1);
    // Without packing, `w32` is one unused entry per block (so the three chunk iterators align).
    let (w32_len, w32_chunk) = if packed { (rows * cols, block_len) } else { (cols.div_ceil(WORD), 1) };
    let (mut w, mut w32) = (vec![0.0f64; rows * cols], vec![0.0f32; w32_len]);
    let mut block_words = vec![0u64; rows * words_for(cols)];
    let blocks = w.par_chunks_mut(block_len).zip(w32.par_chunks_mut(w32_chunk)).zip(block_words.par_chunks_mut(rows.max(1)));
    blocks.enumerate().for_each(|(b, ((wb, w32b), words))| {
        let mut rng = LaneRng::stream(seed, &[k as u64, b as u64]);
        let (mut u, mut t, mut states) = (vec![0u64; rows], vec![0u64; rows], vec![0u64; words_for(rows)]);
        // Column by column (contiguous θ, words and outputs); each column's states, packed along
        // the rows, become bit `c` of every row's word for this block.
        for (c, (theta_c, w_c)) in theta.as_slice()[b * block_len..].chunks_exact(rows).zip(wb.chunks_exact_mut(rows)).enumerate() {
            rng.fill(&mut u);
            decide_preactivations(theta_c, &u, &mut t, &mut states);
            let bit = |j: usize| states[j / WORD] >> (j % WORD) & 1;
            for (j, (v, word)) in w_c.iter_mut().zip(words.iter_mut()).enumerate() {
                *v = if bit(j) == 1 { 1.0 } else { -1.0 };
                *word |= bit(j) << c;
            }
            if packed {
                w32b[c * rows..(c + 1) * rows].iter_mut().zip(w_c.iter()).for_each(|(s, &v)| *s = v as f32);
            }
        }
    });
    let w = DMatrix::from_vec(rows, cols, w);
    let fast = packed.then(|| {
        // Block-major words (block b: word b of every row) to the rows of a bit matrix.
        let words = words_for(cols);
        let mut data = vec![0u64; rows * words];
        for (b, block) in block_words.chunks_exact(rows.max(1)).enumerate() {
            for (j, &v) in block.iter().enumerate() {
                data[j * words + b] = v;
            }
        }
        let bits = BitMatrix::from_words(rows, cols, data).expect("decisions set only real columns");
        FastWeights::from_parts(&bits, w32)
    });
    (w, fast)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::noise::threshold;

    #[test]
    fn every_weight_follows_the_rule_on_its_streams_word_in_every_form() {
        for (rows, cols) in [(1, 1), (9, 63), (7, 64), (5, 130), (3, 200)] {
            // Logits from −10 to 10, so that extreme and central probabilities both occur.
            let theta = DMatrix::from_fn(rows, cols, |j, c| ((j * 13 + c * 7) % 23) as f64 * 0.9 - 10.0);
            let (w, fast) = sample_layer(&theta, 42, 3, true);
            for b in 0..cols.div_ceil(WORD) {
                let mut rng = LaneRng::stream(42, &[3, b as u64]);
                let mut u = vec![0u64; rows];
                for c in b * WORD..cols.min((b + 1) * WORD) {
                    rng.fill(&mut u);
                    for (j, &u) in u.iter().enumerate() {
                        let want = if (u >> 11) < threshold(theta[(j, c)]) { 1.0 } else { -1.0 };
                        assert_eq!(w[(j, c)], want, "{rows}×{cols}: weight ({j}, {c})");
                    }
                }
            }
            let fw = fast.expect("packed forms asked for");
            assert_eq!(fw.tr_mul(&DMatrix::identity(rows, rows)), w.transpose(), "the f32 form differs");
            let x = DMatrix::from_fn(cols, 3, |i, n| if (i + n) % 3 == 0 { 1.0 } else { -1.0 });
            assert_eq!(fw.sign_product(&x), &w * &x, "the packed rows differ");
            assert!(sample_layer(&theta, 42, 3, false).1.is_none());
            assert_eq!(sample_layer(&theta, 42, 3, false).0, w, "the ±1 matrix depends on packing");
        }
    }

    #[test]
    fn frequencies_match_the_posterior() {
        let theta = DMatrix::from_element(100, 500, 0.3);
        let (w, _) = sample_layer(&theta, 7, 0, false);
        let plus = w.iter().filter(|&&v| v > 0.0).count() as f64 / w.len() as f64;
        let q = crate::model::noise::sigmoid(0.3);
        assert!((plus - q).abs() < 4.0 * (q * (1.0 - q) / w.len() as f64).sqrt(), "{plus} against q = {q}");
    }
}
