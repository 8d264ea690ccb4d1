//! Drawing a layer's unit states on bits (docs/math.md §6): one random word `w` per unit, and the
//! sampling rule of docs/math.md §1 on integers, `x = +1` iff `(w >> 11) < ⌈2^53·σ(a)⌉`.
//!
//! * **The first layer**: `a¹` does not depend on the noise, so its thresholds are computed once
//!   per example (in f32, up to [`WORD_MARGIN`]) and compared with the words of every noise
//!   sample; a word within the margin is decided by the exact threshold.
//! * **Layers after the first**: `a = γ S + b` from the popcount sums, then
//!   [`decide_preactivations`] (an f32 `σ` with a margin, the exact rule inside it).
//!
//! Either way every decision is the rule's.

use std::ops::Range;

use super::network::BinaryLayer;
use crate::model::noise::{WORD_MARGIN, decide_preactivations, decide_words, settle_near};
use crate::rng::Words;

/// Units per chunk of a draw (a multiple of 64, so chunks start on whole words of the output).
const CHUNK: usize = 512;

impl BinaryLayer {
    /// `a = γ_c S + b_c` of units `first..first + s.len()` (channel = unit mod channels) with
    /// sums `s`, as the float path computes it: runs of consecutive channels (loops that
    /// vectorize).
    fn preactivations(&self, s: &[i32], first: usize, out: &mut [f64]) {
        let channels = self.gamma.len();
        let (mut i, mut c) = (0, first % channels);
        while i < s.len() {
            let run = (channels - c).min(s.len() - i);
            let params = self.gamma[c..c + run].iter().zip(&self.bias[c..c + run]);
            for ((a, &s), (&g, &b)) in out[i..i + run].iter_mut().zip(&s[i..i + run]).zip(params) {
                *a = g * f64::from(s) + b;
            }
            i += run;
            c = 0;
        }
    }
}

/// Where a layer's states come from.
pub(super) enum Units<'a> {
    /// Thresholds given up to [`WORD_MARGIN`], with the pre-activations for the exact rule.
    Given { t: &'a [u64], a: &'a [f64] },
    /// Popcount sums `s` of a binary layer (units layout: channel = unit mod channels).
    Sums { s: &'a [i32], layer: &'a BinaryLayer },
}

impl Units<'_> {
    fn len(&self) -> usize {
        match self {
            Units::Given { t, .. } => t.len(),
            Units::Sums { s, .. } => s.len(),
        }
    }
}

/// Scratch of [`draw_states`]: words, thresholds and pre-activations of one chunk.
#[derive(Debug)]
pub(super) struct DrawBuffers {
    w: Vec<u64>,
    t: Vec<u64>,
    a: Vec<f64>,
}

impl Default for DrawBuffers {
    fn default() -> Self {
        DrawBuffers { w: vec![0; CHUNK], t: vec![0; CHUNK], a: vec![0.0; CHUNK] }
    }
}

/// One example's states of a layer into `out` (its packed row): unit `j` draws the word `w_j`
/// (units in order, [`CHUNK`] words at a time from `rng`) and fires iff `(w_j >> 11) <
/// threshold(a_j)`.
pub(super) fn draw_states<R: Words + ?Sized>(units: &Units, rng: &mut R, buf: &mut DrawBuffers, out: &mut [u64]) {
    let n = units.len();
    for c0 in (0..n).step_by(CHUNK) {
        let r: Range<usize> = c0..(c0 + CHUNK).min(n);
        let m = r.len();
        let w = &mut buf.w[..m];
        rng.fill_words(w);
        let bits = &mut out[c0 / 64..r.end.div_ceil(64)];
        match *units {
            Units::Given { t, a } => {
                if !decide_words(&t[r.clone()], w, WORD_MARGIN, bits) {
                    settle_near(&a[r.clone()], &t[r], w, WORD_MARGIN, bits);
                }
            }
            Units::Sums { s, layer } => {
                let a = &mut buf.a[..m];
                layer.preactivations(&s[r], c0, a);
                decide_preactivations(a, w, &mut buf.t[..m], bits);
            }
        }
    }
}
