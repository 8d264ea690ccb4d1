//! The packed engine: noise passes of a [`SampledNetwork`] on packed bits (docs/math.md §6).
//!
//! * Binary layers after the first: `S = n − 2·popcount(w_j XOR x)`, then `a = γ S + b` in f64 and
//!   unit `j` fires iff `u < σ(a)`: the float path's rule, bit for bit.
//! * First layer on 8-bit inputs `x⁰ = α v + c`: `Σ_i W_ji x⁰_i = α Σ_i W_ji v_i + c Σ_i W_ji`, the
//!   first sum from 8 AND-popcount bit-plane passes, the second from the row's popcount; computed
//!   once per (weight sample, input) and reused for every noise sample. On real inputs, or with
//!   real first-layer weights, the first layer is a float matrix product.
//! * Output layer: `γ° S° + b°` from popcounts (Bernoulli) or `W° x^L + b°` in f64 (real).
//!
//! * Convolutions ([`Conv2d`]): the same on packed patches ([`super::patches`]), row `n·P + p`
//!   for example `n` and position `p`; the popcounts come out in the units (HWC) layout, so states
//!   are drawn in the float path's order. Hidden convolutions pad with a ±1 bit; the first one on
//!   bytes pads with zero pixels (`v = 0`) and adds `(pad_value − c)·Σ_{padded} W` when its pad
//!   value is not the offset `c`.

use std::ops::Range;

use nalgebra::DMatrix;
use rand::Rng;

use super::bits::BitMatrix;
use super::kernel::{and_popcount, xor_popcount};
use super::network::{PackedLayer, SampledNetwork};
use super::patches;
use crate::data::InputBatch;
use crate::error::{Result, SbnError};
use crate::model::Conv2d;
use crate::model::noise::{decide_states, uniform};
use crate::model::softmax::SoftmaxMean;

/// States of every binary layer (one `BitMatrix` of `B` rows each) and the logits (`K × B`) of one
/// noise sample.
#[derive(Clone, Debug)]
pub struct PackedForward {
    /// The states of binary layer `k` (row `n`: example `n`), `k = 0..L`.
    pub states: Vec<BitMatrix>,
    /// The output layer's logits, one column per example.
    pub logits: DMatrix<f64>,
}

/// Reusable buffers of the noise pass.
#[derive(Debug, Default)]
struct Workspace {
    states: Vec<BitMatrix>,
    s: Vec<i32>,
    a: Vec<f64>,
    u: Vec<f64>,
    /// Packed patches of each convolutional layer after the first (`B·P × fan_in`).
    patches: Vec<Option<BitMatrix>>,
    logits: DMatrix<f64>,
}

impl SampledNetwork {
    /// `p̄_s` of the examples `range` of `input` (checked against the network): the softmax
    /// outputs averaged over `noise_samples` activation-noise samples drawn from `rng`, row-major
    /// `[example][class]`. The first layer's pre-activations are computed once for all of them.
    pub fn noise_averaged_probabilities<R: Rng + ?Sized>(&self, input: &InputBatch, range: Range<usize>, noise_samples: usize, rng: &mut R) -> Vec<f64> {
        let a1 = self.first_preactivation(input, range.clone());
        let mut work = Workspace::default();
        let mut mean = SoftmaxMean::new(*self.dims.last().expect("dims are non-empty"), range.len());
        for _ in 0..noise_samples {
            self.noise_pass(&a1, rng, &mut work);
            mean.add(&work.logits);
        }
        mean.finish()
    }

    /// Pre-activations `a¹` (`n1 × B`, units layout) of examples `range` of `input`; they do not
    /// depend on the activation noise. The input must have been checked against the network.
    fn first_preactivation(&self, input: &InputBatch, range: Range<usize>) -> DMatrix<f64> {
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
                for (n, mut col) in a.column_iter_mut().enumerate() {
                    let pb: [i64; 8] = std::array::from_fn(|p| i64::from(planes.row_popcount(8 * n + p)));
                    for (j, aj) in col.iter_mut().enumerate() {
                        let t: i64 = (0..8).map(|p| (2 * i64::from(counts[(8 * n + p) * n1 + j]) - pb[p]) << p).sum();
                        let s = alpha * t as f64 + offset * self.row_sums[j] as f64;
                        *aj = l.gamma[j] * s + l.bias[j];
                    }
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

    /// One noise sample on top of `a¹`: states of layers `1..L` drawn from `rng` (per layer,
    /// example by example, unit by unit: the order of `Network::forward`), logits into
    /// `work.logits`.
    fn noise_pass<R: Rng + ?Sized>(&self, a1: &DMatrix<f64>, rng: &mut R, work: &mut Workspace) {
        let b = a1.ncols();
        let l_count = self.n_hidden();
        if work.states.len() != l_count || work.states.first().is_some_and(|s| s.rows() != b) {
            work.states = (1..=l_count).map(|k| BitMatrix::new(b, self.dims[k])).collect();
            work.patches = (0..l_count).map(|k| self.convs[k].filter(|_| k > 0).map(|g| BitMatrix::new(g.positions(), g.fan_in()))).collect();
        }
        let widest = self.dims.iter().copied().max().unwrap_or(0);
        work.u.resize(widest, 0.0);
        work.a.resize(widest, 0.0);
        work.s.resize(b * widest, 0);
        for n in 0..b {
            draw_states(a1.column(n).as_slice(), rng, &mut work.u, work.states[0].row_mut(n));
        }
        for k in 1..l_count {
            let PackedLayer::Binary(layer) = &self.layers[k] else { unreachable!("checked at construction") };
            let nk = self.dims[k + 1];
            let (done, rest) = work.states.split_at_mut(k);
            let channels = layer.gamma.len();
            let a = &mut work.a[..nk];
            let fill = |a: &mut [f64], s: &[i32]| {
                for (unit, s) in a.chunks_exact_mut(channels).zip(s.chunks_exact(channels)) {
                    for (j, aj) in unit.iter_mut().enumerate() {
                        *aj = layer.gamma[j] * f64::from(s[j]) + layer.bias[j];
                    }
                }
            };
            match (&self.convs[k], &mut work.patches[k]) {
                (Some(g), Some(patches)) => {
                    // Example by example (in cache): patch row p → s[p·C_out + c], the units layout.
                    let s = &mut work.s[..nk];
                    for n in 0..b {
                        patches::gather(g, done[k - 1].row(n), patches);
                        xor_popcount(&layer.rows, patches, s);
                        fill(a, s);
                        draw_states(a, rng, &mut work.u, rest[0].row_mut(n));
                    }
                }
                _ => {
                    let s = &mut work.s[..b * nk];
                    xor_popcount(&layer.rows, &done[k - 1], s);
                    for n in 0..b {
                        fill(a, &s[n * nk..(n + 1) * nk]);
                        draw_states(a, rng, &mut work.u, rest[0].row_mut(n));
                    }
                }
            }
        }
        let last = &work.states[l_count - 1];
        work.logits = match &self.layers[l_count] {
            PackedLayer::Binary(out) => {
                let k = out.bits.rows();
                let s = &mut work.s[..b * k];
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
        };
    }

    /// One forward sample of examples `range` with noise uniforms from `rng`, keeping every
    /// layer's states (for tests and diagnostics).
    pub fn forward<R: Rng + ?Sized>(&self, input: &InputBatch, range: Range<usize>, rng: &mut R) -> Result<PackedForward> {
        input.check(self.dims[0])?;
        if range.end > input.len() || range.start > range.end {
            return Err(SbnError::invalid("forward", "example range outside the input"));
        }
        let a1 = self.first_preactivation(input, range);
        let mut work = Workspace::default();
        self.noise_pass(&a1, rng, &mut work);
        Ok(PackedForward { states: work.states, logits: work.logits })
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

/// States of one example's layer: bit `j` set iff `u_j < σ(a_j)`, `u_j` drawn in order.
fn draw_states<R: Rng + ?Sized>(a: &[f64], rng: &mut R, buf: &mut [f64], out: &mut [u64]) {
    let u = &mut buf[..a.len()];
    u.iter_mut().for_each(|v| *v = uniform(rng));
    decide_states(a, u, out);
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
