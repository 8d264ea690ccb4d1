//! Model files: a versioned binary container holding the spec, the input scaling, the class
//! names, the parameters, the training history and (in checkpoints) the training state.
//!
//! Layout: `b"SBNMODEL"`, format version (u32 LE), header length (u64 LE), the header as JSON
//! (serde; every parameter array is a slot into the payload), payload length in f64s (u64 LE),
//! the payload (f64 LE), and a CRC-32 of everything after the magic. Files are written atomically
//! (temporary file + rename), so an interrupted write never leaves a half-written model.

use std::io::Write;
use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::data::InputScaling;
use crate::error::{Result, SbnError};
use crate::fitted::FittedModel;
use crate::model::{Conv2d, Layer, Network, WeightKind};
use crate::spec::ModelSpec;
use crate::train::optim::{Moments, OptimizerKind, OptimizerState};
use crate::train::{EpochRecord, TrainState};

const MAGIC: &[u8; 8] = b"SBNMODEL";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

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
        let header = Header { spec: self.spec.clone(), scaling: f.scaling.clone(), class_names: f.class_names.clone(), layers, history: f.history.clone(), state };
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
            if PackedModelFile::sniff(bytes) {
                return Err(bad("is a packed export (written by `sbn export`, one network at 1 bit per weight); this needs the model file written by `sbn fit`".into()));
            }
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
                let fresh = OptimizerState::fresh(&network);
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
                Some(TrainState { optimizer: OptimizerState { step: s.step, moments }, epoch: s.epoch, batch: s.batch, running: s.running, best, elapsed: s.elapsed })
            }
        };
        let fitted = FittedModel::new(network, header.scaling, header.class_names, header.history).map_err(|e| match e {
            SbnError::Invalid { message, .. } => bad(message),
            other => other,
        })?;
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

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
///
/// The temporary is `.{name}.{pid}.tmp`. A process killed mid-write leaves its temporary behind;
/// the next write to the same target removes those of processes that are gone (see
/// [`remove_stale_temporaries`]), so they do not pile up.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| SbnError::io(dir, e))?;
    let name = path.file_name().ok_or_else(|| SbnError::invalid(path.display().to_string(), "not a file path"))?;
    let name = name.to_string_lossy();
    remove_stale_temporaries(dir, &name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
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

/// Removes the temporaries `.{name}.{pid}.tmp` that [`write_atomic`] left in `dir` for the target
/// `name` when its process was killed mid-write: those whose pid is not a live process. The
/// temporaries of live processes (another writer in the middle of its write) and of this process
/// are kept, and so is everything where liveness cannot be told (no `/proc`). Best effort: errors
/// are ignored, the write itself does not depend on it.
pub fn remove_stale_temporaries(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    let own = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|s| s.strip_prefix(&prefix)).and_then(|s| s.strip_suffix(".tmp")) else { continue };
        // Only digits: `.m.sbn.ckpt.123.tmp` belongs to `m.sbn.ckpt`, not to `m.sbn`.
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid != own && process_gone(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// True when no process `pid` exists (in this pid namespace). Where that cannot be told, false.
fn process_gone(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        let proc = Path::new("/proc");
        proc.join("self").exists() && !proc.join(pid.to_string()).exists()
    } else {
        false
    }
}

/// The lock file that belongs to an output path: `OUT.lock`.
pub fn lock_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// An exclusive lock on an output (a model and its checkpoint), held for as long as the value
/// lives: an OS advisory lock ([`File::try_lock`](std::fs::File::try_lock)) on `OUT.lock`, which
/// holds the holder's pid, start time and command. The kernel releases the lock when the process
/// ends, however it ends, so a lock file left by a killed process is simply taken over by the next
/// one. Dropping the value removes the lock file.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    // Held open: closing it releases the lock.
    _file: std::fs::File,
}

impl OutputLock {
    /// Takes the lock on `out`, recording `command` (how the holder was started) in the lock
    /// file. Fails at once when another process holds it, naming that process (pid, since when,
    /// command) and the lock file.
    pub fn acquire(out: &Path, command: &str) -> Result<Self> {
        let path = lock_path(out);
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| SbnError::io(dir, e))?;
        // A holder that releases removes the file; if that happens between our open and our lock,
        // we hold a lock on a removed file and must open again (a few times at most).
        for _ in 0..16 {
            let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| SbnError::io(&path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    return Err(SbnError::invalid(
                        out.display().to_string(),
                        format!("is being written by another process ({}); wait for it to end or stop it (lock file {})", describe_holder(&holder), path.display()),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(SbnError::io(&path, e)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let text = format!("pid {}\nstarted {started}\ncommand {}\n", std::process::id(), command.replace('\n', " "));
            let written = (|| {
                use std::io::Seek;
                file.set_len(0)?;
                file.seek(std::io::SeekFrom::Start(0))?;
                file.write_all(text.as_bytes())
            })();
            written.map_err(|e| SbnError::io(&path, e))?;
            return Ok(OutputLock { path, _file: file });
        }
        Err(SbnError::invalid(path.display().to_string(), "the lock file keeps being replaced by other processes; try again"))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked; the lock itself goes when the file is closed.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the open `file` is still the one at `path` (same device and inode).
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// "pid 123, since 2026-05-01 12:00:00 UTC, 5 min ago, command: sbn fit …" from a lock file's text.
fn describe_holder(text: &str) -> String {
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' '))).map(str::trim);
    let Some(pid) = field("pid") else {
        return "it has not written its pid yet".into();
    };
    let mut s = format!("pid {pid}");
    if let Some(started) = field("started").and_then(|t| t.parse::<u64>().ok()) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        s.push_str(&format!(", since {}, {} ago", utc_time(started), duration_words(now.saturating_sub(started))));
    }
    if let Some(command) = field("command") {
        s.push_str(&format!(", command: {command}"));
    }
    s
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_time(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

fn duration_words(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{:.1} h", secs as f64 / 3_600.0),
        _ => format!("{:.1} days", secs as f64 / 86_400.0),
    }
}

/// A packed export: one sampled (or the most likely) network at 1 bit per binary weight, with the
/// input scaling and class names that prediction needs.
///
/// Layout: `b"SBNPACKV"`, format version (u32 LE, 2), header length (u64 LE), the header as JSON,
/// the packed network (its own versioned, checksummed format), and a CRC-32 (u32 LE) of everything
/// after the magic, checked before anything is parsed. Version 1 (magic `b"SBNPACKD"`, no version
/// field and no checksum over the header) is still read.
#[derive(Clone, Debug)]
pub struct PackedModelFile {
    pub scaling: InputScaling,
    pub class_names: Vec<String>,
    pub network: crate::packed::SampledNetwork,
}

const PACKED_MAGIC: &[u8; 8] = b"SBNPACKV";
/// The packed format version this build writes.
pub const PACKED_FORMAT_VERSION: u32 = 2;
/// The magic of version 1 packed exports (header not covered by a checksum).
const PACKED_MAGIC_V1: &[u8; 8] = b"SBNPACKD";

#[derive(Serialize, Deserialize)]
struct PackedHeader {
    scaling: InputScaling,
    class_names: Vec<String>,
}

impl PackedModelFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&PackedHeader { scaling: self.scaling.clone(), class_names: self.class_names.clone() }).expect("the header serializes");
        let mut out = PACKED_MAGIC.to_vec();
        out.extend_from_slice(&PACKED_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.network.to_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(&out[PACKED_MAGIC.len()..]);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out
    }

    /// Parses a packed export (this version or version 1); `place` names the file in errors.
    pub fn from_bytes(bytes: &[u8], place: &str) -> Result<Self> {
        let bad = |m: String| SbnError::invalid(place, m);
        if bytes.starts_with(PACKED_MAGIC_V1) {
            return Self::parse(bytes, PACKED_MAGIC_V1.len(), bytes.len(), place);
        }
        if !bytes.starts_with(PACKED_MAGIC) {
            return Err(bad("not a packed sbn network (wrong magic bytes)".into()));
        }
        let n = PACKED_MAGIC.len();
        if bytes.len() < n + 4 {
            return Err(bad(format!("truncated: {} bytes", bytes.len())));
        }
        let version = u32::from_le_bytes(bytes[n..n + 4].try_into().expect("4 bytes"));
        if version != PACKED_FORMAT_VERSION {
            return Err(bad(format!("packed format version {version}; this build reads version {PACKED_FORMAT_VERSION} (and version 1)")));
        }
        if bytes.len() < n + 4 + 8 + 4 {
            return Err(bad(format!("truncated: {} bytes", bytes.len())));
        }
        let end = bytes.len() - 4;
        let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
        let mut crc = flate2::Crc::new();
        crc.update(&bytes[n..end]);
        if crc.sum() != stored {
            return Err(bad("checksum mismatch: the file is corrupted or truncated".into()));
        }
        Self::parse(bytes, n + 4, end, place)
    }

    /// The header length, header and network in `bytes[start..end]`.
    fn parse(bytes: &[u8], start: usize, end: usize, place: &str) -> Result<Self> {
        let bad = |m: String| SbnError::invalid(place, m);
        let bytes = &bytes[..end];
        let len_end = start + 8;
        if bytes.len() < len_end {
            return Err(bad("truncated header length".into()));
        }
        let len = u64::from_le_bytes(bytes[start..len_end].try_into().expect("8 bytes"));
        let header_end = usize::try_from(len).ok().and_then(|l| len_end.checked_add(l)).filter(|&e| e <= bytes.len()).ok_or_else(|| bad("truncated header".into()))?;
        let header: PackedHeader = serde_json::from_slice(&bytes[len_end..header_end]).map_err(|e| bad(format!("unreadable header: {e}")))?;
        let network = crate::packed::SampledNetwork::from_bytes(&bytes[header_end..]).map_err(|e| bad(e.to_string()))?;
        let dims = network.dims();
        if *dims.last().expect("dims") != header.class_names.len() {
            return Err(bad("class names and network disagree on the number of classes".into()));
        }
        if header.scaling.dim().is_some_and(|d| d != dims[0]) {
            return Err(bad("input scaling and network disagree on the input size".into()));
        }
        Ok(PackedModelFile { scaling: header.scaling, class_names: header.class_names, network })
    }

    /// True when `bytes` start like a packed export.
    pub fn sniff(bytes: &[u8]) -> bool {
        bytes.starts_with(PACKED_MAGIC) || bytes.starts_with(PACKED_MAGIC_V1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sbn-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_write_removes_the_temporaries_of_killed_writers_only() {
        let dir = temp_dir("stale");
        let target = dir.join("m.sbn");
        // A process that is gone (above any pid_max), one that is alive, and another target's.
        let mut live = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let stale = dir.join(".m.sbn.99999999.tmp");
        let alive = dir.join(format!(".m.sbn.{}.tmp", live.id()));
        let other = dir.join(".m.sbn.ckpt.99999999.tmp");
        let unrelated = dir.join(".m.sbn.x9.tmp");
        for p in [&stale, &alive, &other, &unrelated] {
            std::fs::write(p, b"half written").unwrap();
        }
        write_atomic(&target, b"whole").unwrap();
        live.kill().unwrap();
        live.wait().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        assert!(!stale.exists(), "the temporary of a killed write is still there");
        assert!(alive.exists(), "the temporary of a live process was removed");
        assert!(other.exists() && unrelated.exists(), "files of other targets were removed");
        assert!(!dir.join(format!(".m.sbn.{}.tmp", std::process::id())).exists());
        // That writer is gone now: the next write takes its temporary away too.
        write_atomic(&target, b"again").unwrap();
        assert!(!alive.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_output_lock_refuses_a_second_holder_naming_the_first() {
        let dir = temp_dir("lock");
        let out = dir.join("m.sbn");
        let lock = OutputLock::acquire(&out, "sbn fit a.toml --out m.sbn").unwrap();
        assert_eq!(lock.path(), lock_path(&out));
        let err = OutputLock::acquire(&out, "second").unwrap_err().to_string();
        for part in ["m.sbn", &format!("pid {}", std::process::id()), "since", "s ago", "sbn fit a.toml --out m.sbn", "m.sbn.lock"] {
            assert!(err.contains(part), "'{part}' not in: {err}");
        }
        drop(lock);
        assert!(!lock_path(&out).exists(), "the lock file outlived its lock");
        // A lock file whose holder was killed (no lock on it any more) is taken over.
        std::fs::write(lock_path(&out), "pid 99999999\nstarted 0\ncommand old\n").unwrap();
        let lock = OutputLock::acquire(&out, "third").unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert!(text.starts_with(&format!("pid {}\n", std::process::id())) && text.contains("command third\n"), "{text}");
        drop(lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn holder_descriptions_are_readable() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(describe_holder(""), "it has not written its pid yet");
        let d = describe_holder("pid 42\nstarted 1700000000\ncommand sbn fit x.toml\n");
        assert!(d.starts_with("pid 42, since 2023-11-14 22:13:20 UTC, ") && d.ends_with(" ago, command: sbn fit x.toml"), "{d}");
    }
}
