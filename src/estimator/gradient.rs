//! The gradient record: one entry per layer, shaped like the parameters.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::engine::{Columns, Engine};
use crate::model::{Network, WeightKind};

/// Parameters per block of the element-wise passes over a network's parameters (gradients,
/// optimizer, KL), which run in parallel over blocks; each entry's result does not depend on the
/// blocks, and sums over them are added in block order.
pub const PARAMETER_BLOCK: usize = 16_384;

/// Gradient for one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerGrad {
    /// `∂/∂W` (real layers) or `∂/∂q` (Bernoulli layers; `∂/∂θ = q(1 − q) ∂/∂q`).
    pub w: DMatrix<f64>,
    /// `∂/∂γ` (Bernoulli layers).
    pub scale: Option<DVector<f64>>,
    /// `∂/∂b`.
    pub bias: DVector<f64>,
}

/// Gradient for a whole network, layer by layer (binary layers, then the output layer).
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient {
    /// One entry per layer, in the network's order.
    pub layers: Vec<LayerGrad>,
}

/// A dense layer's weight gradient `α H Xᵀ − W ⊙ (c 1ᵀ)` (the two-value form of docs/math.md §3)
/// kept as its factors, so that the chunks of a minibatch stack theirs and multiply once
/// ([`DeferredProduct::combine`]): one f32 product with the whole minibatch as its inner dimension,
/// instead of a product, a full-size f64 matrix and a weighted sum of them per chunk.
#[derive(Clone, Debug)]
pub struct DeferredProduct {
    /// The layer.
    pub layer: usize,
    /// `H`, `rows × n` column-major (`n` examples).
    pub h: Vec<f32>,
    /// `X`, `n_in × n` column-major.
    pub x: Vec<f32>,
    /// `α`.
    pub alpha: f64,
    /// `c`, one per row.
    pub c: Vec<f64>,
}

impl DeferredProduct {
    /// Layer `layer`'s factors: `H` in f32 (`rows × n`, column-major), the layer's input `X`
    /// (widened to f32 here), `α` and `c`.
    pub(crate) fn new(layer: usize, h: Vec<f32>, x: Columns, alpha: f64, c: Vec<f64>) -> Self {
        let mut x32 = Vec::new();
        x.to_f32_into(&mut x32);
        DeferredProduct { layer, h, x: x32, alpha, c }
    }

    /// `Σ ω (α H Xᵀ − W ⊙ (c 1ᵀ))` over `parts` (`(ω, product)`, in chunk order) for the weights
    /// `w`: the `ω α H` and the `X` stacked along the examples, multiplied once in f32, and `Σ ω c`
    /// in f64.
    pub fn combine(parts: &[(f64, &DeferredProduct)], w: &DMatrix<f64>) -> DMatrix<f64> {
        let (rows, n_in) = w.shape();
        if rows == 0 || n_in == 0 {
            return DMatrix::zeros(rows, n_in);
        }
        let examples: usize = parts.iter().map(|(_, d)| d.h.len() / rows).sum();
        let (mut h, mut x) = (Vec::with_capacity(rows * examples), Vec::with_capacity(n_in * examples));
        let mut c = vec![0.0; rows];
        for &(omega, d) in parts {
            assert!(d.h.len() % rows == 0 && d.x.len() / n_in == d.h.len() / rows && d.c.len() == rows, "deferred factors shaped unlike W");
            let scale = (omega * d.alpha) as f32;
            crate::simd::dispatch!(h.extend(d.h.iter().map(|&v| crate::simd::flush_tiny(v * scale))));
            x.extend_from_slice(&d.x);
            c.iter_mut().zip(&d.c).for_each(|(c, &v)| *c += omega * v);
        }
        let mut dq: Vec<f64> = Vec::with_capacity(rows * n_in);
        crate::engine::mul_tr_f32_blocks(&h, rows, &x, n_in, &mut dq.spare_capacity_mut()[..rows * n_in], |first, product, out| {
            let w = &w.as_slice()[first * rows..];
            crate::simd::dispatch!(for ((out, p), w) in out.chunks_exact_mut(rows).zip(product.chunks_exact(rows)).zip(w.chunks_exact(rows)) {
                for (((o, &p), &w), &c) in out.iter_mut().zip(p).zip(w).zip(&c) {
                    o.write(f64::from(p) - w * c);
                }
            });
        });
        // SAFETY: the blocks of `mul_tr_f32_blocks` cover every column, and each entry was written.
        unsafe { dq.set_len(rows * n_in) };
        DMatrix::from_vec(rows, n_in, dq)
    }
}

impl LayerGrad {
    /// `self · c`: used to turn means over a convolution's `B·P` patches into batch means of the
    /// sums over positions (`c = P`).
    pub fn scaled(mut self, c: f64) -> Self {
        if c == 1.0 {
            return self;
        }
        self.w *= c;
        if let Some(s) = self.scale.as_mut() {
            *s *= c;
        }
        self.bias *= c;
        self
    }

    /// All entries of this layer's gradient in one vector (`w` column-major, then `γ`, then `b`).
    pub fn flatten(&self) -> Vec<f64> {
        self.w.iter().chain(self.scale.iter().flatten()).chain(self.bias.iter()).copied().collect()
    }
}

impl Gradient {
    /// A zero gradient shaped like `net`.
    pub fn zeros(net: &Network) -> Self {
        let layers = net
            .layers()
            .iter()
            .map(|l| LayerGrad {
                w: DMatrix::zeros(l.channels(), l.fan_in()),
                scale: (l.kind() == WeightKind::Bernoulli).then(|| DVector::zeros(l.channels())),
                bias: DVector::zeros(l.channels()),
            })
            .collect();
        Gradient { layers }
    }

    /// `self += c · other`.
    pub fn add_scaled(&mut self, c: f64, other: &Gradient) {
        for (a, b) in self.layers.iter_mut().zip(&other.layers) {
            a.w.as_mut_slice().iter_mut().zip(b.w.as_slice()).for_each(|(x, y)| *x += c * y);
            if let (Some(sa), Some(sb)) = (a.scale.as_mut(), b.scale.as_ref()) {
                sa.axpy(c, sb, 1.0);
            }
            a.bias.axpy(c, &b.bias, 1.0);
        }
    }

    /// `Σ_c w_c g_c` over `parts` (`(w_c, g_c)`, all shaped alike), added in the order given, in
    /// parallel over blocks of entries: the same to the bit as scaling the first and adding the
    /// others one after another, on any thread count.
    pub fn weighted_sum(parts: Vec<(f64, Gradient)>) -> Gradient {
        let mut parts = parts.into_iter();
        let (w0, mut total) = parts.next().expect("at least one gradient");
        let rest: Vec<(f64, Gradient)> = parts.collect();
        for (k, layer) in total.layers.iter_mut().enumerate() {
            let block = PARAMETER_BLOCK;
            layer.w.as_mut_slice().par_chunks_mut(block).enumerate().for_each(|(b, out)| {
                let at = b * block..b * block + out.len();
                weighted_into(out, w0, rest.iter().map(|(w, g)| (*w, &g.layers[k].w.as_slice()[at.clone()])));
            });
            if let Some(sc) = layer.scale.as_mut() {
                weighted_into(sc.as_mut_slice(), w0, rest.iter().map(|(w, g)| (*w, g.layers[k].scale.as_ref().expect("gradients shaped alike").as_slice())));
            }
            weighted_into(layer.bias.as_mut_slice(), w0, rest.iter().map(|(w, g)| (*w, g.layers[k].bias.as_slice())));
        }
        total
    }

    /// `self *= c`.
    pub fn scale(&mut self, c: f64) {
        for l in &mut self.layers {
            l.w *= c;
            if let Some(s) = l.scale.as_mut() {
                *s *= c;
            }
            l.bias *= c;
        }
    }

    /// The same gradient with Bernoulli entries taken with respect to the logits θ
    /// (`∂/∂θ = q(1 − q) ∂/∂q`).
    pub fn logit_space(&self, net: &Network) -> Gradient {
        let mut out = self.clone();
        for (g, layer) in out.layers.iter_mut().zip(net.layers()) {
            if layer.scale().is_some() {
                let theta = layer.weight_param().as_slice().par_chunks(PARAMETER_BLOCK);
                g.w.as_mut_slice().par_chunks_mut(PARAMETER_BLOCK).zip(theta).for_each(|(g, theta)| {
                    crate::simd::dispatch!(g.iter_mut().zip(theta).for_each(|(d, &t)| {
                        let q = crate::simd::sigmoid(t);
                        *d *= q * (1.0 - q);
                    }));
                });
            }
        }
        out
    }

    /// All entries in one vector, layer after layer.
    pub fn flatten(&self) -> Vec<f64> {
        self.layers.iter().flat_map(LayerGrad::flatten).collect()
    }
}

/// `out ← w0 · out + Σ w · y` over `rest`, added in order.
fn weighted_into<'a>(out: &mut [f64], w0: f64, rest: impl Iterator<Item = (f64, &'a [f64])>) {
    out.iter_mut().for_each(|v| *v *= w0);
    for (w, y) in rest {
        out.iter_mut().zip(y).for_each(|(v, y)| *v += w * y);
    }
}

/// `g xᵀ / B`: the weight gradient of a linear map from per-example sensitivities `g` (`n_out × B`)
/// and inputs `x` (`n_in × B`), averaged over the batch.
pub(crate) fn outer_mean(g: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    outer_mean_on(Engine::Reference, g, x)
}

/// [`outer_mean`] in `engine`'s precision.
pub(crate) fn outer_mean_on<'x>(engine: Engine, g: &DMatrix<f64>, x: impl Into<crate::engine::Columns<'x>>) -> DMatrix<f64> {
    crate::engine::mul_tr_scaled(engine, 1.0 / g.ncols() as f64, g, x)
}

/// The mean of the columns of `m`.
pub(crate) fn column_mean(m: &DMatrix<f64>) -> DVector<f64> {
    let mut v = m.column_sum();
    v /= m.ncols() as f64;
    v
}

/// The mean over the batch of `g ⊙ S` per unit (the scale gradient of `a = γ ⊙ S + b`). `s` is
/// `S` in `g`'s memory layout (column-major, `g.nrows()` rows): a convolution passes its units
/// layout, which is its channels layout's memory.
pub(crate) fn scale_grad(g: &DMatrix<f64>, s: &[f64]) -> DVector<f64> {
    assert_eq!(s.len(), g.len(), "S and g differ in size");
    let mut v = DVector::zeros(g.nrows());
    for (gc, sc) in g.as_slice().chunks_exact(g.nrows()).zip(s.chunks_exact(g.nrows())) {
        v.iter_mut().zip(gc).zip(sc).for_each(|((v, g), s)| *v += g * s);
    }
    v /= g.ncols() as f64;
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::{InitConfig, random_network};
    use rand::{RngExt, SeedableRng};

    #[test]
    fn weighted_sum_equals_scaling_and_adding_in_order() {
        // A layer larger than one parameter block, and one with a scale.
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(4);
        let net = random_network(&[300, 70, 3], &[WeightKind::Bernoulli, WeightKind::Real], InitConfig::default(), &mut rng).unwrap();
        assert!(net.layers()[0].n_weights() > PARAMETER_BLOCK);
        let parts: Vec<(f64, Gradient)> = [0.25, 0.5, 0.125, 0.125]
            .into_iter()
            .map(|w| {
                let mut g = Gradient::zeros(&net);
                for l in &mut g.layers {
                    l.w.iter_mut().chain(l.scale.iter_mut().flatten()).chain(l.bias.iter_mut()).for_each(|v| *v = rng.random_range(-3.0..3.0));
                }
                (w, g)
            })
            .collect();
        let mut want = parts[0].1.clone();
        want.scale(parts[0].0);
        for (w, g) in &parts[1..] {
            want.add_scaled(*w, g);
        }
        assert_eq!(Gradient::weighted_sum(parts), want);
    }

    #[test]
    fn deferred_products_combine_to_the_sum_of_their_parts() {
        // More output columns than one block of the product; chunks of unequal width.
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(6);
        let (rows, n_in) = (7, 300);
        let w = DMatrix::from_fn(rows, n_in, |_, _| if rng.random_bool(0.5) { 1.0 } else { -1.0 });
        let mut random = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect() };
        let widths = [3usize, 3, 2];
        let parts: Vec<(f64, DeferredProduct)> = widths
            .iter()
            .map(|&n| {
                let c = random(rows).into_iter().map(f64::from).collect();
                (n as f64 / 8.0, DeferredProduct { layer: 1, h: random(rows * n), x: random(n_in * n), alpha: -1.0 / n as f64, c })
            })
            .collect();
        let want = DMatrix::from_fn(rows, n_in, |j, i| {
            parts
                .iter()
                .map(|(omega, d)| {
                    let n = d.h.len() / rows;
                    let hx: f64 = (0..n).map(|t| f64::from(d.h[t * rows + j]) * f64::from(d.x[t * n_in + i])).sum();
                    omega * (d.alpha * hx - w[(j, i)] * d.c[j])
                })
                .sum::<f64>()
        });
        let got = DeferredProduct::combine(&parts.iter().map(|(o, d)| (*o, d)).collect::<Vec<_>>(), &w);
        let scale = want.abs().max();
        assert!(scale > 0.1 && (got - &want).abs().max() <= 1e-6 * scale, "combined product differs from the sum of its parts");
    }
}
