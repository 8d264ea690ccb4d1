//! Gradient quality of the estimators (docs/math.md §4) against the exact gradient: for one
//! network and batch, `R` single-sample estimates per estimator, and per layer
//! * relative bias `‖mean ĝ − g‖ / ‖g‖`,
//! * variance: mean squared deviation from the mean, summed over the layer's parameters,
//! * mean single-sample cosine `cos(ĝ, g)`,
//! * cosine of the M-sample mean, averaged over the `R/M` disjoint groups, for each M.
//!
//! `g` comes from [`Exact`] (enumeration). [`toy_model`] builds the PSA paper's setting: its 2-D
//! toy data, a 2-5-5-5-2 real-weight net trained with PSA for a chosen number of epochs.

use std::path::Path;
use std::time::Instant;

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::checked::Checked;
use crate::data::InputScaling;
use crate::data::toy::psa_paper_toy;
use crate::error::{Result, SbnError};
use crate::estimator::{Estimator, EstimatorKind, Exact};
use crate::model::{Network, RngDraws};
use crate::plot::{LineChart, Series, line_chart};
use crate::session::{FitOptions, fit, initial_network};
use crate::spec::ModelSpec;

/// What to measure.
#[derive(Clone, Debug)]
pub struct GradcheckConfig {
    /// Single-sample estimates per estimator (`R`).
    pub draws: usize,
    /// Sample counts `M` of the averaged estimates (those above `R` are skipped).
    pub group_sizes: Vec<usize>,
    /// Seed of the draws: estimator `e` (in the order given) samples from stream `(seed, e)`.
    pub seed: u64,
}

impl Default for GradcheckConfig {
    fn default() -> Self {
        GradcheckConfig { draws: 1000, group_sizes: vec![1, 10, 100, 1000], seed: 0 }
    }
}

/// One layer's statistics for one estimator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    /// Layer index (binary layers from 0, the output layer last).
    pub layer: usize,
    /// Number of parameters of the layer (entries of `w`, `γ` and `b` together).
    pub n_params: usize,
    /// `‖g‖` of the exact gradient.
    pub exact_norm: f64,
    /// `‖mean ĝ − g‖ / ‖g‖` (NaN when `g = 0`).
    pub relative_bias: f64,
    /// `Σ_params mean (ĝ − mean ĝ)²`.
    pub variance: f64,
    /// Mean of `cos(ĝ, g)` over single samples.
    pub mean_cosine: f64,
    /// `cos(mean of M samples, g)` averaged over groups, one per entry of `group_sizes`.
    pub cosine_of_mean: Vec<f64>,
}

/// One estimator's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EstimatorStats {
    /// The estimator's name (as in the spec and on the command line, e.g. `psa`).
    pub estimator: String,
    /// Per-layer statistics, binary layers first, the output layer last.
    pub layers: Vec<LayerStats>,
    /// Mean estimator value (its estimate of the expected loss).
    pub mean_value: f64,
    /// Wall-clock time of the estimator's `R` draws, in seconds.
    pub seconds: f64,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradcheckReport {
    /// Widths of the network, input `d0` first and classes `K` last ([`Network::dims`]).
    pub dims: Vec<usize>,
    /// Examples in the batch (`B`).
    pub examples: usize,
    /// Single-sample estimates per estimator (`R`).
    pub draws: usize,
    /// The sample counts `M` measured: those of the config between 1 and `R`.
    pub group_sizes: Vec<usize>,
    /// Seed of the draws (see [`GradcheckConfig::seed`]).
    pub seed: u64,
    /// The exact expected batch-mean loss.
    pub exact_loss: f64,
    /// One entry per estimator, in the order given.
    pub estimators: Vec<EstimatorStats>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `cos(a, b)`, 0 when either is zero.
fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let d = norm(a) * norm(b);
    if d > 0.0 { dot(a, b) / d } else { 0.0 }
}

/// Statistics of `samples` (one flattened layer gradient each) against `exact`.
pub fn layer_stats(layer: usize, samples: &[Vec<f64>], exact: &[f64], group_sizes: &[usize]) -> LayerStats {
    let r = samples.len();
    let p = exact.len();
    let mut mean = vec![0.0; p];
    for s in samples {
        mean.iter_mut().zip(s).for_each(|(m, v)| *m += v / r as f64);
    }
    let variance = samples.iter().map(|s| s.iter().zip(&mean).map(|(v, m)| (v - m) * (v - m)).sum::<f64>()).sum::<f64>() / r as f64;
    let diff: Vec<f64> = mean.iter().zip(exact).map(|(m, g)| m - g).collect();
    let exact_norm = norm(exact);
    let mean_cosine = samples.iter().map(|s| cosine(s, exact)).sum::<f64>() / r as f64;
    let cosine_of_mean = group_sizes
        .iter()
        .map(|&m| {
            let groups = r / m;
            (0..groups)
                .map(|gi| {
                    let mut avg = vec![0.0; p];
                    for s in &samples[gi * m..(gi + 1) * m] {
                        avg.iter_mut().zip(s).for_each(|(a, v)| *a += v);
                    }
                    cosine(&avg, exact)
                })
                .sum::<f64>()
                / groups as f64
        })
        .collect();
    LayerStats {
        layer,
        n_params: p,
        exact_norm,
        relative_bias: if exact_norm > 0.0 { norm(&diff) / exact_norm } else { f64::NAN },
        variance,
        mean_cosine,
        cosine_of_mean,
    }
}

/// Runs every estimator `config.draws` times on the batch `x` (`d0 × B`), `y`, each draw a fresh
/// weight sample and unit noise from one seeded stream per estimator.
pub fn gradcheck(net: &Network, x: &DMatrix<f64>, y: &[usize], estimators: &[Box<dyn Estimator>], config: &GradcheckConfig) -> Result<GradcheckReport> {
    if config.draws == 0 {
        return Err(SbnError::invalid("draws", "must be at least 1"));
    }
    let group_sizes: Vec<usize> = config.group_sizes.iter().copied().filter(|&m| m >= 1 && m <= config.draws).collect();
    let exact = Exact::default().compute(net, x, y)?;
    let exact_layers: Vec<Vec<f64>> = exact.grad.layers.iter().map(|l| l.flatten()).collect();
    let n_params: usize = exact_layers.iter().map(Vec::len).sum();
    crate::limits::ensure_fits(
        &format!("{} draws", config.draws),
        &format!("keeping every draw's {n_params} gradient entries"),
        crate::limits::product(&[config.draws, n_params, 8 + 24]),
    )?;
    let mut out = Vec::with_capacity(estimators.len());
    for (e, est) in estimators.iter().enumerate() {
        let started = Instant::now();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(crate::rng::stream_seed(config.seed, &[e as u64]));
        let mut samples: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(config.draws); exact_layers.len()];
        let mut value = 0.0;
        for _ in 0..config.draws {
            let mut d = RngDraws(&mut rng);
            let ws = net.sample_weights(&mut d);
            let g = est.estimate(net, x, y, &ws, &mut d)?;
            value += g.loss / config.draws as f64;
            for (k, l) in g.grad.layers.iter().enumerate() {
                samples[k].push(l.flatten());
            }
        }
        let layers = samples.iter().zip(&exact_layers).enumerate().map(|(k, (s, g))| layer_stats(k, s, g, &group_sizes)).collect();
        out.push(EstimatorStats { estimator: est.kind().name().to_string(), layers, mean_value: value, seconds: started.elapsed().as_secs_f64() });
    }
    Ok(GradcheckReport { dims: net.dims(), examples: x.ncols(), draws: config.draws, group_sizes, seed: config.seed, exact_loss: exact.loss, estimators: out })
}

/// The estimators the study compares by default.
pub const STUDY_ESTIMATORS: [EstimatorKind; 10] = [
    EstimatorKind::Psa,
    EstimatorKind::St,
    EstimatorKind::HardSt,
    EstimatorKind::Arm,
    EstimatorKind::DisArm,
    EstimatorKind::Reinforce,
    EstimatorKind::ReinforceNb,
    EstimatorKind::Concrete,
    EstimatorKind::StGumbel,
    EstimatorKind::Tanh,
];

/// The spec of the toy study: 2-5-5-5-2, real weights, PSA, Adam, full-batch-ish steps.
pub fn toy_spec(epochs: usize, seed: u64) -> Checked<ModelSpec> {
    let text = format!(
        "[network]\nhidden = [5, 5, 5]\nweights = \"real\"\n[objective]\nbeta = 0.0\n\
         [training]\nestimator = \"psa\"\nlr = 0.01\nschedule = \"constant\"\nbatch_size = 50\nepochs = {}\nseed = {seed}\nchunk = 50\n\
         [validation]\nweight_samples = 1\nnoise_samples = 16\n",
        epochs.max(1)
    );
    ModelSpec::parse(&text, "toy spec").expect("the toy spec is valid")
}

/// The PSA paper's toy problem (`psa_paper_toy(200, seed)`) and a 2-5-5-5-2 real-weight network
/// trained on it with PSA for `epochs` epochs via [`fit`] (0: the initialized network, as a fit
/// initializes it). Returns the network, the scaled inputs (`2 × 200`), the labels, and the last
/// epoch's validation accuracy on the same data (NaN for 0 epochs).
pub fn toy_model(epochs: usize, seed: u64) -> Result<(Network, DMatrix<f64>, Vec<usize>, f64)> {
    let data = psa_paper_toy(crate::data::toy::PSA_TOY_DEFAULT_N, seed);
    let spec = toy_spec(epochs, seed);
    let scaling = InputScaling::fit(&data);
    let x = scaling.apply_all(&data)?;
    let (net, acc) = if epochs == 0 {
        let shapes = spec.layer_shapes(data.dim, None, data.n_classes(), scaling.zero_input())?;
        (initial_network(&spec, &shapes, &data, &scaling)?, f64::NAN)
    } else {
        let outcome = fit(&spec, &data, &data, &FitOptions::default(), &mut ())?;
        let acc = outcome.model.history.last().map_or(f64::NAN, |r| r.valid_accuracy);
        (outcome.last, acc)
    };
    Ok((net, x, data.require_labels("the gradient study")?.to_vec(), acc))
}

/// Cosine of the M-sample mean against M, one chart per layer, one line per estimator (log x):
/// `dir/gradcheck_layer{k}.png/svg`. Returns the stems written.
pub fn plot_report(report: &GradcheckReport, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let n_layers = report.estimators.first().map_or(0, |e| e.layers.len());
    let n_hidden = n_layers.saturating_sub(1);
    let mut stems = Vec::new();
    for k in 0..n_layers {
        let name = if k < n_hidden { format!("hidden layer {}", k + 1) } else { "output layer".to_string() };
        let chart = LineChart {
            title: format!("Cosine to the exact gradient, {name} (net {:?}, {} examples)", report.dims, report.examples),
            x_label: "samples averaged (M)".into(),
            y_label: "cosine".into(),
            x: report.group_sizes.iter().map(|&m| m as f64).collect(),
            series: report.estimators.iter().map(|e| Series { name: e.estimator.clone(), y: e.layers[k].cosine_of_mean.clone() }).collect(),
            log_x: true,
        };
        let stem = dir.join(format!("gradcheck_layer{k}"));
        line_chart(&chart, &stem)?;
        stems.push(stem);
    }
    Ok(stems)
}

/// A plain-text table: per estimator and layer, bias, variance, mean cosine, cosine of M-means.
pub fn table(report: &GradcheckReport) -> String {
    let mut s = format!("{:<13} {:>5} {:>9} {:>10} {:>8}", "estimator", "layer", "rel.bias", "variance", "cos(1)");
    for m in &report.group_sizes {
        s.push_str(&format!(" {:>9}", format!("cosM={m}")));
    }
    s.push('\n');
    for e in &report.estimators {
        for l in &e.layers {
            s.push_str(&format!("{:<13} {:>5} {:>9.4} {:>10.3e} {:>8.4}", e.estimator, l.layer, l.relative_bias, l.variance, l.mean_cosine));
            for c in &l.cosine_of_mean {
                s.push_str(&format!(" {c:>9.4}"));
            }
            s.push('\n');
        }
    }
    s
}
