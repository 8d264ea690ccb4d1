//! A fitted model: what prediction needs, apart from how it was trained or stored. The network
//! (its variational posterior), the input scaling fitted on the training data, the classes in
//! their order, and the history of the fit. Model files (`io`) store one with the spec that made
//! it; a fit (`session`) returns one.

use crate::data::InputScaling;
use crate::error::{Result, SbnError};
use crate::model::Network;
use crate::posthoc::PostHocFit;
use crate::train::EpochRecord;

/// A network with its input scaling, classes and training history.
///
/// A model made in code (here untrained), predicted with its Monte Carlo predictive, and its most
/// likely network packed at one bit per weight:
///
/// ```
/// use rand::SeedableRng;
/// use sbn::data::{Dataset, Features, InputBatch, InputScaling};
/// use sbn::evaluate::predict_dataset;
/// use sbn::fitted::FittedModel;
/// use sbn::model::init::{random_network, InitConfig};
/// use sbn::montecarlo::{predictive_packed, McConfig};
/// use sbn::packed::SampledNetwork;
/// use sbn::uncertainty::Uncertainty;
/// use sbn::WeightKind;
///
/// # fn main() -> sbn::Result<()> {
/// let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
/// let net = random_network(&[4, 8, 3], &[WeightKind::Bernoulli; 2], InitConfig::default(), &mut rng)?;
/// let classes = vec!["ant".to_string(), "bee".to_string(), "cat".to_string()];
/// let model = FittedModel::new(net, InputScaling::Affine { alpha: 0.5, offset: -1.0 }, classes, Vec::new())?;
///
/// let data = Dataset::unlabelled("two examples", Features::Bytes(vec![0, 1, 2, 3, 4, 3, 2, 1]), 4)?;
/// let config = McConfig { weight_samples: 8, noise_samples: 4, ..McConfig::default() };
/// let predictive = predict_dataset(&model, &data, &config)?;
/// let split = Uncertainty::from_predictive(&predictive)?;
/// assert!(split.model.iter().all(|&m| m > -1e-12)); // the mutual information is not negative
///
/// let packed = SampledNetwork::most_likely(&model.network)?;
/// let mut storage = None;
/// let inputs = InputBatch::from_dataset(&data, &model.scaling, &mut storage)?;
/// let one_network = predictive_packed(&[packed], inputs, 4, 0)?;
/// assert_eq!(one_network.weight_samples, 1);
/// # Ok(())
/// # }
/// ```
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
    /// A post-hoc calibration of the predictive fitted after the fit (`sbn calibrate --fit …
    /// --save`), applied only on request ([`FittedModel::posthoc_map`]).
    pub posthoc: Option<PostHocFit>,
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
        Ok(FittedModel { network, scaling, class_names, history, posthoc: None })
    }

    /// The model with `posthoc` stored, after checking it fits the model's classes.
    pub fn with_posthoc(mut self, posthoc: Option<PostHocFit>) -> Result<Self> {
        if let Some(p) = &posthoc {
            p.map.check(self.n_classes(), "post-hoc calibration")?;
        }
        self.posthoc = posthoc;
        Ok(self)
    }

    /// The stored post-hoc map; an error naming `place` (e.g. the model file) when none is stored.
    pub fn posthoc_map(&self, place: &str) -> Result<&crate::posthoc::PostHoc> {
        self.posthoc.as_ref().map(|p| &p.map).ok_or_else(|| {
            SbnError::invalid(place, "has no post-hoc calibration stored; fit one with `sbn calibrate MODEL --data DATA --fit temperature --save`")
        })
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
