//! Where a training step's products run (docs/math.md §6).
//!
//! * The **reference** engine computes every product in f64: the conformance vectors, exact
//!   enumeration and the estimator lab run on it.
//! * The **fast** engine computes the products whose operands are both ±1 (a Bernoulli layer's
//!   sampled weights times binary states, forward) with the popcount kernels: exact integers, so
//!   its forward pass, and the states it draws, are the reference's. Products with a real side
//!   (the backward pass's) run in f32 with f32 accumulation: each output sums at most a few
//!   thousand terms of a gradient, whose relative rounding (≈ √n · 2⁻²⁴ ≤ 10⁻⁵) is far below
//!   the estimators' own noise; the fast-against-reference tests hold it to that.
//!
//! A [`WeightSample`](crate::model::WeightSample) made for the fast engine carries its ±1 rows
//! packed and in f32 ([`FastWeights`]), once per minibatch; the passes read the engine from it.

use std::fmt;
use std::str::FromStr;

use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SbnError};
use crate::popcount::kernel::{PackedRows, xor_popcount};
use crate::popcount::{BitMatrix, bits::WORD};

/// Which engine runs a training step's products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Every product in f64.
    Reference,
    /// ±1 × ±1 products on popcount kernels (exact), products with a real side in f32.
    Fast,
}

impl Engine {
    /// The name used on the command line and in spec files.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Reference => "reference",
            Engine::Fast => "fast",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = SbnError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "reference" => Ok(Engine::Reference),
            "fast" => Ok(Engine::Fast),
            _ => Err(SbnError::invalid("engine", format!("unknown training engine '{s}'; expected fast or reference"))),
        }
    }
}

/// The columns `x` of a weight-gradient product `α · a · xᵀ`: real values, or ±1 values kept as
/// packed bits (bit row `n` is column `n`), as the fast engine's forward pass keeps the patches of
/// a convolution on binary input.
#[derive(Clone, Copy, Debug)]
pub enum Columns<'a> {
    /// A real matrix (`n_in × B`).
    Values(&'a DMatrix<f64>),
    /// ±1 columns as bit rows (`B` rows of `n_in` bits).
    Signs(&'a BitMatrix),
}

impl<'a> From<&'a DMatrix<f64>> for Columns<'a> {
    fn from(m: &'a DMatrix<f64>) -> Self {
        Columns::Values(m)
    }
}

impl<'a> Columns<'a> {
    /// `(n_in, B)`.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Columns::Values(m) => m.shape(),
            Columns::Signs(b) => (b.cols(), b.rows()),
        }
    }

    /// As a real matrix (unpacked for [`Columns::Signs`]).
    pub fn values(&self) -> std::borrow::Cow<'a, DMatrix<f64>> {
        match *self {
            Columns::Values(m) => std::borrow::Cow::Borrowed(m),
            Columns::Signs(b) => std::borrow::Cow::Owned(b.to_cols_matrix()),
        }
    }

    /// Column-major in f32 into `out` (its storage reused).
    pub(crate) fn to_f32_into(self, out: &mut Vec<f32>) {
        match self {
            Columns::Values(m) => to_f32(m.as_slice(), out),
            Columns::Signs(b) => b.to_signs_f32(out),
        }
    }
}

/// A sampled ±1 weight matrix in the fast engine's two forms: rows packed for the popcount
/// kernels (forward) and the matrix in f32 (backward).
#[derive(Clone, Debug)]
pub struct FastWeights {
    rows: PackedRows,
    w32: Vec<f32>,
    shape: (usize, usize),
}

impl FastWeights {
    /// Both forms of the ±1 matrix `w` (`n_out × n_in`), built in parallel over blocks of 64 rows.
    pub(crate) fn new(w: &DMatrix<f64>) -> Self {
        let (n_out, n_in) = w.shape();
        let words = crate::popcount::bits::words_for(n_in);
        let mut data = vec![0u64; n_out * words];
        const ROWS: usize = 64;
        // A block's words (64 rows) stay in L1 while the columns stream through.
        data.par_chunks_mut(ROWS * words).enumerate().for_each(|(g, block)| {
            let (j0, rows) = (g * ROWS, block.len() / words);
            for (c, col) in w.as_slice().chunks_exact(n_out).enumerate() {
                let (word, bit) = (c / WORD, c % WORD);
                for (r, &v) in col[j0..j0 + rows].iter().enumerate() {
                    block[r * words + word] |= u64::from(v > 0.0) << bit;
                }
            }
        });
        let bits = BitMatrix::from_words(n_out, n_in, data).expect("only real columns are set");
        FastWeights::from_parts(&bits, w.as_slice().par_iter().map(|&v| v as f32).collect())
    }

    /// From the packed rows and the f32 matrix (column-major) of the same ±1 matrix.
    pub(crate) fn from_parts(bits: &BitMatrix, w32: Vec<f32>) -> Self {
        let shape = (bits.rows(), bits.cols());
        assert_eq!(w32.len(), shape.0 * shape.1, "f32 matrix and bit rows differ in size");
        FastWeights { rows: PackedRows::new(bits), w32, shape }
    }

    /// `S = W x` for `x` with ±1 entries (`n_in × B`): exact, by XOR-popcount.
    pub(crate) fn sign_product(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        assert_eq!(x.nrows(), self.shape.1, "input rows differ from the weights' columns");
        self.bits_product(&BitMatrix::from_cols_of(x))
    }

    /// `S = W x` for ±1 columns `x` given as bit rows (`B` rows of `n_in` bits): exact.
    pub(crate) fn bits_product(&self, x: &BitMatrix) -> DMatrix<f64> {
        let (n_out, n_in) = self.shape;
        assert_eq!(x.cols(), n_in, "input rows differ from the weights' columns");
        let mut s = vec![0i32; n_out * x.rows()];
        xor_popcount(&self.rows, x, &mut s);
        DMatrix::from_vec(n_out, x.rows(), s.into_iter().map(f64::from).collect())
    }

    /// `Wᵀ g` in f32 (`g`: `n_out × B`).
    pub(crate) fn tr_mul(&self, g: &DMatrix<f64>) -> DMatrix<f64> {
        assert_eq!(g.nrows(), self.shape.0, "gradient rows differ from the weights' rows");
        with_scratch(|[g32, _, c]| {
            to_f32(g.as_slice(), g32);
            self.tr_mul_f32(g32, c);
            widen(c, self.shape.1, g.ncols())
        })
    }

    /// `Wᵀ g` for `g` given in f32 (column-major, `n_out` rows), handed to `f` in f32
    /// (column-major, `n_in` rows) from per-thread storage: the next step reads it in f32.
    pub(crate) fn tr_mul_f32_then<R>(&self, g32: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
        with_scratch(|[_, _, c]| {
            self.tr_mul_f32(g32, c);
            f(c)
        })
    }

    /// `Wᵀ g` into `c` (f32, column-major, `n_in` rows).
    fn tr_mul_f32(&self, g32: &[f32], c: &mut Vec<f32>) {
        let (n_out, n_in) = self.shape;
        assert_eq!(g32.len() % n_out.max(1), 0, "gradient length is not a multiple of the weights' rows");
        let cols = g32.len() / n_out.max(1);
        sgemm_into(1.0, (n_in, n_out, n_out as isize, 1), &self.w32, (n_out, cols, 1, n_out as isize), g32, c);
    }
}

/// `v` rounded to f32 into `out` (its storage reused), tiny magnitudes flushed to zero
/// ([`crate::simd::flush_tiny`]): the real operand of an f32 product.
fn to_f32(v: &[f64], out: &mut Vec<f32>) {
    out.clear();
    crate::simd::dispatch!(out.extend(v.iter().map(|&x| crate::simd::flush_tiny(x as f32))));
}

/// `α · a · bᵀ` in the engine's precision (`a`: `m × B`, `b`: `n × B`): a weight gradient, the
/// sum over examples (and patches) of outer products.
pub(crate) fn mul_tr_scaled<'b>(engine: Engine, alpha: f64, a: &DMatrix<f64>, b: impl Into<Columns<'b>>) -> DMatrix<f64> {
    let b = b.into();
    match engine {
        Engine::Reference => crate::linalg::mul_tr_scaled(alpha, a, &b.values()),
        Engine::Fast => with_scratch(|[a32, b32, c]| {
            to_f32(a.as_slice(), a32);
            mul_tr_f32(alpha, a32, a.nrows(), b, b32, c)
        }),
    }
}

/// [`mul_tr_scaled`] on the fast engine for `a` given in f32 (column-major, `m` rows), the
/// product handed to `f` in f32 (column-major, `m` rows) from per-thread storage.
pub(crate) fn mul_tr_scaled_f32_then<R>(alpha: f64, a32: &[f32], m: usize, b: Columns, f: impl FnOnce(&[f32]) -> R) -> R {
    with_scratch(|[_, b32, c]| {
        mul_tr_f32_into(alpha, a32, m, b, b32, c);
        f(c)
    })
}

/// Output columns per block of [`mul_tr_f32_blocks`].
const PRODUCT_BLOCK_COLUMNS: usize = 256;

/// `A Bᵀ` for `A` (`m × k`) and `B` (`n × k`), both f32 column-major, in blocks of
/// [`PRODUCT_BLOCK_COLUMNS`] output columns that run in parallel: `finish(first, product, out)`
/// gets the block's first column, its `m × cols` product (f32, column-major) and its part of
/// `out` (`m × n`, column-major). Each output entry is one product's, whatever the thread count.
pub(crate) fn mul_tr_f32_blocks<T: Send>(a: &[f32], m: usize, b: &[f32], n: usize, out: &mut [T], finish: impl Fn(usize, &[f32], &mut [T]) + Sync) {
    assert_eq!(out.len(), m * n, "the output is not m × n");
    if out.is_empty() {
        return;
    }
    let k = a.len() / m;
    assert!(a.len() == m * k && b.len() == n * k, "inner dimensions differ");
    out.par_chunks_mut(m * PRODUCT_BLOCK_COLUMNS).enumerate().for_each(|(block, out)| {
        let (first, cols) = (block * PRODUCT_BLOCK_COLUMNS, out.len() / m);
        let mut c = Vec::new();
        // Columns first.. of Bᵀ: entry (t, i) is b[first + i + t·n].
        sgemm_into(1.0, (m, k, 1, m as isize), a, (k, cols, n as isize, 1), &b[first..], &mut c);
        finish(first, &c, out);
    });
}

/// `α · a · bᵀ` with `b` in f32 in `b32`, the output through `c`.
fn mul_tr_f32(alpha: f64, a32: &[f32], m: usize, b: Columns, b32: &mut Vec<f32>, c: &mut Vec<f32>) -> DMatrix<f64> {
    mul_tr_f32_into(alpha, a32, m, b, b32, c);
    widen(c, m, b.shape().0)
}

/// `α · a · bᵀ` into `c` (f32, column-major, `m` rows), `b` in f32 in `b32`.
fn mul_tr_f32_into(alpha: f64, a32: &[f32], m: usize, b: Columns, b32: &mut Vec<f32>, c: &mut Vec<f32>) {
    let (n, k) = b.shape();
    assert_eq!(a32.len(), m * k, "inner dimensions differ");
    b.to_f32_into(b32);
    sgemm_into(alpha as f32, (m, k, 1, m as isize), a32, (k, n, n as isize, 1), b32, c);
}

/// `α · A · B` in f32 into `c` (column-major, `m × n`; storage reused), `A` and `B` given as
/// (rows, cols, row stride, column stride) over f32 storage.
fn sgemm_into(alpha: f32, a_view: (usize, usize, isize, isize), a: &[f32], b_view: (usize, usize, isize, isize), b: &[f32], c: &mut Vec<f32>) {
    let ((m, k, rsa, csa), (kb, n, rsb, csb)) = (a_view, b_view);
    assert_eq!(k, kb, "inner dimensions differ");
    assert!(a.len() >= m * k && b.len() >= k * n, "operand storage too short");
    c.clear();
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.resize(m * n, 0.0);
        return;
    }
    c.reserve(m * n);
    // SAFETY: the views describe `m × k` and `k × n` matrices inside `a` and `b` (lengths
    // asserted, strides those of their column-major or transposed layouts); `c` has room for the
    // `m × n` output, which `sgemm` writes in full (β = 0) before the length is set.
    unsafe {
        matrixmultiply::sgemm(m, k, n, alpha, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, 0.0, c.as_mut_ptr(), 1, m as isize);
        c.set_len(m * n);
    }
}

/// A column-major f32 `rows × cols` matrix widened to f64.
fn widen(c: &[f32], rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_vec(rows, cols, crate::simd::dispatch!(c.iter().map(|&v| f64::from(v)).collect()))
}

thread_local! {
    /// Per-thread f32 storage of the products (two operands, one output), reused so that a
    /// product neither allocates nor faults in fresh pages.
    static SCRATCH: std::cell::RefCell<[Vec<f32>; 3]> = const { std::cell::RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// Runs `f` with this thread's scratch buffers, taken out of [`SCRATCH`] for the call and put back
/// after it: `f` may run parallel work, during which rayon can start another task on this thread
/// that asks for scratch too (it then gets empty buffers of its own, not a borrow error).
fn with_scratch<R>(f: impl FnOnce(&mut [Vec<f32>; 3]) -> R) -> R {
    let mut buffers = SCRATCH.with_borrow_mut(std::mem::take);
    let out = f(&mut buffers);
    SCRATCH.with_borrow_mut(|s| *s = buffers);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signs(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |i, j| if (i * 31 + j * 17 + seed as usize).wrapping_mul(2654435761) % 7 < 3 { 1.0 } else { -1.0 })
    }

    #[test]
    fn sign_product_is_the_exact_product() {
        for (n_out, n_in, batch) in [(1, 1, 1), (9, 63, 3), (17, 64, 5), (8, 130, 2), (33, 300, 7)] {
            let (w, x) = (signs(n_out, n_in, 1), signs(n_in, batch, 2));
            assert_eq!(FastWeights::new(&w).sign_product(&x), &w * &x);
        }
    }

    #[test]
    fn f32_products_are_close_to_f64() {
        let w = signs(40, 70, 3);
        let g = DMatrix::from_fn(40, 9, |i, j| ((i * 7 + j * 3) as f64 * 0.37).sin());
        let fw = FastWeights::new(&w);
        let scale = g.abs().max() * 40.0;
        assert!((fw.tr_mul(&g) - w.transpose() * &g).abs().max() < 1e-6 * scale);
        let x = signs(70, 9, 4);
        let fast = mul_tr_scaled(Engine::Fast, 0.5, &g, &x);
        let reference = mul_tr_scaled(Engine::Reference, 0.5, &g, &x);
        assert!((&fast - &reference).abs().max() < 1e-6 * scale);
        assert!((&reference - 0.5 * &g * x.transpose()).abs().max() < 1e-12 * scale);
        // ±1 columns kept as bits give the same products as their values.
        let bits = BitMatrix::from_cols_of(&x);
        assert_eq!(mul_tr_scaled(Engine::Fast, 0.5, &g, Columns::Signs(&bits)), fast);
        assert_eq!(mul_tr_scaled(Engine::Reference, 0.5, &g, Columns::Signs(&bits)), reference);
    }

    #[test]
    fn scratch_can_be_asked_for_again_inside_its_own_use() {
        // As when rayon runs another chunk's product on this thread while f waits for parallel work.
        let outer = with_scratch(|[a, _, _]| {
            a.extend([1.0, 2.0]);
            let inner = with_scratch(|[a, _, _]| {
                a.push(7.0);
                a.len()
            });
            (inner, a.clone())
        });
        assert_eq!(outer, (1, vec![1.0, 2.0]));
        assert_eq!(with_scratch(|[a, _, _]| a.clone()), vec![1.0, 2.0], "the outer buffers are kept for reuse");
    }

    #[test]
    fn names_round_trip() {
        for e in [Engine::Reference, Engine::Fast] {
            assert_eq!(e.name().parse::<Engine>().unwrap(), e);
        }
        assert!("quick".parse::<Engine>().unwrap_err().to_string().contains("fast or reference"));
    }
}
