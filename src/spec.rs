//! Model specs (`models/*.toml`): architecture, objective, training and validation settings.
//! Input size and class count come from the data, so one spec serves several data sets.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checked::Checked;
use crate::data::Dataset;
use crate::error::{Result, SbnError};
use crate::model::init::LayerShape;
use crate::model::{Conv2d, WeightKind};
use crate::train::TrainingConfig;

/// A complete model spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// `[network]`: the architecture (required).
    pub network: NetworkSpec,
    /// `[objective]`: `β` and the prior `π`.
    #[serde(default)]
    pub objective: ObjectiveSpec,
    /// `[training]`: estimator, optimizer, step sizes and schedule, batches, epochs, seed.
    #[serde(default)]
    pub training: TrainingConfig,
    /// `[validation]`: held-out share and the MC predictive's `S_w`, `S_z`.
    #[serde(default)]
    pub validation: ValidationSpec,
}

/// Hidden layer widths and the weight kind of every layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Convolutional stochastic binary layers, first to last, before the dense ones (image data).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conv: Vec<ConvSpec>,
    /// Widths of the dense stochastic binary layers (after the convolutions, if any).
    #[serde(default)]
    pub hidden: Vec<usize>,
    /// Input image `[height, width, channels]` for convolutions, when the data does not say
    /// (IDX images carry their shape; CSV rows do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<[usize; 3]>,
    /// Weight kind of every layer (binary layers, then the output layer), or one kind for all.
    pub weights: KindList,
    /// Initial `|θ|` of Bernoulli weights (`q = σ(±init_logit)`).
    #[serde(default = "default_init_logit")]
    pub init_logit: f64,
}

/// A convolutional layer: `channels` output maps of `kernel × kernel` patches.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvSpec {
    /// Output channels `C_out`.
    pub channels: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Step between output positions along both axes; default 1.
    #[serde(default = "default_stride")]
    pub stride: usize,
    /// Padding on every side; default `kernel / 2` ("same" size at stride 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad: Option<usize>,
    /// The ±1 state of padded inputs on binary input (the first layer pads with a zero pixel).
    #[serde(default = "default_pad_value")]
    pub pad_value: f64,
}

fn default_stride() -> usize {
    1
}
fn default_pad_value() -> f64 {
    -1.0
}

/// One weight kind for every layer, or a list with one entry per layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a weight kind, \"real\" or \"bernoulli\", or a list of them (one per layer)")]
pub enum KindList {
    /// The same kind for every layer, output layer included.
    All(WeightKind),
    /// One kind per layer: convolutions, dense binary layers, then the output layer.
    PerLayer(Vec<WeightKind>),
}

/// The objective: `E[NLL] + β·KL/N` with a Bernoulli prior `π`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    /// KL weight `β ≥ 0`; default 1 (the ELBO), 0 for the expected loss alone.
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Prior `π = p(W_ji = +1)` of every Bernoulli weight, in `(0, 1)`; default ½.
    #[serde(default = "default_pi")]
    pub prior_pi: f64,
}

/// Validation settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationSpec {
    /// Share of the training data held out when no validation data is given.
    pub fraction: f64,
    /// Weight samples `S_w` of the MC predictive.
    pub weight_samples: usize,
    /// Noise samples `S_z` per weight sample.
    pub noise_samples: usize,
    /// Seed of the held-out split ([`Dataset::split`]); default:
    /// `training.seed`. `sbn fit --members` stores the base seed here in every member, whose
    /// `training.seed` differs, so that each member's file names the split all were validated on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
}

fn default_init_logit() -> f64 {
    2.0
}
fn default_beta() -> f64 {
    1.0
}
fn default_pi() -> f64 {
    0.5
}

impl Default for ObjectiveSpec {
    fn default() -> Self {
        ObjectiveSpec { beta: default_beta(), prior_pi: default_pi() }
    }
}

impl Default for ValidationSpec {
    fn default() -> Self {
        ValidationSpec { fraction: 0.1, weight_samples: 8, noise_samples: 4, split_seed: None }
    }
}

/// A TOML error as `file:line:column: message`, the line quoted below it.
fn toml_error(text: &str, source: &str, e: &toml::de::Error) -> SbnError {
    let message = e.message().trim_end();
    let Some(start) = e.span().map(|s| s.start.min(text.len())) else {
        return SbnError::invalid(source, message.to_string());
    };
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let quoted = text[line_start..].lines().next().unwrap_or("").trim_end();
    SbnError::invalid(format!("{source}:{line}:{column}"), format!("{message}\n    {line} | {quoted}"))
}

impl ModelSpec {
    /// Reads and checks a spec file.
    pub fn load(path: &Path) -> Result<Checked<Self>> {
        let source = path.display().to_string();
        Self::read(path)?.check(&source)
    }

    /// Reads a spec file without checking its values (to change some first, then check).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| SbnError::io(path, e))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and checks a spec; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Checked<Self>> {
        Self::from_toml(text, source)?.check(source)
    }

    /// Parses a spec without checking its values; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| toml_error(text, source, &e))
    }

    /// Checks values that the types do not, once: whatever takes a `Checked<ModelSpec>` relies on it.
    /// `source` names the spec in errors, with the field (`spec.toml: network.hidden[1]`).
    pub fn check(self, source: &str) -> Result<Checked<Self>> {
        let bad = |field: &str, msg: String| Err(SbnError::invalid(format!("{source}: {field}"), msg));
        if self.network.hidden.is_empty() && self.network.conv.is_empty() {
            return bad("network.hidden", "needs at least one binary layer".into());
        }
        for (k, c) in self.network.conv.iter().enumerate() {
            if c.channels == 0 || c.kernel == 0 || c.stride == 0 {
                return bad(&format!("network.conv[{k}]"), "channels, kernel and stride must be at least 1".into());
            }
            if c.pad.is_some_and(|p| p >= c.kernel) {
                return bad(&format!("network.conv[{k}].pad"), format!("must be smaller than the kernel ({})", c.kernel));
            }
            if c.pad_value != 1.0 && c.pad_value != -1.0 {
                return bad(&format!("network.conv[{k}].pad_value"), "must be 1 or -1 (a binary state)".into());
            }
        }
        if self.network.image.is_some_and(|s| s.contains(&0)) {
            return bad("network.image", "height, width and channels must be at least 1".into());
        }
        if let Some(k) = self.network.hidden.iter().position(|&w| w == 0) {
            return bad(&format!("network.hidden[{k}]"), "a layer width must be at least 1".into());
        }
        if let KindList::PerLayer(kinds) = &self.network.weights
            && kinds.len() != self.n_layers()
        {
            return bad(
                "network.weights",
                format!("lists {} kinds but the network has {} layers ({} binary + output)", kinds.len(), self.n_layers(), self.n_layers() - 1),
            );
        }
        if !(self.network.init_logit.is_finite() && self.network.init_logit >= 0.0) {
            return bad("network.init_logit", "must be a finite number ≥ 0".into());
        }
        if !(self.objective.beta.is_finite() && self.objective.beta >= 0.0) {
            return bad("objective.beta", "must be a finite number ≥ 0".into());
        }
        if !(self.objective.prior_pi > 0.0 && self.objective.prior_pi < 1.0) {
            return bad("objective.prior_pi", "must lie strictly between 0 and 1".into());
        }
        self.training.clone().check(source)?;
        let v = &self.validation;
        if !(0.0..1.0).contains(&v.fraction) {
            return bad("validation.fraction", "must lie in [0, 1)".into());
        }
        if v.weight_samples == 0 || v.noise_samples == 0 {
            return bad("validation", "weight_samples and noise_samples must be at least 1".into());
        }
        Ok(Checked::assume_checked(self))
    }

    /// Number of layers: convolutions, dense binary layers and the output layer.
    pub fn n_layers(&self) -> usize {
        self.network.conv.len() + self.network.hidden.len() + 1
    }

    /// The weight kind of every layer (binary layers, then the output layer).
    pub fn kinds(&self) -> Vec<WeightKind> {
        match &self.network.weights {
            KindList::All(k) => vec![*k; self.n_layers()],
            KindList::PerLayer(v) => v.clone(),
        }
    }

    /// The shape of every layer for data with `input_dim` features (an image of `image_shape`
    /// pixels, if known) and `n_classes` classes. The first convolution pads with `first_pad`,
    /// the input value of a zero pixel.
    pub fn layer_shapes(&self, input_dim: usize, image_shape: Option<(usize, usize)>, n_classes: usize, first_pad: f64) -> Result<Vec<LayerShape>> {
        let mut shapes = Vec::with_capacity(self.n_layers());
        let mut features = input_dim;
        if !self.network.conv.is_empty() {
            let [mut h, mut w, mut c] = self.image_geometry(input_dim, image_shape, "network.conv", "convolutions")?;
            for (k, cs) in self.network.conv.iter().enumerate() {
                let conv = Conv2d {
                    in_h: h,
                    in_w: w,
                    in_c: c,
                    out_c: cs.channels,
                    kernel: cs.kernel,
                    stride: cs.stride,
                    pad: cs.pad.unwrap_or(cs.kernel / 2),
                    pad_value: if k == 0 { first_pad } else { cs.pad_value },
                };
                conv.check(&format!("network.conv[{k}]"))?;
                (h, w, c) = (conv.out_h(), conv.out_w(), conv.out_c);
                features = conv.out_features();
                shapes.push(LayerShape::Conv(conv));
            }
        }
        for &n in self.network.hidden.iter().chain(std::iter::once(&n_classes)) {
            shapes.push(LayerShape::Dense { n_in: features, n_out: n });
            features = n;
        }
        Ok(shapes)
    }

    /// The `[height, width, channels]` of the inputs: `network.image`, else the data's image shape
    /// with as many channels as fit. `field` and `what` name the setting that needs it in errors.
    pub fn image_geometry(&self, input_dim: usize, image_shape: Option<(usize, usize)>, field: &str, what: &str) -> Result<[usize; 3]> {
        let [h, w, c] = match (self.network.image, image_shape) {
            (Some(s), _) => s,
            (None, Some((h, w))) if h * w > 0 && input_dim.is_multiple_of(h * w) => [h, w, input_dim / (h * w)],
            _ => {
                return Err(SbnError::invalid(
                    field,
                    format!("{what} need image data, but the data's {input_dim} features have no image shape (set network.image = [height, width, channels])"),
                ));
            }
        };
        if crate::limits::product(&[h, w, c]) != Some(input_dim as u128) {
            return Err(SbnError::invalid("network.image", format!("{h}×{w}×{c} values per image, but the data has {input_dim} features")));
        }
        Ok([h, w, c])
    }

    /// `[d0, n1, …, nL, K]` for data with `input_dim` features and `n_classes` classes: the dense
    /// widths only, convolutions are not listed (see [`layer_shapes`](Self::layer_shapes) for those).
    pub fn dims(&self, input_dim: usize, n_classes: usize) -> Vec<usize> {
        std::iter::once(input_dim).chain(self.network.hidden.iter().copied()).chain(std::iter::once(n_classes)).collect()
    }
}

/// Specs built in code: the same types a TOML spec deserializes into.
impl ModelSpec {
    /// A spec of `network` with the default objective, training and validation settings
    /// (change the public fields, then [`ModelSpec::check`]).
    pub fn new(network: NetworkSpec) -> Self {
        ModelSpec { network, objective: ObjectiveSpec::default(), training: TrainingConfig::default(), validation: ValidationSpec::default() }
    }

    /// The seed of the validation split held out of the training data: `validation.split_seed`,
    /// or `training.seed` when it is not set.
    pub fn validation_split_seed(&self) -> u64 {
        self.validation.split_seed.unwrap_or(self.training.seed)
    }

    /// `(train, valid)`: the validation data a fit holds out of `train` when it is given none,
    /// `validation.fraction` of every class drawn with [`ModelSpec::validation_split_seed`].
    pub fn hold_out_validation(&self, train: &Dataset) -> (Dataset, Dataset) {
        train.split(self.validation.fraction, self.validation_split_seed())
    }
}

impl NetworkSpec {
    /// Dense stochastic binary layers of widths `hidden` and an output layer, every layer's
    /// weights of kind `weights`, Bernoulli logits starting at `|θ| = 2`.
    pub fn dense(hidden: &[usize], weights: WeightKind) -> Self {
        NetworkSpec { conv: Vec::new(), hidden: hidden.to_vec(), image: None, weights: KindList::All(weights), init_logit: default_init_logit() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[network]\nhidden = [8, 4]\nweights = \"bernoulli\"\n";

    #[test]
    fn shipped_specs_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                ModelSpec::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 6, "only {n} specs in {}", dir.display());
    }

    #[test]
    fn minimal_spec_gets_defaults() {
        let spec = ModelSpec::parse(MINIMAL, "m.toml").unwrap();
        assert_eq!(spec.kinds(), vec![WeightKind::Bernoulli; 3]);
        assert_eq!(spec.dims(64, 10), vec![64, 8, 4, 10]);
        assert_eq!(spec.training.estimator, crate::estimator::EstimatorKind::Psa);
    }

    #[test]
    fn the_validation_split_seed_defaults_to_the_training_seed() {
        let spec = ModelSpec::parse(&format!("{MINIMAL}[training]\nseed = 5\n"), "m.toml").unwrap();
        assert_eq!(spec.validation_split_seed(), 5);
        let spec = ModelSpec::parse(&format!("{MINIMAL}[training]\nseed = 5\n[validation]\nsplit_seed = 2\n"), "m.toml").unwrap();
        assert_eq!(spec.validation_split_seed(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        let e = ModelSpec::parse(&format!("{MINIMAL}colour = 3\n"), "m.toml").unwrap_err().to_string();
        assert!(e.contains("m.toml") && e.contains("colour"), "{e}");
        let e = ModelSpec::parse("[network]\nhidden = [8, 0]\nweights = \"real\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.contains("network.hidden[1]"), "{e}");
        let e = ModelSpec::parse("[network]\nhidden = [8]\nweights = [\"real\"]\n", "m.toml").unwrap_err().to_string();
        assert!(e.contains("network.weights"), "{e}");
        let e = ModelSpec::parse(&format!("{MINIMAL}[training]\nestimator = \"magic\"\n"), "m.toml").unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
        let e = ModelSpec::parse(&format!("{MINIMAL}[objective]\nprior_pi = 1.0\n"), "m.toml").unwrap_err().to_string();
        assert!(e.contains("objective.prior_pi"), "{e}");
    }
}
