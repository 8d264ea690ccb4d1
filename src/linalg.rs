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

/// `op(a) · op(b)`.
fn gemm(a: &DMatrix<f64>, op_a: Op, b: &DMatrix<f64>, op_b: Op) -> DMatrix<f64> {
    // (rows, cols, row stride, column stride) of the operand as used.
    let view = |m: &DMatrix<f64>, op: Op| match op {
        Op::N => (m.nrows(), m.ncols(), 1isize, m.nrows() as isize),
        Op::T => (m.ncols(), m.nrows(), m.nrows() as isize, 1isize),
    };
    let (m, k, rsa, csa) = view(a, op_a);
    let (kb, n, rsb, csb) = view(b, op_b);
    assert_eq!(k, kb, "inner dimensions differ");
    let mut c = DMatrix::zeros(m, n);
    if m == 0 || n == 0 || k == 0 {
        return c;
    }
    // SAFETY: the pointers and strides describe the full, live storage of `a`, `b` and `c`
    // (column-major, `m × k`, `k × n`, `m × n` as used), and `c` does not alias `a` or `b`.
    unsafe {
        matrixmultiply::dgemm(m, k, n, 1.0, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, 0.0, c.as_mut_ptr(), 1, m as isize);
    }
    c
}

/// `a · b`.
pub fn mul(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    gemm(a, Op::N, b, Op::N)
}

/// `aᵀ · b`.
pub fn tr_mul(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    gemm(a, Op::T, b, Op::N)
}

/// `a · bᵀ`.
pub fn mul_tr(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    gemm(a, Op::N, b, Op::T)
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
        assert!((mul_tr(&c, &b) - &c * b.transpose()).abs().max() < 1e-14);
    }
}
