//! The map from stored feature values to network inputs, fitted on training data and stored with
//! the model so test data and deployment see the same inputs.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::{Dataset, Features};
use crate::error::{Result, SbnError};

/// Smallest standard deviation used by [`InputScaling::Standardize`] (constant features).
pub const MIN_STD: f64 = 1e-8;

/// How stored values `v` become inputs `x`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InputScaling {
    /// `x = alpha · v + offset`, the same map for every feature. For byte data this keeps the first
    /// layer exactly computable on the bit planes of `v` (the packed engine relies on it).
    Affine {
        /// Scale `α` (4/max when fitted on bytes).
        alpha: f64,
        /// Offset `c` (−2 when fitted on bytes).
        offset: f64,
    },
    /// `x_i = (v_i − mean_i) / std_i`, per feature (real-valued data).
    Standardize {
        /// Per-feature mean of the training data.
        mean: Vec<f64>,
        /// Per-feature population standard deviation, floored at [`MIN_STD`].
        std: Vec<f64>,
    },
}

impl InputScaling {
    /// Fit on training data. Bytes: the affine map sending [0, max] to [−2, 2], with max the largest
    /// byte present (at least 1), e.g. 255 for images and 16 for the digits. Real: per-feature mean
    /// and (population) standard deviation, floored at [`MIN_STD`].
    pub fn fit(ds: &Dataset) -> InputScaling {
        match &ds.features {
            Features::Bytes(v) => {
                let max = v.iter().copied().max().unwrap_or(0).max(1) as f64;
                InputScaling::Affine { alpha: 4.0 / max, offset: -2.0 }
            }
            Features::Real(v) => {
                let d = ds.dim;
                let n = ds.len();
                let mut mean = vec![0.0; d];
                let mut var = vec![0.0; d];
                if n > 0 {
                    for row in v.chunks_exact(d) {
                        mean.iter_mut().zip(row).for_each(|(m, &x)| *m += x);
                    }
                    mean.iter_mut().for_each(|m| *m /= n as f64);
                    for row in v.chunks_exact(d) {
                        var.iter_mut().zip(row).zip(&mean).for_each(|((s, &x), &m)| *s += (x - m) * (x - m));
                    }
                }
                let std = var.iter().map(|&s| if n > 0 { (s / n as f64).sqrt().max(MIN_STD) } else { 1.0 }).collect();
                InputScaling::Standardize { mean, std }
            }
        }
    }

    /// The input value of a stored zero (a black pixel): what a first-layer convolution pads
    /// with. Standardized data pads with 0, the feature mean.
    pub fn zero_input(&self) -> f64 {
        match self {
            InputScaling::Affine { offset, .. } => *offset,
            InputScaling::Standardize { .. } => 0.0,
        }
    }

    /// Number of features the scaling was fitted on (`None` for `Affine`, which fits any).
    pub fn dim(&self) -> Option<usize> {
        match self {
            InputScaling::Affine { .. } => None,
            InputScaling::Standardize { mean, .. } => Some(mean.len()),
        }
    }

    /// Scaled inputs of the examples `indices`: a `dim × indices.len()` matrix with one example per
    /// column (the network's layout). Errors when the scaling's dimension differs from the data's
    /// or an index is out of range.
    pub fn apply(&self, ds: &Dataset, indices: &[usize]) -> Result<DMatrix<f64>> {
        let d = ds.dim;
        if let InputScaling::Standardize { mean, std } = self
            && (mean.len() != d || std.len() != d)
        {
            return Err(SbnError::invalid(&ds.name, format!("input scaling fitted on {} features (std: {}), data has {d}", mean.len(), std.len())));
        }
        if let Some(&bad) = indices.iter().find(|&&n| n >= ds.len()) {
            return Err(SbnError::invalid(&ds.name, format!("example index {bad} out of range ({} examples)", ds.len())));
        }
        let mut out: Vec<f64> = Vec::with_capacity(d * indices.len());
        match (self, &ds.features) {
            (&InputScaling::Affine { alpha, offset }, Features::Bytes(v)) => {
                let table: [f64; 256] = std::array::from_fn(|b| alpha * b as f64 + offset);
                for &n in indices {
                    out.extend(v[n * d..(n + 1) * d].iter().map(|&b| table[b as usize]));
                }
            }
            (&InputScaling::Affine { alpha, offset }, Features::Real(v)) => {
                for &n in indices {
                    out.extend(v[n * d..(n + 1) * d].iter().map(|&x| alpha * x + offset));
                }
            }
            (InputScaling::Standardize { mean, std }, features) => {
                let inv: Vec<f64> = std.iter().map(|&s| 1.0 / s).collect();
                for &n in indices {
                    match features {
                        Features::Bytes(v) => out.extend(v[n * d..(n + 1) * d].iter().zip(mean).zip(&inv).map(|((&b, &m), &r)| (b as f64 - m) * r)),
                        Features::Real(v) => out.extend(v[n * d..(n + 1) * d].iter().zip(mean).zip(&inv).map(|((&x, &m), &r)| (x - m) * r)),
                    }
                }
            }
        }
        Ok(DMatrix::from_vec(d, indices.len(), out))
    }

    /// All examples of `ds`, scaled (see [`InputScaling::apply`]).
    pub fn apply_all(&self, ds: &Dataset) -> Result<DMatrix<f64>> {
        let all: Vec<usize> = (0..ds.len()).collect();
        self.apply(ds, &all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_maps_range_to_pm2() {
        let ds = Dataset::new("b", Features::Bytes(vec![0, 16, 8, 4]), 2, vec![0, 1], vec!["0".into(), "1".into()]).unwrap();
        let s = InputScaling::fit(&ds);
        assert_eq!(s, InputScaling::Affine { alpha: 0.25, offset: -2.0 });
        let m = s.apply(&ds, &[1, 0]).unwrap();
        assert_eq!(m.shape(), (2, 2));
        assert_eq!(m[(0, 0)], 0.0);
        assert_eq!(m[(1, 0)], -1.0);
        assert_eq!(m[(0, 1)], -2.0);
        assert_eq!(m[(1, 1)], 2.0);
        assert!(s.apply(&ds, &[2]).is_err());
    }

    #[test]
    fn standardize_and_dim_check() {
        let ds = Dataset::new("r", Features::Real(vec![1.0, 5.0, 3.0, 5.0, 5.0, 5.0]), 2, vec![0, 0, 0], vec!["0".into()]).unwrap();
        let s = InputScaling::fit(&ds);
        let m = s.apply_all(&ds).unwrap();
        let row0: Vec<f64> = m.row(0).iter().copied().collect();
        assert!((row0.iter().sum::<f64>()).abs() < 1e-12);
        assert!((row0.iter().map(|x| x * x).sum::<f64>() / 3.0 - 1.0).abs() < 1e-12);
        assert!(m.row(1).iter().all(|&x| x == 0.0));
        let other = Dataset::new("r3", Features::Real(vec![0.0; 3]), 3, vec![0], vec!["0".into()]).unwrap();
        assert!(s.apply(&other, &[0]).is_err());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<InputScaling>(&json).unwrap(), s);
    }
}
