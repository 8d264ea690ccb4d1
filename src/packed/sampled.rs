//! `SampledNetwork`: one draw `W ~ q` of a network, every binary layer packed (docs/math.md §6).
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
//!
//! Real-weight hidden layers after the first cannot be packed; such networks are refused.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use nalgebra::{DMatrix, DVector};
use rand::Rng;

use super::bits::{BitMatrix, words_for};
use super::kernel::{PackedRows, and_popcount, xor_popcount};
use super::patches;
use crate::error::{Result, SbnError};
use crate::model::noise::{decide_states, uniform};
use crate::model::{Conv2d, Layer, Network, WeightSample, Weights};
use crate::data::InputBatch;
use crate::model::softmax::SoftmaxMean;

/// A packed binary layer: the bits, their kernel layout, the scales γ and biases b.
#[derive(Clone, Debug)]
struct BinaryLayer {
    bits: BitMatrix,
    rows: PackedRows,
    gamma: Vec<f64>,
    bias: Vec<f64>,
}

impl BinaryLayer {
    fn new(bits: BitMatrix, gamma: Vec<f64>, bias: Vec<f64>) -> Self {
        BinaryLayer { rows: PackedRows::new(&bits), bits, gamma, bias }
    }
}

#[derive(Clone, Debug)]
enum PackedLayer {
    Binary(BinaryLayer),
    Real { w: DMatrix<f64>, bias: DVector<f64> },
}

/// One sampled network, packed. Layers `0..L` are the binary layers, `L` the output layer.
#[derive(Clone, Debug)]
pub struct SampledNetwork {
    dims: Vec<usize>,
    layers: Vec<PackedLayer>,
    /// The geometry of each convolutional layer.
    convs: Vec<Option<Conv2d>>,
    /// `Σ_i W_ji` of a binary first layer.
    row_sums: Vec<i64>,
    /// The first layer's ±1 weights as f64, built when real inputs first need them.
    first_f64: OnceLock<DMatrix<f64>>,
}

/// States of every binary layer (one `BitMatrix` of `B` rows each) and the logits (`K × B`) of one
/// noise sample.
#[derive(Clone, Debug)]
pub struct PackedForward {
    pub states: Vec<BitMatrix>,
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
    pub(crate) logits: DMatrix<f64>,
}

impl SampledNetwork {
    /// Whether the packed engine can evaluate `net`: every binary layer after the first must have
    /// Bernoulli weights, and a convolution after the first must pad with a ±1 state.
    pub fn check(net: &Network) -> Result<()> {
        for k in 1..net.n_hidden() {
            if matches!(net.layers()[k].weights, Weights::Real { .. }) {
                return Err(SbnError::Unsupported(format!(
                    "packed engine: hidden layer {k} has real weights; only the first layer and the output layer may (use the float engine)"
                )));
            }
        }
        let convs: Vec<Option<Conv2d>> = net.layers().iter().map(|l| l.conv).collect();
        check_convs(&convs)
    }

    /// Packs a given weight draw (from [`Network::sample_weights`]).
    pub fn from_weight_sample(net: &Network, ws: &WeightSample) -> Result<Self> {
        Self::check(net)?;
        if ws.layers.len() != net.layers().len() {
            return Err(SbnError::invalid("weight sample", "layer count differs from the network's"));
        }
        let mut bits = Vec::with_capacity(ws.layers.len());
        for (k, (layer, w)) in net.layers().iter().zip(&ws.layers).enumerate() {
            bits.push(match (&layer.weights, w) {
                (Weights::Real { .. }, _) => None,
                (Weights::Bernoulli { logits, .. }, Some(w)) if w.shape() == logits.shape() => Some(BitMatrix::from_rows_of(w)),
                _ => return Err(SbnError::invalid(format!("weight sample layer {k}"), "missing or misshapen ±1 weights")),
            });
        }
        Ok(Self::assemble(net, bits))
    }

    /// Draws `W ~ q` from `rng` with the rule and the uniform stream of
    /// `net.sample_weights(&mut RngDraws(rng))` (`W_ji = +1` iff `u < σ(θ_ji)`, uniforms
    /// column-major), packing directly.
    pub fn sample<R: Rng + ?Sized>(net: &Network, rng: &mut R) -> Result<Self> {
        Self::check(net)?;
        let q: Vec<Option<DMatrix<f64>>> = net.layers().iter().map(Layer::q).collect();
        Ok(Self::sample_with_q(net, &q, rng))
    }

    /// [`sample`](Self::sample) with the probabilities `q = σ(θ)` computed once by the caller.
    pub(crate) fn sample_with_q<R: Rng + ?Sized>(net: &Network, q: &[Option<DMatrix<f64>>], rng: &mut R) -> Self {
        let bits = q
            .iter()
            .map(|q| {
                q.as_ref().map(|q| {
                    // Word `k` of every row is filled from columns 64k.. (uniforms column-major),
                    // then stored: contiguous reads of q, one pass over the rows per word.
                    let mut m = BitMatrix::new(q.nrows(), q.ncols());
                    let mut word = vec![0u64; q.nrows()];
                    for (k, cols) in q.as_slice().chunks(64 * q.nrows()).enumerate() {
                        word.fill(0);
                        for (bit, col) in cols.chunks_exact(q.nrows()).enumerate() {
                            for (w, &qj) in word.iter_mut().zip(col) {
                                *w |= u64::from(uniform(rng) < qj) << bit;
                            }
                        }
                        for (j, &w) in word.iter().enumerate() {
                            m.row_mut(j)[k] = w;
                        }
                    }
                    m
                })
            })
            .collect();
        Self::assemble(net, bits)
    }

    /// The most likely network: `W_ji = +1` iff `θ_ji ≥ 0` (ties to `+1`).
    pub fn most_likely(net: &Network) -> Result<Self> {
        Self::check(net)?;
        let bits = net
            .layers()
            .iter()
            .map(|l| match &l.weights {
                Weights::Real { .. } => None,
                Weights::Bernoulli { logits, .. } => Some(BitMatrix::from_fn(logits.nrows(), logits.ncols(), |j, i| logits[(j, i)] >= 0.0)),
            })
            .collect();
        Ok(Self::assemble(net, bits))
    }

    fn assemble(net: &Network, bits: Vec<Option<BitMatrix>>) -> Self {
        let layers = net
            .layers()
            .iter()
            .zip(bits)
            .map(|(layer, bits)| match (&layer.weights, bits) {
                (Weights::Bernoulli { scale, .. }, Some(bits)) => PackedLayer::Binary(BinaryLayer::new(bits, scale.as_slice().to_vec(), layer.bias.as_slice().to_vec())),
                (Weights::Real { w }, _) => PackedLayer::Real { w: w.clone(), bias: layer.bias.clone() },
                (Weights::Bernoulli { .. }, None) => unreachable!("Bernoulli layers are drawn"),
            })
            .collect();
        Self::from_layers(net.dims(), layers, net.layers().iter().map(|l| l.conv).collect())
    }

    fn from_layers(dims: Vec<usize>, layers: Vec<PackedLayer>, convs: Vec<Option<Conv2d>>) -> Self {
        let row_sums = match &layers[0] {
            PackedLayer::Binary(l) => (0..l.bits.rows()).map(|j| 2 * i64::from(l.bits.row_popcount(j)) - l.bits.cols() as i64).collect(),
            PackedLayer::Real { .. } => Vec::new(),
        };
        SampledNetwork { dims, layers, convs, row_sums, first_f64: OnceLock::new() }
    }

    /// The geometry of layer `k` if it is a convolution.
    pub fn conv(&self, k: usize) -> Option<&Conv2d> {
        self.convs[k].as_ref()
    }

    /// `[d0, n1, …, nL, K]`.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Number of binary layers `L`.
    pub fn n_hidden(&self) -> usize {
        self.layers.len() - 1
    }

    /// The packed ±1 weights of layer `k` (`None` for a real layer).
    pub fn layer_bits(&self, k: usize) -> Option<&BitMatrix> {
        match &self.layers[k] {
            PackedLayer::Binary(l) => Some(&l.bits),
            PackedLayer::Real { .. } => None,
        }
    }

    /// The weights as a [`WeightSample`] (±1 matrices for binary layers), for the float path.
    pub fn weight_sample(&self) -> WeightSample {
        WeightSample { layers: (0..self.layers.len()).map(|k| self.layer_bits(k).map(BitMatrix::to_rows_matrix)).collect() }
    }

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
    pub fn first_preactivation(&self, input: &InputBatch, range: Range<usize>) -> DMatrix<f64> {
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

/// The packed engine's conditions on the convolutions of a network (layer `k` = `convs[k]`):
/// hidden convolutions after the first pad with a ±1 state, and the output layer is dense.
fn check_convs(convs: &[Option<Conv2d>]) -> Result<()> {
    if convs.last().is_some_and(Option::is_some) {
        return Err(SbnError::Unsupported("packed engine: the output layer must be dense".into()));
    }
    for (k, g) in convs.iter().enumerate().skip(1) {
        if let Some(g) = g {
            if g.pad > 0 && g.pad_value.abs() != 1.0 {
                return Err(SbnError::Unsupported(format!(
                    "packed engine: convolution {k} pads its binary input with {}; only ±1 can be packed (use the float engine)",
                    g.pad_value
                )));
            }
        }
    }
    Ok(())
}

/// States of one example's layer: bit `j` set iff `u_j < σ(a_j)`, `u_j` drawn in order.
fn draw_states<R: Rng + ?Sized>(a: &[f64], rng: &mut R, buf: &mut [f64], out: &mut [u64]) {
    let u = &mut buf[..a.len()];
    u.iter_mut().for_each(|v| *v = uniform(rng));
    decide_states(a, u, out);
}

// ---------------------------------------------------------------------------------------------
// Export: a small versioned binary format.
//
//   magic "SBNPACK\0" | version u32 | number of dims u32 | dims u64 ...
//   per layer: kind u8 (1 binary, 0 real) | geometry u8 (0 dense, 1 convolution; version 2 only)
//     convolution: in_h, in_w, in_c, out_c, kernel, stride, pad u64 | pad value f64
//     binary: γ f64 × rows | b f64 × rows | words u64 × rows·⌈fan_in/64⌉ (rows, pad bits 0)
//     real:   W f64 × rows·fan_in (row-major) | b f64 × rows
//   (rows, fan_in) = (n_out, n_in) for a dense layer, (out_c, kernel²·in_c) for a convolution
//   FNV-1a 64 checksum of everything before it (u64)
// All numbers little-endian.

const MAGIC: [u8; 8] = *b"SBNPACK\0";
const VERSION: u32 = 2;
const PLACE: &str = "packed network";

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| SbnError::invalid(PLACE, format!("truncated: {what} needs {n} bytes at offset {}", self.pos)))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64s(&mut self, n: usize, what: &str) -> Result<Vec<u64>> {
        let len = n.checked_mul(8).ok_or_else(|| SbnError::invalid(PLACE, format!("{what}: size overflows")))?;
        Ok(self.take(len, what)?.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    }
    fn f64s(&mut self, n: usize, what: &str) -> Result<Vec<f64>> {
        let v: Vec<f64> = self.u64s(n, what)?.into_iter().map(f64::from_bits).collect();
        if v.iter().all(|x| x.is_finite()) { Ok(v) } else { Err(SbnError::invalid(PLACE, format!("{what}: NaN or infinite value"))) }
    }
}

impl SampledNetwork {
    /// The network in the export format (see the module source for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.dims.len() as u32).to_le_bytes());
        self.dims.iter().for_each(|&d| out.extend_from_slice(&(d as u64).to_le_bytes()));
        let f64s = |out: &mut Vec<u8>, v: &[f64]| v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        for (layer, conv) in self.layers.iter().zip(&self.convs) {
            out.push(match layer {
                PackedLayer::Binary(_) => 1,
                PackedLayer::Real { .. } => 0,
            });
            match conv {
                None => out.push(0),
                Some(g) => {
                    out.push(1);
                    for v in [g.in_h, g.in_w, g.in_c, g.out_c, g.kernel, g.stride, g.pad] {
                        out.extend_from_slice(&(v as u64).to_le_bytes());
                    }
                    out.extend_from_slice(&g.pad_value.to_le_bytes());
                }
            }
            match layer {
                PackedLayer::Binary(l) => {
                    f64s(&mut out, &l.gamma);
                    f64s(&mut out, &l.bias);
                    l.bits.as_words().iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
                }
                PackedLayer::Real { w, bias } => {
                    f64s(&mut out, w.transpose().as_slice());
                    f64s(&mut out, bias.as_slice());
                }
            }
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads the export format; any truncation, corruption or inconsistency is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(8, "magic")? != MAGIC {
            return Err(SbnError::invalid(PLACE, "not a packed sbn network (bad magic)"));
        }
        let version = r.u32("version")?;
        if version != 1 && version != VERSION {
            return Err(SbnError::invalid(PLACE, format!("unsupported version {version} (this build reads 1 and {VERSION})")));
        }
        let n_dims = r.u32("dimension count")? as usize;
        if !(3..=1024).contains(&n_dims) {
            return Err(SbnError::invalid(PLACE, format!("{n_dims} dimensions: need at least 3 (input, one binary layer, output)")));
        }
        let dims = r.u64s(n_dims, "dimensions")?;
        if dims.iter().any(|&d| d == 0 || d > 1 << 32) {
            return Err(SbnError::invalid(PLACE, "a layer width is 0 or implausibly large"));
        }
        let dims: Vec<usize> = dims.into_iter().map(|d| d as usize).collect();
        let mut layers = Vec::with_capacity(n_dims - 1);
        let mut convs = Vec::with_capacity(n_dims - 1);
        for k in 0..n_dims - 1 {
            let what = |s: &str| format!("layer {k} {s}");
            let kind = r.u8(&what("kind"))?;
            let conv = match if version >= 2 { r.u8(&what("geometry"))? } else { 0 } {
                0 => None,
                1 => {
                    let v = r.u64s(7, &what("convolution"))?;
                    if v.iter().any(|&x| x > 1 << 20) {
                        return Err(SbnError::invalid(PLACE, what("convolution has an implausibly large size")));
                    }
                    let v: Vec<usize> = v.into_iter().map(|x| x as usize).collect();
                    let pad_value = r.f64s(1, &what("pad value"))?[0];
                    let g = Conv2d { in_h: v[0], in_w: v[1], in_c: v[2], out_c: v[3], kernel: v[4], stride: v[5], pad: v[6], pad_value };
                    g.check(&format!("{PLACE} {}", what("convolution")))?;
                    // Sizes ≤ 2^20: none of these products overflows.
                    if g.in_features() != dims[k] || g.out_features() != dims[k + 1] {
                        return Err(SbnError::invalid(PLACE, what("convolution does not match the layer widths")));
                    }
                    Some(g)
                }
                x => return Err(SbnError::invalid(PLACE, what(&format!("has unknown geometry {x}")))),
            };
            let (rows, fan_in) = conv.map_or((dims[k + 1], dims[k]), |g| (g.out_c, g.fan_in()));
            let layer = match kind {
                1 => {
                    let gamma = r.f64s(rows, &what("scales"))?;
                    let bias = r.f64s(rows, &what("biases"))?;
                    let count = rows.checked_mul(words_for(fan_in)).ok_or_else(|| SbnError::invalid(PLACE, what("size overflows")))?;
                    let words = r.u64s(count, &what("weight bits"))?;
                    let bits = BitMatrix::from_words(rows, fan_in, words).ok_or_else(|| SbnError::invalid(PLACE, what("has pad bits set")))?;
                    PackedLayer::Binary(BinaryLayer::new(bits, gamma, bias))
                }
                0 if k == 0 || k == n_dims - 2 => {
                    let count = rows.checked_mul(fan_in).ok_or_else(|| SbnError::invalid(PLACE, what("size overflows")))?;
                    let w = r.f64s(count, &what("weights"))?;
                    let bias = r.f64s(rows, &what("biases"))?;
                    PackedLayer::Real { w: DMatrix::from_row_slice(rows, fan_in, &w), bias: DVector::from_vec(bias) }
                }
                0 => return Err(SbnError::invalid(PLACE, what("is real: only the first and the output layer may be"))),
                kind => return Err(SbnError::invalid(PLACE, what(&format!("has unknown kind {kind}")))),
            };
            layers.push(layer);
            convs.push(conv);
        }
        check_convs(&convs).map_err(|e| SbnError::invalid(PLACE, e.to_string()))?;
        let body = r.pos;
        let sum = u64::from_le_bytes(r.take(8, "checksum")?.try_into().expect("8 bytes"));
        if r.pos != bytes.len() {
            return Err(SbnError::invalid(PLACE, format!("{} trailing bytes", bytes.len() - r.pos)));
        }
        if fnv1a(&bytes[..body]) != sum {
            return Err(SbnError::invalid(PLACE, "checksum mismatch: the file is corrupt"));
        }
        Ok(Self::from_layers(dims, layers, convs))
    }

    /// Writes [`to_bytes`](Self::to_bytes) to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_bytes()).map_err(|e| SbnError::io(path, e))
    }

    /// Reads a file written by [`write`](Self::write).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| SbnError::io(path, e))?;
        Self::from_bytes(&bytes)
    }
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
