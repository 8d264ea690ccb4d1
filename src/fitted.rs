//! A fitted model: what prediction needs, apart from how it was trained or stored. The network
//! (its variational posterior), the input scaling fitted on the training data, the classes in
//! their order, and the history of the fit. Model files (`io`) store one with the spec that made
//! it; a fit (`session`) returns one.

use crate::data::InputScaling;
use crate::error::{Result, SbnError};
use crate::model::Network;
use crate::train::EpochRecord;

/// A network with its input scaling, classes and training history.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedModel {
    /// The network: weights, or for Bernoulli layers the logits θ of `q = σ(θ)`.
    pub network: Network,
    /// The map from stored feature values to network inputs.
    pub scaling: InputScaling,
    /// One name per output, in output order.
    pub class_names: Vec<String>,
    /// What every epoch of the fit measured (empty for a model not fitted here).
    pub history: Vec<EpochRecord>,
}

impl FittedModel {
    /// A model after checking that the parts agree: the scaling's input size is the network's,
    /// and there is one class name per output.
    pub fn new(network: Network, scaling: InputScaling, class_names: Vec<String>, history: Vec<EpochRecord>) -> Result<Self> {
        if network.input_dim() != scaling.dim().unwrap_or(network.input_dim()) {
            return Err(SbnError::invalid("fitted model", "input scaling and network disagree on the input size"));
        }
        if network.n_classes() != class_names.len() {
            return Err(SbnError::invalid("fitted model", format!("{} class names for {} outputs", class_names.len(), network.n_classes())));
        }
        Ok(FittedModel { network, scaling, class_names, history })
    }

    /// Features per example.
    pub fn input_dim(&self) -> usize {
        self.network.input_dim()
    }

    /// Number of classes K.
    pub fn n_classes(&self) -> usize {
        self.network.n_classes()
    }
}
