//! How `∇ E[loss]` is estimated: one trait, one file per estimator.
//!
//! Every estimator sees the network through the same inputs (a batch, one weight sample and a
//! source of uniforms) and returns an [`Estimate`]: a value and a [`Gradient`] shaped like the
//! parameters. Path estimators (PSA, ST) run the one shared forward pass
//! ([`Network::forward`]) and then their own backward pass. Gradients are those of the
//! **batch-mean** loss.

pub mod arm;
pub mod concrete;
pub mod exact;
pub mod gradient;
pub mod psa;
pub mod reinforce;
mod replay;
pub mod st;

use std::fmt;
use std::str::FromStr;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SbnError};
use crate::model::{Draws, Network, WeightSample};

pub use arm::{Antithetic, Arm};
pub use concrete::{DeterministicTanh, Relaxation, Relaxed};
pub use exact::Exact;
pub use gradient::{DeferredProduct, Gradient, LayerGrad};
pub use psa::Psa;
pub use reinforce::{Baseline, Reinforce};
pub use st::{StraightThrough, Surrogate};

/// An estimate of the batch-mean expected loss and of its gradient.
#[derive(Clone, Debug)]
pub struct Estimate {
    /// The estimator's value: PSA's `Ê`, the loss at the sample for ST, `E[ℓ]` for exact.
    pub loss: f64,
    /// Gradient of the batch-mean loss. For Bernoulli layers `w` holds `∂/∂q`.
    pub grad: Gradient,
}

/// A gradient estimator.
pub trait Estimator: Send + Sync {
    /// Which estimator this is.
    fn kind(&self) -> EstimatorKind;

    /// True when the estimate's mean equals the exact gradient for every parameter.
    fn is_unbiased(&self) -> bool;

    /// Estimate for inputs `x` (`d0 × B`) and labels `y`, at the weight sample `ws`, drawing the
    /// unit noise from `draws`. Estimators that do not sample (exact) ignore `ws` and `draws`.
    fn estimate(&self, net: &Network, x: &DMatrix<f64>, y: &[usize], ws: &WeightSample, draws: &mut dyn Draws) -> Result<Estimate>;

    /// [`estimate`](Estimator::estimate) for one chunk of a minibatch
    /// ([`estimate_batch`](crate::train::estimate_batch)): a dense layer's weight-gradient product
    /// may come back as its factors (that layer's `w` is then empty, `0 × 0`), for the minibatch to
    /// multiply once ([`DeferredProduct::combine`]). By default nothing is deferred.
    fn estimate_chunk(
        &self,
        net: &Network,
        x: &DMatrix<f64>,
        y: &[usize],
        ws: &WeightSample,
        draws: &mut dyn Draws,
    ) -> Result<(Estimate, Vec<DeferredProduct>)> {
        Ok((self.estimate(net, x, y, ws, draws)?, Vec::new()))
    }
}

/// Refuses convolutional layers: for estimators whose backward pass is written for dense layers
/// only (PSA, ST, Hard-ST and exact handle convolutions).
pub(crate) fn dense_only(net: &Network, estimator: EstimatorKind) -> Result<()> {
    match net.layers().iter().position(|l| l.conv.is_some()) {
        Some(k) => Err(SbnError::Unsupported(format!(
            "the {estimator} estimator handles dense layers only, but layer {k} is a convolution (use psa, st, hardst or exact)"
        ))),
        None => Ok(()),
    }
}

/// The estimators by name: for the CLI, spec files and serialized models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EstimatorKind {
    /// Path sample-analytic (docs/math.md §3).
    Psa,
    /// Straight-through with `∂x/∂a = 2σ'(a)`.
    St,
    /// Hard straight-through, `∂x/∂a = 1[|a| ≤ 1]`.
    HardSt,
    /// Exact enumeration (tiny nets).
    Exact,
    /// REINFORCE with a running-mean baseline (stateful).
    Reinforce,
    /// REINFORCE without baseline.
    #[serde(rename = "reinforce-nb")]
    ReinforceNb,
    /// ARM (Yin & Zhou 2019), per layer.
    Arm,
    /// DisARM (Dong, Mnih & Tucker 2020), per layer.
    DisArm,
    /// Binary Concrete relaxation at the default temperature.
    Concrete,
    /// Straight-through Gumbel: hard forward, backward through the relaxed sample.
    StGumbel,
    /// The deterministic `tanh(a/2)` network (mean field).
    Tanh,
}

impl EstimatorKind {
    /// Every estimator, in the order reports list them.
    pub const ALL: [EstimatorKind; 11] = [
        EstimatorKind::Psa,
        EstimatorKind::St,
        EstimatorKind::HardSt,
        EstimatorKind::Exact,
        EstimatorKind::Reinforce,
        EstimatorKind::ReinforceNb,
        EstimatorKind::Arm,
        EstimatorKind::DisArm,
        EstimatorKind::Concrete,
        EstimatorKind::StGumbel,
        EstimatorKind::Tanh,
    ];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            EstimatorKind::Psa => "psa",
            EstimatorKind::St => "st",
            EstimatorKind::HardSt => "hardst",
            EstimatorKind::Exact => "exact",
            EstimatorKind::Reinforce => "reinforce",
            EstimatorKind::ReinforceNb => "reinforce-nb",
            EstimatorKind::Arm => "arm",
            EstimatorKind::DisArm => "disarm",
            EstimatorKind::Concrete => "concrete",
            EstimatorKind::StGumbel => "stgumbel",
            EstimatorKind::Tanh => "tanh",
        }
    }

    /// An estimator of this kind.
    pub fn build(self) -> Box<dyn Estimator> {
        match self {
            EstimatorKind::Psa => Box::new(Psa),
            EstimatorKind::St => Box::new(StraightThrough::new(Surrogate::Sigmoid)),
            EstimatorKind::HardSt => Box::new(StraightThrough::new(Surrogate::Hard)),
            EstimatorKind::Exact => Box::new(Exact::default()),
            EstimatorKind::Reinforce => Box::new(Reinforce::new(Baseline::RunningMean)),
            EstimatorKind::ReinforceNb => Box::new(Reinforce::new(Baseline::None)),
            EstimatorKind::Arm => Box::new(Arm::new(Antithetic::Arm)),
            EstimatorKind::DisArm => Box::new(Arm::new(Antithetic::DisArm)),
            EstimatorKind::Concrete => Box::new(Relaxed { mode: Relaxation::Concrete, tau: concrete::DEFAULT_TAU }),
            EstimatorKind::StGumbel => Box::new(Relaxed { mode: Relaxation::StGumbel, tau: concrete::DEFAULT_TAU }),
            EstimatorKind::Tanh => Box::new(DeterministicTanh),
        }
    }
}

impl fmt::Display for EstimatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EstimatorKind {
    type Err = SbnError;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "hard-st" => "hardst",
            "reinforce_no_baseline" | "reinforce-no-baseline" => "reinforce-nb",
            "st-gumbel" => "stgumbel",
            "deterministic-tanh" => "tanh",
            other => other,
        };
        EstimatorKind::ALL.into_iter().find(|k| k.name() == alias).ok_or_else(|| {
            let names: Vec<_> = EstimatorKind::ALL.iter().map(|k| k.name()).collect();
            SbnError::invalid("estimator", format!("unknown estimator '{s}'; expected one of: {}", names.join(", ")))
        })
    }
}
