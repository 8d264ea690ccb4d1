//! Evaluating a fitted model on a data set: the MC predictive (packed engine where the model
//! allows) and its scores. Shared by `sbn evaluate`, `calibrate`, `uncertainty`, `report` and
//! `demo`.

use nalgebra::DMatrix;

use crate::data::{Dataset, Features, InputBatch};
use crate::error::{Result, SbnError};
use crate::io::ModelFile;
use crate::metrics::argmax;
use crate::metrics::scores::Scores;
use crate::model::{Network, Weights};
use crate::predict::{predictive, McConfig};
use crate::predictive::Predictive;
use crate::uncertainty::Uncertainty;

/// The MC predictive of `model` on `ds` (input scaling from the model file). Labels are not
/// needed, so unlabelled data and OOD data with other labels are fine; only the input size is
/// checked.
pub fn predict_dataset(model: &ModelFile, ds: &Dataset, config: &McConfig) -> Result<Predictive> {
    if ds.is_empty() {
        return Err(SbnError::invalid(ds.source(), "the data set is empty"));
    }
    if ds.dim != model.network.input_dim() {
        return Err(SbnError::invalid(ds.source(), format!("examples have {} features but the model takes {}", ds.dim, model.network.input_dim())));
    }
    let mut storage: Option<DMatrix<f64>> = None;
    let inputs = InputBatch::from_dataset(ds, &model.scaling, &mut storage)?;
    predictive(&model.network, inputs, config)
}

/// The predictive and its scores on labelled data. The labels are matched to the model's classes
/// by name ([`Dataset::labels_for`]), so a file that lacks some classes, or orders them otherwise,
/// is scored right; a label the model does not know is an error.
pub fn evaluate(model: &ModelFile, ds: &Dataset, config: &McConfig) -> Result<(Predictive, Scores)> {
    let labels = ds.labels_for(&model.class_names)?;
    let pred = predict_dataset(model, ds, config)?;
    let scores = Scores::from_predictive(&pred, &labels)?;
    Ok((pred, scores))
}

/// What a fitted model says about some examples: the Monte Carlo predictive and the split of its
/// uncertainty into a data part and a model part.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// `p̄_s(y | x)` of every example and weight sample.
    pub predictive: Predictive,
    /// Total, data and model uncertainty of every example (nats).
    pub uncertainty: Uncertainty,
}

impl Prediction {
    /// `p̄(· | x_n)`, the predictive class probabilities of example `n`.
    pub fn probabilities(&self, n: usize) -> Vec<f64> {
        self.predictive.mean(n)
    }

    /// The most probable class of example `n` (its index in the model's classes).
    pub fn class(&self, n: usize) -> usize {
        argmax(&self.predictive.mean(n))
    }
}

/// Predicts from features alone, as stored (pixel values, table values; the model's input scaling
/// is applied): `features` holds examples one after another, `input_dim` values each, so one
/// example is a slice of `input_dim` values. Non-finite values are an error.
///
/// Values that are all integers in 0..=255 are treated as bytes, exactly as the loaders store
/// them, so a byte-data model sees the inputs it was fitted on.
pub fn predict_features(model: &ModelFile, features: &[f64], config: &McConfig) -> Result<Prediction> {
    let dim = model.network.input_dim();
    if let Some(i) = features.iter().position(|v| !v.is_finite()) {
        return Err(SbnError::invalid("features", format!("value {i} (example {}, feature {}) is {}", i / dim, i % dim, features[i])));
    }
    let bytes = features.iter().all(|&v| v.fract() == 0.0 && (0.0..=255.0).contains(&v));
    let stored = if bytes { Features::Bytes(features.iter().map(|&v| v as u8).collect()) } else { Features::Real(features.to_vec()) };
    let ds = Dataset::unlabelled("features", stored, dim).map_err(|_| SbnError::invalid("features", format!("{} values are not whole examples of the model's {dim} inputs", features.len())))?;
    let predictive = predict_dataset(model, &ds, config)?;
    let uncertainty = Uncertainty::from_predictive(&predictive)?;
    Ok(Prediction { predictive, uncertainty })
}

/// The posterior's most likely network: every Bernoulli weight fixed at the sign of its logit
/// (`q` pushed to 0 or 1), i.e. a deterministic binary network of the same shape.
pub fn posterior_mode(net: &Network) -> Network {
    map_logits(net, |t| if t >= 0.0 { 40.0 } else { -40.0 })
}

/// The tempered posterior `q_τ = σ(θ/τ)`: `τ > 1` spreads every Bernoulli weight towards ½ (more
/// model uncertainty), `τ < 1` sharpens it (`τ → 0` is [`posterior_mode`]); `τ = 1` is the fit.
pub fn posterior_tempered(net: &Network, tau: f64) -> Result<Network> {
    if !(tau.is_finite() && tau > 0.0) {
        return Err(SbnError::invalid("posterior temperature", format!("must be a positive number, got {tau}")));
    }
    Ok(map_logits(net, |t| t / tau))
}

/// `net` with every Bernoulli logit θ replaced by `f(θ)`.
fn map_logits(net: &Network, f: impl Fn(f64) -> f64) -> Network {
    let mut out = net.clone();
    for layer in out.layers_mut() {
        if let Weights::Bernoulli { logits, .. } = &mut layer.weights {
            logits.iter_mut().for_each(|t| *t = f(*t));
        }
    }
    out
}
