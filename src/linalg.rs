//! Matrix products on column-major `DMatrix<f64>` through the blocked GEMM of `matrixmultiply`,
//! with transposed operands read in place (nalgebra's own `tr_mul` is an unblocked dot-product
//! loop, and `a * b.transpose()` copies the transpose first).

use nalgebra::DMatrix;

/// Which operand is read transposed.
#[derive(Clone, Copy)]
enum Op {
    N,
    T,
}

/// `α op(a) · op(b)`.
fn gemm(alpha: f64, a: &DMatrix<f64>, op_a: Op, b: &DMatrix<f64>, op_b: Op) -> DMatrix<f64> {
    let (m, k, rsa, csa) = view(a, op_a);
    let (kb, n, rsb, csb) = view(b, op_b);
    assert_eq!(k, kb, "inner dimensions differ");
    if m == 0 || n == 0 || k == 0 {
        return DMatrix::zeros(m, n);
    }
    // With β = 0 the output is written without being read, so it is not zeroed first (zeroing
    // training-size products showed as `memset` in profiles of a conv fit).
    let mut c = Vec::with_capacity(m * n);
    // SAFETY: the pointers and strides describe the full, live storage of `a` and `b` as used, and
    // `c` has room for the `m × n` column-major output, which `dgemm` writes in full (β = 0)
    // before the length is set.
    unsafe {
        matrixmultiply::dgemm(m, k, n, alpha, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, 0.0, c.as_mut_ptr(), 1, m as isize);
        c.set_len(m * n);
    }
    DMatrix::from_vec(m, n, c)
}

/// (rows, cols, row stride, column stride) of `m` as used under `op`.
fn view(m: &DMatrix<f64>, op: Op) -> (usize, usize, isize, isize) {
    match op {
        Op::N => (m.nrows(), m.ncols(), 1, m.nrows() as isize),
        Op::T => (m.ncols(), m.nrows(), m.nrows() as isize, 1),
    }
}

/// `a · b`.
pub fn mul(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    gemm(1.0, a, Op::N, b, Op::N)
}

/// `aᵀ · b`.
pub fn tr_mul(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    gemm(1.0, a, Op::T, b, Op::N)
}

/// `α a · bᵀ` (the scaling done inside the product).
pub fn mul_tr_scaled(alpha: f64, a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    gemm(alpha, a, Op::N, b, Op::T)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_nalgebra() {
        let a = DMatrix::from_fn(7, 5, |i, j| (i as f64 - 2.0 * j as f64).sin());
        let b = DMatrix::from_fn(5, 3, |i, j| (i * 3 + j) as f64 * 0.1 - 0.4);
        let c = DMatrix::from_fn(7, 3, |i, j| (i + 2 * j) as f64 * 0.3);
        assert!((mul(&a, &b) - &a * &b).abs().max() < 1e-14);
        assert!((tr_mul(&a, &c) - a.transpose() * &c).abs().max() < 1e-14);
        assert!((mul_tr_scaled(-0.5, &c, &b) + 0.5 * &c * b.transpose()).abs().max() < 1e-14);
        // An empty inner dimension gives a zero product of the right shape.
        assert_eq!(mul(&DMatrix::zeros(3, 0), &DMatrix::zeros(0, 2)), DMatrix::zeros(3, 2));
    }
}
