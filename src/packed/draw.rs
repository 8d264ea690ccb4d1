//! Drawing a layer's unit states on bits (docs/math.md §6): one random word per unit, compared
//! with the unit's integer threshold `⌈2^53·σ(a)⌉` (the sampling rule of docs/math.md §1 on
//! integers, [`threshold`]).
//!
//! Thresholds come from one of three places:
//! * **given**: computed once (the first layer's `a¹` does not depend on the noise), with the
//!   vectorized `σ` up to [`WORD_MARGIN`];
//! * **a table** (binary layers after the first with few distinct pre-activations): `a = γ_c S + b_c`
//!   takes `fan_in + 1` values per channel `c`, so [`ThresholdTable`] holds the exact thresholds;
//! * **computed**: `a = γ S + b` and the vectorized `σ`, up to [`WORD_MARGIN`].
//!
//! A word within the margin of an approximate threshold sends its chunk of units to the exact
//! rule, so every decision is the rule's.

use std::ops::Range;

use super::network::BinaryLayer;
use crate::model::noise::{WORD_MARGIN, approximate_thresholds, decide_words, settle_near, threshold};
use crate::rng::Words;

/// Units per chunk of a draw (a multiple of 64, so chunks start on whole words of the output).
const CHUNK: usize = 512;

/// Tables larger than this many thresholds are not built (the computed thresholds are used).
const TABLE_LIMIT: usize = 1 << 17;

/// Exact thresholds of a binary layer on ±1 input: `t[c·(fan_in + 1) + (S + fan_in)/2] =
/// threshold(γ_c S + b_c)` for every channel `c` and every reachable sum `S ∈ {−fan_in, −fan_in + 2, …, fan_in}`.
#[derive(Clone, Debug)]
pub(super) struct ThresholdTable {
    fan_in: usize,
    channels: usize,
    t: Vec<u64>,
}

impl ThresholdTable {
    /// The table of `layer` (its rows are the channels), `None` when it would hold more than
    /// [`TABLE_LIMIT`] thresholds. `a = γ_c·S + b_c` in f64, as the float path computes it.
    pub(super) fn new(layer: &BinaryLayer) -> Option<Self> {
        let (fan_in, channels) = (layer.bits.cols(), layer.gamma.len());
        if channels.checked_mul(fan_in + 1)? > TABLE_LIMIT {
            return None;
        }
        let mut t = Vec::with_capacity(channels * (fan_in + 1));
        for (&g, &b) in layer.gamma.iter().zip(&layer.bias) {
            t.extend((0..=fan_in).map(|i| threshold(g * f64::from(2 * i as i32 - fan_in as i32) + b)));
        }
        Some(ThresholdTable { fan_in, channels, t })
    }

    /// Thresholds of units `first..first + s.len()` (channel = unit mod channels) with sums `s`
    /// (each in `−fan_in..=fan_in`, as popcounts give), by runs of consecutive channels.
    #[inline]
    fn lookup(&self, s: &[i32], first: usize, out: &mut [u64]) {
        let (stride, fan) = (self.fan_in + 1, self.fan_in as i32);
        let (mut i, mut c) = (0, first % self.channels);
        while i < s.len() {
            let run = (self.channels - c).min(s.len() - i);
            let rows = self.t[c * stride..(c + run) * stride].chunks_exact(stride);
            for ((t, &s), row) in out[i..i + run].iter_mut().zip(&s[i..i + run]).zip(rows) {
                *t = row[((s + fan) >> 1) as usize];
            }
            i += run;
            c = 0;
        }
    }
}

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

/// Where a layer's thresholds come from (see the module docs).
pub(super) enum Thresholds<'a> {
    /// Given up to [`WORD_MARGIN`], with the pre-activations for the exact rule.
    Given { t: &'a [u64], a: &'a [f64] },
    /// Sums `s` through a layer's exact table.
    Table { s: &'a [i32], table: &'a ThresholdTable },
    /// Sums `s` through `a = γ S + b` (units layout: channel = unit mod `γ.len()`).
    Computed { s: &'a [i32], layer: &'a BinaryLayer },
}

impl<'a> Thresholds<'a> {
    /// The thresholds of sums `s` of `layer`: through its table if it has one.
    pub(super) fn of_sums(s: &'a [i32], table: Option<&'a ThresholdTable>, layer: &'a BinaryLayer) -> Self {
        match table {
            Some(table) => Thresholds::Table { s, table },
            None => Thresholds::Computed { s, layer },
        }
    }

    fn len(&self) -> usize {
        match self {
            Thresholds::Given { t, .. } => t.len(),
            Thresholds::Table { s, .. } | Thresholds::Computed { s, .. } => s.len(),
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
pub(super) fn draw_states<R: Words + ?Sized>(src: &Thresholds, rng: &mut R, buf: &mut DrawBuffers, out: &mut [u64]) {
    let n = src.len();
    for c0 in (0..n).step_by(CHUNK) {
        let r: Range<usize> = c0..(c0 + CHUNK).min(n);
        let m = r.len();
        let w = &mut buf.w[..m];
        rng.fill_words(w);
        let bits = &mut out[c0 / 64..r.end.div_ceil(64)];
        match *src {
            Thresholds::Given { t, a } => {
                if !decide_words(&t[r.clone()], w, WORD_MARGIN, bits) {
                    settle_near(&a[r.clone()], &t[r], w, WORD_MARGIN, bits);
                }
            }
            Thresholds::Table { s, table } => {
                table.lookup(&s[r.clone()], c0, &mut buf.t[..m]);
                decide_words(&buf.t[..m], w, 0, bits);
            }
            Thresholds::Computed { s, layer } => {
                let a = &mut buf.a[..m];
                layer.preactivations(&s[r], c0, a);
                let t = &mut buf.t[..m];
                approximate_thresholds(a, t);
                if !decide_words(t, w, WORD_MARGIN, bits) {
                    settle_near(a, t, w, WORD_MARGIN, bits);
                }
            }
        }
    }
}
