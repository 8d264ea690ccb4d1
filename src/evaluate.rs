//! Evaluating a fitted model on a data set: the MC predictive (packed engine where the model
//! allows) and its scores. Shared by `sbn evaluate`, `calibrate`, `uncertainty`, `report` and
//! `demo`.

use nalgebra::DMatrix;

use crate::data::Dataset;
use crate::error::{Result, SbnError};
use crate::io::ModelFile;
use crate::metrics::scores::Scores;
use crate::model::{Network, Weights};
use crate::predict::{predictive, InputBatch, McConfig};
use crate::predictive::Predictive;

/// Checks that the labels of `ds` lie below the model's class count (the input size is checked
/// by [`predict_dataset`]).
pub fn check_labels(model: &ModelFile, ds: &Dataset) -> Result<()> {
    let k = model.network.n_classes();
    if let Some((n, &y)) = ds.labels.iter().enumerate().find(|&(_, &y)| y >= k) {
        return Err(SbnError::invalid(&ds.name, format!("label {y} of example {n} is out of range for a model with {k} classes")));
    }
    Ok(())
}

/// The MC predictive of `model` on `ds` (input scaling from the model file). Labels are not
/// needed, so OOD data with other labels is fine; only the input size is checked.
pub fn predict_dataset(model: &ModelFile, ds: &Dataset, config: &McConfig) -> Result<Predictive> {
    if ds.is_empty() {
        return Err(SbnError::invalid(&ds.name, "the data set is empty"));
    }
    if ds.dim != model.network.input_dim() {
        return Err(SbnError::invalid(&ds.name, format!("examples have {} features but the model takes {}", ds.dim, model.network.input_dim())));
    }
    let mut storage: Option<DMatrix<f64>> = None;
    let inputs = InputBatch::from_dataset(ds, &model.scaling, &mut storage)?;
    predictive(&model.network, inputs, config)
}

/// The predictive and its scores on labelled data.
pub fn evaluate(model: &ModelFile, ds: &Dataset, config: &McConfig) -> Result<(Predictive, Scores)> {
    check_labels(model, ds)?;
    let pred = predict_dataset(model, ds, config)?;
    let scores = Scores::from_predictive(&pred, &ds.labels)?;
    Ok((pred, scores))
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
