//! Packed exports: one sampled (or the most likely) network at 1 bit per binary weight, with the
//! input scaling and class names that prediction needs, on the shared framing (`container.rs`).
//!
//! The header is JSON (scaling, class names); the body is the network's own byte format
//! ([`SampledNetwork::to_bytes`], versioned and checksummed itself).

use serde::{Deserialize, Serialize};

use super::container::{self, Body, BodyKind, Format};
use crate::data::InputScaling;
use crate::error::{Result, SbnError};
use crate::packed::SampledNetwork;

/// The packed export format version this build writes.
pub const PACKED_FORMAT_VERSION: u32 = 2;

const FORMAT: Format = Format {
    magic: b"SBNPACKV",
    version: Some(PACKED_FORMAT_VERSION),
    kind: "a packed sbn network",
    name: "packed",
    also_reads: " (and version 1)",
    body: BodyKind::Rest,
};

/// Version 1: magic `b"SBNPACKD"`, then as version 2 but without the version field and without
/// the checksum (the network's own checksum covers the network, nothing covers the header).
const FORMAT_V1: Format = Format { magic: b"SBNPACKD", version: None, also_reads: "", ..FORMAT };

/// A packed export: one sampled (or the most likely) network at 1 bit per binary weight, with the
/// input scaling and class names that prediction needs.
///
/// Layout: `b"SBNPACKV"`, format version (u32 LE, 2), header length (u64 LE), the header as JSON,
/// the packed network (its own versioned, checksummed format), and a CRC-32 (u32 LE) of everything
/// after the magic, checked before anything is parsed. Version 1 (magic `b"SBNPACKD"`, no version
/// field and no checksum over the header) is still read.
#[derive(Clone, Debug)]
pub struct PackedModelFile {
    /// How raw inputs are scaled before the first layer.
    pub scaling: InputScaling,
    /// The class names, in the order of the network's outputs.
    pub class_names: Vec<String>,
    /// The network.
    pub network: SampledNetwork,
}

/// The JSON header.
#[derive(Serialize, Deserialize)]
struct PackedHeader {
    scaling: InputScaling,
    class_names: Vec<String>,
}

impl PackedModelFile {
    /// The file's bytes (version 2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = PackedHeader { scaling: self.scaling.clone(), class_names: self.class_names.clone() };
        container::write(&FORMAT, &header, Body::Bytes(&self.network.to_bytes()))
    }

    /// Parses a packed export (this version or version 1); `place` names the file in errors.
    pub fn from_bytes(bytes: &[u8], place: &str) -> Result<Self> {
        let format = if bytes.starts_with(FORMAT_V1.magic) { &FORMAT_V1 } else { &FORMAT };
        let contents = container::read::<PackedHeader>(format, bytes, place)?;
        Self::new(contents.header, contents.body, place)
    }

    /// The export of a header and a network's bytes, checked against each other.
    fn new(header: PackedHeader, network: &[u8], place: &str) -> Result<Self> {
        let bad = |message: String| SbnError::Format { path: place.to_string(), message };
        let network = SampledNetwork::from_bytes(network).map_err(|e| bad(e.to_string()))?;
        let dims = network.dims();
        if *dims.last().expect("dims") != header.class_names.len() {
            return Err(bad("class names and network disagree on the number of classes".into()));
        }
        if header.scaling.dim().is_some_and(|d| d != dims[0]) {
            return Err(bad("input scaling and network disagree on the input size".into()));
        }
        Ok(PackedModelFile { scaling: header.scaling, class_names: header.class_names, network })
    }

    /// True when `bytes` start like a packed export (of any version).
    pub fn sniff(bytes: &[u8]) -> bool {
        bytes.starts_with(FORMAT.magic) || bytes.starts_with(FORMAT_V1.magic)
    }
}
