//! The packed-bit world (docs/math.md §6): one sampled network evaluated with the popcount kernels
//! of [`crate::popcount`].
//!
//! * `network`: [`SampledNetwork`], one weight draw packed: construction and accessors.
//! * `engine`: its noise passes (the Monte Carlo forward pass on bits); `first_layer`: the first
//!   layer's pre-activations, computed once for all noise samples; `draw`: a layer's unit states
//!   from random words and integer thresholds.
//! * `format`: its byte format (the body of a packed export, `crate::io::PackedModelFile`).
//! * [`summary`]: a larq-style table of bits, memory and multiply-accumulates.

mod draw;
mod engine;
mod first_layer;
mod format;
mod network;

pub use crate::popcount::BitMatrix;
pub use crate::popcount::{PackedRows, Variant};
pub use engine::PackedForward;
pub use network::SampledNetwork;

use crate::model::{Network, WeightKind};

/// Bits, memory and multiply-accumulates of one layer of a packed network.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSummary {
    /// Whether the layer is a convolution.
    pub conv: bool,
    /// Inputs per example.
    pub n_in: usize,
    /// Units per example (for a convolution: positions × output channels).
    pub n_out: usize,
    /// The weight kind.
    pub kind: WeightKind,
    /// Parameters stored at 1 bit (sampled ±1 weights).
    pub binary_params: usize,
    /// Parameters stored at 32 bits (real weights, γ, b).
    pub float_params: usize,
    /// Per example: products of a ±1 weight and a ±1 input (XOR-popcount work).
    pub binary_macs: usize,
    /// Per example: products with a real weight or a real (or 8-bit) input.
    pub float_macs: usize,
}

impl LayerSummary {
    /// Memory at 1 bit per binary and 32 bits per float parameter, KiB.
    pub fn memory_kib(&self) -> f64 {
        (self.binary_params as f64 / 8.0 + self.float_params as f64 * 4.0) / 1024.0
    }
}

/// A larq-style summary of a network as the packed engine stores and runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// One row per layer, the output layer last.
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    /// Parameters stored at 1 bit, all layers.
    pub fn binary_params(&self) -> usize {
        self.layers.iter().map(|l| l.binary_params).sum()
    }
    /// Parameters stored at 32 bits, all layers.
    pub fn float_params(&self) -> usize {
        self.layers.iter().map(|l| l.float_params).sum()
    }
    /// Binary multiply-accumulates per example, all layers.
    pub fn binary_macs(&self) -> usize {
        self.layers.iter().map(|l| l.binary_macs).sum()
    }
    /// Float multiply-accumulates per example, all layers.
    pub fn float_macs(&self) -> usize {
        self.layers.iter().map(|l| l.float_macs).sum()
    }
    /// Packed memory, KiB.
    pub fn memory_kib(&self) -> f64 {
        self.layers.iter().map(LayerSummary::memory_kib).sum()
    }
    /// Memory of the same parameters all in float32, KiB.
    pub fn float32_kib(&self) -> f64 {
        (self.binary_params() + self.float_params()) as f64 * 4.0 / 1024.0
    }
    /// `float32_kib / memory_kib`.
    pub fn compression_ratio(&self) -> f64 {
        self.float32_kib() / self.memory_kib()
    }
}

/// The summary of `net`: Bernoulli weights count as binary parameters; MACs are binary when both
/// the weight and the input are ±1 (Bernoulli layers after the first), float otherwise.
pub fn summary(net: &Network) -> Summary {
    let layers = net
        .layers()
        .iter()
        .enumerate()
        .map(|(k, layer)| {
            let (n_in, n_out, kind) = (layer.n_in(), layer.n_out(), layer.kind());
            // Every unit (P·C_out of a convolution) takes fan_in products; the C_out rows of
            // weights, γ and b are shared over the positions.
            let macs = n_out * layer.fan_in();
            let (weights, rows) = (layer.n_weights(), layer.channels());
            let (binary_params, float_params) = match kind {
                WeightKind::Bernoulli => (weights, 2 * rows),
                WeightKind::Real => (0, weights + rows),
            };
            let binary = k > 0 && kind == WeightKind::Bernoulli;
            LayerSummary {
                conv: layer.conv.is_some(),
                n_in,
                n_out,
                kind,
                binary_params,
                float_params,
                binary_macs: if binary { macs } else { 0 },
                float_macs: if binary { 0 } else { macs },
            }
        })
        .collect();
    Summary { layers }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = "-".repeat(96);
        writeln!(
            f,
            "{:<16}{:>8}{:>8}{:>14}{:>13}{:>13}{:>12}{:>12}",
            "Layer", "Inputs", "Units", "Binary params", "Float params", "Memory KiB", "Binary MACs", "Float MACs"
        )?;
        writeln!(f, "{line}")?;
        let n = self.layers.len();
        for (k, l) in self.layers.iter().enumerate() {
            let name = match (k + 1 == n, l.conv) {
                (true, _) => format!("output {}", l.kind),
                (false, true) => format!("conv {} {}", k + 1, l.kind),
                (false, false) => format!("binary {} {}", k + 1, l.kind),
            };
            writeln!(
                f,
                "{:<16}{:>8}{:>8}{:>14}{:>13}{:>13.2}{:>12}{:>12}",
                name,
                l.n_in,
                l.n_out,
                l.binary_params,
                l.float_params,
                l.memory_kib(),
                l.binary_macs,
                l.float_macs
            )?;
        }
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "{:<32}{:>14}{:>13}{:>13.2}{:>12}{:>12}",
            "Total",
            self.binary_params(),
            self.float_params(),
            self.memory_kib(),
            self.binary_macs(),
            self.float_macs()
        )?;
        write!(f, "Memory {:.2} KiB packed vs {:.2} KiB as float32: compression {:.2}x", self.memory_kib(), self.float32_kib(), self.compression_ratio())
    }
}
