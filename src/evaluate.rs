//! Predicting with a fitted model or a packed export ([`Predictor`]) on a data set or on features
//! alone: the MC predictive (packed engine where the model allows), its scores and its
//! uncertainty split. Shared by `sbn evaluate`, `calibrate`, `uncertainty`, `report` and
//! `demo`.

use nalgebra::DMatrix;

use crate::data::{Dataset, Features, InputBatch, InputScaling};
use crate::error::{Result, SbnError};
use crate::fitted::FittedModel;
use crate::io::PackedModelFile;
use crate::metrics::argmax;
use crate::metrics::scores::Scores;
use crate::montecarlo::{self, McConfig};
use crate::posthoc::{Method, PostHoc, PostHocFit};
use crate::predictive::Predictive;
use crate::uncertainty::Uncertainty;

/// What predicts: a fitted model (its posterior, `S_w` weight samples) or a packed export (one
/// network: `S_w` is then 1). Every prediction function here takes either.
pub trait Predictor {
    /// Inputs per example.
    fn input_dim(&self) -> usize;
    /// One name per class, in output order.
    fn classes(&self) -> &[String];
    /// The map from stored feature values to network inputs.
    fn input_scaling(&self) -> &InputScaling;
    /// The Monte Carlo predictive on inputs already checked against the model.
    fn predictive(&self, inputs: InputBatch, config: &McConfig) -> Result<Predictive>;

    /// Errors when the predictive of `n_examples` examples with `config` would not fit in memory;
    /// `what` names the setting in the message (e.g. a flag).
    fn check_memory(&self, n_examples: usize, config: &McConfig, what: &str) -> Result<()>;
}

impl Predictor for FittedModel {
    fn input_dim(&self) -> usize {
        self.network.input_dim()
    }

    fn classes(&self) -> &[String] {
        &self.class_names
    }

    fn input_scaling(&self) -> &InputScaling {
        &self.scaling
    }

    fn predictive(&self, inputs: InputBatch, config: &McConfig) -> Result<Predictive> {
        montecarlo::predictive(&self.network, inputs, config)
    }

    fn check_memory(&self, n_examples: usize, config: &McConfig, what: &str) -> Result<()> {
        montecarlo::check_memory(&self.network, n_examples, config, what)
    }
}

impl Predictor for PackedModelFile {
    fn input_dim(&self) -> usize {
        self.network.dims()[0]
    }

    fn classes(&self) -> &[String] {
        &self.class_names
    }

    fn input_scaling(&self) -> &InputScaling {
        &self.scaling
    }

    /// The one network's predictive: `config.weight_samples` does not apply.
    fn predictive(&self, inputs: InputBatch, config: &McConfig) -> Result<Predictive> {
        montecarlo::predictive_packed(std::slice::from_ref(&self.network), inputs, config.noise_samples, config.seed)
    }

    /// One network: nothing grows with the weight samples.
    fn check_memory(&self, _: usize, _: &McConfig, _: &str) -> Result<()> {
        Ok(())
    }
}

/// A predictor whose predictive goes through a post-hoc calibration map (docs/math.md §10), so that
/// every prediction function here (and [`evaluate`]'s scores) sees the calibrated predictive.
///
/// ```
/// # use rand::SeedableRng;
/// # use sbn::data::{Dataset, Features, InputScaling};
/// use sbn::evaluate::{Calibrated, predict_dataset};
/// # use sbn::fitted::FittedModel;
/// # use sbn::model::init::{random_network, InitConfig};
/// use sbn::montecarlo::McConfig;
/// use sbn::posthoc::PostHoc;
///
/// # fn main() -> sbn::Result<()> {
/// # let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
/// # let net = random_network(&[2, 8, 3], &[sbn::WeightKind::Bernoulli; 2], InitConfig::default(), &mut rng)?;
/// # let model = FittedModel::new(net, InputScaling::Affine { alpha: 1.0, offset: 0.0 }, vec!["a".into(), "b".into(), "c".into()], Vec::new())?;
/// # let data = Dataset::unlabelled("data", Features::Real(vec![0.5, -1.0, 2.0, 0.0]), 2)?;
/// let flat = PostHoc::Temperature(1e6); // a huge temperature: every class about equally likely
/// let p = predict_dataset(&Calibrated::new(&model, flat)?, &data, &McConfig::default())?;
/// assert!(p.mean(0).iter().all(|&v| (v - 1.0 / 3.0).abs() < 1e-4));
/// # Ok(())
/// # }
/// ```
pub struct Calibrated<P> {
    model: P,
    map: PostHoc,
}

impl<P: Predictor> Calibrated<P> {
    /// `model` (a model, a reference to one, or a boxed predictor) calibrated by `map`, after
    /// checking that the map fits the model's classes.
    pub fn new(model: P, map: PostHoc) -> Result<Self> {
        map.check(model.classes().len(), "post-hoc calibration")?;
        Ok(Calibrated { model, map })
    }
}

impl<P: Predictor> Predictor for Calibrated<P> {
    fn input_dim(&self) -> usize {
        self.model.input_dim()
    }

    fn classes(&self) -> &[String] {
        self.model.classes()
    }

    fn input_scaling(&self) -> &InputScaling {
        self.model.input_scaling()
    }

    fn predictive(&self, inputs: InputBatch, config: &McConfig) -> Result<Predictive> {
        self.map.apply(&self.model.predictive(inputs, config)?)
    }

    fn check_memory(&self, n_examples: usize, config: &McConfig, what: &str) -> Result<()> {
        self.model.check_memory(n_examples, config, what)
    }
}

/// A reference or a box predicts as what it points to (so [`Calibrated`] can borrow or own its
/// model).
macro_rules! predicts_as_pointee {
    ($($pointer:ty),*) => {$(
        impl<P: Predictor + ?Sized> Predictor for $pointer {
            fn input_dim(&self) -> usize {
                (**self).input_dim()
            }

            fn classes(&self) -> &[String] {
                (**self).classes()
            }

            fn input_scaling(&self) -> &InputScaling {
                (**self).input_scaling()
            }

            fn predictive(&self, inputs: InputBatch, config: &McConfig) -> Result<Predictive> {
                (**self).predictive(inputs, config)
            }

            fn check_memory(&self, n_examples: usize, config: &McConfig, what: &str) -> Result<()> {
                (**self).check_memory(n_examples, config, what)
            }
        }
    )*};
}

predicts_as_pointee!(&P, Box<P>);

/// The MC predictive of `model` on `ds` (with the model's input scaling). Labels are not needed,
/// so unlabelled data and OOD data with other labels are fine; only the input size is checked.
pub fn predict_dataset(model: &(impl Predictor + ?Sized), ds: &Dataset, config: &McConfig) -> Result<Predictive> {
    if ds.is_empty() {
        return Err(SbnError::invalid(ds.source(), "the data set is empty"));
    }
    if ds.dim != model.input_dim() {
        return Err(SbnError::InputSize { place: ds.source().to_string(), found: ds.dim, expected: model.input_dim() });
    }
    let mut storage: Option<DMatrix<f64>> = None;
    let inputs = InputBatch::from_dataset(ds, model.input_scaling(), &mut storage)?;
    model.predictive(inputs, config)
}

/// The predictive and its scores on labelled data. The labels are matched to the model's classes
/// by name ([`Dataset::labels_for`]), so a file that lacks some classes, or orders them otherwise,
/// is scored right; a label the model does not know is an error.
///
/// ```
/// # use rand::SeedableRng;
/// use sbn::data::{Dataset, Features, InputScaling};
/// use sbn::evaluate::evaluate;
/// # use sbn::fitted::FittedModel;
/// # use sbn::model::init::{random_network, InitConfig};
/// use sbn::montecarlo::McConfig;
///
/// # fn main() -> sbn::Result<()> {
/// # let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
/// # let net = random_network(&[2, 8, 3], &[sbn::WeightKind::Bernoulli; 2], InitConfig::default(), &mut rng)?;
/// # let model = FittedModel::new(net, InputScaling::Affine { alpha: 1.0, offset: 0.0 }, vec!["ant".into(), "bee".into(), "cat".into()], Vec::new())?;
/// // A model of classes ant, bee, cat; a test file with only bee and cat, which it numbers 0 and 1.
/// let test = Dataset::new("test", Features::Real(vec![0.5, -1.0, 2.0, 0.0]), 2, vec![0, 1], vec!["bee".into(), "cat".into()])?;
/// assert_eq!(test.labels_for(&model.class_names)?, vec![1, 2]);
/// let (_, scores) = evaluate(&model, &test, &McConfig::default())?;
/// assert_eq!(scores.n_examples, 2);
/// // A label the model does not know is an error naming it.
/// let odd = Dataset::new("odd", Features::Real(vec![0.0, 0.0]), 2, vec![0], vec!["dog".into()])?;
/// assert!(evaluate(&model, &odd, &McConfig::default()).unwrap_err().to_string().contains("`dog`"));
/// # Ok(())
/// # }
/// ```
pub fn evaluate(model: &(impl Predictor + ?Sized), ds: &Dataset, config: &McConfig) -> Result<(Predictive, Scores)> {
    let labels = ds.labels_for(model.classes())?;
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
///
/// ```
/// # use rand::SeedableRng;
/// # use sbn::data::InputScaling;
/// use sbn::evaluate::predict_features;
/// # use sbn::fitted::FittedModel;
/// # use sbn::model::init::{random_network, InitConfig};
/// use sbn::montecarlo::McConfig;
///
/// # fn main() -> sbn::Result<()> {
/// # let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
/// # let net = random_network(&[3, 8, 2], &[sbn::WeightKind::Bernoulli; 2], InitConfig::default(), &mut rng)?;
/// # let model = FittedModel::new(net, InputScaling::Affine { alpha: 0.01, offset: -1.0 }, vec!["no".into(), "yes".into()], Vec::new())?;
/// // A model of 3 inputs: one example, then two more in one slice.
/// let one = predict_features(&model, &[12.0, 200.0, 7.0], &McConfig::default())?;
/// let p = one.probabilities(0);
/// assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
/// let (total, data, model_part) = (one.uncertainty.total[0], one.uncertainty.data[0], one.uncertainty.model[0]);
/// assert!((total - data - model_part).abs() < 1e-12);
/// let two = predict_features(&model, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &McConfig::default())?;
/// assert_eq!(two.predictive.n_examples, 2);
/// # Ok(())
/// # }
/// ```
pub fn predict_features(model: &(impl Predictor + ?Sized), features: &[f64], config: &McConfig) -> Result<Prediction> {
    let dim = model.input_dim();
    if let Some(i) = features.iter().position(|v| !v.is_finite()) {
        return Err(SbnError::invalid("features", format!("value {i} (example {}, feature {}) is {}", i / dim, i % dim, features[i])));
    }
    let bytes = features.iter().all(|&v| v.fract() == 0.0 && (0.0..=255.0).contains(&v));
    let stored = if bytes { Features::Bytes(features.iter().map(|&v| v as u8).collect()) } else { Features::Real(features.to_vec()) };
    let ds = Dataset::unlabelled("features", stored, dim)
        .map_err(|_| SbnError::invalid("features", format!("{} values are not whole examples of the model's {dim} inputs", features.len())))?;
    let predictive = predict_dataset(model, &ds, config)?;
    let uncertainty = Uncertainty::from_predictive(&predictive)?;
    Ok(Prediction { predictive, uncertainty })
}

/// Fits a post-hoc calibration map of `method` for `model` on the labelled data `ds` (its
/// predictive with `config`), recorded with what it was fitted on; also returns that predictive
/// (uncalibrated) and the labels in the model's class order.
pub fn fit_posthoc(model: &(impl Predictor + ?Sized), ds: &Dataset, method: Method, config: &McConfig) -> Result<(PostHocFit, Predictive, Vec<usize>)> {
    let labels = ds.labels_for(model.classes())?;
    let pred = predict_dataset(model, ds, config)?;
    let map = PostHoc::fit(method, &pred, &labels)?;
    let fitted = PostHocFit { map, data: ds.name.clone(), n_examples: ds.len(), weight_samples: config.weight_samples, noise_samples: config.noise_samples };
    Ok((fitted, pred, labels))
}
