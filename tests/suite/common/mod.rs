//! Helpers shared by the Monte Carlo estimator tests: draw statistics and small test problems.
#![allow(dead_code)]

pub mod cli;
pub mod packed;

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use sbn::estimator::Estimator;
use sbn::model::init::{InitConfig, random_network};
use sbn::model::{Network, RngDraws, WeightKind, Weights};

/// Per layer, the mean and the standard error of the mean of every gradient entry.
pub struct McStats {
    pub mean: Vec<Vec<f64>>,
    pub stderr: Vec<Vec<f64>>,
}

/// `draws` independent single-sample estimates (weights and units drawn afresh each time).
pub fn monte_carlo(net: &Network, x: &DMatrix<f64>, y: &[usize], est: &dyn Estimator, draws: usize, seed: u64) -> McStats {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let n_layers = net.layers().len();
    let mut sum: Vec<Vec<f64>> = vec![Vec::new(); n_layers];
    let mut sum_sq: Vec<Vec<f64>> = vec![Vec::new(); n_layers];
    for _ in 0..draws {
        let mut d = RngDraws(&mut rng);
        let ws = net.sample_weights(&mut d);
        let g = est.estimate(net, x, y, &ws, &mut d).unwrap().grad;
        for (k, layer) in g.layers.iter().enumerate() {
            let f = layer.flatten();
            if sum[k].is_empty() {
                sum[k] = vec![0.0; f.len()];
                sum_sq[k] = vec![0.0; f.len()];
            }
            for (i, v) in f.iter().enumerate() {
                sum[k][i] += v;
                sum_sq[k][i] += v * v;
            }
        }
    }
    let r = draws as f64;
    let mean: Vec<Vec<f64>> = sum.iter().map(|s| s.iter().map(|v| v / r).collect()).collect();
    let stderr = sum_sq.iter().zip(&mean).map(|(sq, m)| sq.iter().zip(m).map(|(s, m)| ((s / r - m * m).max(0.0) / (r - 1.0)).sqrt()).collect()).collect();
    McStats { mean, stderr }
}

pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// A small network with non-zero biases, Bernoulli scales `γ_j = gamma.0 + gamma.1·j`, real
/// weights of standard deviation `weight_std/√n_in`, a fixed batch and labels.
pub fn problem(dims: &[usize], kinds: &[WeightKind], weight_std: f64, gamma: (f64, f64), batch: usize, seed: u64) -> (Network, DMatrix<f64>, Vec<usize>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let init = InitConfig { logit_scale: 0.8, weight_std };
    let mut net = random_network(dims, kinds, init, &mut rng).unwrap();
    for (k, layer) in net.layers_mut().iter_mut().enumerate() {
        for (j, b) in layer.bias.iter_mut().enumerate() {
            *b = 0.3 * ((j + k) as f64 % 3.0 - 1.0);
        }
        if let Weights::Bernoulli { scale, .. } = &mut layer.weights {
            scale.iter_mut().enumerate().for_each(|(j, g)| *g = gamma.0 + gamma.1 * j as f64);
        }
    }
    let x = DMatrix::from_fn(dims[0], batch, |i, n| ((i * 7 + n * 3) % 5) as f64 * 0.5 - 1.0);
    let k = *dims.last().unwrap();
    let y = (0..batch).map(|n| (n * 5 + 1) % k).collect();
    (net, x, y)
}

/// `net` with parameter `idx` of layer `k` moved by `c`, in the order of `LayerGrad::flatten`:
/// weights (W or θ, column-major), then γ, then b.
pub fn bumped(net: &Network, k: usize, idx: usize, c: f64) -> Network {
    let mut m = net.clone();
    let layer = &mut m.layers_mut()[k];
    let n_w = layer.n_weights();
    let n_g = layer.scale().map_or(0, |g| g.len());
    if idx < n_w {
        match &mut layer.weights {
            Weights::Real { w } => w.as_mut_slice()[idx] += c,
            Weights::Bernoulli { logits, .. } => logits.as_mut_slice()[idx] += c,
        }
    } else if idx < n_w + n_g {
        if let Weights::Bernoulli { scale, .. } = &mut layer.weights {
            scale[idx - n_w] += c;
        }
    } else {
        layer.bias[idx - n_w - n_g] += c;
    }
    m
}

/// Stops a training run after `n` batches of this invocation, like an interruption (Ctrl-C).
pub struct StopAfter(pub usize);

impl sbn::train::Observer for StopAfter {
    fn batch(&mut self, _: &sbn::train::Trainer) -> sbn::Result<sbn::train::Flow> {
        self.0 = self.0.saturating_sub(1);
        self.epoch_end_flow()
    }

    fn epoch_end(&mut self, _: &sbn::train::Trainer) -> sbn::Result<sbn::train::Flow> {
        self.epoch_end_flow()
    }
}

impl StopAfter {
    fn epoch_end_flow(&self) -> sbn::Result<sbn::train::Flow> {
        Ok(if self.0 == 0 { sbn::train::Flow::Stop } else { sbn::train::Flow::Continue })
    }
}
