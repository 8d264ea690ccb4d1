//! The geometry of a 2-D convolutional layer, and the unfolding that turns it into a dense layer
//! applied to patches.
//!
//! Feature maps are stored height × width × channels (HWC): feature `(y, x, c)` of a map is entry
//! `(y·W + x)·C + c` of an example's column. A patch holds `kernel × kernel` pixels of all input
//! channels in the same order (`(dy·kernel + dx)·C_in + c`), so a convolution is the dense layer
//! `W` (`C_out × kernel²·C_in`) applied to every patch, with the weights shared over positions.
//!
//! Layouts. `unfold` turns inputs (`H·W·C_in × B`) into patches (`kernel²·C_in × B·P`, column
//! `n·P + p` for example `n` and output position `p`); a layer's per-unit matrices exist in two
//! layouts holding the same memory: *units* (`P·C_out × B`, the HWC map of each example, what the
//! next layer reads) and *channels* (`C_out × B·P`, what the dense formulas read). Every dense
//! formula of docs/math.md §3 thus applies to a convolution with the batch replaced by the `B·P`
//! patches; a batch mean over `B·P` patches times `P` is the batch mean of the sum over positions,
//! i.e. the gradient of the shared weights.

use std::borrow::Cow;

use nalgebra::{DMatrix, Dyn};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SbnError};

/// The largest height, width, channel count, kernel, stride or padding of a convolution.
pub const MAX_SIZE: usize = 1 << 16;

/// A square-kernel 2-D convolution with stride and constant padding.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Input height `H`.
    pub in_h: usize,
    /// Input width `W`.
    pub in_w: usize,
    /// Input channels `C_in`.
    pub in_c: usize,
    /// Output channels (the rows of `W`).
    pub out_c: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Step between output positions, the same along both axes.
    pub stride: usize,
    /// Pixels of padding on every side.
    pub pad: usize,
    /// The value of padded inputs: ±1 on binary inputs (a constant state, never flipped); on the
    /// first layer the input value of a zero pixel, so that packed bit planes stay exact.
    pub pad_value: f64,
}

impl Conv2d {
    /// Checks that the geometry is usable.
    pub fn check(&self, place: &str) -> Result<()> {
        let bad = |msg: String| Err(SbnError::invalid(place, msg));
        if self.in_h == 0 || self.in_w == 0 || self.in_c == 0 || self.out_c == 0 || self.kernel == 0 || self.stride == 0 {
            return bad("sizes, kernel and stride must be at least 1".into());
        }
        // Bounded so that no product of the geometry (patch size × positions, …) can overflow.
        let largest = [self.in_h, self.in_w, self.in_c, self.out_c, self.kernel, self.stride, self.pad].into_iter().max().unwrap_or(0);
        if largest > MAX_SIZE {
            return bad(format!("a size of {largest} is larger than the largest supported, {MAX_SIZE}"));
        }
        if self.kernel > self.in_h + 2 * self.pad || self.kernel > self.in_w + 2 * self.pad {
            return bad(format!("kernel {} is larger than the padded input {}×{}", self.kernel, self.in_h + 2 * self.pad, self.in_w + 2 * self.pad));
        }
        if self.pad >= self.kernel {
            return bad(format!("padding {} must be smaller than the kernel {}", self.pad, self.kernel));
        }
        if !self.pad_value.is_finite() {
            return bad("pad value must be finite".into());
        }
        Ok(())
    }

    /// Output height, `(H + 2·pad − kernel)/stride + 1` rounded down.
    pub fn out_h(&self) -> usize {
        (self.in_h + 2 * self.pad - self.kernel) / self.stride + 1
    }

    /// Output width, `(W + 2·pad − kernel)/stride + 1` rounded down.
    pub fn out_w(&self) -> usize {
        (self.in_w + 2 * self.pad - self.kernel) / self.stride + 1
    }

    /// Output positions `P`.
    pub fn positions(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// Inputs per patch: `kernel²·C_in` (the columns of `W`).
    pub fn fan_in(&self) -> usize {
        self.kernel * self.kernel * self.in_c
    }

    /// Input features `H·W·C_in`.
    pub fn in_features(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Output features `P·C_out`.
    pub fn out_features(&self) -> usize {
        self.positions() * self.out_c
    }

    /// The input pixel `(y, x)` read by kernel offset `(dy, dx)` at output position `(oy, ox)`, or
    /// `None` in the padding.
    #[inline]
    pub fn source(&self, oy: usize, ox: usize, dy: usize, dx: usize) -> Option<(usize, usize)> {
        let y = (oy * self.stride + dy).checked_sub(self.pad)?;
        let x = (ox * self.stride + dx).checked_sub(self.pad)?;
        (y < self.in_h && x < self.in_w).then_some((y, x))
    }

    /// Calls `f(patch offset, input offset)` for every in-bounds pixel of the patch at position `p`;
    /// each call covers `C_in` consecutive entries on both sides.
    #[inline]
    fn for_each_pixel(&self, p: usize, mut f: impl FnMut(usize, usize)) {
        let (oy, ox) = (p / self.out_w(), p % self.out_w());
        for dy in 0..self.kernel {
            for dx in 0..self.kernel {
                if let Some((y, x)) = self.source(oy, ox, dy, dx) {
                    f((dy * self.kernel + dx) * self.in_c, (y * self.in_w + x) * self.in_c);
                }
            }
        }
    }

    /// Inputs (`H·W·C_in × B`) to patches (`kernel²·C_in × B·P`); padding reads `pad_value`.
    pub fn unfold(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        assert_eq!(x.nrows(), self.in_features(), "input size differs from the convolution's");
        let (f, p_count, c) = (self.fan_in(), self.positions(), self.in_c);
        let mut out = DMatrix::from_element(f, x.ncols() * p_count, self.pad_value);
        out.as_mut_slice().par_chunks_mut(f * p_count).zip(x.as_slice().par_chunks(x.nrows())).for_each(|(patches, xn)| {
            for (p, patch) in patches.chunks_mut(f).enumerate() {
                self.for_each_pixel(p, |to, from| patch[to..to + c].copy_from_slice(&xn[from..from + c]));
            }
        });
        out
    }

    /// The adjoint of [`Conv2d::unfold`]: patches (`kernel²·C_in × B·P`) summed back onto the
    /// inputs (`H·W·C_in × B`); padding entries are dropped.
    pub fn fold(&self, patches: &DMatrix<f64>) -> DMatrix<f64> {
        assert_eq!(patches.nrows(), self.fan_in(), "patch size differs from the convolution's");
        self.fold_slice(patches.as_slice())
    }

    /// [`Conv2d::fold`] of patches given column-major (`kernel²·C_in` rows) in f64 or f32.
    fn fold_slice<T: Copy + Into<f64> + Sync>(&self, patches: &[T]) -> DMatrix<f64> {
        let (f, p_count, c) = (self.fan_in(), self.positions(), self.in_c);
        assert_eq!(patches.len() % (f * p_count).max(1), 0, "patch matrix size is not a whole number of examples");
        let batch = patches.len() / (f * p_count).max(1);
        let mut out = DMatrix::zeros(self.in_features(), batch);
        out.as_mut_slice().par_chunks_mut(self.in_features()).zip(patches.par_chunks(f * p_count)).for_each(|(xn, pn)| {
            for (p, patch) in pn.chunks(f).enumerate() {
                self.for_each_pixel(p, |from, to| xn[to..to + c].iter_mut().zip(&patch[from..from + c]).for_each(|(x, &v)| *x += v.into()));
            }
        });
        out
    }

    /// `fold(unfold(x) ⊙ m + 1 shiftᵀ)` (`m`: `kernel²·C_in × B·P`, column-major, in f64 or f32;
    /// `shift`: one value per patch column) without forming the patch-size product: an in-bounds
    /// patch entry holds its input value, so this is `x ⊙ fold(m)` plus, at every input pixel, the
    /// shifts of the patches that read it. PSA's input flip sensitivities have this form
    /// (docs/math.md §3, two-value form).
    pub fn fold_affine<T: Copy + Into<f64> + Sync>(&self, m: &[T], shift: &[f64], x: &DMatrix<f64>) -> DMatrix<f64> {
        let (p_count, c) = (self.positions(), self.in_c);
        assert_eq!(shift.len() * self.fan_in(), m.len(), "one shift per patch");
        assert_eq!(x.shape(), (self.in_features(), shift.len() / p_count), "input size differs from the convolution's");
        let mut out = self.fold_slice(m);
        out.as_mut_slice().par_chunks_mut(self.in_features()).zip(x.as_slice().par_chunks(self.in_features())).zip(shift.par_chunks(p_count)).for_each(
            |((on, xn), shift_n)| {
                // Per input pixel, the sum of the shifts of the patches that read it.
                let mut covered = vec![0.0; self.in_h * self.in_w];
                for (p, s) in shift_n.iter().enumerate() {
                    self.for_each_pixel(p, |_, to| covered[to / c] += s);
                }
                for ((o, x), shift) in on.chunks_exact_mut(c).zip(xn.chunks_exact(c)).zip(&covered) {
                    o.iter_mut().zip(x).for_each(|(o, x)| *o = *o * x + shift);
                }
            },
        );
        out
    }
}

/// The units ↔ channels views of a layer's per-unit matrices (the same memory, reshaped), and
/// unfolding of its input; the identity for dense layers (`P = 1`).
pub trait Unfolding {
    /// The convolution, if the layer is one.
    fn conv(&self) -> Option<&Conv2d>;

    /// Output positions `P` (1 for a dense layer).
    fn positions(&self) -> usize {
        self.conv().map_or(1, Conv2d::positions)
    }

    /// The layer's input (`n_in × B`) as the columns its weights multiply.
    fn unfold<'a>(&self, x: &'a DMatrix<f64>) -> Cow<'a, DMatrix<f64>> {
        match self.conv() {
            Some(c) => Cow::Owned(c.unfold(x)),
            None => Cow::Borrowed(x),
        }
    }

    /// The adjoint of [`Unfolding::unfold`].
    fn fold(&self, m: DMatrix<f64>) -> DMatrix<f64> {
        match self.conv() {
            Some(c) => c.fold(&m),
            None => m,
        }
    }

    /// A units-layout matrix in the channels layout, copied only for a convolution.
    fn channels_of<'a>(&self, m: &'a DMatrix<f64>) -> Cow<'a, DMatrix<f64>> {
        match self.conv() {
            Some(_) => Cow::Owned(self.to_channels(m.clone())),
            None => Cow::Borrowed(m),
        }
    }

    /// Units layout (`P·C × B`) to channels layout (`C × B·P`).
    fn to_channels(&self, m: DMatrix<f64>) -> DMatrix<f64> {
        match self.conv() {
            Some(c) => {
                let cols = m.len() / c.out_c;
                m.reshape_generic(Dyn(c.out_c), Dyn(cols))
            }
            None => m,
        }
    }

    /// Channels layout (`C × B·P`) to units layout (`P·C × B`).
    fn to_units(&self, m: DMatrix<f64>) -> DMatrix<f64> {
        match self.conv() {
            Some(c) => {
                let rows = c.out_features();
                let cols = m.len() / rows;
                m.reshape_generic(Dyn(rows), Dyn(cols))
            }
            None => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(in_h: usize, in_w: usize, in_c: usize, kernel: usize, stride: usize, pad: usize) -> Conv2d {
        Conv2d { in_h, in_w, in_c, out_c: 2, kernel, stride, pad, pad_value: -1.0 }
    }

    #[test]
    fn output_sizes() {
        assert_eq!(geometry(28, 28, 1, 3, 1, 1).positions(), 28 * 28);
        assert_eq!(geometry(28, 28, 1, 3, 2, 1).out_h(), 14);
        assert_eq!(geometry(7, 5, 1, 3, 2, 0).out_w(), 2);
        assert!(geometry(2, 2, 1, 5, 1, 0).check("c").is_err());
        assert!(geometry(4, 4, 1, 3, 1, 3).check("c").is_err());
    }

    #[test]
    fn unfold_reads_the_right_pixels() {
        // 3×3 single channel, kernel 2, stride 1, pad 1 → 4×4 positions.
        let g = geometry(3, 3, 1, 2, 1, 1);
        let x = DMatrix::from_fn(9, 1, |i, _| i as f64 + 1.0);
        let u = g.unfold(&x);
        assert_eq!(u.shape(), (4, 16));
        // Position 0 covers (−1,−1),(−1,0),(0,−1),(0,0): three pads and pixel 1.
        assert_eq!(u.column(0).as_slice(), &[-1.0, -1.0, -1.0, 1.0]);
        // Position 5 = (1,1) covers pixels (0,0),(0,1),(1,0),(1,1).
        assert_eq!(u.column(5).as_slice(), &[1.0, 2.0, 4.0, 5.0]);
    }

    #[test]
    fn fold_is_the_adjoint_of_unfold() {
        // ⟨unfold x, y⟩ = ⟨x, fold y⟩ for zero padding.
        let mut g = geometry(5, 4, 3, 3, 2, 1);
        g.pad_value = 0.0;
        let h = |k: usize| ((k as f64 * 0.618_034).fract() - 0.5) * 2.0;
        let x = DMatrix::from_fn(g.in_features(), 2, |i, n| h(i + 7 * n));
        let y = DMatrix::from_fn(g.fan_in(), 2 * g.positions(), |i, n| h(3 * i + 11 * n + 1));
        let lhs = g.unfold(&x).dot(&y);
        let rhs = x.dot(&g.fold(&y));
        assert!((lhs - rhs).abs() < 1e-12, "{lhs} vs {rhs}");
    }

    #[test]
    fn fold_affine_is_the_fold_of_the_patch_form() {
        // Strides 1–3, padding 0–2, kernels 2–3, several channels: fold_affine equals forming
        // unfold(x) ⊙ m + 1 shiftᵀ on the patches and folding it.
        let h = |k: usize| ((k as f64 * 0.618_034).fract() - 0.5) * 2.0;
        for (in_h, in_w, in_c, kernel, stride, pad) in [(5, 4, 3, 3, 2, 1), (6, 6, 2, 3, 1, 2), (7, 5, 1, 2, 3, 0), (4, 4, 4, 3, 1, 1)] {
            let g = geometry(in_h, in_w, in_c, kernel, stride, pad);
            let batch = 3;
            let x = DMatrix::from_fn(g.in_features(), batch, |i, n| if h(5 * i + 13 * n) > 0.0 { 1.0 } else { -1.0 });
            let m = DMatrix::from_fn(g.fan_in(), batch * g.positions(), |i, n| h(3 * i + 11 * n + 1));
            let shift: Vec<f64> = (0..m.ncols()).map(|n| h(17 * n + 2)).collect();
            let mut patch_form = g.unfold(&x).component_mul(&m);
            for (mut col, s) in patch_form.column_iter_mut().zip(&shift) {
                col.add_scalar_mut(*s);
            }
            let want = g.fold(&patch_form);
            let got = g.fold_affine(m.as_slice(), &shift, &x);
            assert!((got - &want).abs().max() < 1e-12 * (1.0 + want.abs().max()), "geometry {g:?}");
            // The same from m in f32 (the fast engine's), within f32 rounding of m.
            let m32: Vec<f32> = m.iter().map(|&v| v as f32).collect();
            let got32 = g.fold_affine(&m32, &shift, &x);
            assert!((got32 - &want).abs().max() < 1e-6 * (1.0 + want.abs().max()), "geometry {g:?} from f32");
        }
    }
}
