//! Compact model files: a model file with its Bernoulli logits stored in 8 bits each, about an
//! eighth of the size, read wherever a model file is ([`ModelFile::from_bytes`] tells them apart
//! by their magic).
//!
//! The shared framing (`container.rs`) with magic `b"SBNCOMPT"`, version [`COMPACT_FORMAT_VERSION`],
//! a JSON header (spec, input scaling, class names, history, post-hoc calibration, and per layer
//! its kind, shape, geometry and spans of the body) and a byte body. Real weights, scales γ and
//! biases are f64 (exact); the logits θ of a Bernoulli layer are one code `c ∈ −128..=127` (i8) per
//! weight with a step `s_j` (f64) per output unit: `θ' = s_j · (c + ½)`, `c = ⌊θ/s_j⌋` and
//! `s_j = max_i |θ_ji| / 127.5`. So `|θ − θ'| ≤ s_j / 2` (up to the rounding of f64, a
//! relative 10⁻¹⁵), the largest `|θ|` of a row is kept (to that rounding), the sign of every θ is kept (θ ≥ 0 ⇔
//! θ' > 0: the most likely network is the same) and `|q − q'| ≤ s_j / 8`. Codes are stored in the
//! column-major order of the library's matrices. A checkpoint's training state is not stored: a
//! compact file predicts, it does not resume. Quantizing the quantized logits again keeps every
//! code (and the steps to f64 rounding), so a loaded compact model saved compact is the same.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::container::{self, Body, BodyKind, Format};
use super::model_file::ModelFile;
use crate::data::InputScaling;
use crate::error::{Result, SbnError};
use crate::fitted::FittedModel;
use crate::model::{Conv2d, Layer, Network, WeightKind};
use crate::posthoc::PostHocFit;
use crate::spec::ModelSpec;
use crate::train::EpochRecord;

/// The compact model file format version this build writes and reads.
pub const COMPACT_FORMAT_VERSION: u32 = 1;

pub(super) const FORMAT: Format = Format {
    magic: b"SBNCOMPT",
    version: Some(COMPACT_FORMAT_VERSION),
    kind: "a compact sbn model file",
    name: "compact model file",
    also_reads: "",
    body: BodyKind::Rest,
};

/// The 256 codes `−128..=127`; levels `s (c + ½)` run from `−127.5 s` to `127.5 s`, so with
/// `s = max |θ| / 127.5` the largest `|θ|` of a row is a level.
const HALF_RANGE: f64 = 127.5;

/// A span of the body, in bytes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Span {
    offset: usize,
    len: usize,
}

/// One layer in the header.
#[derive(Serialize, Deserialize)]
struct CompactLayer {
    kind: WeightKind,
    n_out: usize,
    n_in: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conv: Option<Conv2d>,
    /// Real layers: `W` as f64; Bernoulli layers: the i8 codes.
    weights: Span,
    /// Bernoulli layers: the steps `s_j` (f64).
    steps: Option<Span>,
    /// Bernoulli layers: γ (f64).
    scale: Option<Span>,
    bias: Span,
}

/// The JSON header.
#[derive(Serialize, Deserialize)]
struct CompactHeader {
    spec: ModelSpec,
    scaling: InputScaling,
    class_names: Vec<String>,
    history: Vec<EpochRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    posthoc: Option<PostHocFit>,
    layers: Vec<CompactLayer>,
}

/// The per-row steps and the codes (column-major) of `logits`.
pub fn quantize(logits: &DMatrix<f64>) -> (Vec<f64>, Vec<i8>) {
    let steps: Vec<f64> = logits.row_iter().map(|r| r.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE) / HALF_RANGE).collect();
    let codes =
        logits.column_iter().flat_map(|c| c.iter().zip(&steps).map(|(&v, &s)| (v / s).floor().clamp(-128.0, 127.0) as i8).collect::<Vec<_>>()).collect();
    (steps, codes)
}

/// The logits `s_j · (c + ½)` of `codes` (column-major) with row steps `steps`.
pub fn dequantize(steps: &[f64], codes: &[i8]) -> DMatrix<f64> {
    let rows = steps.len();
    let cols = codes.len().checked_div(rows).unwrap_or(0);
    DMatrix::from_iterator(rows, cols, codes.iter().enumerate().map(|(i, &c)| steps[i % rows] * (f64::from(c) + 0.5)))
}

/// The body, filled by writing.
struct Writer(Vec<u8>);

impl Writer {
    fn put(&mut self, bytes: impl IntoIterator<Item = u8>) -> Span {
        let offset = self.0.len();
        self.0.extend(bytes);
        Span { offset, len: self.0.len() - offset }
    }

    fn floats(&mut self, v: &[f64]) -> Span {
        self.put(v.iter().flat_map(|x| x.to_le_bytes()))
    }

    fn layer(&mut self, l: &Layer) -> CompactLayer {
        let (weights, steps) = match l.kind() {
            WeightKind::Real => (self.floats(l.weight_param().as_slice()), None),
            WeightKind::Bernoulli => {
                let (steps, codes) = quantize(l.weight_param());
                (self.put(codes.iter().map(|&c| c as u8)), Some(self.floats(&steps)))
            }
        };
        let scale = l.scale().map(|g| self.floats(g.as_slice()));
        CompactLayer { kind: l.kind(), n_out: l.channels(), n_in: l.fan_in(), conv: l.conv, weights, steps, scale, bias: self.floats(l.bias.as_slice()) }
    }
}

/// The compact bytes of `file` (its training state, if any, is left out).
pub(super) fn to_bytes(file: &ModelFile) -> Vec<u8> {
    let mut body = Writer(Vec::new());
    let f = &file.fitted;
    let layers = f.network.layers().iter().map(|l| body.layer(l)).collect();
    let header = CompactHeader {
        spec: file.spec.clone(),
        scaling: f.scaling.clone(),
        class_names: f.class_names.clone(),
        history: f.history.clone(),
        posthoc: f.posthoc.clone(),
        layers,
    };
    container::write(&FORMAT, &header, Body::Bytes(&body.0))
}

/// The body, sliced by reading; every span is checked against the layer's shape.
struct Reader<'a> {
    body: &'a [u8],
    place: &'a str,
}

impl<'a> Reader<'a> {
    fn bytes(&self, s: Span, len: usize, what: &str) -> Result<&'a [u8]> {
        if s.len != len || s.offset.checked_add(s.len).is_none_or(|end| end > self.body.len()) {
            return Err(SbnError::Format { path: self.place.to_string(), message: format!("{what} does not fit the body (corrupted file)") });
        }
        Ok(&self.body[s.offset..s.offset + s.len])
    }

    fn floats(&self, s: Span, n: usize, what: &str) -> Result<Vec<f64>> {
        let v: Vec<f64> = self.bytes(s, n * 8, what)?.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        let ok = v.iter().all(|x| x.is_finite());
        if ok { Ok(v) } else { Err(SbnError::Format { path: self.place.to_string(), message: format!("{what}: NaN or infinite value") }) }
    }

    fn layer(&self, k: usize, r: &CompactLayer) -> Result<Layer> {
        let what = |part: &str| format!("layer {k}: {part}");
        let n = r.n_out.checked_mul(r.n_in).ok_or_else(|| SbnError::Format { path: self.place.to_string(), message: what("size overflows") })?;
        let b = DVector::from_vec(self.floats(r.bias, r.n_out, &what("biases"))?);
        let layer = match (r.kind, r.steps, r.scale) {
            (WeightKind::Real, None, None) => Layer::real(DMatrix::from_vec(r.n_out, r.n_in, self.floats(r.weights, n, &what("weights"))?), b),
            (WeightKind::Bernoulli, Some(steps), Some(scale)) => {
                let steps = self.floats(steps, r.n_out, &what("steps"))?;
                let codes: Vec<i8> = self.bytes(r.weights, n, &what("logit codes"))?.iter().map(|&c| c as i8).collect();
                let gamma = DVector::from_vec(self.floats(scale, r.n_out, &what("scales"))?);
                Layer::bernoulli(dequantize(&steps, &codes), gamma, b)
            }
            _ => return Err(SbnError::Format { path: self.place.to_string(), message: what("weight kind, steps and scale do not agree") }),
        };
        match r.conv {
            Some(c) => layer.with_conv(c).map_err(|e| SbnError::Format { path: self.place.to_string(), message: what(&e.to_string()) }),
            None => Ok(layer),
        }
    }
}

/// Parses a compact file's bytes; `place` names the file in errors.
pub(super) fn from_bytes(bytes: &[u8], place: &str) -> Result<ModelFile> {
    let bad = |message: String| SbnError::Format { path: place.to_string(), message };
    let contents = container::read::<CompactHeader>(&FORMAT, bytes, place)?;
    let h = contents.header;
    let reader = Reader { body: contents.body, place };
    let layers = h.layers.iter().enumerate().map(|(k, r)| reader.layer(k, r)).collect::<Result<Vec<_>>>()?;
    let network = Network::new(layers).map_err(|e| bad(e.to_string()))?;
    let fitted = FittedModel::new(network, h.scaling, h.class_names, h.history).and_then(|f| f.with_posthoc(h.posthoc)).map_err(|e| match e {
        SbnError::Invalid { message, .. } => bad(message),
        other => other,
    })?;
    Ok(ModelFile { spec: h.spec, fitted, state: None })
}

/// True when `bytes` start like a compact model file.
pub(super) fn sniff(bytes: &[u8]) -> bool {
    bytes.starts_with(FORMAT.magic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_keeps_signs_and_its_bound() {
        let m = DMatrix::from_row_slice(3, 4, &[0.0, -1e-9, 5.0, -5.0, 12.3, -0.7, 0.01, 3.3, 0.0, 0.0, 0.0, -0.0]);
        let (steps, codes) = quantize(&m);
        let back = dequantize(&steps, &codes);
        for j in 0..3 {
            for i in 0..4 {
                let (v, w) = (m[(j, i)], back[(j, i)]);
                assert!((v - w).abs() <= steps[j] / 2.0 * (1.0 + 1e-12), "{v} → {w}");
                assert_eq!(v >= 0.0, w >= 0.0, "{v} → {w}");
            }
        }
        assert_eq!(steps[0], 5.0 / 127.5);
        // The largest |θ| of a row are the extreme levels.
        assert!((back[(0, 2)] - 5.0).abs() < 1e-14 && (back[(0, 3)] + 5.0).abs() < 1e-14, "{back}");
        assert_eq!((codes[6], codes[9]), (127, -128)); // (0, 2) and (0, 3), column-major
        // Quantizing the quantized logits again (a compact file loaded and saved compact) keeps
        // every code, and the steps to f64 rounding.
        let (steps2, codes2) = quantize(&back);
        assert_eq!(codes2, codes);
        assert!(steps.iter().zip(&steps2).all(|(a, b)| (a - b).abs() <= 1e-15 * a), "{steps:?} {steps2:?}");
    }
}
