//! Model files: a versioned binary container holding the spec, the input scaling, the class
//! names, the parameters, the training history and (in checkpoints) the training state.
//!
//! Layout: `b"SBNMODEL"`, format version (u32 LE), header length (u64 LE), the header as JSON
//! (serde; every parameter array is a slot into the payload), payload length in f64s (u64 LE),
//! the payload (f64 LE), and a CRC-32 of everything after the magic. Files are written atomically
//! (temporary file + rename), so an interrupted write never leaves a half-written model.

use std::io::Write;
use std::path::Path;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::data::InputScaling;
use crate::error::{Result, SbnError};
use crate::model::{Conv2d, Layer, Network, WeightKind};
use crate::spec::ModelSpec;
use crate::train::optim::{Moments, Optimizer};
use crate::train::EpochRecord;

const MAGIC: &[u8; 8] = b"SBNMODEL";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Everything a model file holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    pub spec: ModelSpec,
    pub scaling: InputScaling,
    pub class_names: Vec<String>,
    pub network: Network,
    pub history: Vec<EpochRecord>,
    /// Present in checkpoints: what `--resume` needs.
    pub state: Option<TrainState>,
}

/// The state of an unfinished training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    pub optimizer: Optimizer,
    /// The next epoch and batch to run.
    pub epoch: usize,
    pub batch: usize,
    /// Running sums of the current epoch (loss, KL, examples), so a resumed epoch reports the same.
    pub running: [f64; 3],
    /// The best network so far and its validation NLL.
    pub best: Option<(f64, Network)>,
    /// Seconds spent training before this checkpoint.
    pub elapsed: f64,
}

/// A span of the payload.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Slot {
    offset: usize,
    len: usize,
}

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

#[derive(Serialize, Deserialize)]
struct StateRecord {
    optimizer: crate::spec::OptimizerKind,
    step: u64,
    moments: Vec<(Slot, Slot)>,
    epoch: usize,
    batch: usize,
    running: [f64; 3],
    best: Option<(f64, Vec<LayerRecord>)>,
    elapsed: f64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    spec: ModelSpec,
    scaling: InputScaling,
    class_names: Vec<String>,
    layers: Vec<LayerRecord>,
    history: Vec<EpochRecord>,
    state: Option<StateRecord>,
}

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
}

impl ModelFile {
    /// Serializes to bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = Payload(Vec::new());
        let layers = payload.put_network(&self.network);
        let state = self.state.as_ref().map(|s| StateRecord {
            optimizer: s.optimizer.kind,
            step: s.optimizer.step,
            moments: s.optimizer.moments.iter().map(|m| (payload.put(&m.m), payload.put(&m.v))).collect(),
            epoch: s.epoch,
            batch: s.batch,
            running: s.running,
            best: s.best.as_ref().map(|(score, net)| (*score, payload.put_network(net))),
            elapsed: s.elapsed,
        });
        let header = Header { spec: self.spec.clone(), scaling: self.scaling.clone(), class_names: self.class_names.clone(), layers, history: self.history.clone(), state };
        let header = serde_json::to_vec(&header).expect("the header serializes");
        let mut out = Vec::with_capacity(32 + header.len() + 8 * payload.0.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(payload.0.len() as u64).to_le_bytes());
        for v in &payload.0 {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut crc = flate2::Crc::new();
        crc.update(&out[MAGIC.len()..]);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out
    }

    /// Parses bytes; `place` names the file in errors.
    pub fn from_bytes(bytes: &[u8], place: &str) -> Result<Self> {
        let bad = |msg: String| SbnError::invalid(place, msg);
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not an sbn model file (wrong magic bytes)".into()));
        }
        let mut pos = MAGIC.len();
        let mut take = |n: usize| -> Result<&[u8]> {
            let end = pos.checked_add(n).filter(|&e| e <= bytes.len()).ok_or_else(|| bad(format!("truncated: ends at byte {} of at least {}", bytes.len(), pos.saturating_add(n))))?;
            let s = &bytes[pos..end];
            pos = end;
            Ok(s)
        };
        let version = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(format!("model file format version {version}; this build reads version {FORMAT_VERSION}")));
        }
        let header_len = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes")) as usize;
        let header_bytes = take(header_len)?;
        let n_floats = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes")) as usize;
        let floats = take(n_floats.checked_mul(8).ok_or_else(|| bad("corrupted payload length".into()))?)?;
        let stored_crc = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
        let end = MAGIC.len() + 4 + 8 + header_len + 8 + 8 * n_floats;
        if end + 4 != bytes.len() {
            return Err(bad(format!("{} trailing bytes after the checksum", bytes.len() - end - 4)));
        }
        let mut crc = flate2::Crc::new();
        crc.update(&bytes[MAGIC.len()..end]);
        if crc.sum() != stored_crc {
            return Err(bad("checksum mismatch: the file is corrupted".into()));
        }
        let header: Header = serde_json::from_slice(header_bytes).map_err(|e| bad(format!("unreadable header: {e}")))?;
        let payload = Payload(floats.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect());
        let network = payload.get_network(&header.layers, place)?;
        let state = match header.state {
            None => None,
            Some(s) => {
                let mut net_for_shapes = network.clone();
                let fresh = Optimizer::new(s.optimizer, &mut net_for_shapes);
                if fresh.moments.len() != s.moments.len() {
                    return Err(bad("optimizer state does not match the network".into()));
                }
                let moments = s
                    .moments
                    .iter()
                    .zip(&fresh.moments)
                    .map(|(&(m, v), f)| Ok(Moments { m: payload.get(m, f.m.len(), place)?.to_vec(), v: payload.get(v, f.v.len(), place)?.to_vec() }))
                    .collect::<Result<Vec<_>>>()?;
                let best = match s.best {
                    None => None,
                    Some((score, layers)) => Some((score, payload.get_network(&layers, place)?)),
                };
                Some(TrainState { optimizer: Optimizer { kind: s.optimizer, step: s.step, moments }, epoch: s.epoch, batch: s.batch, running: s.running, best, elapsed: s.elapsed })
            }
        };
        if network.input_dim() != header.scaling.dim().unwrap_or(network.input_dim()) {
            return Err(bad("input scaling and network disagree on the input size".into()));
        }
        if network.n_classes() != header.class_names.len() {
            return Err(bad("class names and network disagree on the number of classes".into()));
        }
        Ok(ModelFile { spec: header.spec, scaling: header.scaling, class_names: header.class_names, network, history: header.history, state })
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

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| SbnError::io(dir, e))?;
    let name = path.file_name().ok_or_else(|| SbnError::invalid(path.display().to_string(), "not a file path"))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(SbnError::io(path, e));
    }
    Ok(())
}

/// A packed export: one sampled (or the most likely) network at 1 bit per binary weight, with the
/// input scaling and class names that prediction needs. Layout: `b"SBNPACKD"`, the header length
/// (u64 LE), the header as JSON, then the packed network (its own versioned, checksummed format).
#[derive(Clone, Debug)]
pub struct PackedModelFile {
    pub scaling: InputScaling,
    pub class_names: Vec<String>,
    pub network: crate::packed::SampledNetwork,
}

const PACKED_MAGIC: &[u8; 8] = b"SBNPACKD";

#[derive(Serialize, Deserialize)]
struct PackedHeader {
    scaling: InputScaling,
    class_names: Vec<String>,
}

impl PackedModelFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&PackedHeader { scaling: self.scaling.clone(), class_names: self.class_names.clone() }).expect("the header serializes");
        let mut out = PACKED_MAGIC.to_vec();
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.network.to_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8], place: &str) -> Result<Self> {
        let bad = |m: String| SbnError::invalid(place, m);
        if bytes.len() < 16 || &bytes[..8] != PACKED_MAGIC {
            return Err(bad("not a packed sbn network (wrong magic bytes or truncated)".into()));
        }
        let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let end = 16usize.checked_add(len).filter(|&e| e <= bytes.len()).ok_or_else(|| bad("truncated header".into()))?;
        let header: PackedHeader = serde_json::from_slice(&bytes[16..end]).map_err(|e| bad(format!("unreadable header: {e}")))?;
        let network = crate::packed::SampledNetwork::from_bytes(&bytes[end..]).map_err(|e| bad(e.to_string()))?;
        let dims = network.dims();
        if *dims.last().expect("dims") != header.class_names.len() {
            return Err(bad("class names and network disagree on the number of classes".into()));
        }
        Ok(PackedModelFile { scaling: header.scaling, class_names: header.class_names, network })
    }

    /// True when `bytes` start like a packed export.
    pub fn sniff(bytes: &[u8]) -> bool {
        bytes.starts_with(PACKED_MAGIC)
    }
}
