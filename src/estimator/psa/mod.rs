//! PSA, the path sample-analytic estimator (docs/math.md §3; Shekhovtsov & Yanush, NeurIPS 2020).
//!
//! One forward sample; then, layer by layer from the output down, the expectation over states that
//! differ from the sample in one bit is taken analytically. Unbiased for the output layer and the
//! last binary layer, mildly biased below, at the cost of backprop: for Bernoulli layers on binary
//! inputs the flip sums are matrix products (the two-value form), only the first layer (real input)
//! and real-weight layers need one sigmoid per weight.

use nalgebra::{DMatrix, DVector, RowDVector};

use super::gradient::{DeferredProduct, Gradient, LayerGrad, column_mean, outer_mean_on, scale_grad};
use super::{Estimate, Estimator, EstimatorKind};
use crate::engine::{Columns, Engine, FastWeights};
use crate::error::Result;
use crate::model::softmax::softmax_into;
use crate::model::{Conv2d, Draws, ForwardSample, Network, Unfolding, WeightSample};
use crate::simd;

mod first_layer;
mod lanes;
mod real_layer;
mod two_value_f32;
use first_layer::first_layer_weight_flips;
use real_layer::real_flip_sensitivities;

/// The PSA estimator.
#[derive(Clone, Copy, Debug, Default)]
pub struct Psa;

impl Estimator for Psa {
    fn kind(&self) -> EstimatorKind {
        EstimatorKind::Psa
    }

    fn is_unbiased(&self) -> bool {
        false
    }

    fn estimate(&self, net: &Network, x: &DMatrix<f64>, y: &[usize], ws: &WeightSample, draws: &mut dyn Draws) -> Result<Estimate> {
        Ok(self.backward(net, &net.forward(x, ws, draws), y))
    }

    fn estimate_chunk(
        &self,
        net: &Network,
        x: &DMatrix<f64>,
        y: &[usize],
        ws: &WeightSample,
        draws: &mut dyn Draws,
    ) -> Result<(Estimate, Vec<DeferredProduct>)> {
        Ok(backward(net, &net.forward(x, ws, draws), y, true))
    }
}

impl Psa {
    /// The PSA value and gradient at the forward sample `fwd`.
    pub fn backward(&self, net: &Network, fwd: &ForwardSample, y: &[usize]) -> Estimate {
        backward(net, fwd, y, false).0
    }
}

/// PSA's backward pass; with `defer`, the fast engine leaves the weight-gradient products of dense
/// Bernoulli layers on binary input as their factors ([`DeferredProduct`]).
fn backward(net: &Network, fwd: &ForwardSample, y: &[usize], defer: bool) -> (Estimate, Vec<DeferredProduct>) {
    let l = net.n_hidden();
    let mut layers: Vec<LayerGrad> = Vec::with_capacity(l + 1);
    let mut deferred = Vec::new();
    let (loss, out_grad, mut s) = output_layer(net, fwd, y);
    layers.push(out_grad);
    for k in (0..l).rev() {
        let (grad, s_prev) = hidden_layer(net, fwd, k, &s, defer.then_some(&mut deferred));
        layers.push(grad);
        if let Some(s_prev) = s_prev {
            s = s_prev;
        }
    }
    layers.reverse();
    (Estimate { loss, grad: Gradient { layers } }, deferred)
}

/// The output layer: the value `Ê`, the output-layer gradient, and the flip sensitivities
/// `s^L_i = f_i − f₀` of the last binary layer (`n_L × B`).
///
/// Per example, with `v_{:,i}` the logit change of unit `i` (`γ° ⊙ W°_{:,i}` or `W°_{:,i}`) and
/// `Z_i = Σ_k p_k e^{−2 x_i v_ki}` the softmax normalizer of the flipped logits relative to `o`'s:
/// `f_i − f₀ = ln Z_i + 2 x_i v_yi`, and the flipped softmax is `p_k e^{−2 x_i v_ki} / Z_i`.
/// The loops run over the units `i` (contiguous, vectorized) inside a loop over the classes.
fn output_layer(net: &Network, fwd: &ForwardSample, y: &[usize]) -> (f64, LayerGrad, DMatrix<f64>) {
    let l = net.n_hidden();
    let layer = net.output();
    let w = net.weights_in_use(fwd.weights, l);
    let (n_classes, n_last) = (w.nrows(), w.ncols());
    let xl = &fwd.hidden[l - 1].x;
    let al = &fwd.hidden[l - 1].a;
    let batch = fwd.batch();
    let gamma = layer.scale();

    // vᵀ (n_L × K, column k contiguous over units) and e^{∓2v} for x_i = ±1, shared by the batch.
    let vt = DMatrix::from_fn(n_last, n_classes, |i, k| gamma.map_or(1.0, |g| g[k]) * w[(k, i)]);
    let exp_when_plus = vt.map(|v| (-2.0 * v).exp());
    let exp_when_minus = vt.map(|v| (2.0 * v).exp());

    let mut s = DMatrix::zeros(n_last, batch);
    let mut g_sum = DMatrix::zeros(n_classes, batch); // ρ₀ g₀ + Σ_i ρ_i g_i per example
    let mut flip_corr_t = DMatrix::zeros(n_last, n_classes); // Σ_n ρ_i x_i g_i, transposed
    let mut value = 0.0;
    let mut p = vec![0.0; n_classes];
    let mut pe = DMatrix::zeros(n_last, n_classes); // p_k e^{−2 x_i v_ki}
    let (mut z, mut rho, mut rz, mut tmp) = (vec![0.0; n_last], vec![0.0; n_last], vec![0.0; n_last], vec![0.0; n_last]);
    for n in 0..batch {
        let o = fwd.logits.column(n);
        softmax_into(o.as_slice(), &mut p);
        let yn = y[n];
        let f0 = crate::model::softmax::nll(o.as_slice(), yn);
        let (xn, an) = (xl.column(n), al.column(n));
        let (xn, an) = (xn.as_slice(), an.as_slice());
        let s_col = &mut s.as_mut_slice()[n * n_last..(n + 1) * n_last];
        let vy = &vt.as_slice()[yn * n_last..][..n_last];
        let rho_sum = crate::simd::dispatch!({
            z.iter_mut().for_each(|z| *z = 0.0);
            for (k, &p_k) in p.iter().enumerate() {
                let at = k * n_last..(k + 1) * n_last;
                flipped_terms(p_k, xn, &exp_when_plus.as_slice()[at.clone()], &exp_when_minus.as_slice()[at.clone()], &mut pe.as_mut_slice()[at], &mut z);
            }
            flip_weights(xn, an, vy, &z, s_col, &mut rho, &mut rz)
        });
        // Z_i is a positive normal number unless the logits are extreme: those take the scalar ln.
        for i in 0..n_last {
            if !simd::is_normal_positive(z[i]) {
                s_col[i] = z[i].ln() + 2.0 * xn[i] * vy[i];
            }
        }
        tmp.iter_mut().zip(rho.iter().zip(s_col.iter())).for_each(|(t, (r, s))| *t = r * s);
        value += f0 + simd::sum(&tmp);
        // g_i,k = p_k e^{…}/Z_i − [k = y]; Σ_i ρ_i g_i,k and Σ_n ρ_i x_i g_i,k.
        crate::simd::dispatch!(for k in 0..n_classes {
            let on_y = if k == yn { 1.0 } else { 0.0 };
            let at = k * n_last..(k + 1) * n_last;
            flipped_gradients(on_y, &rz, &rho, xn, &pe.as_slice()[at.clone()], &mut flip_corr_t.as_mut_slice()[at], &mut tmp);
            g_sum[(k, n)] = simd::sum(&tmp) + (1.0 - rho_sum) * (p[k] - on_y);
        });
    }
    let inv_b = 1.0 / batch as f64;
    let flip_corr = flip_corr_t.transpose() * inv_b;
    let bias = column_mean(&g_sum);

    let grad = match gamma {
        None => {
            // Σ_i' ρ_i' g_i' x^(i')ᵀ with x^(i) = x − 2 x_i e_i.
            let mut dw = outer_mean_on(fwd.weights.engine(), &g_sum, xl);
            dw.zip_apply(&flip_corr, |d, f| *d -= 2.0 * f);
            LayerGrad { w: dw, scale: None, bias }
        }
        Some(gamma) => {
            // ∂γ_k = Σ_i' ρ_i' g_i'k S^(i')_k with S^(i) = S − 2 x_i W_{:,i}.
            let s_out = fwd.out_s.as_ref().expect("Bernoulli layers record S");
            let mut dgamma = scale_grad(&g_sum, s_out.as_slice());
            for k in 0..n_classes {
                dgamma[k] -= 2.0 * (0..n_last).map(|i| flip_corr[(k, i)] * w[(k, i)]).sum::<f64>();
            }
            let dq = output_weight_flips(fwd.weights.engine(), &fwd.logits, xl, w, gamma, y);
            LayerGrad { w: dq, scale: Some(dgamma), bias }
        }
    };
    (value * inv_b, grad, s)
}

/// Class `k`'s term of the flipped softmax per unit, `pe_i = p_k e^{−2 x_i v_ki}` (`ep`, `em`:
/// `e^{∓2v_ki}`), added to the normalizers `z`. Slices of equal length, so the loop vectorizes.
#[inline(always)]
fn flipped_terms(p_k: f64, x: &[f64], ep: &[f64], em: &[f64], pe: &mut [f64], z: &mut [f64]) {
    let n = x.len();
    let (ep, em, pe, z) = (&ep[..n], &em[..n], &mut pe[..n], &mut z[..n]);
    for i in 0..n {
        pe[i] = p_k * if x[i] > 0.0 { ep[i] } else { em[i] };
        z[i] += pe[i];
    }
}

/// Per unit: `s_i = f_i − f₀ = ln Z_i + 2 x_i v_yi`, `ρ_i = σ(−x_i a_i)/n_L` and `ρ_i/Z_i`;
/// returns `Σ_i ρ_i`. Entries with `Z_i` not a positive normal number are redone by the caller.
#[inline(always)]
fn flip_weights(x: &[f64], a: &[f64], vy: &[f64], z: &[f64], s: &mut [f64], rho: &mut [f64], rz: &mut [f64]) -> f64 {
    let n = x.len();
    let (a, vy, z, s, rho, rz) = (&a[..n], &vy[..n], &z[..n], &mut s[..n], &mut rho[..n], &mut rz[..n]);
    let inv_n = 1.0 / n as f64;
    for i in 0..n {
        s[i] = simd::ln_normal(z[i]) + 2.0 * x[i] * vy[i];
        rho[i] = simd::sigmoid(-x[i] * a[i]) * inv_n;
        rz[i] = rho[i] / z[i];
    }
    simd::sum(rho)
}

/// Class `k`'s flipped-softmax gradient per unit, `g_i = ρ_i (pe_i/Z_i − [k = y])` into `g`, and
/// `fc_i += x_i g_i` (the flip correction of the weight gradient).
#[inline(always)]
fn flipped_gradients(on_y: f64, rz: &[f64], rho: &[f64], x: &[f64], pe: &[f64], fc: &mut [f64], g: &mut [f64]) {
    let n = x.len();
    let (rz, rho, pe, fc, g) = (&rz[..n], &rho[..n], &pe[..n], &mut fc[..n], &mut g[..n]);
    for i in 0..n {
        g[i] = rz[i] * pe[i] - on_y * rho[i];
        fc[i] += x[i] * g[i];
    }
}

/// `∂/∂q°_ki = ℓ(o | W°_ki = +1) − ℓ(o | W°_ki = −1)` at the sampled `x^L`, batch mean.
///
/// Flipping `W°_ki` moves logit k by `d = −2γ_k m` with `m = W_ki x_i`, so per example and class the
/// loss change takes two values, `L_k(m) = log(1 + p_k(e^d − 1)) − [k = y] d`; with
/// `c = (L(+1) + L(−1))/2`, `h = (L(+1) − L(−1))/2`: `∂q_ki = −W_ki c_k − x_i h_k`.
fn output_weight_flips(engine: Engine, logits: &DMatrix<f64>, xl: &DMatrix<f64>, w: &DMatrix<f64>, gamma: &DVector<f64>, y: &[usize]) -> DMatrix<f64> {
    let (n_classes, batch) = logits.shape();
    let mut c = DMatrix::zeros(n_classes, batch);
    let mut h = DMatrix::zeros(n_classes, batch);
    let mut p = vec![0.0; n_classes];
    let em_plus: Vec<f64> = gamma.iter().map(|g| (-2.0 * g).exp_m1()).collect();
    let em_minus: Vec<f64> = gamma.iter().map(|g| (2.0 * g).exp_m1()).collect();
    for n in 0..batch {
        softmax_into(logits.column(n).as_slice(), &mut p);
        for k in 0..n_classes {
            let on_y = if k == y[n] { 1.0 } else { 0.0 };
            let l_plus = (p[k] * em_plus[k]).ln_1p() + on_y * 2.0 * gamma[k];
            let l_minus = (p[k] * em_minus[k]).ln_1p() - on_y * 2.0 * gamma[k];
            c[(k, n)] = 0.5 * (l_plus + l_minus);
            h[(k, n)] = 0.5 * (l_plus - l_minus);
        }
    }
    two_value_weight_grad(engine, w, &c, &h, xl)
}

/// `∂q_ji = mean_n(−W_ji c_nj − x_ni h_nj)`: the two-value form of a weight-flip gradient.
fn two_value_weight_grad<'x>(engine: Engine, w: &DMatrix<f64>, c: &DMatrix<f64>, h: &DMatrix<f64>, x: impl Into<Columns<'x>>) -> DMatrix<f64> {
    let hx = crate::engine::mul_tr_scaled(engine, 1.0, h, x);
    finish_weight_grad(hx.as_slice(), w, column_mean(c).as_slice(), h.ncols())
}

/// `∂q_ji = −(h xᵀ)_ji / B − W_ji mean_n(c_nj)` from the product `h xᵀ` (column-major, in f64 or
/// f32).
fn finish_weight_grad<T: Copy + Into<f64>>(hx: &[T], w: &DMatrix<f64>, c_mean: &[f64], batch: usize) -> DMatrix<f64> {
    assert_eq!(hx.len(), w.len(), "h xᵀ and W differ in size");
    let inv_b = -1.0 / batch as f64;
    let mut dq = Vec::with_capacity(w.len());
    crate::simd::dispatch!(for (hx, w) in hx.chunks_exact(w.nrows()).zip(w.as_slice().chunks_exact(w.nrows())) {
        dq.extend(hx.iter().zip(w).zip(c_mean).map(|((&d, &w), &c)| d.into() * inv_b - w * c));
    });
    DMatrix::from_vec(w.nrows(), w.ncols(), dq)
}

/// Hidden layer `k` given its units' flip sensitivities `s` (`n_k × B`): the layer's gradient and,
/// when its input is binary (`k ≥ 1`), the sensitivities of the layer below. With `deferred`, a
/// dense Bernoulli layer's weight-gradient product on the fast engine goes there (and its `w` is
/// left empty).
///
/// A convolution runs the same dense formulas on its patches (the channels layout of
/// [`Unfolding`]): gradients come out as means over the `B·P` patches and are scaled by `P`;
/// the input sensitivities come out per patch entry and are folded back onto the input.
fn hidden_layer(
    net: &Network,
    fwd: &ForwardSample,
    k: usize,
    s: &DMatrix<f64>,
    deferred: Option<&mut Vec<DeferredProduct>>,
) -> (LayerGrad, Option<DMatrix<f64>>) {
    let layer = &net.layers()[k];
    let w = net.weights_in_use(fwd.weights, k);
    let hs = &fwd.hidden[k];
    let x_in = fwd.patches_of(k);
    let (r, p, g) = unit_terms(&hs.x, s, &hs.a);
    let (r, p, g) = (layer.to_channels(r), layer.to_channels(p), layer.to_channels(g));
    let bias = column_mean(&g);
    let (grad, s_prev) = match layer.scale() {
        None => {
            let dw = outer_mean_on(fwd.weights.engine(), &g, x_in);
            let s_prev = (k > 0).then(|| layer.fold(real_flip_sensitivities(w, &layer.channels_of(&hs.a), &p, &r, &x_in.values())));
            (LayerGrad { w: dw, scale: None, bias }, s_prev)
        }
        Some(gamma) => {
            let dgamma = scale_grad(&g, hs.s.as_ref().expect("Bernoulli layers record S").as_slice());
            if k == 0 {
                let dq = first_layer_weight_flips(w, gamma, &layer.channels_of(&hs.a), &p, &r, &x_in.values());
                (LayerGrad { w: dq, scale: Some(dgamma), bias }, None)
            } else {
                let products = (fwd.weights.engine(), fwd.weights.fast(k));
                let defer = (deferred.is_some() && layer.conv.is_none()).then_some(k);
                let (dq, s_prev) = two_value_flips(w, gamma, hs.a.as_slice(), &p, &r, x_in, products, (layer.conv.as_ref(), fwd.input_of(k)), defer);
                let dq = match dq {
                    WeightGrad::Done(dq) => dq,
                    WeightGrad::Deferred(product) => {
                        deferred.expect("deferring").push(product);
                        DMatrix::zeros(0, 0)
                    }
                };
                (LayerGrad { w: dq, scale: Some(dgamma), bias }, Some(s_prev))
            }
        }
    };
    (grad.scaled(layer.positions() as f64), s_prev)
}

/// The weight-flip gradient and the input flip sensitivities of a Bernoulli layer on ±1 input
/// (`x`, `n_in × B`), in the two-value matrix form of docs/math.md §3: with
/// `d±_j = σ(a_j ∓ 2γ_j) − σ(a_j)`, `c = (d⁺ + d⁻)/2`, `h = (d⁺ − d⁻)/2`,
/// `s^{k−1} = (Σ_j r_j c_j) 1 + x ⊙ (Wᵀ (r ⊙ h))` and `∂q_ji = mean_n(−W_ji r_j c_j − x_i r_j h_j)`.
/// `p = σ(a)`. Returns `(∂q, s^{k−1})`.
pub fn binary_input_flips(
    w: &DMatrix<f64>,
    gamma: &DVector<f64>,
    a: &DMatrix<f64>,
    p: &DMatrix<f64>,
    r: &DMatrix<f64>,
    x: &DMatrix<f64>,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let (dq, s_prev) = two_value_flips(w, gamma, a.as_slice(), p, r, x.into(), (Engine::Reference, None), (None, x), None);
    match dq {
        WeightGrad::Done(dq) => (dq, s_prev),
        WeightGrad::Deferred(_) => unreachable!("not deferring"),
    }
}

/// A weight gradient, or the factors of its product ([`DeferredProduct`]).
enum WeightGrad {
    Done(DMatrix<f64>),
    Deferred(DeferredProduct),
}

/// `s^{k−1} = x ⊙ (Wᵀ (r ⊙ h)) + (Σ_j r_j c_j) 1` from its two parts (`wt_rh` column-major, in f64
/// or f32); a convolution forms it on its input map `x` ([`Conv2d::fold_affine`]), the fold of the
/// patch form, without the patch-size product.
fn input_flips<T: Copy + Into<f64> + Sync>(conv: Option<&Conv2d>, wt_rh: &[T], rc_sum: &RowDVector<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    match conv {
        Some(c) => c.fold_affine(wt_rh, rc_sum.as_slice(), x),
        None => {
            assert_eq!(wt_rh.len(), x.len(), "Wᵀ(r ⊙ h) and the input differ in size");
            let mut s = x.clone();
            for ((col, m), shift) in s.as_mut_slice().chunks_exact_mut(x.nrows().max(1)).zip(wt_rh.chunks_exact(x.nrows().max(1))).zip(rc_sum.iter()) {
                col.iter_mut().zip(m).for_each(|(s, &m)| *s = *s * m.into() + shift);
            }
            s
        }
    }
}

/// [`binary_input_flips`] for a layer whose input is the map `input` (a convolution's patches of it
/// are `x`): the weight-flip gradient and `s^{k−1}` ([`input_flips`]). `a` is in `p`'s memory
/// layout (a convolution's units layout is its channels layout's memory). `products`: the engine,
/// and the fast engine's forms of `w`, whose `Wᵀ (r ⊙ h)` stays in f32. With `defer` (the layer's
/// index), the fast engine returns the weight gradient's factors instead of their product.
#[allow(clippy::too_many_arguments)]
fn two_value_flips(
    w: &DMatrix<f64>,
    gamma: &DVector<f64>,
    a: &[f64],
    p: &DMatrix<f64>,
    r: &DMatrix<f64>,
    x: Columns,
    products: (Engine, Option<&FastWeights>),
    (conv, input): (Option<&Conv2d>, &DMatrix<f64>),
    defer: Option<usize>,
) -> (WeightGrad, DMatrix<f64>) {
    if let (Engine::Fast, Some(fw)) = products
        && let Some((rh32, c_mean, rc_sum)) = two_value_f32::flip_terms(gamma, a, r)
    {
        let s_prev = fw.tr_mul_f32_then(&rh32, |wt_rh| input_flips(conv, wt_rh, &rc_sum, input));
        if let Some(layer) = defer {
            return (WeightGrad::Deferred(DeferredProduct::new(layer, rh32, x, -1.0 / p.ncols() as f64, c_mean)), s_prev);
        }
        let dq = crate::engine::mul_tr_scaled_f32_then(1.0, &rh32, p.nrows(), x, |hx| finish_weight_grad(hx, w, &c_mean, p.ncols()));
        return (WeightGrad::Done(dq), s_prev);
    }
    // σ(a ∓ 2γ) = 1 / (1 + e^{−a} e^{±2γ}): one exponential per entry, e^{±2γ} per unit.
    let (t_minus, t_plus): (Vec<f64>, Vec<f64>) = gamma.iter().map(|&g| ((2.0 * g).exp(), (-2.0 * g).exp())).unzip();
    let rows = p.nrows();
    assert_eq!(a.len(), p.len(), "a and p differ in size");
    let (mut rc, mut rh) = (DMatrix::zeros(rows, p.ncols()), DMatrix::zeros(rows, p.ncols()));
    fn columns(m: &DMatrix<f64>) -> std::slice::ChunksExact<'_, f64> {
        m.as_slice().chunks_exact(m.nrows())
    }
    crate::simd::dispatch!(for (((rc, rh), (a, p)), r) in
        rc.as_mut_slice().chunks_exact_mut(rows).zip(rh.as_mut_slice().chunks_exact_mut(rows)).zip(a.chunks_exact(rows).zip(columns(p))).zip(columns(r))
    {
        for j in 0..rows {
            let e = simd::exp(-a[j]);
            let d_plus = 1.0 / (1.0 + e * t_minus[j]) - p[j];
            let d_minus = 1.0 / (1.0 + e * t_plus[j]) - p[j];
            rc[j] = r[j] * 0.5 * (d_plus + d_minus);
            rh[j] = r[j] * 0.5 * (d_plus - d_minus);
        }
    });
    let wt_rh = match products.1 {
        Some(fw) => fw.tr_mul(&rh),
        None => crate::linalg::tr_mul(w, &rh),
    };
    (WeightGrad::Done(two_value_weight_grad(products.0, w, &rc, &rh, x)), input_flips(conv, wt_rh.as_slice(), &rc.row_sum(), input))
}

/// Per unit, in one pass: `r_j = f(+1) − f(−1) = −x_j s_j`, `p_j = σ(a_j)` and `g_j = r_j σ'(a_j)`
/// (the shapes of `x`).
fn unit_terms(x: &DMatrix<f64>, s: &DMatrix<f64>, a: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    assert!(x.shape() == s.shape() && x.shape() == a.shape(), "x, s and a differ in shape");
    let n = x.len();
    let (mut r, mut p, mut g) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    simd::dispatch!(for (((((r, p), g), &x), &s), &a) in r.iter_mut().zip(&mut p).zip(&mut g).zip(x.as_slice()).zip(s.as_slice()).zip(a.as_slice()) {
        *r = -x * s;
        *p = simd::sigmoid(a);
        *g = *r * *p * (1.0 - *p);
    });
    let shaped = |v| DMatrix::from_vec(x.nrows(), x.ncols(), v);
    (shaped(r), shaped(p), shaped(g))
}
