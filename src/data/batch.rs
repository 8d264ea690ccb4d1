//! The inputs of a Monte Carlo pass: stored bytes with one affine scaling (so the packed engine
//! can read bit planes), or scaled real inputs.

use nalgebra::DMatrix;

use super::{Dataset, Features, InputScaling};
use crate::error::{Result, SbnError};

/// The inputs, one example after another.
#[derive(Clone, Copy, Debug)]
pub enum InputBatch<'a> {
    /// 8-bit values `v` (e.g. pixels), `dim` per example, scaled by one affine map for every value:
    /// `x⁰ = alpha·v + offset`. Kept as bytes so the packed engine can use bit planes.
    Bytes {
        /// The stored values, `dim` per example, examples one after another.
        data: &'a [u8],
        /// Values per example (`d0`).
        dim: usize,
        /// Scale `α` of the affine map.
        alpha: f64,
        /// Offset `c` of the affine map.
        offset: f64,
    },
    /// Real inputs `x⁰`, `d0 × B`, one example per column.
    Real(&'a DMatrix<f64>),
}

impl<'a> InputBatch<'a> {
    /// The inputs of a data set: bytes when the scaling is one affine map (so the packed engine
    /// can use bit planes), scaled reals (kept in `storage`) otherwise.
    pub fn from_dataset(ds: &'a Dataset, scaling: &InputScaling, storage: &'a mut Option<DMatrix<f64>>) -> Result<Self> {
        if let (Features::Bytes(data), &InputScaling::Affine { alpha, offset }) = (&ds.features, scaling) {
            return Ok(InputBatch::Bytes { data, dim: ds.dim, alpha, offset });
        }
        Ok(InputBatch::Real(storage.insert(scaling.apply_all(ds)?)))
    }
}

impl InputBatch<'_> {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            InputBatch::Bytes { data, dim, .. } => data.len().checked_div(*dim).unwrap_or(0),
            InputBatch::Real(x) => x.ncols(),
        }
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per example.
    pub fn dim(&self) -> usize {
        match self {
            InputBatch::Bytes { dim, .. } => *dim,
            InputBatch::Real(x) => x.nrows(),
        }
    }

    /// Checks the form and that examples have `d0` values.
    pub fn check(&self, d0: usize) -> Result<()> {
        if let InputBatch::Bytes { data, dim, alpha, offset } = *self {
            if dim == 0 || data.len() % dim != 0 {
                return Err(SbnError::invalid("inputs", format!("{} bytes are not whole examples of {dim} values", data.len())));
            }
            if !alpha.is_finite() || !offset.is_finite() {
                return Err(SbnError::invalid("inputs", "the input scaling α, c must be finite"));
            }
        }
        if self.dim() != d0 {
            return Err(SbnError::invalid("inputs", format!("examples have {} values but the network takes {d0}", self.dim())));
        }
        Ok(())
    }

    /// Examples `range` as real inputs `x⁰` (`d0 × B`).
    pub fn to_matrix(&self, range: std::ops::Range<usize>) -> DMatrix<f64> {
        match *self {
            InputBatch::Bytes { data, dim, alpha, offset } => {
                DMatrix::from_iterator(dim, range.len(), data[range.start * dim..range.end * dim].iter().map(|&v| alpha * f64::from(v) + offset))
            }
            InputBatch::Real(x) => x.columns(range.start, range.len()).into_owned(),
        }
    }
}
