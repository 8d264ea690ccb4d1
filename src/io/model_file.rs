//! Model files: the spec, the input scaling, the class names, the parameters, the training
//! history and (in checkpoints) the training state, on the shared framing (`container.rs`).
//!
//! The header is JSON (serde; every parameter array is a slot into the payload); the body is the
//! payload, f64 values after their count. Files are written atomically ([`write_atomic`]), so an
//! interrupted write never leaves a half-written model.

use std::path::Path;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use super::compact_file;
use super::container::{self, Body, BodyKind, Format};
use super::packed_file::PackedModelFile;
use crate::data::InputScaling;
use crate::error::{Result, SbnError};
use crate::fitted::FittedModel;
use crate::model::{Conv2d, Layer, Network, WeightKind};
use crate::posthoc::PostHocFit;
use crate::spec::ModelSpec;
use crate::train::optim::{Moments, OptimizerKind, OptimizerState};
use crate::train::{EpochRecord, TrainState};

/// The model file format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const FORMAT: Format =
    Format { magic: b"SBNMODEL", version: Some(FORMAT_VERSION), kind: "an sbn model file", name: "model file", also_reads: "", body: BodyKind::Counted };

/// Everything a model file holds: a fitted model, the spec that made it, and in checkpoints the
/// state that `--resume` needs (the file's network is then the run's current one).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// The spec of the fit.
    pub spec: ModelSpec,
    /// The network, input scaling, classes and history.
    pub fitted: FittedModel,
    /// Present in checkpoints.
    pub state: Option<TrainState>,
}

/// A span of the payload.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Slot {
    offset: usize,
    len: usize,
}

/// One layer in the header: its kind and shape, and where its parameters are in the payload.
#[derive(Serialize, Deserialize)]
struct LayerRecord {
    kind: WeightKind,
    /// The shape of `W` (for a convolution: output channels × patch size).
    n_out: usize,
    n_in: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conv: Option<Conv2d>,
    weights: Slot,
    scale: Option<Slot>,
    bias: Slot,
}

/// A checkpoint's training state in the header (its arrays in the payload).
#[derive(Serialize, Deserialize)]
struct StateRecord {
    /// The spec's optimizer (kept for the format; the spec is what counts).
    optimizer: OptimizerKind,
    step: u64,
    moments: Vec<(Slot, Slot)>,
    epoch: usize,
    batch: usize,
    running: [f64; 3],
    best: Option<(f64, Vec<LayerRecord>)>,
    elapsed: f64,
}

/// The JSON header.
#[derive(Serialize, Deserialize)]
struct Header {
    spec: ModelSpec,
    scaling: InputScaling,
    class_names: Vec<String>,
    layers: Vec<LayerRecord>,
    history: Vec<EpochRecord>,
    state: Option<StateRecord>,
    /// Absent in files written before post-hoc calibration existed, and when none is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    posthoc: Option<PostHocFit>,
}

/// The f64 values of the body, filled by writing and sliced by reading.
struct Payload(Vec<f64>);

impl Payload {
    fn put(&mut self, v: &[f64]) -> Slot {
        let slot = Slot { offset: self.0.len(), len: v.len() };
        self.0.extend_from_slice(v);
        slot
    }

    fn get(&self, s: Slot, len: usize, place: &str) -> Result<&[f64]> {
        if s.len != len || s.offset.checked_add(s.len).is_none_or(|end| end > self.0.len()) {
            return Err(SbnError::invalid(place, "parameter array does not fit the payload (corrupted file)"));
        }
        Ok(&self.0[s.offset..s.offset + s.len])
    }

    fn put_network(&mut self, net: &Network) -> Vec<LayerRecord> {
        net.layers()
            .iter()
            .map(|l| LayerRecord {
                kind: l.kind(),
                n_out: l.channels(),
                n_in: l.fan_in(),
                conv: l.conv,
                weights: self.put(l.weight_param().as_slice()),
                scale: l.scale().map(|g| self.put(g.as_slice())),
                bias: self.put(l.bias.as_slice()),
            })
            .collect()
    }

    fn get_network(&self, layers: &[LayerRecord], place: &str) -> Result<Network> {
        let layers = layers
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let place = format!("{place}: layer {k}");
                let w = DMatrix::from_column_slice(r.n_out, r.n_in, self.get(r.weights, r.n_out * r.n_in, &place)?);
                let b = DVector::from_column_slice(self.get(r.bias, r.n_out, &place)?);
                let layer = match (r.kind, r.scale) {
                    (WeightKind::Real, None) => Layer::real(w, b),
                    (WeightKind::Bernoulli, Some(s)) => Layer::bernoulli(w, DVector::from_column_slice(self.get(s, r.n_out, &place)?), b),
                    _ => return Err(SbnError::invalid(&place, "weight kind and scale do not agree")),
                };
                match r.conv {
                    Some(c) => layer.with_conv(c).map_err(|e| SbnError::invalid(&place, e.to_string())),
                    None => Ok(layer),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Network::new(layers).map_err(|e| SbnError::invalid(place, e.to_string()))
    }

    /// The training state of a checkpoint, checked against its `network`.
    fn get_state(&self, s: StateRecord, network: &Network, place: &str) -> Result<TrainState> {
        let fresh = OptimizerState::fresh(network);
        if fresh.moments.len() != s.moments.len() {
            return Err(SbnError::invalid(place, "optimizer state does not match the network"));
        }
        let moments = s
            .moments
            .iter()
            .zip(&fresh.moments)
            .map(|(&(m, v), f)| Ok(Moments { m: self.get(m, f.m.len(), place)?.to_vec(), v: self.get(v, f.v.len(), place)?.to_vec() }))
            .collect::<Result<Vec<_>>>()?;
        let best = match s.best {
            None => None,
            Some((score, layers)) => Some((score, self.get_network(&layers, place)?)),
        };
        Ok(TrainState { optimizer: OptimizerState { step: s.step, moments }, epoch: s.epoch, batch: s.batch, running: s.running, best, elapsed: s.elapsed })
    }
}

impl ModelFile {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = Payload(Vec::new());
        let f = &self.fitted;
        let layers = payload.put_network(&f.network);
        let state = self.state.as_ref().map(|s| StateRecord {
            optimizer: self.spec.training.optimizer,
            step: s.optimizer.step,
            moments: s.optimizer.moments.iter().map(|m| (payload.put(&m.m), payload.put(&m.v))).collect(),
            epoch: s.epoch,
            batch: s.batch,
            running: s.running,
            best: s.best.as_ref().map(|(score, net)| (*score, payload.put_network(net))),
            elapsed: s.elapsed,
        });
        let header = Header {
            spec: self.spec.clone(),
            scaling: f.scaling.clone(),
            class_names: f.class_names.clone(),
            layers,
            history: f.history.clone(),
            state,
            posthoc: f.posthoc.clone(),
        };
        container::write(&FORMAT, &header, Body::Floats(&payload.0))
    }

    /// The bytes of the compact form ([`COMPACT_FORMAT_VERSION`](super::COMPACT_FORMAT_VERSION)):
    /// Bernoulli logits in 8 bits each, the training state left out; read back by
    /// [`from_bytes`](Self::from_bytes) like any model file.
    pub fn to_compact_bytes(&self) -> Vec<u8> {
        compact_file::to_bytes(self)
    }

    /// True when `bytes` start like the compact form.
    pub fn is_compact(bytes: &[u8]) -> bool {
        compact_file::sniff(bytes)
    }

    /// Writes the compact form atomically.
    pub fn save_compact(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_compact_bytes())
    }

    /// Parses a model file's bytes (either form); `place` names the file in errors.
    pub fn from_bytes(bytes: &[u8], place: &str) -> Result<Self> {
        let bad = |message: String| SbnError::Format { path: place.to_string(), message };
        if PackedModelFile::sniff(bytes) {
            return Err(bad(
                "is a packed export (written by `sbn export`, one network at 1 bit per weight); this needs the model file written by `sbn fit`".into()
            ));
        }
        if compact_file::sniff(bytes) {
            return compact_file::from_bytes(bytes, place);
        }
        let contents = container::read::<Header>(&FORMAT, bytes, place)?;
        let header = contents.header;
        let payload = Payload(contents.body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect());
        let network = payload.get_network(&header.layers, place)?;
        let state = header.state.map(|s| payload.get_state(s, &network, place)).transpose()?;
        let fitted = FittedModel::new(network, header.scaling, header.class_names, header.history).and_then(|f| f.with_posthoc(header.posthoc)).map_err(
            |e| match e {
                SbnError::Invalid { message, .. } => bad(message),
                other => other,
            },
        )?;
        Ok(ModelFile { spec: header.spec, fitted, state })
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| SbnError::io(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes())
    }
}
