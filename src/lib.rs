//! # sbn: Bayesian stochastic binary neural networks
//!
//! Networks with ±1 activations (logistic noise before every sign) and ±1 weights with
//! variational Bernoulli posteriors; gradients by PSA, the path sample-analytic estimator; and
//! packed-bit Monte Carlo inference. The mathematics is specified in `docs/math.md` (model §1,
//! objective §2, PSA §3, baselines §4, uncertainty §5, packed evaluation §6); the notation here
//! follows it.
//!
//! * [`model`]: what an SBN is (layers, weight kinds, noise, prior, the one forward pass).
//! * [`estimator`]: gradient estimators behind one trait (PSA, ST, Hard-ST, REINFORCE, ARM,
//!   DisARM, Concrete, ST-Gumbel, deterministic tanh, exact enumeration).
//! * [`objective`]: the ELBO (expected NLL + β·KL/N); [`train`]: the fit loop; [`spec`]: model
//!   specs; [`io`]: model files.
//! * [`packed`] and [`predict`]: sampled networks on bits and the Monte Carlo predictive;
//!   [`metrics`], [`uncertainty`], [`report`], [`plot`]: what users look at.
//! * [`data`]: loaders, the embedded digits, input scaling, toy problems.
//! * [`gradcase`] and [`gradcheck`]: the reference-vector case format and the gradient-quality study.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod checked;
pub mod data;
pub mod error;
pub mod estimator;
pub mod evaluate;
pub mod fitted;
pub mod reference_cases;
pub mod gradient_study;
pub mod io;
pub mod limits;
pub(crate) mod linalg;
pub mod metrics;
pub mod model;
pub mod objective;
pub mod packed;
pub mod plot;
pub mod montecarlo;
pub mod predictive;
pub mod report;
pub(crate) mod rng;
pub mod session;
pub(crate) mod simd;
pub mod spec;
pub mod train;
pub mod uncertainty;

pub use error::{Result, SbnError};
pub use estimator::{Estimate, Estimator, EstimatorKind, Gradient};
pub use model::{Network, WeightKind};
