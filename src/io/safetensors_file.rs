//! Safetensors exports: a fitted model's parameters in the safetensors format, which NumPy,
//! PyTorch and most other tools read, with the geometry, input scaling and class names in the
//! header's metadata; optionally one network sampled from the posterior.
//!
//! The format (<https://github.com/huggingface/safetensors>, "Format"): 8 bytes, the header length
//! `N` (u64 little-endian); `N` bytes of JSON mapping each tensor name to its `dtype`, `shape` and
//! `data_offsets` `[begin, end)` into the data that follows, plus a `__metadata__` map of strings
//! to strings; then the tensors' raw bytes, little-endian, in C (row-major) order.
//!
//! What an sbn export holds, layer `k` counting from the first hidden layer (the output layer
//! last):
//!
//! | tensor | dtype | shape | |
//! |---|---|---|---|
//! | `layers.k.logits` | F64 | `[n_out, n_in]` | Bernoulli layers: θ, with `q(W_ji = +1) = σ(θ_ji)` |
//! | `layers.k.weight` | F64 | `[n_out, n_in]` | real layers: `W` |
//! | `layers.k.scale` | F64 | `[n_out]` | Bernoulli layers: γ |
//! | `layers.k.bias` | F64 | `[n_out]` | b |
//! | `layers.k.sample` | I8 | `[n_out, n_in]` | with a sampled network: its ±1 weights (Bernoulli layers) |
//!
//! Matrices are row-major, one row per output unit (nalgebra, which the library uses, is
//! column-major: the export transposes). A convolution's rows are its output channels and its
//! columns the patch, `(dy, dx, c)` with the channel fastest, and its output, the next layer's
//! input, is `(y, x, c)`, channel fastest (see `model/conv.rs`). A layer's
//! pre-activation is `a = γ ⊙ (W x) + b` (Bernoulli, `W ∈ {±1}`) or `a = W x + b` (real); a hidden
//! unit is `sign(a − z)` with logistic noise `z`; the output layer's `a` are the class logits.
//!
//! Metadata (every value a string, the structured ones JSON): `format` = `sbn`,
//! `sbn_safetensors_version` = `1`, `layout` (the sentence above), `layers` (per layer `kind`,
//! `n_out`, `n_in`, `conv`), `input_scaling` (`{"Affine": {"alpha", "offset"}}`: `x = alpha·v +
//! offset`, or `{"Standardize": {"mean", "std"}}`: `x_i = (v_i − mean_i) / std_i`),
//! `class_names` (array, in output order), with a sampled network `sample_seed` (the seed of
//! `sbn export --sample-seed`, the same network as the packed export with that seed), and when the
//! model stores a post-hoc calibration (`sbn calibrate --fit … --save`, or the validation
//! temperature `sbn fit` stores) `posthoc`: the map and what it was fitted on, e.g.
//! `{"map": {"temperature": 0.58}, "data": "…", "n_examples": 287, "weight_samples": 16,
//! "noise_samples": 8}`. A temperature `T` divides every weight sample's log-probabilities before
//! they are mixed (docs/math.md §10); like `--posthoc`, nothing applies it unless asked.

use std::collections::HashMap;
use std::path::Path;

use nalgebra::{DMatrix, DVector};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use crate::data::InputScaling;
use crate::error::{Result, SbnError};
use crate::fitted::FittedModel;
use crate::model::{Conv2d, Layer, Network, WeightKind};
use crate::posthoc::PostHocFit;

/// The version of the sbn layout within safetensors this build writes and reads.
pub const SAFETENSORS_LAYOUT_VERSION: u32 = 1;

const LAYOUT: &str = "matrices row-major [n_out, n_in], one row per output unit (a convolution: per output channel, \
columns (dy, dx, c) with c fastest); a = scale * (W x) + bias with W in {-1, +1}, P(W = +1) = sigmoid(logits), \
or a = weight x + bias for real layers";

/// A fitted model as a safetensors export holds it: the network, input scaling, class names and
/// stored post-hoc calibration (no training history), and optionally one sampled network.
#[derive(Clone, Debug, PartialEq)]
pub struct SafetensorsModel {
    /// The model (its history empty).
    pub fitted: FittedModel,
    /// A network sampled from the posterior, when exported.
    pub sample: Option<SampledWeights>,
}

/// One network sampled from a model's posterior: the ±1 weights of every Bernoulli layer.
#[derive(Clone, Debug, PartialEq)]
pub struct SampledWeights {
    /// The seed it was drawn with (`sbn export --sample-seed`).
    pub seed: u64,
    /// Per layer, the ±1 matrix `[n_out, n_in]` of a Bernoulli layer, `None` for a real layer.
    pub layers: Vec<Option<DMatrix<f64>>>,
}

/// One layer in the metadata.
#[derive(Serialize, Deserialize)]
struct LayerMeta {
    kind: WeightKind,
    n_out: usize,
    n_in: usize,
    conv: Option<Conv2d>,
}

/// A tensor to write: name, dtype, shape, bytes.
type Tensor = (String, Dtype, Vec<usize>, Vec<u8>);

fn f64_bytes(values: impl IntoIterator<Item = f64>) -> Vec<u8> {
    values.into_iter().flat_map(f64::to_le_bytes).collect()
}

/// The bytes of `m` row-major.
fn row_major(m: &DMatrix<f64>) -> Vec<u8> {
    f64_bytes(m.transpose().as_slice().iter().copied())
}

impl SafetensorsModel {
    /// The export of `fitted`, with the network sampled with `sample_seed` (as the packed export
    /// draws it) when given.
    pub fn new(fitted: FittedModel, sample_seed: Option<u64>) -> Result<Self> {
        let sample = match sample_seed {
            None => None,
            Some(seed) => Some(SampledWeights { seed, layers: crate::montecarlo::sample_network(&fitted.network, seed)?.weight_sample().layers }),
        };
        Ok(SafetensorsModel { fitted, sample })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let f = &self.fitted;
        let mut tensors: Vec<Tensor> = Vec::new();
        let mut layers = Vec::new();
        for (k, l) in f.network.layers().iter().enumerate() {
            let (n_out, n_in) = (l.channels(), l.fan_in());
            layers.push(LayerMeta { kind: l.kind(), n_out, n_in, conv: l.conv });
            let name = if l.kind() == WeightKind::Bernoulli { "logits" } else { "weight" };
            tensors.push((format!("layers.{k}.{name}"), Dtype::F64, vec![n_out, n_in], row_major(l.weight_param())));
            if let Some(g) = l.scale() {
                tensors.push((format!("layers.{k}.scale"), Dtype::F64, vec![n_out], f64_bytes(g.iter().copied())));
            }
            tensors.push((format!("layers.{k}.bias"), Dtype::F64, vec![n_out], f64_bytes(l.bias.iter().copied())));
            if let Some(Some(w)) = self.sample.as_ref().map(|s| &s.layers[k]) {
                let signs = w.transpose().as_slice().iter().map(|&v| if v > 0.0 { 1u8 } else { (-1i8) as u8 }).collect();
                tensors.push((format!("layers.{k}.sample"), Dtype::I8, vec![n_out, n_in], signs));
            }
        }
        let json = |v: serde_json::Result<String>| v.map_err(|e| SbnError::invalid("safetensors export", e.to_string()));
        let mut meta = HashMap::from([
            ("format".to_string(), "sbn".to_string()),
            ("sbn_safetensors_version".to_string(), SAFETENSORS_LAYOUT_VERSION.to_string()),
            ("layout".to_string(), LAYOUT.to_string()),
            ("layers".to_string(), json(serde_json::to_string(&layers))?),
            ("input_scaling".to_string(), json(serde_json::to_string(&f.scaling))?),
            ("class_names".to_string(), json(serde_json::to_string(&f.class_names))?),
        ]);
        if let Some(s) = &self.sample {
            meta.insert("sample_seed".to_string(), s.seed.to_string());
        }
        if let Some(p) = &f.posthoc {
            meta.insert("posthoc".to_string(), json(serde_json::to_string(p))?);
        }
        let views = tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| Ok((name.as_str(), TensorView::new(*dtype, shape.clone(), bytes)?)))
            .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(|e| SbnError::invalid("safetensors export", e.to_string()))?;
        safetensors::serialize(views, Some(meta)).map_err(|e| SbnError::invalid("safetensors export", e.to_string()))
    }

    /// Parses an export written by [`to_bytes`](Self::to_bytes); `place` names the file in errors.
    pub fn from_bytes(bytes: &[u8], place: &str) -> Result<Self> {
        let bad = |message: String| SbnError::Format { path: place.to_string(), message };
        let file = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let field = |key: &str| meta.get(key).ok_or_else(|| bad(format!("no `{key}` in the safetensors metadata: not an sbn export")));
        if field("format")? != "sbn" {
            return Err(bad("the safetensors metadata's `format` is not `sbn`: not an sbn export".into()));
        }
        let version = field("sbn_safetensors_version")?;
        if version != &SAFETENSORS_LAYOUT_VERSION.to_string() {
            return Err(bad(format!("sbn safetensors layout version {version}; this build reads version {SAFETENSORS_LAYOUT_VERSION}")));
        }
        let parse = |key: &str| -> Result<serde_json::Value> { serde_json::from_str(field(key)?).map_err(|e| bad(format!("metadata `{key}`: {e}"))) };
        let layers: Vec<LayerMeta> = serde_json::from_value(parse("layers")?).map_err(|e| bad(format!("metadata `layers`: {e}")))?;
        let scaling: InputScaling = serde_json::from_value(parse("input_scaling")?).map_err(|e| bad(format!("metadata `input_scaling`: {e}")))?;
        let class_names: Vec<String> = serde_json::from_value(parse("class_names")?).map_err(|e| bad(format!("metadata `class_names`: {e}")))?;
        let sample_seed = meta.get("sample_seed").map(|s| s.parse::<u64>().map_err(|e| bad(format!("metadata `sample_seed`: {e}")))).transpose()?;
        let posthoc: Option<PostHocFit> =
            meta.get("posthoc").map(|s| serde_json::from_str(s).map_err(|e| bad(format!("metadata `posthoc`: {e}")))).transpose()?;
        let reader = Reader { file: &file, place };
        let network = reader.network(&layers)?;
        let sample = match sample_seed {
            None => None,
            Some(seed) => Some(SampledWeights { seed, layers: reader.sample(&layers)? }),
        };
        let fitted = FittedModel::new(network, scaling, class_names, Vec::new()).and_then(|f| f.with_posthoc(posthoc)).map_err(|e| bad(e.to_string()))?;
        Ok(SafetensorsModel { fitted, sample })
    }

    /// Reads an export.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| SbnError::io(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Writes the export atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }
}

/// The tensors of a parsed file, each checked for its dtype and shape.
struct Reader<'a> {
    file: &'a SafeTensors<'a>,
    place: &'a str,
}

impl Reader<'_> {
    fn bad(&self, message: String) -> SbnError {
        SbnError::Format { path: self.place.to_string(), message }
    }

    /// The tensor `name`, of `dtype` and `shape`.
    fn tensor(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&[u8]> {
        let t = self.file.tensor(name).map_err(|_| self.bad(format!("tensor `{name}` is missing")))?;
        if t.dtype() != dtype || t.shape() != shape {
            return Err(self.bad(format!("tensor `{name}` is {:?} {:?}; expected {dtype:?} {shape:?}", t.dtype(), t.shape())));
        }
        Ok(t.data())
    }

    /// The finite f64 values of tensor `name`.
    fn floats(&self, name: &str, shape: &[usize]) -> Result<Vec<f64>> {
        let v: Vec<f64> = self.tensor(name, Dtype::F64, shape)?.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        if v.iter().all(|x| x.is_finite()) { Ok(v) } else { Err(self.bad(format!("tensor `{name}` holds NaN or infinite values"))) }
    }

    fn network(&self, layers: &[LayerMeta]) -> Result<Network> {
        let layers = layers
            .iter()
            .enumerate()
            .map(|(k, m)| {
                let name = if m.kind == WeightKind::Bernoulli { "logits" } else { "weight" };
                let w = DMatrix::from_row_slice(m.n_out, m.n_in, &self.floats(&format!("layers.{k}.{name}"), &[m.n_out, m.n_in])?);
                let b = DVector::from_vec(self.floats(&format!("layers.{k}.bias"), &[m.n_out])?);
                let layer = match m.kind {
                    WeightKind::Real => Layer::real(w, b),
                    WeightKind::Bernoulli => Layer::bernoulli(w, DVector::from_vec(self.floats(&format!("layers.{k}.scale"), &[m.n_out])?), b),
                };
                match m.conv {
                    Some(c) => layer.with_conv(c).map_err(|e| self.bad(format!("layer {k}: {e}"))),
                    None => Ok(layer),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Network::new(layers).map_err(|e| self.bad(e.to_string()))
    }

    fn sample(&self, layers: &[LayerMeta]) -> Result<Vec<Option<DMatrix<f64>>>> {
        let one = |k: usize, m: &LayerMeta| -> Result<Option<DMatrix<f64>>> {
            if m.kind == WeightKind::Real {
                return Ok(None);
            }
            let name = format!("layers.{k}.sample");
            let bytes = self.tensor(&name, Dtype::I8, &[m.n_out, m.n_in])?;
            let signs = bytes.iter().map(|&b| match b as i8 {
                1 => Ok(1.0),
                -1 => Ok(-1.0),
                v => Err(self.bad(format!("tensor `{name}` holds {v}; expected ±1"))),
            });
            Ok(Some(DMatrix::from_row_slice(m.n_out, m.n_in, &signs.collect::<Result<Vec<_>>>()?)))
        };
        layers.iter().enumerate().map(|(k, m)| one(k, m)).collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::model::init::{InitConfig, random_network};
    use crate::posthoc::PostHoc;

    fn model(kinds: &[WeightKind]) -> FittedModel {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        let net = random_network(&[5, 7, 3], kinds, InitConfig::default(), &mut rng).unwrap();
        let scaling = InputScaling::Standardize { mean: vec![0.5, 1.0, -2.0, 0.0, 3.0], std: vec![1.0, 2.0, 0.5, 1.0, 1e-8] };
        FittedModel::new(net, scaling, vec!["a".into(), "b, c".into(), "ü".into()], Vec::new()).unwrap()
    }

    #[test]
    fn round_trip_is_bit_for_bit_with_the_layout_row_major() {
        for kinds in [[WeightKind::Bernoulli; 2], [WeightKind::Real, WeightKind::Bernoulli]] {
            let export = SafetensorsModel::new(model(&kinds), Some(9)).unwrap();
            let bytes = export.to_bytes().unwrap();
            let back = SafetensorsModel::from_bytes(&bytes, "m.safetensors").unwrap();
            assert_eq!(back, export);
            // Row-major: element (0, 1) of the first matrix is the second value of its data.
            let file = SafeTensors::deserialize(&bytes).unwrap();
            let name = if kinds[0] == WeightKind::Real { "layers.0.weight" } else { "layers.0.logits" };
            let data = file.tensor(name).unwrap().data();
            let w = export.fitted.network.layers()[0].weight_param();
            assert_eq!(f64::from_le_bytes(data[8..16].try_into().unwrap()), w[(0, 1)]);
            assert_eq!(file.tensor(name).unwrap().shape(), &[7, 5]);
        }
    }

    #[test]
    fn a_stored_posthoc_calibration_is_in_the_metadata_and_read_back() {
        let stored = PostHocFit { map: PostHoc::Temperature(0.625), data: "held out".into(), n_examples: 40, weight_samples: 4, noise_samples: 2 };
        let m = model(&[WeightKind::Bernoulli; 2]).with_posthoc(Some(stored.clone())).unwrap();
        let bytes = SafetensorsModel::new(m, None).unwrap().to_bytes().unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta: serde_json::Value = serde_json::from_str(&header.metadata().as_ref().unwrap()["posthoc"]).unwrap();
        assert_eq!(meta["map"]["temperature"], 0.625);
        assert_eq!(meta["n_examples"], 40);
        let back = SafetensorsModel::from_bytes(&bytes, "m.safetensors").unwrap();
        assert_eq!(back.fitted.posthoc, Some(stored));
        // Without one, no key (and none read back).
        let bytes = SafetensorsModel::new(model(&[WeightKind::Bernoulli; 2]), None).unwrap().to_bytes().unwrap();
        assert!(!SafeTensors::read_metadata(&bytes).unwrap().1.metadata().as_ref().unwrap().contains_key("posthoc"));
        assert_eq!(SafetensorsModel::from_bytes(&bytes, "m.safetensors").unwrap().fitted.posthoc, None);
    }

    #[test]
    fn a_posthoc_map_that_does_not_fit_the_model_is_an_error_naming_the_file() {
        let wrong = PostHocFit {
            map: PostHoc::Vector { scale: vec![1.0; 2], bias: vec![0.0; 2] },
            data: "d".into(),
            n_examples: 1,
            weight_samples: 1,
            noise_samples: 1,
        };
        let mut export = SafetensorsModel::new(model(&[WeightKind::Bernoulli; 2]), None).unwrap();
        export.fitted.posthoc = Some(wrong); // 2 scales for 3 classes
        let e = SafetensorsModel::from_bytes(&export.to_bytes().unwrap(), "v.safetensors").unwrap_err().to_string();
        assert!(e.starts_with("v.safetensors: ") && e.contains("2 scales"), "{e}");
    }

    #[test]
    fn the_sample_is_the_packed_exports_network() {
        let m = model(&[WeightKind::Bernoulli; 2]);
        let export = SafetensorsModel::new(m.clone(), Some(4)).unwrap();
        let packed = crate::montecarlo::sample_network(&m.network, 4).unwrap().weight_sample().layers;
        assert_eq!(export.sample.unwrap().layers, packed);
        assert!(SafetensorsModel::new(m, None).unwrap().sample.is_none());
    }

    #[test]
    fn damaged_or_foreign_files_are_errors_naming_the_file() {
        let bytes = SafetensorsModel::new(model(&[WeightKind::Bernoulli; 2]), None).unwrap().to_bytes().unwrap();
        for cut in [0, 7, 20, bytes.len() - 1] {
            let e = SafetensorsModel::from_bytes(&bytes[..cut], "m.safetensors").unwrap_err().to_string();
            assert!(e.starts_with("m.safetensors: "), "{e}");
        }
        let foreign = safetensors::serialize([("x", TensorView::new(Dtype::F64, vec![1], &[0u8; 8]).unwrap())], None).unwrap();
        let e = SafetensorsModel::from_bytes(&foreign, "x.safetensors").unwrap_err().to_string();
        assert!(e.contains("x.safetensors") && e.contains("not an sbn export"), "{e}");
        let (n, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let at = 8 + n + header.tensors()["layers.0.logits"].data_offsets.0;
        let mut nan = bytes.clone();
        nan[at..at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
        let e = SafetensorsModel::from_bytes(&nan, "n.safetensors").unwrap_err().to_string();
        assert!(e.contains("n.safetensors") && e.contains("layers.0.logits") && e.contains("NaN"), "{e}");
    }
}
