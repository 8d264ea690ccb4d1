//! `sbn._sbn.Model`: a fitted model (with the spec that made it, so it saves as the same model
//! file as `sbn fit` writes) or a packed export (one network at one bit per weight), predicting
//! through the library's `Predictor`: as fitted, with its posterior tempered
//! (`posterior_temperature`, the CLI's `--posterior-temperature`) and through its stored post-hoc
//! calibration (`posthoc`, the CLI's `--posthoc`).

use std::path::{Path, PathBuf};

use numpy::{PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use sbn::SbnError;
use sbn::data::Dataset;
use sbn::evaluate::{Calibrated, Predictor, evaluate, fit_posthoc, predict_dataset};
use sbn::fitted::FittedModel;
use sbn::io::{ModelFile, PackedModelFile, SafetensorsModel, write_atomic};
use sbn::metrics::calibration::reliability;
use sbn::montecarlo::{Engine, McConfig, sample_network};
use sbn::packed::SampledNetwork;
use sbn::posthoc::{Method, PostHoc, PostHocFit};
use sbn::predictive::Predictive;
use sbn::spec::ModelSpec;
use sbn::uncertainty::Uncertainty;

use crate::arrays;
use crate::errors::IntoPy;
use crate::metrics;
use crate::observer::record_dict;

/// What a `Model` holds (one per Python object, so the variants' size difference costs nothing).
#[allow(clippy::large_enum_variant)]
enum Inner {
    /// A fitted model and its spec.
    Fitted { fitted: FittedModel, spec: ModelSpec },
    /// A packed export.
    Packed(PackedModelFile),
}

/// A fitted model or a packed export. Made by `sbn._sbn.fit`, `load` or `from_bytes`.
#[pyclass(module = "sbn._sbn", name = "Model", frozen)]
pub struct Model {
    inner: Inner,
}

/// A predictor as one call asks for it (it may own a tempered copy of the model).
type CallPredictor<'a> = Box<dyn Predictor + Send + Sync + 'a>;

/// Class probabilities and the three uncertainties of every example.
type Predicted<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

impl Model {
    /// The model of a fit.
    pub fn fitted(fitted: FittedModel, spec: ModelSpec) -> Self {
        Model { inner: Inner::Fitted { fitted, spec } }
    }

    /// Reads a model file or a packed export (told apart by their magic bytes, as `sbn predict` does).
    pub fn read(path: &Path) -> sbn::Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| SbnError::io(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// A model from a file's bytes; `place` names the file in errors.
    pub fn from_bytes(bytes: &[u8], place: &str) -> sbn::Result<Self> {
        if PackedModelFile::sniff(bytes) {
            return Ok(Model { inner: Inner::Packed(PackedModelFile::from_bytes(bytes, place)?) });
        }
        let file = ModelFile::from_bytes(bytes, place)?;
        Ok(Model::fitted(file.fitted, file.spec))
    }

    /// The model file's contents (a checkpoint's training state is not kept); an error for a
    /// packed export, which `what` needed.
    pub fn model_file(&self, what: &str) -> PyResult<ModelFile> {
        match &self.inner {
            Inner::Fitted { fitted, spec } => Ok(ModelFile { spec: spec.clone(), fitted: fitted.clone(), state: None }),
            Inner::Packed(_) => Err(PyValueError::new_err(format!("{what}: this model is a packed export (one network); give a fitted model"))),
        }
    }

    /// The predictor of one call: the posterior tempered to `q = σ(θ/τ)` unless `τ` is 1, then
    /// through the stored post-hoc calibration with `posthoc` (a packed export can be neither).
    fn predictor_for(&self, posthoc: bool, posterior_temperature: f64) -> PyResult<CallPredictor<'_>> {
        let fitted = match &self.inner {
            Inner::Fitted { fitted, .. } => fitted,
            Inner::Packed(p) => {
                if posterior_temperature != 1.0 {
                    return Err(PyValueError::new_err(
                        "posterior_temperature: this model is a packed export (one network), which has no posterior to temper; use its model file",
                    ));
                }
                if posthoc {
                    return Err(PyValueError::new_err(
                        "posthoc=True: this model is a packed export (one network), which stores no post-hoc calibration; use its model file",
                    ));
                }
                return Ok(Box::new(p));
            }
        };
        let model: CallPredictor<'_> = if posterior_temperature == 1.0 {
            Box::new(fitted)
        } else {
            let network = fitted.network.posterior_tempered(posterior_temperature).map_err(|e| PyValueError::new_err(format!("posterior_temperature: {e}")))?;
            Box::new(FittedModel { network, ..fitted.clone() })
        };
        if !posthoc {
            return Ok(model);
        }
        let Some(stored) = &fitted.posthoc else {
            return Err(PyValueError::new_err(
                "posthoc=True: this model has no post-hoc calibration stored; fit one on held-out data with calibrate(X, y) (or `sbn calibrate MODEL --data DATA --fit temperature --save`)",
            ));
        };
        Ok(Box::new(Calibrated::new(model, stored.map.clone()).py_err()?))
    }

    /// The Monte Carlo predictive of `data` with `config` by `predictor`, without the GIL.
    fn predictive_of(py: Python<'_>, predictor: &CallPredictor<'_>, data: &Dataset, config: &McConfig) -> PyResult<Predictive> {
        py.detach(|| predict_dataset(predictor, data, config)).py_err()
    }

    fn predictor(&self) -> &(dyn Predictor + Send + Sync) {
        match &self.inner {
            Inner::Fitted { fitted, .. } => fitted,
            Inner::Packed(p) => p,
        }
    }

    /// The file's bytes: a model file, or the packed export.
    fn bytes(&self) -> Vec<u8> {
        match &self.inner {
            Inner::Fitted { fitted, spec } => ModelFile { spec: spec.clone(), fitted: fitted.clone(), state: None }.to_bytes(),
            Inner::Packed(p) => p.to_bytes(),
        }
    }

    /// The Monte Carlo settings, checked: samples at least 1, the predictive of `data` within memory.
    fn config(&self, data: &Dataset, weight_samples: usize, noise_samples: usize, seed: u64) -> PyResult<McConfig> {
        if weight_samples == 0 || noise_samples == 0 {
            return Err(PyValueError::new_err("weight_samples and noise_samples must be at least 1"));
        }
        let expected = self.predictor().input_dim();
        if data.dim != expected {
            return Err(PyValueError::new_err(format!("X has {} features per example, but the model takes {expected}", data.dim)));
        }
        let config = McConfig { weight_samples, noise_samples, seed, engine: Engine::Auto };
        self.predictor().check_memory(data.len(), &config, &format!("weight_samples={weight_samples}")).py_err()?;
        Ok(config)
    }
}

#[pymethods]
impl Model {
    /// The class names, in output order.
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.predictor().classes().to_vec()
    }

    /// Features per example.
    #[getter]
    fn n_features(&self) -> usize {
        self.predictor().input_dim()
    }

    /// Whether this is a packed export (one network; `weight_samples` does not apply).
    #[getter]
    fn is_packed(&self) -> bool {
        matches!(self.inner, Inner::Packed(_))
    }

    /// The spec that made the model, as TOML (`None` for a packed export).
    #[getter]
    fn spec(&self) -> PyResult<Option<String>> {
        match &self.inner {
            Inner::Fitted { spec, .. } => toml::to_string(spec).map(Some).map_err(|e| PyValueError::new_err(e.to_string())),
            Inner::Packed(_) => Ok(None),
        }
    }

    /// The fit's record of every epoch (a list of dicts; empty for a packed export).
    #[getter]
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let (records, epochs) = match &self.inner {
            Inner::Fitted { fitted, spec } => (fitted.history.as_slice(), spec.training.epochs),
            Inner::Packed(_) => (&[][..], 0),
        };
        let dicts = records.iter().map(|r| record_dict(py, r, epochs)).collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, dicts)
    }

    /// The Monte Carlo predictive of the examples `x` (a 2-D uint8 or float64 array): class
    /// probabilities (n × K) and the total, data and model uncertainty of every example (nats).
    #[pyo3(signature = (x, weight_samples = 16, noise_samples = 8, seed = 0, posthoc = false, posterior_temperature = 1.0))]
    #[allow(clippy::too_many_arguments)]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        weight_samples: usize,
        noise_samples: usize,
        seed: u64,
        posthoc: bool,
        posterior_temperature: f64,
    ) -> PyResult<Predicted<'py>> {
        let data = arrays::unlabelled(x, "X")?;
        let config = self.config(&data, weight_samples, noise_samples, seed)?;
        let predictor = self.predictor_for(posthoc, posterior_temperature)?;
        let p = Self::predictive_of(py, &predictor, &data, &config)?;
        let u = Uncertainty::from_predictive(&p).py_err()?;
        let probabilities: Vec<f64> = (0..p.n_examples).flat_map(|n| p.mean(n)).collect();
        let probabilities = arrays::matrix(py, p.n_examples, p.n_classes, probabilities)?;
        Ok((probabilities, arrays::vector(py, u.total), arrays::vector(py, u.data), arrays::vector(py, u.model)))
    }

    /// Every OOD score of the library per example of `x` (higher = more uncertain): a dict of
    /// arrays `max_probability` (1 − max p̄), `total`, `data` (the expected entropy), `model`,
    /// `energy`, `variation_ratio`.
    #[pyo3(signature = (x, weight_samples = 16, noise_samples = 8, seed = 0, posthoc = false, posterior_temperature = 1.0))]
    #[allow(clippy::too_many_arguments)]
    fn ood_scores<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        weight_samples: usize,
        noise_samples: usize,
        seed: u64,
        posthoc: bool,
        posterior_temperature: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let data = arrays::unlabelled(x, "X")?;
        let config = self.config(&data, weight_samples, noise_samples, seed)?;
        let predictor = self.predictor_for(posthoc, posterior_temperature)?;
        metrics::score_dict(py, &Self::predictive_of(py, &predictor, &data, &config)?)
    }

    /// The reliability table of the predictive on labelled examples (labels as for `evaluate`),
    /// `bins` equal-width bins or, with `equal_mass`, equal-mass ones: the dict of
    /// `sbn._sbn.reliability_table`.
    #[pyo3(signature = (x, labels, names, bins = 15, equal_mass = false, weight_samples = 16, noise_samples = 8, seed = 0, posthoc = false, posterior_temperature = 1.0))]
    #[allow(clippy::too_many_arguments)]
    fn reliability<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        labels: PyReadonlyArray1<'py, i64>,
        names: Vec<String>,
        bins: usize,
        equal_mass: bool,
        weight_samples: usize,
        noise_samples: usize,
        seed: u64,
        posthoc: bool,
        posterior_temperature: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let binning = metrics::binning(bins, equal_mass)?;
        let data = arrays::labelled(x, "X", labels, names, "y")?;
        let labels = data.labels_for(self.predictor().classes()).py_err()?;
        let config = self.config(&data, weight_samples, noise_samples, seed)?;
        let predictor = self.predictor_for(posthoc, posterior_temperature)?;
        let p = Self::predictive_of(py, &predictor, &data, &config)?;
        metrics::table_dict(py, &reliability(&p.means(), p.n_classes, &labels, binning).py_err()?)
    }

    /// A copy of this model with a post-hoc calibration of `method` (`temperature`, `vector` or
    /// `histogram`) fitted on labelled held-out examples (labels as for `evaluate`) and stored,
    /// as `sbn calibrate --fit METHOD --save`; `data_name` is recorded as the data it was fitted on.
    #[pyo3(signature = (x, labels, names, method = "temperature", weight_samples = 16, noise_samples = 8, seed = 0, data_name = "arrays given to calibrate()"))]
    #[allow(clippy::too_many_arguments)]
    fn calibrated<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        labels: PyReadonlyArray1<'py, i64>,
        names: Vec<String>,
        method: &str,
        weight_samples: usize,
        noise_samples: usize,
        seed: u64,
        data_name: &str,
    ) -> PyResult<Model> {
        let method: Method = method.parse().map_err(|e: SbnError| PyValueError::new_err(format!("method: {e}")))?;
        let Inner::Fitted { fitted, spec } = &self.inner else {
            return Err(PyValueError::new_err(
                "calibrate: this model is a packed export (one network), which stores no post-hoc calibration; calibrate its model file",
            ));
        };
        let data = arrays::labelled(x, "X", labels, names, "y")?;
        data.labels_for(&fitted.class_names).py_err()?;
        let config = self.config(&data, weight_samples, noise_samples, seed)?;
        let (mut stored, _, _) = py.detach(|| fit_posthoc(fitted, &data, method, &config)).py_err()?;
        stored.data = data_name.to_string();
        let fitted = fitted.clone().with_posthoc(Some(stored)).py_err()?;
        Ok(Model::fitted(fitted, spec.clone()))
    }

    /// The stored post-hoc calibration as a dict (`method`; `temperature`, or `scale` and
    /// `bias`, or `edges` and `accuracy`; `data`, `n_examples`, `weight_samples`,
    /// `noise_samples`: what it was fitted on), or `None`.
    #[getter]
    fn posthoc<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match &self.inner {
            Inner::Fitted { fitted: FittedModel { posthoc: Some(p), .. }, .. } => posthoc_dict(py, p).map(Some),
            _ => Ok(None),
        }
    }

    /// Scores on labelled examples: labels are class indices into `names`, matched to the
    /// model's classes by name (an unknown label is an error naming it). With `posthoc`, also
    /// `posthoc`: the stored calibration applied (as `sbn evaluate --posthoc --json`).
    #[pyo3(signature = (x, labels, names, weight_samples = 16, noise_samples = 8, seed = 0, posthoc = false, posterior_temperature = 1.0))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        labels: PyReadonlyArray1<'py, i64>,
        names: Vec<String>,
        weight_samples: usize,
        noise_samples: usize,
        seed: u64,
        posthoc: bool,
        posterior_temperature: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let data = arrays::labelled(x, "X", labels, names, "y")?;
        data.labels_for(self.predictor().classes()).py_err()?;
        let config = self.config(&data, weight_samples, noise_samples, seed)?;
        let predictor = self.predictor_for(posthoc, posterior_temperature)?;
        let (_, s) = py.detach(|| evaluate(&predictor, &data, &config)).py_err()?;
        let d = PyDict::new(py);
        d.set_item("n_examples", s.n_examples)?;
        for (k, v) in [
            ("accuracy", s.accuracy),
            ("nll", s.nll),
            ("brier", s.brier),
            ("ece", s.ece),
            ("ece_equal_mass", s.ece_equal_mass),
            ("mce", s.mce),
            ("classwise_ece", s.classwise_ece),
        ] {
            d.set_item(k, v)?;
        }
        d.set_item("weight_samples", s.weight_samples)?;
        d.set_item("noise_samples", s.noise_samples)?;
        if posthoc {
            d.set_item("posthoc", self.posthoc(py)?)?;
        }
        Ok(d)
    }

    /// Writes the model file (the format `sbn fit` writes and every `sbn` command reads), or for
    /// a packed export the packed file; atomically. `compact` writes the compact form of a model
    /// file (Bernoulli logits in 8 bits each, as `sbn export --format compact`).
    #[pyo3(signature = (path, compact = false))]
    fn save(&self, py: Python<'_>, path: PathBuf, compact: bool) -> PyResult<()> {
        let bytes = match (&self.inner, compact) {
            (Inner::Fitted { fitted, spec }, true) => ModelFile { spec: spec.clone(), fitted: fitted.clone(), state: None }.to_compact_bytes(),
            (Inner::Packed(_), true) => {
                return Err(PyValueError::new_err("compact=True: this model is a packed export (one network); save() writes it as it is"));
            }
            (_, false) => self.bytes(),
        };
        py.detach(|| write_atomic(&path, &bytes)).py_err()
    }

    /// Writes the parameters as safetensors, as `sbn export --format safetensors`: per layer
    /// `layers.k.logits` (or `.weight`), `.scale`, `.bias`, row-major `[n_out, n_in]` float64,
    /// the geometry, input scaling and class names in the metadata; with `sample_seed` also one
    /// sampled network's ±1 weights (`layers.k.sample`, int8).
    #[pyo3(signature = (path, sample_seed = None))]
    fn export_safetensors(&self, py: Python<'_>, path: PathBuf, sample_seed: Option<u64>) -> PyResult<()> {
        let Inner::Fitted { fitted, .. } = &self.inner else {
            return Err(PyValueError::new_err("this model is a packed export (one network); export_safetensors needs a fitted model"));
        };
        py.detach(|| SafetensorsModel::new(fitted.clone(), sample_seed)?.save(&path)).py_err()
    }

    /// Writes the packed export of one network, as `sbn export` does: the most likely network
    /// (every weight at the sign of its logit), or one drawn from the posterior with `sample_seed`.
    #[pyo3(signature = (path, sample_seed = None))]
    fn export_packed(&self, py: Python<'_>, path: PathBuf, sample_seed: Option<u64>) -> PyResult<()> {
        let Inner::Fitted { fitted, .. } = &self.inner else {
            return Err(PyValueError::new_err("this model is already a packed export (one network); save() writes it"));
        };
        py.detach(|| -> sbn::Result<()> {
            let network = match sample_seed {
                Some(seed) => sample_network(&fitted.network, seed)?,
                None => SampledNetwork::most_likely(&fitted.network)?,
            };
            let file = PackedModelFile { scaling: fitted.scaling.clone(), class_names: fitted.class_names.clone(), network };
            write_atomic(&path, &file.to_bytes())
        })
        .py_err()
    }

    /// The bytes of the file `save` writes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes())
    }

    fn __repr__(&self) -> String {
        let kind = if self.is_packed() { "packed export" } else { "fitted model" };
        format!("<sbn Model: {kind}, {} features, {} classes>", self.n_features(), self.predictor().classes().len())
    }
}

/// A stored post-hoc calibration as the dict of `Model.posthoc`.
fn posthoc_dict<'py>(py: Python<'py>, p: &PostHocFit) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("method", p.map.method_name())?;
    match &p.map {
        PostHoc::Temperature(t) => d.set_item("temperature", t)?,
        PostHoc::Vector { scale, bias } => {
            d.set_item("scale", arrays::vector(py, scale.clone()))?;
            d.set_item("bias", arrays::vector(py, bias.clone()))?;
        }
        PostHoc::Histogram { edges, accuracy } => {
            d.set_item("edges", arrays::vector(py, edges.clone()))?;
            d.set_item("accuracy", arrays::vector(py, accuracy.clone()))?;
        }
    }
    d.set_item("data", &p.data)?;
    d.set_item("n_examples", p.n_examples)?;
    d.set_item("weight_samples", p.weight_samples)?;
    d.set_item("noise_samples", p.noise_samples)?;
    Ok(d)
}
