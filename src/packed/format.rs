//! The byte format of a [`SampledNetwork`]: small, versioned, checksummed. It is the body of a
//! packed export (`crate::io::PackedModelFile`), which frames it with the input scaling and class
//! names.
//!
//! ```text
//! magic "SBNPACK\0" | version u32 | number of dims u32 | dims u64 ...
//! per layer: kind u8 (1 binary, 0 real) | geometry u8 (0 dense, 1 convolution; version 2 only)
//!   convolution: in_h, in_w, in_c, out_c, kernel, stride, pad u64 | pad value f64
//!   binary: γ f64 × rows | b f64 × rows | words u64 × rows·⌈fan_in/64⌉ (rows, pad bits 0)
//!   real:   W f64 × rows·fan_in (row-major) | b f64 × rows
//! (rows, fan_in) = (n_out, n_in) for a dense layer, (out_c, kernel²·in_c) for a convolution
//! FNV-1a 64 checksum of everything before it (u64)
//! ```
//!
//! All numbers are little-endian. Version 1 (no geometry byte, dense layers only) is still read.

use nalgebra::{DMatrix, DVector};

use super::network::{BinaryLayer, PackedLayer, SampledNetwork, check_convs};
use crate::error::{Result, SbnError};
use crate::model::Conv2d;
use crate::popcount::bits::{BitMatrix, words_for};

const MAGIC: [u8; 8] = *b"SBNPACK\0";
const VERSION: u32 = 2;
const PLACE: &str = "packed network";

// FNV-1a: the format's own checksum (the export around it adds a CRC-32 over everything).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A cursor over the bytes; every read is bounds-checked and names what it wanted.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| SbnError::invalid(PLACE, format!("truncated: {what} needs {n} bytes at offset {}", self.pos)))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64s(&mut self, n: usize, what: &str) -> Result<Vec<u64>> {
        let len = n.checked_mul(8).ok_or_else(|| SbnError::invalid(PLACE, format!("{what}: size overflows")))?;
        Ok(self.take(len, what)?.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    }
    fn f64s(&mut self, n: usize, what: &str) -> Result<Vec<f64>> {
        let v: Vec<f64> = self.u64s(n, what)?.into_iter().map(f64::from_bits).collect();
        if v.iter().all(|x| x.is_finite()) { Ok(v) } else { Err(SbnError::invalid(PLACE, format!("{what}: NaN or infinite value"))) }
    }
}

impl SampledNetwork {
    /// The network in its byte format: magic `SBNPACK\0`, version, layer widths, per layer its
    /// kind, geometry and parameters, an FNV-1a checksum (the layout is documented in
    /// `src/packed/format.rs`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.dims.len() as u32).to_le_bytes());
        self.dims.iter().for_each(|&d| out.extend_from_slice(&(d as u64).to_le_bytes()));
        let f64s = |out: &mut Vec<u8>, v: &[f64]| v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        for (layer, conv) in self.layers.iter().zip(&self.convs) {
            out.push(match layer {
                PackedLayer::Binary(_) => 1,
                PackedLayer::Real { .. } => 0,
            });
            match conv {
                None => out.push(0),
                Some(g) => {
                    out.push(1);
                    for v in [g.in_h, g.in_w, g.in_c, g.out_c, g.kernel, g.stride, g.pad] {
                        out.extend_from_slice(&(v as u64).to_le_bytes());
                    }
                    out.extend_from_slice(&g.pad_value.to_le_bytes());
                }
            }
            match layer {
                PackedLayer::Binary(l) => {
                    f64s(&mut out, &l.gamma);
                    f64s(&mut out, &l.bias);
                    l.bits.as_words().iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
                }
                PackedLayer::Real { w, bias } => {
                    f64s(&mut out, w.transpose().as_slice());
                    f64s(&mut out, bias.as_slice());
                }
            }
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads the byte format (version 1 or 2); any truncation, corruption or inconsistency is an
    /// error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(8, "magic")? != MAGIC {
            return Err(SbnError::invalid(PLACE, "not a packed sbn network (bad magic)"));
        }
        let version = r.u32("version")?;
        if version != 1 && version != VERSION {
            return Err(SbnError::invalid(PLACE, format!("unsupported version {version} (this build reads 1 and {VERSION})")));
        }
        let dims = read_dims(&mut r)?;
        let mut layers = Vec::with_capacity(dims.len() - 1);
        let mut convs = Vec::with_capacity(dims.len() - 1);
        for k in 0..dims.len() - 1 {
            let (layer, conv) = read_layer(&mut r, version, &dims, k)?;
            layers.push(layer);
            convs.push(conv);
        }
        check_convs(&convs).map_err(|e| SbnError::invalid(PLACE, e.to_string()))?;
        let body = r.pos;
        let sum = u64::from_le_bytes(r.take(8, "checksum")?.try_into().expect("8 bytes"));
        if r.pos != bytes.len() {
            return Err(SbnError::invalid(PLACE, format!("{} trailing bytes", bytes.len() - r.pos)));
        }
        if fnv1a(&bytes[..body]) != sum {
            return Err(SbnError::invalid(PLACE, "checksum mismatch: the file is corrupt"));
        }
        Ok(Self::from_layers(dims, layers, convs))
    }
}

/// The layer widths `[d0, n1, …, nL, K]`: at least 3, none 0 or implausibly large.
fn read_dims(r: &mut Reader) -> Result<Vec<usize>> {
    let n_dims = r.u32("dimension count")? as usize;
    if !(3..=1024).contains(&n_dims) {
        return Err(SbnError::invalid(PLACE, format!("{n_dims} dimensions: need at least 3 (input, one binary layer, output)")));
    }
    let dims = r.u64s(n_dims, "dimensions")?;
    if dims.iter().any(|&d| d == 0 || d > 1 << 32) {
        return Err(SbnError::invalid(PLACE, "a layer width is 0 or implausibly large"));
    }
    Ok(dims.into_iter().map(|d| d as usize).collect())
}

/// Layer `k`: its kind, geometry (version 2) and parameters, checked against the widths `dims`.
fn read_layer(r: &mut Reader, version: u32, dims: &[usize], k: usize) -> Result<(PackedLayer, Option<Conv2d>)> {
    let what = |s: &str| format!("layer {k} {s}");
    let kind = r.u8(&what("kind"))?;
    let conv = match if version >= 2 { r.u8(&what("geometry"))? } else { 0 } {
        0 => None,
        1 => {
            let v = r.u64s(7, &what("convolution"))?;
            if v.iter().any(|&x| x > 1 << 20) {
                return Err(SbnError::invalid(PLACE, what("convolution has an implausibly large size")));
            }
            let v: Vec<usize> = v.into_iter().map(|x| x as usize).collect();
            let pad_value = r.f64s(1, &what("pad value"))?[0];
            let g = Conv2d { in_h: v[0], in_w: v[1], in_c: v[2], out_c: v[3], kernel: v[4], stride: v[5], pad: v[6], pad_value };
            g.check(&format!("{PLACE} {}", what("convolution")))?;
            // Sizes ≤ 2^20: none of these products overflows.
            if g.in_features() != dims[k] || g.out_features() != dims[k + 1] {
                return Err(SbnError::invalid(PLACE, what("convolution does not match the layer widths")));
            }
            Some(g)
        }
        x => return Err(SbnError::invalid(PLACE, what(&format!("has unknown geometry {x}")))),
    };
    let (rows, fan_in) = conv.map_or((dims[k + 1], dims[k]), |g| (g.out_c, g.fan_in()));
    let layer = match kind {
        1 => {
            let gamma = r.f64s(rows, &what("scales"))?;
            let bias = r.f64s(rows, &what("biases"))?;
            let count = rows.checked_mul(words_for(fan_in)).ok_or_else(|| SbnError::invalid(PLACE, what("size overflows")))?;
            let words = r.u64s(count, &what("weight bits"))?;
            let bits = BitMatrix::from_words(rows, fan_in, words).ok_or_else(|| SbnError::invalid(PLACE, what("has pad bits set")))?;
            PackedLayer::Binary(BinaryLayer::new(bits, gamma, bias))
        }
        0 if k == 0 || k == dims.len() - 2 => {
            let count = rows.checked_mul(fan_in).ok_or_else(|| SbnError::invalid(PLACE, what("size overflows")))?;
            let w = r.f64s(count, &what("weights"))?;
            let bias = r.f64s(rows, &what("biases"))?;
            PackedLayer::Real { w: DMatrix::from_row_slice(rows, fan_in, &w), bias: DVector::from_vec(bias) }
        }
        0 => return Err(SbnError::invalid(PLACE, what("is real: only the first and the output layer may be"))),
        kind => return Err(SbnError::invalid(PLACE, what(&format!("has unknown kind {kind}")))),
    };
    Ok((layer, conv))
}
