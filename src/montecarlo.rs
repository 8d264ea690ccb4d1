//! The Monte Carlo predictive (docs/math.md §5): `S_w` weight samples `W_s ~ q`, and for each `S_z`
//! activation-noise samples, `p̄_s(y|x) = (1/S_z) Σ_t softmax(o(x; W_s, Z_t))`.
//!
//! Two engines compute the same thing from the same draws: `Packed` (bit matrices and popcounts,
//! [`crate::packed`]) and `Float` (nalgebra, [`Network::forward`]). Seeding is a fixed rule, so a
//! result depends on the seed only, never on the thread count:
//! * weight sample `s` draws from `rng(seed, 0, s)` in the order of `Network::sample_weights`;
//! * noise sample `t` of example `i` (its index in the input) under weight sample `s` draws its
//!   unit noise from the lane generator [`LaneRng`] seeded from `rng(seed, s + 1, i, t)`
//!   ([`noise_rng`]): one 64-bit word per unit, layer by layer, unit by unit; word `w` is the
//!   uniform `u = (w >> 11)·2^{-53}`. Examples are evaluated in blocks of [`BLOCK`] (a task),
//!   which does not change the draws.

use rand::rngs::Xoshiro256PlusPlus;
use rayon::prelude::*;

pub use crate::rng::{LaneRng, Words};

use crate::data::InputBatch;
use crate::error::{Result, SbnError};
use crate::model::noise::UNIT;
use crate::model::softmax::SoftmaxMean;
use crate::model::{Draws, Layer, Network, RngDraws, WeightSample};
use crate::packed::SampledNetwork;
use crate::predictive::Predictive;

/// Examples per parallel task.
pub const BLOCK: usize = 32;

/// Which engine evaluates the samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Engine {
    /// Packed bits and popcounts; an error if the network cannot be packed.
    Packed,
    /// nalgebra f64, any network.
    Float,
    /// Packed where the network allows, float otherwise.
    #[default]
    Auto,
}

/// Monte Carlo settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct McConfig {
    /// `S_w`.
    pub weight_samples: usize,
    /// `S_z` per weight sample.
    pub noise_samples: usize,
    /// Seed of every draw (the streams are listed in the module docs).
    pub seed: u64,
    /// Which engine evaluates the samples; both see the same draws (docs/math.md §6).
    pub engine: Engine,
}

impl Default for McConfig {
    fn default() -> Self {
        McConfig { weight_samples: 16, noise_samples: 16, seed: 0, engine: Engine::Auto }
    }
}

/// The generator of stream `(a, b)` of `seed` (see the module docs for which stream is which).
pub fn stream_rng(seed: u64, a: u64, b: u64) -> Xoshiro256PlusPlus {
    crate::rng::stream(seed, &[a, b])
}

/// The unit-noise generator of noise sample `t` of example `i` under weight sample `s` (see the
/// module docs).
pub fn noise_rng(seed: u64, s: usize, i: usize, t: usize) -> LaneRng {
    LaneRng::stream(seed, &[s as u64 + 1, i as u64, t as u64])
}

/// The `S_w` weight samples of `config` for the float engine.
pub fn sample_weights(net: &Network, config: &McConfig) -> Vec<WeightSample> {
    (0..config.weight_samples).map(|s| net.sample_weights(&mut RngDraws(&mut stream_rng(config.seed, 0, s as u64)))).collect()
}

/// One network drawn from the posterior of `net` with `seed`, packed (what `sbn export
/// --sample-seed` writes).
pub fn sample_network(net: &Network, seed: u64) -> Result<SampledNetwork> {
    SampledNetwork::sample(net, &mut crate::rng::stream(seed, &[]))
}

/// The same `S_w` weight samples as [`sample_weights`], packed.
pub fn sample_networks(net: &Network, config: &McConfig) -> Result<Vec<SampledNetwork>> {
    SampledNetwork::check(net)?;
    let q: Vec<_> = net.layers().iter().map(Layer::q).collect();
    Ok((0..config.weight_samples).into_par_iter().map(|s| SampledNetwork::sample_with_q(net, &q, &mut stream_rng(config.seed, 0, s as u64))).collect())
}

fn check_counts(weight_samples: usize, noise_samples: usize) -> Result<()> {
    if weight_samples == 0 || noise_samples == 0 {
        return Err(SbnError::invalid("Monte Carlo", "needs at least one weight sample and one noise sample"));
    }
    Ok(())
}

/// Whether `config` evaluates `net` on the packed engine (an error when it asks for the packed
/// engine and the network cannot be packed).
fn uses_packed(net: &Network, config: &McConfig) -> Result<bool> {
    Ok(match config.engine {
        Engine::Packed => {
            SampledNetwork::check(net)?;
            true
        }
        Engine::Float => false,
        Engine::Auto => SampledNetwork::check(net).is_ok(),
    })
}

/// Bytes the predictive of `net` on `n_examples` examples allocates: the `S_w` weight samples
/// (packed bits, or f64 weights on the float engine) and the `S_w × n × K` probabilities, held
/// twice while the per-block parts are assembled. `None` when the count overflows.
pub fn memory_needed(net: &Network, n_examples: usize, config: &McConfig) -> Option<u128> {
    let packed = uses_packed(net, config).unwrap_or(false);
    let per_sample: u128 = net
        .layers()
        .iter()
        .map(|l| {
            let rows = l.channels() as u128;
            let weights = if packed && l.q().is_some() { rows * crate::popcount::bits::words_for(l.fan_in()) as u128 * 8 } else { l.n_weights() as u128 * 8 };
            weights + 16 * rows
        })
        .sum();
    let probabilities = crate::limits::product(&[2 * 8, config.weight_samples, n_examples, net.n_classes()])?;
    per_sample.checked_mul(config.weight_samples as u128)?.checked_add(probabilities)
}

/// Errors when the predictive of `n_examples` examples would not fit in memory; `what` names the
/// setting (e.g. `--weight-samples 100000`).
pub fn check_memory(net: &Network, n_examples: usize, config: &McConfig, what: &str) -> Result<()> {
    let holds = format!("the Monte Carlo predictive of {n_examples} examples ({} weight samples × {} classes)", config.weight_samples, net.n_classes());
    crate::limits::ensure_fits(what, &holds, memory_needed(net, n_examples, config))
}

/// The predictive of `net` on `inputs` with the engine of `config`.
pub fn predictive(net: &Network, inputs: InputBatch, config: &McConfig) -> Result<Predictive> {
    check_counts(config.weight_samples, config.noise_samples)?;
    inputs.check(net.input_dim())?;
    check_memory(net, inputs.len(), config, &format!("S_w = {} weight samples", config.weight_samples))?;
    if uses_packed(net, config)? {
        predictive_packed(&sample_networks(net, config)?, inputs, config.noise_samples, config.seed)
    } else {
        predictive_float(net, &sample_weights(net, config), inputs, config.noise_samples, config.seed)
    }
}

/// A Monte Carlo engine: `S_w` weight samples of one network, each evaluated on blocks of
/// examples with fresh activation noise. The packed and the float engine implement it, and
/// [`run`] turns either into the predictive with the same seeding rule.
pub trait McEngine: Sync {
    /// `S_w`.
    fn weight_samples(&self) -> usize;
    /// The number of classes K.
    fn n_classes(&self) -> usize;
    /// `p̄_s` of the examples `range` of `inputs` for weight sample `s`: softmax outputs averaged
    /// over `noise_samples` activation-noise samples drawn from [`noise_rng`] of `seed`, row-major
    /// `[example][class]`.
    fn block(&self, s: usize, inputs: &InputBatch, range: std::ops::Range<usize>, noise_samples: usize, seed: u64) -> Vec<f64>;
}

/// Sampled networks on packed bits.
pub struct PackedEngine<'a>(pub &'a [SampledNetwork]);

impl McEngine for PackedEngine<'_> {
    fn weight_samples(&self) -> usize {
        self.0.len()
    }

    fn n_classes(&self) -> usize {
        *self.0[0].dims().last().expect("dims are non-empty")
    }

    fn block(&self, s: usize, inputs: &InputBatch, range: std::ops::Range<usize>, noise_samples: usize, seed: u64) -> Vec<f64> {
        self.0[s].noise_averaged_probabilities(inputs, range, noise_samples, |i, t| noise_rng(seed, s, i, t))
    }
}

/// Weight samples of a network evaluated in f64 ([`Network::forward`]).
pub struct FloatEngine<'a> {
    /// The network whose weights were sampled.
    pub net: &'a Network,
    /// Its weight samples.
    pub samples: &'a [WeightSample],
}

impl McEngine for FloatEngine<'_> {
    fn weight_samples(&self) -> usize {
        self.samples.len()
    }

    fn n_classes(&self) -> usize {
        self.net.n_classes()
    }

    fn block(&self, s: usize, inputs: &InputBatch, range: std::ops::Range<usize>, noise_samples: usize, seed: u64) -> Vec<f64> {
        let x0 = inputs.to_matrix(range.clone());
        let mut mean = SoftmaxMean::new(self.net.n_classes(), range.len());
        for t in 0..noise_samples {
            let mut draws = ExampleDraws::new(range.clone().map(|i| noise_rng(seed, s, i, t)).collect());
            mean.add(&self.net.forward(&x0, &self.samples[s], &mut draws).logits);
        }
        mean.finish()
    }
}

/// The unit noise of one noise sample of a block of examples for [`Network::forward`]: the
/// uniforms of example `n` (column `n` of every layer) from generator `n`, layer by layer, one
/// word per unit (`u = (w >> 11)·2^{-53}`, as [`crate::model::noise::uniform`] makes it).
pub struct ExampleDraws {
    rngs: Vec<LaneRng>,
    words: Vec<u64>,
}

impl ExampleDraws {
    /// Draws for the examples of a block, one generator each.
    pub fn new(rngs: Vec<LaneRng>) -> Self {
        ExampleDraws { rngs, words: Vec::new() }
    }
}

impl Draws for ExampleDraws {
    fn weights(&mut self, _k: usize, _out: &mut [f64]) {
        panic!("the predictive draws its weight samples from their own streams (`sample_weights`)")
    }

    fn units(&mut self, _k: usize, out: &mut [f64]) {
        let rows = out.len() / self.rngs.len();
        self.words.resize(rows, 0);
        for (col, rng) in out.chunks_exact_mut(rows).zip(&mut self.rngs) {
            rng.fill(&mut self.words);
            col.iter_mut().zip(&self.words).for_each(|(u, &w)| *u = (w >> 11) as f64 * (1.0 / UNIT));
        }
    }
}

/// The predictive of `engine` on `inputs` (checked by the caller): every (weight sample, block of
/// [`BLOCK`] examples) in parallel, each noise sample of each example drawing from its own
/// generator ([`noise_rng`]), so the result depends on the seed only, never on the thread count.
pub fn run(engine: &impl McEngine, inputs: InputBatch, noise_samples: usize, seed: u64) -> Predictive {
    let (n, k, weight_samples) = (inputs.len(), engine.n_classes(), engine.weight_samples());
    let blocks = n.div_ceil(BLOCK);
    let parts: Vec<Vec<f64>> = (0..weight_samples * blocks)
        .into_par_iter()
        .map(|id| {
            let (s, blk) = (id / blocks, id % blocks);
            let range = blk * BLOCK..((blk + 1) * BLOCK).min(n);
            engine.block(s, &inputs, range, noise_samples, seed)
        })
        .collect();
    let mut out = Predictive::zeros(n, k, weight_samples, noise_samples);
    for (id, part) in parts.iter().enumerate() {
        let (s, blk) = (id / blocks, id % blocks);
        for (i, p) in part.chunks_exact(k).enumerate() {
            let ex = blk * BLOCK + i;
            let start = (ex * weight_samples + s) * k;
            out.per_weight_sample[start..start + k].copy_from_slice(p);
        }
    }
    out
}

/// The predictive of the packed engine for given sampled networks.
pub fn predictive_packed(nets: &[SampledNetwork], inputs: InputBatch, noise_samples: usize, seed: u64) -> Result<Predictive> {
    check_counts(nets.len(), noise_samples)?;
    let dims = nets[0].dims();
    if nets.iter().any(|m| m.dims() != dims) {
        return Err(SbnError::invalid("sampled networks", "differ in their shapes"));
    }
    inputs.check(dims[0])?;
    Ok(run(&PackedEngine(nets), inputs, noise_samples, seed))
}

/// The predictive of the float engine (`Network::forward`) for given weight samples.
pub fn predictive_float(net: &Network, samples: &[WeightSample], inputs: InputBatch, noise_samples: usize, seed: u64) -> Result<Predictive> {
    check_counts(samples.len(), noise_samples)?;
    inputs.check(net.input_dim())?;
    if samples.iter().any(|ws| ws.layers.len() != net.layers().len()) {
        return Err(SbnError::invalid("weight samples", "layer count differs from the network's"));
    }
    Ok(run(&FloatEngine { net, samples }, inputs, noise_samples, seed))
}
