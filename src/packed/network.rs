//! [`SampledNetwork`]: one draw `W ~ q` of a network, every binary layer packed (docs/math.md §6).
//!
//! A sampled network holds, per layer, either the packed ±1 weights with their scales `γ` and
//! biases `b` (a binary layer) or the real weights and biases (only the first and the output
//! layer may be real), and the geometry of each convolution. It is made by drawing from a
//! [`Network`]'s posterior ([`SampledNetwork::sample`]), by taking its mode
//! ([`SampledNetwork::most_likely`]), or by reading an export ([`SampledNetwork::from_bytes`]);
//! it is evaluated by the noise passes of `engine.rs`.
//!
//! Real-weight hidden layers after the first cannot be packed; such networks are refused.

use std::sync::OnceLock;

use nalgebra::{DMatrix, DVector};
use rand::Rng;

use crate::error::{Result, SbnError};
use crate::model::noise::uniform;
use crate::model::{Conv2d, Layer, Network, WeightSample, Weights};
use crate::popcount::bits::BitMatrix;
use crate::popcount::kernel::PackedRows;

/// A packed binary layer: the bits, their kernel layout, the scales γ and biases b.
#[derive(Clone, Debug)]
pub(super) struct BinaryLayer {
    pub(super) bits: BitMatrix,
    pub(super) rows: PackedRows,
    pub(super) gamma: Vec<f64>,
    pub(super) bias: Vec<f64>,
}

impl BinaryLayer {
    pub(super) fn new(bits: BitMatrix, gamma: Vec<f64>, bias: Vec<f64>) -> Self {
        BinaryLayer { rows: PackedRows::new(&bits), bits, gamma, bias }
    }
}

/// One layer of a sampled network: packed ±1 weights, or real weights (first and output layer).
#[derive(Clone, Debug)]
pub(super) enum PackedLayer {
    Binary(BinaryLayer),
    Real { w: DMatrix<f64>, bias: DVector<f64> },
}

/// One sampled network, packed. Layers `0..L` are the binary layers, `L` the output layer.
#[derive(Clone, Debug)]
pub struct SampledNetwork {
    pub(super) dims: Vec<usize>,
    pub(super) layers: Vec<PackedLayer>,
    /// The geometry of each convolutional layer.
    pub(super) convs: Vec<Option<Conv2d>>,
    /// `Σ_i W_ji` of a binary first layer.
    pub(super) row_sums: Vec<i64>,
    /// The first layer's ±1 weights as f64, built when real inputs first need them.
    pub(super) first_f64: OnceLock<DMatrix<f64>>,
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

    /// The network's layers with `bits` (drawn for every Bernoulli layer) as their weights.
    fn assemble(net: &Network, bits: Vec<Option<BitMatrix>>) -> Self {
        let layers = net
            .layers()
            .iter()
            .zip(bits)
            .map(|(layer, bits)| match (&layer.weights, bits) {
                (Weights::Bernoulli { scale, .. }, Some(bits)) => {
                    PackedLayer::Binary(BinaryLayer::new(bits, scale.as_slice().to_vec(), layer.bias.as_slice().to_vec()))
                }
                (Weights::Real { w }, _) => PackedLayer::Real { w: w.clone(), bias: layer.bias.clone() },
                (Weights::Bernoulli { .. }, None) => unreachable!("Bernoulli layers are drawn"),
            })
            .collect();
        Self::from_layers(net.dims(), layers, net.layers().iter().map(|l| l.conv).collect())
    }

    /// The network of checked `layers` (see [`check_convs`]), with the first layer's row sums.
    pub(super) fn from_layers(dims: Vec<usize>, layers: Vec<PackedLayer>, convs: Vec<Option<Conv2d>>) -> Self {
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
        WeightSample::new((0..self.layers.len()).map(|k| self.layer_bits(k).map(BitMatrix::to_rows_matrix)).collect())
    }
}

/// The packed engine's conditions on the convolutions of a network (layer `k` = `convs[k]`):
/// hidden convolutions after the first pad with a ±1 state, and the output layer is dense.
pub(super) fn check_convs(convs: &[Option<Conv2d>]) -> Result<()> {
    if convs.last().is_some_and(Option::is_some) {
        return Err(SbnError::Unsupported("packed engine: the output layer must be dense".into()));
    }
    for (k, g) in convs.iter().enumerate().skip(1) {
        if let Some(g) = g
            && g.pad > 0
            && g.pad_value.abs() != 1.0
        {
            return Err(SbnError::Unsupported(format!(
                "packed engine: convolution {k} pads its binary input with {}; only ±1 can be packed (use the float engine)",
                g.pad_value
            )));
        }
    }
    Ok(())
}
