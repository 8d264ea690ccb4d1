//! Files: model files and packed exports on one checked container, the one atomic writer, and
//! the output lock.
//!
//! * `container`: the framing both binary formats share (magic, format version, header length,
//!   JSON header, body, CRC-32 over everything after the magic) and its one checked reader and
//!   writer: truncation, trailing bytes, wrong magic, an unknown version and a checksum mismatch
//!   are each a clear error naming the file, and the checksum is checked before anything is parsed.
//! * `model_file`: [`ModelFile`], a fitted model with its spec and, in checkpoints, the training
//!   state (`b"SBNMODEL"`, version [`FORMAT_VERSION`]).
//! * `compact_file`: the compact form of a model file (`b"SBNCOMPT"`, version
//!   [`COMPACT_FORMAT_VERSION`]): Bernoulli logits in 8 bits each with a step per output unit,
//!   read by [`ModelFile::from_bytes`] like any model file.
//! * `packed_file`: [`PackedModelFile`], one packed network with its input scaling and class
//!   names (`b"SBNPACKV"`, version [`PACKED_FORMAT_VERSION`]; version 1 is still read).
//! * `safetensors_file`: [`SafetensorsModel`], a fitted model's parameters in the safetensors
//!   format other tools read (row-major tensors, geometry and classes in the metadata).
//! * `atomic`: [`write_atomic`], through which every file the crate writes goes (temporary file
//!   + rename), and [`remove_stale_temporaries`].
//! * `lock`: [`OutputLock`], one writer per output at a time, on [`lock_path`].

mod atomic;
mod compact_file;
mod container;
mod lock;
mod model_file;
mod packed_file;
mod safetensors_file;

pub use atomic::{remove_stale_temporaries, write_atomic};
pub use compact_file::{COMPACT_FORMAT_VERSION, dequantize, quantize};
pub use lock::{OutputLock, lock_path};
pub use model_file::{FORMAT_VERSION, ModelFile};
pub use packed_file::{PACKED_FORMAT_VERSION, PackedModelFile};
pub use safetensors_file::{SAFETENSORS_LAYOUT_VERSION, SafetensorsModel, SampledWeights};

/// A fresh, empty folder for a test.
#[cfg(test)]
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sbn-io-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
