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
    let rows = match op_a {
        Op::N => a.nrows(),
        Op::T => a.ncols(),
    };
    let cols = match op_b {
        Op::N => b.ncols(),
        Op::T => b.nrows(),
    };
    let mut c = DMatrix::zeros(rows, cols);
    gemm_into(1.0, a, op_a, b, op_b, 0.0, &mut c);
    c
}

/// `c ← α op(a) · op(b) + β c` (with `β = 0`, `c` is only written).
fn gemm_into(alpha: f64, a: &DMatrix<f64>, op_a: Op, b: &DMatrix<f64>, op_b: Op, beta: f64, c: &mut DMatrix<f64>) {
    // (rows, cols, row stride, column stride) of the operand as used.
    let view = |m: &DMatrix<f64>, op: Op| match op {
        Op::N => (m.nrows(), m.ncols(), 1isize, m.nrows() as isize),
        Op::T => (m.ncols(), m.nrows(), m.nrows() as isize, 1isize),
    };
    let (m, k, rsa, csa) = view(a, op_a);
    let (kb, n, rsb, csb) = view(b, op_b);
    assert_eq!(k, kb, "inner dimensions differ");
    assert_eq!(c.shape(), (m, n), "output shape differs");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == 0.0 {
            c.fill(0.0);
        } else {
            *c *= beta;
        }
        return;
    }
    // SAFETY: the pointers and strides describe the full, live storage of `a`, `b` and `c`
    // (column-major, `m × k`, `k × n`, `m × n` as used), and `c` (borrowed mutably) aliases neither.
    unsafe {
        matrixmultiply::dgemm(m, k, n, alpha, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, c.as_mut_ptr(), 1, m as isize);
    }
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

/// `c ← α a · bᵀ + β c`.
pub fn mul_tr_into(alpha: f64, a: &DMatrix<f64>, b: &DMatrix<f64>, beta: f64, c: &mut DMatrix<f64>) {
    gemm_into(alpha, a, Op::N, b, Op::T, beta, c);
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
        let mut acc = DMatrix::from_fn(7, 5, |i, j| (i * j) as f64 - 3.0);
        let want = 0.5 * &c * c.transpose().columns(0, 5) - 2.0 * &acc;
        mul_tr_into(0.5, &c, &DMatrix::from_fn(5, 3, |i, j| c[(i, j)]), -2.0, &mut acc);
        assert!((acc - want).abs().max() < 1e-13);
    }
}
