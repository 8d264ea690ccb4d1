//! # sbn: Bayesian stochastic binary neural networks
//!
//! Networks with ±1 activations (logistic noise before every sign) and ±1 weights with
//! variational Bernoulli posteriors; gradients by PSA, the path sample-analytic estimator; and
//! packed-bit Monte Carlo inference, with the predictive's uncertainty split into a data part and
//! a model part. What the code computes is specified in `docs/math.md` (model §1, objective §2,
//! PSA §3, baselines §4, uncertainty §5, packed evaluation §6, input scaling and convolutions §7,
//! metrics §8, shifted test images §9, post-hoc calibration §10); the notation here follows it.
//!
//! ## Fit, predict, split the uncertainty
//!
//! A spec built in code (the same types a TOML spec file deserializes into), checked once, fitted
//! on labelled data, then used on features alone:
//!
//! ```
//! use sbn::data::embedded::digits;
//! use sbn::evaluate::{evaluate, predict_features};
//! use sbn::montecarlo::McConfig;
//! use sbn::session::{fit, FitOptions};
//! use sbn::spec::{ModelSpec, NetworkSpec};
//! use sbn::WeightKind;
//!
//! # fn main() -> sbn::Result<()> {
//! let mut spec = ModelSpec::new(NetworkSpec::dense(&[32], WeightKind::Bernoulli));
//! spec.objective.beta = 0.01;
//! spec.training.epochs = 2;
//! spec.training.logit_lr = 0.1;
//! spec.training.batch_size = 32;
//! let spec = spec.check("spec in code")?;
//!
//! let (train, test) = digits().split(0.2, 1);
//! let (train, valid) = train.split(0.2, 1);
//! let fitted = fit(&spec, &train, &valid, &FitOptions::default(), &mut ())?.model;
//!
//! let config = McConfig { weight_samples: 4, noise_samples: 2, ..McConfig::default() };
//! let (_, scores) = evaluate(&fitted, &test, &config)?;
//! assert!(scores.accuracy > 0.5);
//!
//! // One example's 64 pixel values, as stored: class probabilities and the uncertainty split.
//! let pixels: Vec<f64> = (0..64).map(|i| test.feature(0, i)).collect();
//! let p = predict_features(&fitted, &pixels, &config)?;
//! let u = &p.uncertainty;
//! assert!((u.total[0] - (u.data[0] + u.model[0])).abs() < 1e-9);
//! println!("class {} with p = {:.2}", fitted.class_names[p.class(0)], p.probabilities(0)[p.class(0)]);
//! # Ok(())
//! # }
//! ```
//!
//! ## The house, in the order data flows
//!
//! * [`data`]: data sets (loaders for IDX and CSV, the embedded digits, input scaling, classes
//!   matched by name, toy problems).
//! * [`model`]: what an SBN is (layers, weight kinds, noise, prior, the one forward pass, the
//!   posterior's mode and tempering).
//! * [`estimator`]: gradient estimators behind one trait (PSA, ST, Hard-ST, REINFORCE, ARM,
//!   DisARM, Concrete, ST-Gumbel, deterministic tanh, exact enumeration); [`objective`]: the
//!   ELBO (expected NLL + β·KL/N).
//! * [`train`]: the [`Trainer`](train::Trainer) and the [`Observer`](train::Observer) it reports
//!   to; [`spec`]: model specs; [`session`]: a fit from a spec (initialization, resuming,
//!   validation, checkpoints); [`fitted`]: the fitted model; [`io`]: model files.
//! * [`engine`]: where a training step's products run (f64 reference, or popcount and f32);
//!   [`popcount`]: bit matrices and their popcount products.
//! * [`packed`] and [`montecarlo`]: sampled networks on bits and the Monte Carlo predictive
//!   ([`predictive`]); [`evaluate`]: a fitted model on data; [`ensemble`]: several fitted
//!   models as one predictive (their weight samples pooled).
//! * [`metrics`], [`uncertainty`], [`report`], [`plot`]: what users look at; [`shift`]: the
//!   same under shifted test images (rotated, translated, noisy, blurred, faded, inverted);
//!   [`intervals`]:
//!   confidence intervals around the scores and paired comparisons; [`posthoc`]: post-hoc
//!   calibration of the predictive (temperature, vector scaling, histogram binning).
//! * [`reference_cases`] and [`gradient_study`]: the reference-vector case format and the
//!   gradient-quality study; [`limits`]: sizes checked against memory; [`checked`]: validated
//!   values.

#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod checked;
pub mod data;
pub mod engine;
pub mod ensemble;
pub mod error;
pub mod estimator;
pub mod evaluate;
pub mod fitted;
pub mod gradient_study;
pub mod intervals;
pub mod io;
pub mod limits;
pub(crate) mod linalg;
pub mod metrics;
pub mod model;
pub mod montecarlo;
pub mod objective;
pub mod packed;
pub mod plot;
pub mod popcount;
pub mod posthoc;
pub mod predictive;
pub mod reference_cases;
pub mod report;
pub(crate) mod rng;
pub mod session;
pub mod shift;
pub(crate) mod simd;
pub mod spec;
pub mod train;
pub mod uncertainty;

pub use error::{Result, SbnError};
pub use estimator::{Estimate, Estimator, EstimatorKind, Gradient};
pub use model::{Network, WeightKind};
