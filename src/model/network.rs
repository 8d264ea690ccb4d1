//! The network: stochastic binary hidden layers and a linear + softmax output layer, and the
//! one forward pass every estimator shares (docs/math.md §1).

use nalgebra::DMatrix;
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::layer::Layer;
use super::noise::{sample_states, uniform};
use crate::engine::{Columns, Engine, FastWeights};
use crate::error::{Result, SbnError};
use crate::popcount::BitMatrix;

/// An SBN: `layers[..L]` are the stochastic binary layers, `layers[L]` the output layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    layers: Vec<Layer>,
}

/// Where the random numbers of a forward sample come from: an RNG, or uniforms given from outside
/// (to reproduce another implementation's sample). Every value is a uniform on `[0, 1)` and is
/// turned into a state by the sampling rule (`+1` iff `u < p`).
pub trait Draws {
    /// Uniforms for the Bernoulli weights of layer `k`, column-major in the layout of `W`.
    fn weights(&mut self, k: usize, out: &mut [f64]);
    /// Uniforms for the units of hidden layer `k`, column-major `n_k × B` (one example per column).
    fn units(&mut self, k: usize, out: &mut [f64]);
}

/// Draws from a random number generator, in the order the forward pass asks for them.
pub struct RngDraws<'r, R: Rng + ?Sized>(pub &'r mut R);

impl<R: Rng + ?Sized> Draws for RngDraws<'_, R> {
    fn weights(&mut self, _k: usize, out: &mut [f64]) {
        out.iter_mut().for_each(|u| *u = uniform(self.0));
    }
    fn units(&mut self, _k: usize, out: &mut [f64]) {
        out.iter_mut().for_each(|u| *u = uniform(self.0));
    }
}

/// Uniforms given from outside: `units[k]` is `n_k × B`, `weights[k]` (Bernoulli layers) has the
/// shape of `W^k`.
#[derive(Clone, Debug, Default)]
pub struct GivenDraws {
    /// Unit uniforms of hidden layer `k`, `n_k × B`.
    pub units: Vec<DMatrix<f64>>,
    /// Weight uniforms of layer `k` (output layer included), shape of `W^k`; `None` for real layers.
    pub weights: Vec<Option<DMatrix<f64>>>,
}

impl Draws for GivenDraws {
    fn weights(&mut self, k: usize, out: &mut [f64]) {
        let given = self.weights.get(k).and_then(|w| w.as_ref()).expect("no weight uniforms given for this layer");
        out.copy_from_slice(given.as_slice());
    }
    fn units(&mut self, k: usize, out: &mut [f64]) {
        out.copy_from_slice(self.units[k].as_slice());
    }
}

/// One draw of the weights: the ±1 matrix of each Bernoulli layer, `None` for real layers, and
/// the engine whose passes use it ([`crate::engine`]).
#[derive(Clone, Debug)]
pub struct WeightSample {
    /// The sampled `W ∈ {±1}` of layer `k` (output layer last), `None` for real layers.
    pub layers: Vec<Option<DMatrix<f64>>>,
    engine: Engine,
    /// The fast engine's forms of each sampled matrix (empty under the reference engine).
    fast: Vec<Option<FastWeights>>,
}

impl WeightSample {
    /// A sample for the reference engine.
    pub fn new(layers: Vec<Option<DMatrix<f64>>>) -> Self {
        WeightSample { layers, engine: Engine::Reference, fast: Vec::new() }
    }

    /// This sample for `engine`: the fast engine packs every sampled matrix above the first layer
    /// once (the first layer's input is real and it passes no sensitivities down).
    pub fn for_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self.fast = match engine {
            Engine::Reference => Vec::new(),
            Engine::Fast => self.layers.iter().enumerate().map(|(k, w)| w.as_ref().filter(|_| k > 0).map(FastWeights::new)).collect(),
        };
        self
    }

    /// The engine the passes run on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The fast engine's forms of layer `k`'s sample (`None` under the reference engine or for a
    /// real layer).
    pub(crate) fn fast(&self, k: usize) -> Option<&FastWeights> {
        self.fast.get(k).and_then(Option::as_ref)
    }

    /// `Wᵀ g` for layer `k`'s weights in use (`g`: `C_out × B·P`), in the engine's precision.
    pub(crate) fn tr_mul(&self, net: &Network, k: usize, g: &DMatrix<f64>) -> DMatrix<f64> {
        match self.fast(k) {
            Some(fw) => fw.tr_mul(g),
            None => crate::linalg::tr_mul(net.weights_in_use(self, k), g),
        }
    }
}

/// What one forward sample of hidden layer `k` produced.
#[derive(Clone, Debug)]
pub struct HiddenSample {
    /// `S = W x^{k−1}` for Bernoulli layers (an integer when the input is ±1).
    pub s: Option<DMatrix<f64>>,
    /// Pre-activations `a^k`, `n_k × B`.
    pub a: DMatrix<f64>,
    /// Sampled states `x^k ∈ {±1}`, `n_k × B`.
    pub x: DMatrix<f64>,
    /// A convolution's unfolded input (its patches), kept for the backward pass.
    pub patches: Option<Patches>,
}

/// A convolution's patches as a forward sample records them: real values (`fan_in × B·P`), or, on
/// the fast engine with binary input, ±1 bits (one bit row per patch, gathered from the packed
/// input map), never formed as a real matrix.
#[derive(Clone, Debug)]
pub enum Patches {
    /// `fan_in × B·P` real values.
    Values(DMatrix<f64>),
    /// `B·P` bit rows of `fan_in` ±1 values.
    Signs(BitMatrix),
}

impl Patches {
    /// The patches as the columns of a product.
    pub fn columns(&self) -> Columns<'_> {
        match self {
            Patches::Values(m) => Columns::Values(m),
            Patches::Signs(b) => Columns::Signs(b),
        }
    }
}

/// The record of one forward sample: everything an estimator needs for its backward pass.
#[derive(Clone, Debug)]
pub struct ForwardSample<'a> {
    /// The real input `x⁰`, `d0 × B`.
    pub x0: &'a DMatrix<f64>,
    /// The weight sample the pass used.
    pub weights: &'a WeightSample,
    /// One record per binary layer, in order (`hidden[k]` for `layers[k]`).
    pub hidden: Vec<HiddenSample>,
    /// `S° = W° x^L` for a Bernoulli output layer.
    pub out_s: Option<DMatrix<f64>>,
    /// Logits `o`, `K × B`.
    pub logits: DMatrix<f64>,
}

impl ForwardSample<'_> {
    /// The input of layer `k` (`x^{k−1}`; `k = 0` is the real input).
    pub fn input_of(&self, k: usize) -> &DMatrix<f64> {
        if k == 0 { self.x0 } else { &self.hidden[k - 1].x }
    }

    /// What layer `k`'s weights multiply: its input, or a convolution's patches of it.
    pub fn patches_of(&self, k: usize) -> Columns<'_> {
        match self.hidden.get(k).and_then(|h| h.patches.as_ref()) {
            Some(p) => p.columns(),
            None => Columns::Values(self.input_of(k)),
        }
    }

    /// Batch size.
    pub fn batch(&self) -> usize {
        self.x0.ncols()
    }
}

impl Network {
    /// A network from its layers (binary layers, then the output layer). Checks that the shapes
    /// chain and that there is at least one binary layer.
    pub fn new(layers: Vec<Layer>) -> Result<Self> {
        if layers.len() < 2 {
            return Err(SbnError::invalid("network", "needs at least one binary layer and an output layer"));
        }
        for (k, pair) in layers.windows(2).enumerate() {
            if pair[1].n_in() != pair[0].n_out() {
                return Err(SbnError::invalid(
                    format!("network layer {}", k + 1),
                    format!("takes {} inputs but layer {k} has {} units", pair[1].n_in(), pair[0].n_out()),
                ));
            }
        }
        if layers.last().is_some_and(|l| l.conv.is_some()) {
            return Err(SbnError::invalid("network", "the output layer must be dense"));
        }
        for (k, layer) in layers.iter().enumerate() {
            if let Some(c) = &layer.conv {
                c.check(&format!("network layer {k}"))?;
            }
            if layer.n_in() == 0 || layer.n_out() == 0 {
                return Err(SbnError::invalid(format!("network layer {k}"), "has zero width"));
            }
            if layer.bias.len() != layer.channels() || layer.scale().is_some_and(|g| g.len() != layer.channels()) {
                return Err(SbnError::invalid(format!("network layer {k}"), "bias or scale length differs from the unit count"));
            }
            let finite = layer.weight_param().iter().chain(layer.bias.iter()).chain(layer.scale().into_iter().flatten()).all(|v| v.is_finite());
            if !finite {
                return Err(SbnError::invalid(format!("network layer {k}"), "has a NaN or infinite parameter"));
            }
        }
        Ok(Network { layers })
    }

    /// The layers: binary layers, then the output layer.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Mutable access for optimizers; the shapes must not change.
    pub fn layers_mut(&mut self) -> &mut [Layer] {
        &mut self.layers
    }

    /// Number of stochastic binary layers `L`.
    pub fn n_hidden(&self) -> usize {
        self.layers.len() - 1
    }

    /// The output layer.
    pub fn output(&self) -> &Layer {
        self.layers.last().expect("a network has an output layer")
    }

    /// `[d0, n1, …, nL, K]`.
    pub fn dims(&self) -> Vec<usize> {
        std::iter::once(self.layers[0].n_in()).chain(self.layers.iter().map(Layer::n_out)).collect()
    }

    /// Input features `d0`.
    pub fn input_dim(&self) -> usize {
        self.layers[0].n_in()
    }

    /// Classes `K` (units of the output layer).
    pub fn n_classes(&self) -> usize {
        self.output().n_out()
    }

    /// Draws the weights of every Bernoulli layer (`W_ji = +1` iff `u < σ(θ_ji)`).
    pub fn sample_weights(&self, draws: &mut dyn Draws) -> WeightSample {
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(k, layer)| {
                let q = layer.q()?;
                let mut u = DMatrix::zeros(q.nrows(), q.ncols());
                draws.weights(k, u.as_mut_slice());
                Some(q.zip_map(&u, |q, u| if u < q { 1.0 } else { -1.0 }))
            })
            .collect();
        WeightSample::new(layers)
    }

    /// Draws the weights of every Bernoulli layer from streams below `seed`, in parallel: one stream
    /// per (layer, block of 64 columns), so the draw does not depend on the thread count.
    pub fn sample_weights_seeded(&self, seed: u64) -> WeightSample {
        const BLOCK: usize = 64;
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(k, layer)| {
                layer.scale()?;
                let mut w = layer.weight_param().clone();
                let rows = w.nrows();
                // q = σ(θ) per block, in the block's thread (blocks are whole multiples of the
                // vector width but the last, so every q is the one `Layer::q` gives).
                w.as_mut_slice().par_chunks_mut(rows * BLOCK).enumerate().for_each(|(block, chunk)| {
                    crate::simd::sigmoid_in_place(chunk);
                    let mut rng = crate::rng::stream(seed, &[k as u64, block as u64]);
                    for v in chunk.iter_mut() {
                        *v = if uniform(&mut rng) < *v { 1.0 } else { -1.0 };
                    }
                });
                Some(w)
            })
            .collect();
        WeightSample::new(layers)
    }

    /// Draws the weights of every Bernoulli layer for `engine`: the reference engine's draw is
    /// [`Network::sample_weights_seeded`]; the fast engine decides every weight by the same rule
    /// on the words of lane generators (one stream per layer and block of 64 columns), straight
    /// into its packed and f32 forms.
    pub fn sample_weights_for(&self, seed: u64, engine: Engine) -> WeightSample {
        match engine {
            Engine::Reference => self.sample_weights_seeded(seed),
            Engine::Fast => {
                let (layers, fast) = self
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(k, layer)| match layer.scale() {
                        None => (None, None),
                        Some(_) => {
                            let (w, fw) = super::fast_sample::sample_layer(layer.weight_param(), seed, k, k > 0);
                            (Some(w), fw)
                        }
                    })
                    .unzip();
                WeightSample { layers, engine, fast }
            }
        }
    }

    /// The posterior's mode: every Bernoulli weight at the sign of its logit (`+1` when `θ ≥ 0`).
    pub fn mode_weights(&self) -> WeightSample {
        let layers = self.layers.iter().map(|l| l.scale().map(|_| l.weight_param().map(|t| if t >= 0.0 { 1.0 } else { -1.0 }))).collect();
        WeightSample::new(layers)
    }

    /// The weights in use for layer `k`: the sample (Bernoulli) or the parameter `W` (real).
    pub fn weights_in_use<'a>(&'a self, ws: &'a WeightSample, k: usize) -> &'a DMatrix<f64> {
        ws.layers[k].as_ref().unwrap_or_else(|| self.layers[k].weight_param())
    }

    /// `W x` of layer `k` for its input `input` (`n_in × B`) with the weights in use, in the
    /// channels layout, and a convolution's patches (what `W` multiplied). On binary input (every
    /// layer but the first; padding ±1) the fast engine's product is exact, so both engines draw
    /// the same states.
    pub(crate) fn product(&self, k: usize, input: &DMatrix<f64>, ws: &WeightSample) -> (Option<Patches>, DMatrix<f64>) {
        let layer = &self.layers[k];
        match (ws.fast(k), layer.conv.as_ref()) {
            (Some(fw), None) if k > 0 => (None, fw.sign_product(input)),
            (Some(fw), Some(c)) if k > 0 && (c.pad == 0 || c.pad_value.abs() == 1.0) => {
                // Each example's map packed once, its patches gathered in bits.
                let (maps, positions) = (BitMatrix::from_cols_of(input), c.positions());
                let mut patches = BitMatrix::new(input.ncols() * positions, c.fan_in());
                for n in 0..input.ncols() {
                    super::conv_bits::gather(c, maps.row(n), &mut patches, n * positions);
                }
                let wx = fw.bits_product(&patches);
                (Some(Patches::Signs(patches)), wx)
            }
            _ => {
                let patches = layer.conv.as_ref().map(|c| c.unfold(input));
                let wx = crate::linalg::mul(self.weights_in_use(ws, k), patches.as_ref().unwrap_or(input));
                (patches.map(Patches::Values), wx)
            }
        }
    }

    /// One forward sample for the inputs `x0` (`d0 × B`) with the weights `ws`: every hidden unit
    /// is drawn by the sampling rule from `draws`.
    pub fn forward<'a>(&self, x0: &'a DMatrix<f64>, ws: &'a WeightSample, draws: &mut dyn Draws) -> ForwardSample<'a> {
        assert_eq!(x0.nrows(), self.input_dim(), "input size differs from the network's");
        let mut hidden: Vec<HiddenSample> = Vec::with_capacity(self.n_hidden());
        for k in 0..self.n_hidden() {
            let input = if k == 0 { x0 } else { &hidden[k - 1].x };
            let (patches, wx) = self.product(k, input, ws);
            let (s, a) = self.layers[k].preactivation_from_product(wx);
            let mut x = DMatrix::zeros(a.nrows(), a.ncols());
            draws.units(k, x.as_mut_slice());
            sample_states(a.as_slice(), x.as_mut_slice());
            hidden.push(HiddenSample { s, a, x, patches });
        }
        let l = self.n_hidden();
        let (out_s, logits) = self.layers[l].preactivation(self.weights_in_use(ws, l), &hidden[l - 1].x);
        ForwardSample { x0, weights: ws, hidden, out_s, logits }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DVector;

    #[test]
    fn rejects_shapes_that_do_not_chain() {
        let l0 = Layer::real(DMatrix::zeros(3, 2), DVector::zeros(3));
        let l1 = Layer::real(DMatrix::zeros(2, 4), DVector::zeros(2));
        assert!(Network::new(vec![l0.clone(), l1]).is_err());
        assert!(Network::new(vec![l0]).is_err());
    }

    #[test]
    fn given_uniforms_reproduce_the_sampling_rule() {
        let l0 = Layer::real(DMatrix::from_row_slice(2, 1, &[1.0, -1.0]), DVector::zeros(2));
        let l1 = Layer::real(DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]), DVector::zeros(2));
        let net = Network::new(vec![l0, l1]).unwrap();
        let x0 = DMatrix::from_row_slice(1, 1, &[0.0]);
        // σ(0) = ½: u = 0.49 gives +1, u = 0.5 gives −1.
        let mut draws = GivenDraws { units: vec![DMatrix::from_column_slice(2, 1, &[0.49, 0.5])], weights: vec![] };
        let ws = net.sample_weights(&mut draws);
        let fwd = net.forward(&x0, &ws, &mut draws);
        assert_eq!(fwd.hidden[0].x.as_slice(), &[1.0, -1.0]);
        assert_eq!(fwd.logits.as_slice(), &[1.0, -1.0]);
    }
}
