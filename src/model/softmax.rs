//! The output distribution: log-sum-exp, softmax and the per-example loss `ℓ = −log softmax(o)_y`.

/// `log Σ_k e^{o_k}`, stable.
#[inline]
pub fn logsumexp(o: &[f64]) -> f64 {
    let m = o.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + o.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// `softmax(o)` written into `out`.
#[inline]
pub fn softmax_into(o: &[f64], out: &mut [f64]) {
    let m = o.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut z = 0.0;
    for (p, v) in out.iter_mut().zip(o) {
        *p = (v - m).exp();
        z += *p;
    }
    out.iter_mut().for_each(|p| *p /= z);
}

/// `softmax(o)`.
pub fn softmax(o: &[f64]) -> Vec<f64> {
    let mut p = vec![0.0; o.len()];
    softmax_into(o, &mut p);
    p
}

/// The mean of `softmax` over several logit matrices (`K × B`, one example per column): the
/// Monte Carlo average over activation-noise samples, `[example][class]`.
pub struct SoftmaxMean {
    sum: Vec<f64>,
    p: Vec<f64>,
    count: usize,
}

impl SoftmaxMean {
    /// An empty mean for `examples` columns of `classes` logits.
    pub fn new(classes: usize, examples: usize) -> Self {
        SoftmaxMean { sum: vec![0.0; classes * examples], p: vec![0.0; classes], count: 0 }
    }

    /// Adds `softmax` of every column of `logits`.
    pub fn add(&mut self, logits: &nalgebra::DMatrix<f64>) {
        for (col, a) in logits.column_iter().zip(self.sum.chunks_exact_mut(logits.nrows())) {
            softmax_into(col.as_slice(), &mut self.p);
            a.iter_mut().zip(&self.p).for_each(|(a, p)| *a += p);
        }
        self.count += 1;
    }

    /// The mean, row-major `[example][class]`.
    pub fn finish(mut self) -> Vec<f64> {
        let n = self.count.max(1) as f64;
        self.sum.iter_mut().for_each(|v| *v /= n);
        self.sum
    }
}

/// The loss `ℓ(o, y) = logsumexp(o) − o_y`.
#[inline]
pub fn nll(o: &[f64], y: usize) -> f64 {
    logsumexp(o) - o[y]
}

/// Entropy `H[p] = −Σ p log p` in nats (0 log 0 = 0).
pub fn entropy(p: &[f64]) -> f64 {
    -p.iter().filter(|&&v| v > 0.0).map(|v| v * v.ln()).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_softmax_agree() {
        let o = [1.0, -2.0, 0.5];
        let p = softmax(&o);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        for (y, &p_y) in p.iter().enumerate() {
            assert!((nll(&o, y) + p_y.ln()).abs() < 1e-14);
        }
        assert!((logsumexp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert!((entropy(&[0.5, 0.5]) - 2f64.ln()).abs() < 1e-15);
    }
}
