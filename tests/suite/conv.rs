//! Convolutional layers (issue #7).
//!
//! * PSA and ST on networks with convolutions equal their per-pair definitions (docs/math.md §3) on the
//!   equivalent unfolded network: every unit `(position, channel)` of a convolution is a dense unit
//!   whose edges come from its patch (written out here from the geometry, independently of the
//!   library's unfolding), padded taps are constant inputs, and the gradient of a shared weight is
//!   the sum over its copies. Random shapes with stride and padding, both weight kinds.
//! * Exact enumeration on a tiny convolutional net agrees with finite differences of the exact
//!   expected loss, and PSA's Monte Carlo mean agrees with it where PSA is unbiased (the output
//!   layer and a last binary layer with one position).

use nalgebra::{DMatrix, DVector};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use sbn::data::InputBatch;
use sbn::estimator::{Estimator, Exact, Gradient, Psa, StraightThrough, Surrogate};
use sbn::model::init::{InitConfig, LayerShape, random_layers};
use sbn::model::noise::sigmoid;
use sbn::model::softmax::{nll, softmax};
use sbn::model::{Conv2d, GivenDraws, Network, WeightKind, WeightSample, Weights};

use crate::common::{bumped, norm};

/// One edge of the unfolded network: unit `j` reads input `i` (`None`: a padded tap, the
/// constant `pad`) through entry `(c, κ)` of the layer's weight matrix.
#[derive(Clone, Copy)]
struct Edge {
    j: usize,
    c: usize,
    i: Option<usize>,
    kappa: usize,
}

/// The unfolded graph of every layer.
fn edges(net: &Network) -> Vec<(Vec<Edge>, f64)> {
    net.layers()
        .iter()
        .map(|layer| match &layer.conv {
            None => {
                let (rows, cols) = (layer.channels(), layer.fan_in());
                ((0..rows).flat_map(|j| (0..cols).map(move |i| Edge { j, c: j, i: Some(i), kappa: i })).collect(), 0.0)
            }
            Some(g) => {
                let out_h = (g.in_h + 2 * g.pad - g.kernel) / g.stride + 1;
                let out_w = (g.in_w + 2 * g.pad - g.kernel) / g.stride + 1;
                let mut e = Vec::new();
                for oy in 0..out_h {
                    for ox in 0..out_w {
                        for c in 0..g.out_c {
                            let j = (oy * out_w + ox) * g.out_c + c;
                            for dy in 0..g.kernel {
                                for dx in 0..g.kernel {
                                    let (y, x) = ((oy * g.stride + dy) as isize - g.pad as isize, (ox * g.stride + dx) as isize - g.pad as isize);
                                    let inside = y >= 0 && x >= 0 && (y as usize) < g.in_h && (x as usize) < g.in_w;
                                    for ci in 0..g.in_c {
                                        let i = inside.then(|| (y as usize * g.in_w + x as usize) * g.in_c + ci);
                                        e.push(Edge { j, c, i, kappa: (dy * g.kernel + dx) * g.in_c + ci });
                                    }
                                }
                            }
                        }
                    }
                }
                (e, g.pad_value)
            }
        })
        .collect()
}

/// Per layer: the effective weight of entry `(c, κ)` (`γ_c W_cκ` or `W_cκ`), and the sampled sign.
fn effective(net: &Network, ws: &WeightSample, k: usize) -> (DMatrix<f64>, Option<DMatrix<f64>>) {
    let layer = &net.layers()[k];
    match &layer.weights {
        Weights::Real { w } => (w.clone(), None),
        Weights::Bernoulli { scale, .. } => {
            let s = ws.layers[k].clone().unwrap();
            (DMatrix::from_fn(s.nrows(), s.ncols(), |c, kk| scale[c] * s[(c, kk)]), Some(s))
        }
    }
}

/// The pre-activations and `S` of every unit of layer `k` for one example's input `x`.
fn unit_preactivations(net: &Network, ws: &WeightSample, graph: &[(Vec<Edge>, f64)], k: usize, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let layer = &net.layers()[k];
    let (weff, sign) = effective(net, ws, k);
    let n = layer.n_out();
    let (mut a, mut s) = (vec![0.0; n], vec![0.0; n]);
    let (graph, pad) = &graph[k];
    let mut chan = vec![0; n];
    for e in graph {
        let v = e.i.map_or(*pad, |i| x[i]);
        a[e.j] += weff[(e.c, e.kappa)] * v;
        if let Some(sign) = &sign {
            s[e.j] += sign[(e.c, e.kappa)] * v;
        }
        chan[e.j] = e.c;
    }
    for j in 0..n {
        a[j] += layer.bias[chan[j]];
    }
    (a, s)
}

/// A layer gradient accumulated per example.
struct Acc {
    w: DMatrix<f64>,
    scale: DVector<f64>,
    bias: DVector<f64>,
}

/// PSA (or ST with `st = true`) of the hidden layers, from the per-pair definitions on the
/// unfolded graph, for states drawn from `draws`; returns one flattened gradient per hidden layer.
fn reference(net: &Network, ws: &WeightSample, x: &DMatrix<f64>, y: &[usize], draws: &GivenDraws, st: bool) -> Vec<Vec<f64>> {
    let graph = edges(net);
    let l = net.n_hidden();
    let batch = x.ncols();
    let mut acc: Vec<Acc> = net.layers()[..l]
        .iter()
        .map(|ly| Acc { w: DMatrix::zeros(ly.channels(), ly.fan_in()), scale: DVector::zeros(ly.channels()), bias: DVector::zeros(ly.channels()) })
        .collect();
    for n in 0..batch {
        // Forward.
        let mut xs: Vec<Vec<f64>> = vec![x.column(n).iter().copied().collect()];
        let mut pre: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
        for k in 0..l {
            let (a, s) = unit_preactivations(net, ws, &graph, k, &xs[k]);
            let u = draws.units[k].column(n);
            xs.push(a.iter().zip(u.iter()).map(|(&a, &u)| if u < sigmoid(a) { 1.0 } else { -1.0 }).collect());
            pre.push((a, s));
        }
        let logits = |xl: &[f64]| unit_preactivations(net, ws, &graph, l, xl).0;
        let o = logits(&xs[l]);
        // Sensitivities of the last binary layer: PSA's flip differences or ST's derivative.
        let (weff_out, _) = effective(net, ws, l);
        let mut sens: Vec<f64> = if st {
            let mut d = softmax(&o);
            d[y[n]] -= 1.0;
            (0..xs[l].len()).map(|i| (0..d.len()).map(|kk| d[kk] * weff_out[(kk, i)]).sum()).collect()
        } else {
            let f0 = nll(&o, y[n]);
            (0..xs[l].len())
                .map(|i| {
                    let mut flipped = xs[l].clone();
                    flipped[i] = -flipped[i];
                    nll(&logits(&flipped), y[n]) - f0
                })
                .collect()
        };
        for k in (0..l).rev() {
            let (a, s_lin) = &pre[k];
            let (weff, sign) = effective(net, ws, k);
            let xk = &xs[k + 1];
            let mut below = vec![0.0; xs[k].len()];
            let (g_edges, pad) = &graph[k];
            // Per unit: r_j (PSA) or ∂ℓ/∂a_j (ST).
            let (r, g): (Vec<f64>, Vec<f64>) = (0..a.len())
                .map(|j| {
                    let p = sigmoid(a[j]);
                    if st {
                        (0.0, sens[j] * 2.0 * p * (1.0 - p))
                    } else {
                        let r = -xk[j] * sens[j];
                        (r, r * p * (1.0 - p))
                    }
                })
                .unzip();
            for e in g_edges {
                let v = e.i.map_or(*pad, |i| xs[k][i]);
                let (j, c, kk) = (e.j, e.c, e.kappa);
                match &sign {
                    Some(_) if st => acc[k].w[(c, kk)] += 2.0 * g[j] * net.layers()[k].scale().unwrap()[c] * v,
                    Some(sign) => {
                        let w = sign[(c, kk)];
                        acc[k].w[(c, kk)] += -w * r[j] * (sigmoid(a[j] - 2.0 * weff[(c, kk)] * v) - sigmoid(a[j]));
                    }
                    None => acc[k].w[(c, kk)] += g[j] * v,
                }
                if let Some(i) = e.i {
                    below[i] += if st { g[j] * weff[(c, kk)] } else { r[j] * (sigmoid(a[j] - 2.0 * weff[(c, kk)] * v) - sigmoid(a[j])) };
                }
            }
            let mut chan = vec![0; a.len()];
            g_edges.iter().for_each(|e| chan[e.j] = e.c);
            for j in 0..a.len() {
                acc[k].bias[chan[j]] += g[j];
                acc[k].scale[chan[j]] += g[j] * s_lin[j];
            }
            sens = below;
        }
    }
    acc.iter()
        .zip(net.layers())
        .map(|(a, ly)| {
            let inv = 1.0 / batch as f64;
            let scale: Vec<f64> = if ly.scale().is_some() { a.scale.iter().map(|v| v * inv).collect() } else { vec![] };
            a.w.iter().map(|v| v * inv).chain(scale).chain(a.bias.iter().map(|v| v * inv)).collect()
        })
        .collect()
}

/// A random network: convolutions `convs` (out channels, kernel, stride, pad, pad value) on an
/// `h × w × c` input, dense hidden layers `hidden`, `classes` outputs; kinds per layer.
pub(crate) fn conv_net(
    input: (usize, usize, usize),
    convs: &[(usize, usize, usize, usize, f64)],
    hidden: &[usize],
    classes: usize,
    kinds: &[WeightKind],
    seed: u64,
) -> Network {
    let (mut h, mut w, mut c) = input;
    let mut shapes = Vec::new();
    let mut features = h * w * c;
    for &(out_c, kernel, stride, pad, pad_value) in convs {
        let g = Conv2d { in_h: h, in_w: w, in_c: c, out_c, kernel, stride, pad, pad_value };
        (h, w, c) = (g.out_h(), g.out_w(), out_c);
        features = g.out_features();
        shapes.push(LayerShape::Conv(g));
    }
    for &n in hidden.iter().chain(std::iter::once(&classes)) {
        shapes.push(LayerShape::Dense { n_in: features, n_out: n });
        features = n;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut net = random_layers(&shapes, kinds, InitConfig { logit_scale: 0.7, weight_std: 1.5 }, &mut rng).unwrap();
    for layer in net.layers_mut() {
        layer.bias.iter_mut().for_each(|b| *b = rng.random_range(-0.5..0.5));
        if let Weights::Bernoulli { scale, .. } = &mut layer.weights {
            scale.iter_mut().for_each(|g| *g = rng.random_range(0.2..0.9));
        }
    }
    net
}

/// Uniforms for the weights and the units of `net` on a batch of `batch`.
fn uniforms(net: &Network, batch: usize, seed: u64) -> GivenDraws {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let l = net.n_hidden();
    GivenDraws {
        units: net.layers()[..l].iter().map(|ly| DMatrix::from_fn(ly.n_out(), batch, |_, _| rng.random::<f64>())).collect(),
        weights: net.layers().iter().map(|ly| ly.q().map(|q| DMatrix::from_fn(q.nrows(), q.ncols(), |_, _| rng.random::<f64>()))).collect(),
    }
}

/// Compares the library's PSA and ST with the references on `net`. PSA's f32 loops get a relative
/// tolerance of 1e-5 (of the layer's gradient norm): the first layer's Bernoulli weight flips, and
/// every layer below a real-weight layer on binary input (its input flip sensitivities).
fn check_against_unfolded(net: &Network, x: &DMatrix<f64>, y: &[usize], seed: u64) {
    let l = net.n_hidden();
    // Layers k < below_real get flip sensitivities from a real layer's f32 loop.
    let below_real = (1..l).rev().find(|&m| net.layers()[m].kind() == WeightKind::Real).unwrap_or(0);
    let mut draws = uniforms(net, x.ncols(), seed);
    let ws = net.sample_weights(&mut draws.clone());
    for (st, est) in [(false, &Psa as &dyn Estimator), (true, &StraightThrough::new(Surrogate::Sigmoid))] {
        let got = est.estimate(net, x, y, &ws, &mut draws).unwrap().grad;
        let want = reference(net, &ws, x, y, &draws, st);
        for (k, w) in want.iter().enumerate() {
            let g = got.layers[k].flatten();
            assert_eq!(g.len(), w.len());
            let scale = norm(w).max(1e-3);
            let n_w = net.layers()[k].n_weights();
            for (idx, (a, b)) in g.iter().zip(w).enumerate() {
                let f32_first = k == 0 && idx < n_w && net.layers()[0].kind() == WeightKind::Bernoulli;
                let tol = if !st && (f32_first || k < below_real) { 1e-5 * scale } else { 1e-10 * scale };
                assert!((a - b).abs() <= tol, "{} layer {k} entry {idx}: got {a}, unfolded {b} (seed {seed})", if st { "ST" } else { "PSA" });
            }
        }
        draws = uniforms(net, x.ncols(), seed);
    }
}

pub(crate) fn batch_for(net: &Network, batch: usize, seed: u64, levels: bool) -> (DMatrix<f64>, Vec<usize>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xabc);
    let x = DMatrix::from_fn(net.input_dim(), batch, |_, _| if levels { rng.random_range(0..256) as f64 / 64.0 - 2.0 } else { rng.random_range(-2.0..2.0) });
    let y = (0..batch).map(|_| rng.random_range(0..net.n_classes())).collect();
    (x, y)
}

#[test]
fn conv_psa_and_st_equal_the_unfolded_network_on_fixed_shapes() {
    use WeightKind::{Bernoulli as B, Real as R};
    // Bernoulli first conv (pads with a real value), real conv on ±1 input with stride 2 and pad
    // value +1, dense Bernoulli hidden and output.
    let net = conv_net((5, 6, 2), &[(3, 3, 1, 1, -0.75), (4, 3, 2, 1, 1.0)], &[5], 3, &[B, R, B, B], 1);
    for levels in [false, true] {
        let (x, y) = batch_for(&net, 3, 2, levels);
        check_against_unfolded(&net, &x, &y, 3);
    }
    // Real first conv, Bernoulli convs (pad 0; stride 2 pad 1 pad value −1), output straight after.
    let net = conv_net((6, 5, 1), &[(2, 2, 1, 0, 0.0), (3, 3, 1, 0, -1.0), (2, 3, 2, 1, -1.0)], &[], 4, &[R, B, B, R], 4);
    let (x, y) = batch_for(&net, 4, 5, false);
    check_against_unfolded(&net, &x, &y, 6);
}

#[test]
fn conv_psa_and_st_equal_the_unfolded_network_on_random_shapes() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(77);
    for case in 0..12u64 {
        let mut convs = Vec::new();
        let (h, w, c) = (rng.random_range(3..8), rng.random_range(3..8), rng.random_range(1..4));
        let (mut hh, mut ww) = (h, w);
        for _ in 0..rng.random_range(1..3) {
            let kernel = rng.random_range(1..4usize).min(hh.min(ww));
            let pad = rng.random_range(0..kernel);
            let stride = rng.random_range(1..3);
            let pad_value = if convs.is_empty() {
                rng.random_range(-1.0..1.0)
            } else if rng.random::<bool>() {
                1.0
            } else {
                -1.0
            };
            convs.push((rng.random_range(1..4), kernel, stride, pad, pad_value));
            hh = (hh + 2 * pad - kernel) / stride + 1;
            ww = (ww + 2 * pad - kernel) / stride + 1;
        }
        let hidden: Vec<usize> = if rng.random::<bool>() { vec![rng.random_range(2..6)] } else { vec![] };
        let kinds: Vec<WeightKind> =
            (0..convs.len() + hidden.len() + 1).map(|_| if rng.random::<bool>() { WeightKind::Bernoulli } else { WeightKind::Real }).collect();
        let net = conv_net((h, w, c), &convs, &hidden, 3, &kinds, 100 + case);
        let (x, y) = batch_for(&net, 2, 200 + case, case % 2 == 0);
        check_against_unfolded(&net, &x, &y, 300 + case);
    }
}

/// A tiny net: a Bernoulli conv 2×2 on a 3×3 input (4 positions × 2 channels, 8 shared weights),
/// a real conv whose kernel covers its whole 2×2×2 input (1 position), a real output layer.
fn tiny() -> (Network, DMatrix<f64>, Vec<usize>) {
    use WeightKind::{Bernoulli as B, Real as R};
    let net = conv_net((3, 3, 1), &[(2, 2, 1, 0, 0.0), (2, 2, 1, 0, -1.0)], &[], 3, &[B, R, R], 9);
    let (x, y) = batch_for(&net, 2, 10, false);
    (net, x, y)
}

#[test]
fn exact_conv_gradient_matches_finite_differences() {
    let (net, x, y) = tiny();
    let exact = Exact::default();
    let g: Gradient = exact.compute(&net, &x, &y).unwrap().grad;
    // Real parameters by central differences; Bernoulli weights through θ (∂/∂θ = q(1 − q) ∂/∂q).
    let g_theta = g.logit_space(&net);
    let h = 1e-5;
    for (k, layer) in g_theta.layers.iter().enumerate() {
        for (idx, &want) in layer.flatten().iter().enumerate() {
            let up = exact.compute(&bumped(&net, k, idx, h), &x, &y).unwrap().loss;
            let down = exact.compute(&bumped(&net, k, idx, -h), &x, &y).unwrap().loss;
            let fd = (up - down) / (2.0 * h);
            assert!((fd - want).abs() < 1e-7 + 1e-5 * want.abs(), "layer {k} entry {idx}: exact {want}, finite difference {fd}");
        }
    }
}

#[test]
fn psa_on_a_tiny_conv_net_is_unbiased_where_the_theory_says() {
    let (net, x, y) = tiny();
    let exact: Vec<Vec<f64>> = Exact::default().compute(&net, &x, &y).unwrap().grad.layers.iter().map(|l| l.flatten()).collect();
    let stats = crate::common::monte_carlo(&net, &x, &y, &Psa, 40_000, 11);
    // The output layer and the last binary layer (one position: no weight sharing) are unbiased.
    for k in [1, 2] {
        let se = norm(&stats.stderr[k]);
        assert!(se < 0.05 * norm(&exact[k]), "layer {k}: too few draws");
        for (i, ((m, s), g)) in stats.mean[k].iter().zip(&stats.stderr[k]).zip(&exact[k]).enumerate() {
            assert!((m - g).abs() <= 4.5 * s + 1e-12, "layer {k} entry {i}: mean {m} exact {g} stderr {s}");
        }
    }
    // The first convolution is biased, mildly: report and bound it.
    let diff: Vec<f64> = stats.mean[0].iter().zip(&exact[0]).map(|(a, b)| a - b).collect();
    let rel = norm(&diff) / norm(&exact[0]);
    assert!(rel < 0.5, "first layer relative bias {rel}");
}

const CONV_SPEC: &str = r#"
[network]
conv = [{ channels = 6, kernel = 3 }, { channels = 8, kernel = 3, stride = 2, pad_value = 1 }]
hidden = [16]
weights = "bernoulli"
[objective]
beta = 0.01
[training]
lr = 0.003
logit_lr = 0.1
batch_size = 50
epochs = 2
seed = 3
chunk = 16
[validation]
fraction = 0.2
weight_samples = 2
noise_samples = 2
"#;

#[test]
fn a_conv_spec_fits_saves_and_predicts_with_both_engines() {
    use sbn::montecarlo::{Engine, McConfig, predictive};
    let spec = sbn::spec::ModelSpec::parse(CONV_SPEC, "spec").unwrap();
    let all = sbn::data::embedded::digits();
    let idx: Vec<usize> = (0..all.len()).step_by(3).collect();
    let (train, valid) = all.subset(&idx).split(0.2, 1);
    let dir = std::env::temp_dir().join(format!("sbn-conv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("conv.sbn");
    let out = sbn::session::fit(&spec, &train, &valid, &sbn::session::FitOptions { out: Some(path.clone()), ..Default::default() }, &mut ()).unwrap();
    let loaded = sbn::io::ModelFile::load(&path).unwrap().fitted;
    assert_eq!(loaded.network, out.model.network);
    let geometry: Vec<Option<Conv2d>> = loaded.network.layers().iter().map(|l| l.conv).collect();
    // 8×8×1 → 8×8×6 (the first layer pads with a zero pixel, the scaling's offset) → 4×4×8 → 16 → 10.
    assert_eq!(geometry[0].map(|c| (c.out_h(), c.out_w(), c.out_c, c.pad_value)), Some((8, 8, 6, -2.0)));
    assert_eq!(geometry[1].map(|c| (c.out_h(), c.out_w(), c.out_c, c.pad_value)), Some((4, 4, 8, 1.0)));
    assert_eq!(loaded.network.dims(), vec![64, 384, 128, 16, 10]);
    let mut storage = None;
    let inputs = InputBatch::from_dataset(&valid, &loaded.scaling, &mut storage).unwrap();
    let config = |engine| McConfig { weight_samples: 3, noise_samples: 2, seed: 5, engine };
    let packed = predictive(&loaded.network, inputs, &config(Engine::Packed)).unwrap();
    let float = predictive(&loaded.network, inputs, &config(Engine::Float)).unwrap();
    let worst = packed.per_weight_sample.iter().zip(&float.per_weight_sample).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-9, "packed and float predictive differ by {worst}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_conv_specs_name_the_field() {
    let err = |text: &str| sbn::spec::ModelSpec::parse(text, "m.toml").unwrap_err().to_string();
    let e = err("[network]\nconv = [{ channels = 4, kernel = 3, pad_value = 0 }]\nweights = \"bernoulli\"\n");
    assert!(e.contains("network.conv[0].pad_value"), "{e}");
    let e = err("[network]\nconv = [{ channels = 4, kernel = 3, pad = 3 }]\nweights = \"bernoulli\"\n");
    assert!(e.contains("network.conv[0].pad"), "{e}");
    let e = err("[network]\nconv = [{ channels = 4, kernel = 3, colour = 1 }]\nweights = \"bernoulli\"\n");
    assert!(e.contains("colour"), "{e}");
    let e = err("[network]\nconv = [{ channels = 4, kernel = 3 }]\nhidden = [5]\nweights = [\"real\", \"real\"]\n");
    assert!(e.contains("network.weights"), "{e}");
    // Data without an image shape, and an image shape that does not fit the data.
    let spec = sbn::spec::ModelSpec::parse("[network]\nconv = [{ channels = 4, kernel = 3 }]\nweights = \"bernoulli\"\n", "m.toml").unwrap();
    let e = spec.layer_shapes(10, None, 3, 0.0).unwrap_err().to_string();
    assert!(e.contains("network.conv") && e.contains("image"), "{e}");
    let spec = sbn::spec::ModelSpec::parse("[network]\nconv = [{ channels = 4, kernel = 3 }]\nimage = [3, 3, 2]\nweights = \"bernoulli\"\n", "m.toml").unwrap();
    let e = spec.layer_shapes(10, None, 3, 0.0).unwrap_err().to_string();
    assert!(e.contains("network.image"), "{e}");
    let e = sbn::spec::ModelSpec::parse("[network]\nconv = [{ channels = 4, kernel = 9, pad = 0 }]\nweights = \"bernoulli\"\n", "m.toml")
        .unwrap()
        .layer_shapes(64, Some((8, 8)), 3, 0.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("network.conv[0]") && e.contains("kernel"), "{e}");
}
