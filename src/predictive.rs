//! The Monte Carlo predictive distribution (docs/math.md §5) as a plain record: for every example, the
//! class probabilities `p̄_s(y|x)` of each weight sample `s` (activation noise already averaged over
//! `S_z` noise samples). The packed and float inference paths produce it; metrics and the
//! uncertainty split read it.

/// `p̄_s(y | x_n)` for `n < n_examples`, `s < weight_samples`, `y < n_classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictive {
    pub n_examples: usize,
    pub n_classes: usize,
    /// `S_w`, the number of weight samples.
    pub weight_samples: usize,
    /// `S_z`, the number of activation-noise samples per weight sample.
    pub noise_samples: usize,
    /// Row-major `[example][weight sample][class]`.
    pub per_weight_sample: Vec<f64>,
}

impl Predictive {
    /// An all-zero predictive of the given shape.
    pub fn zeros(n_examples: usize, n_classes: usize, weight_samples: usize, noise_samples: usize) -> Self {
        Predictive { n_examples, n_classes, weight_samples, noise_samples, per_weight_sample: vec![0.0; n_examples * weight_samples * n_classes] }
    }

    /// `p̄_s(· | x_n)`.
    pub fn sample(&self, n: usize, s: usize) -> &[f64] {
        let start = (n * self.weight_samples + s) * self.n_classes;
        &self.per_weight_sample[start..start + self.n_classes]
    }

    /// All weight samples of example `n`, `[s][class]`.
    pub fn example(&self, n: usize) -> &[f64] {
        let len = self.weight_samples * self.n_classes;
        &self.per_weight_sample[n * len..(n + 1) * len]
    }

    /// `p̄(· | x_n) = (1/S_w) Σ_s p̄_s(· | x_n)`.
    pub fn mean(&self, n: usize) -> Vec<f64> {
        let mut p = vec![0.0; self.n_classes];
        for s in 0..self.weight_samples {
            for (acc, v) in p.iter_mut().zip(self.sample(n, s)) {
                *acc += v;
            }
        }
        p.iter_mut().for_each(|v| *v /= self.weight_samples as f64);
        p
    }

    /// `p̄` for every example, row-major `[example][class]`.
    pub fn means(&self) -> Vec<f64> {
        (0..self.n_examples).flat_map(|n| self.mean(n)).collect()
    }
}
