//! The packed engine: noise passes of a [`SampledNetwork`] on packed bits (docs/math.md §6).
//!
//! * First layer: `a¹` of a block of examples, once for all noise samples (`first_layer.rs`).
//! * Binary layers after the first: `S = n − 2·popcount(w_j XOR x)`, then `a = γ S + b` in f64 and
//!   unit `j` fires iff `u < σ(a)`: the float path's rule, bit for bit, decided on the unit's
//!   random word ([`super::draw`]).
//! * Output layer: `γ° S° + b°` from popcounts (Bernoulli) or `W° x^L + b°` in f64 (real).
//! * Convolutions ([`crate::model::Conv2d`]): the same on packed patches ([`super::patches`]),
//!   patch row `p` for position `p`; the popcounts come out in the units (HWC) layout, so states
//!   are drawn in the float path's order. Hidden convolutions pad with a ±1 bit.
//!
//! A pass takes one example at a time and all of its noise samples together (one row of states
//! each, so that a dense layer is one popcount product over the noise samples and the example's
//! first-layer thresholds stay in cache); noise sample `t` draws from its own generator, layer by
//! layer, unit by unit.

use std::ops::Range;

use nalgebra::DMatrix;

use super::draw::{DrawBuffers, Units, draw_states};
use super::network::{PackedLayer, SampledNetwork};
use crate::data::InputBatch;
use crate::error::{Result, SbnError};
use crate::model::conv_bits as patches;
use crate::model::noise::approximate_thresholds;
use crate::model::softmax::softmax_into;
use crate::popcount::bits::BitMatrix;
use crate::popcount::kernel::xor_popcount;
use crate::rng::Words;

/// States of every binary layer (one `BitMatrix` of `B` rows each) and the logits (`K × B`) of one
/// noise sample.
#[derive(Clone, Debug)]
pub struct PackedForward {
    /// The states of binary layer `k` (row `n`: example `n`), `k = 0..L`.
    pub states: Vec<BitMatrix>,
    /// The output layer's logits, one column per example.
    pub logits: DMatrix<f64>,
}

/// Buffers of the noise passes of one example, reused from example to example.
#[derive(Debug, Default)]
struct Workspace {
    /// States of binary layer `k`, one row per noise sample.
    states: Vec<BitMatrix>,
    /// Popcount sums of one layer.
    s: Vec<i32>,
    /// The example's first-layer thresholds.
    t1: Vec<u64>,
    draw: DrawBuffers,
    /// Packed patches of each convolutional layer after the first (`P × fan_in`).
    patches: Vec<Option<BitMatrix>>,
    /// Logits, one column per noise sample.
    logits: DMatrix<f64>,
}

impl SampledNetwork {
    /// `p̄_s` of the examples `range` of `input` (checked against the network): the softmax
    /// outputs averaged over `noise_samples` activation-noise samples, row-major
    /// `[example][class]`; noise sample `t` of example `i` draws from `rng_of(i, t)`. An
    /// example's first-layer pre-activations are computed once for all of them.
    pub fn noise_averaged_probabilities<R: Words>(
        &self,
        input: &InputBatch,
        range: Range<usize>,
        noise_samples: usize,
        mut rng_of: impl FnMut(usize, usize) -> R,
    ) -> Vec<f64> {
        let k = *self.dims.last().expect("dims are non-empty");
        let mut work = Workspace::default();
        let (mut out, mut p) = (vec![0.0; range.len() * k], vec![0.0; k]);
        for (i, mean) in range.zip(out.chunks_exact_mut(k)) {
            let mut rngs: Vec<R> = (0..noise_samples).map(|t| rng_of(i, t)).collect();
            let a1 = self.first_preactivation(input, i..i + 1);
            self.example_pass(a1.as_slice(), &mut rngs, &mut work);
            // The float path's sum (`SoftmaxMean`): noise samples in order, then one division.
            for col in work.logits.column_iter() {
                softmax_into(col.as_slice(), &mut p);
                mean.iter_mut().zip(&p).for_each(|(m, p)| *m += p);
            }
            mean.iter_mut().for_each(|m| *m /= noise_samples as f64);
        }
        out
    }

    /// The noise samples of one example, one per generator of `rngs`, on top of its first-layer
    /// pre-activations `a1`: row `t` of every layer's states drawn from `rngs[t]` (layer by layer,
    /// unit by unit, one word per unit), logits into `work.logits` (column `t`).
    fn example_pass<R: Words>(&self, a1: &[f64], rngs: &mut [R], work: &mut Workspace) {
        let rows = rngs.len();
        let l_count = self.n_hidden();
        if work.states.len() != l_count || work.states.first().is_some_and(|s| s.rows() != rows) {
            work.states = (1..=l_count).map(|k| BitMatrix::new(rows, self.dims[k])).collect();
            work.patches = (0..l_count).map(|k| self.convs[k].filter(|_| k > 0).map(|g| BitMatrix::new(g.positions(), g.fan_in()))).collect();
            work.s.resize(rows * self.dims.iter().copied().max().unwrap_or(0), 0);
        }
        work.t1.resize(a1.len(), 0);
        approximate_thresholds(a1, &mut work.t1);
        let first = Units::Given { t: &work.t1, a: a1 };
        for (t, rng) in rngs.iter_mut().enumerate() {
            draw_states(&first, rng, &mut work.draw, work.states[0].row_mut(t));
        }
        for k in 1..l_count {
            self.hidden_layer(k, rngs, work);
        }
        work.logits = self.logits(&work.states[l_count - 1], &mut work.s);
    }

    /// The states of binary layer `k ≥ 1` (one row per generator of `rngs`) from those of layer
    /// `k − 1`.
    fn hidden_layer<R: Words>(&self, k: usize, rngs: &mut [R], work: &mut Workspace) {
        let PackedLayer::Binary(layer) = &self.layers[k] else { unreachable!("checked at construction") };
        let nk = self.dims[k + 1];
        let (done, rest) = work.states.split_at_mut(k);
        match (&self.convs[k], &mut work.patches[k]) {
            (Some(g), Some(patches)) => {
                // Patch row p → s[p·C_out + c], the units layout.
                let s = &mut work.s[..nk];
                for (t, rng) in rngs.iter_mut().enumerate() {
                    patches::gather(g, done[k - 1].row(t), patches, 0);
                    xor_popcount(&layer.rows, patches, s);
                    draw_states(&Units::Sums { s, layer }, rng, &mut work.draw, rest[0].row_mut(t));
                }
            }
            _ => {
                let s = &mut work.s[..rngs.len() * nk];
                xor_popcount(&layer.rows, &done[k - 1], s);
                for (t, rng) in rngs.iter_mut().enumerate() {
                    draw_states(&Units::Sums { s: &s[t * nk..(t + 1) * nk], layer }, rng, &mut work.draw, rest[0].row_mut(t));
                }
            }
        }
    }

    /// The output layer's logits (`K × rows`) on the last binary layer's states (`s`: scratch).
    fn logits(&self, last: &BitMatrix, s: &mut [i32]) -> DMatrix<f64> {
        let b = last.rows();
        match &self.layers[self.n_hidden()] {
            PackedLayer::Binary(out) => {
                let k = out.bits.rows();
                let s = &mut s[..b * k];
                xor_popcount(&out.rows, last, s);
                DMatrix::from_fn(k, b, |j, n| out.gamma[j] * f64::from(s[n * k + j]) + out.bias[j])
            }
            PackedLayer::Real { w, bias } => {
                let mut o = w * last.to_cols_matrix();
                for mut col in o.column_iter_mut() {
                    col += bias;
                }
                o
            }
        }
    }

    /// One forward sample of examples `range`, example `n` drawing its noise from `rngs[n]` (layer
    /// by layer, unit by unit), keeping every layer's states (for tests and diagnostics).
    pub fn forward<R: Words>(&self, input: &InputBatch, range: Range<usize>, rngs: &mut [R]) -> Result<PackedForward> {
        input.check(self.dims[0])?;
        if range.end > input.len() || range.start > range.end {
            return Err(SbnError::invalid("forward", "example range outside the input"));
        }
        if rngs.len() != range.len() {
            return Err(SbnError::invalid("forward", "needs one generator per example"));
        }
        let b = range.len();
        let a1 = self.first_preactivation(input, range);
        let mut states: Vec<BitMatrix> = (1..=self.n_hidden()).map(|k| BitMatrix::new(b, self.dims[k])).collect();
        let mut logits = DMatrix::zeros(*self.dims.last().expect("dims are non-empty"), b);
        let mut work = Workspace::default();
        for (n, rng) in rngs.iter_mut().enumerate() {
            self.example_pass(a1.column(n).as_slice(), std::slice::from_mut(rng), &mut work);
            for (all, one) in states.iter_mut().zip(&work.states) {
                all.row_mut(n).copy_from_slice(one.row(0));
            }
            logits.set_column(n, &work.logits.column(0));
        }
        Ok(PackedForward { states, logits })
    }
}
