//! The one atomic writer: every file the crate writes (model files, checkpoints, packed exports,
//! predictions, reports, plots) goes through [`write_atomic`], so a reader never sees a
//! half-written file and an interrupted write leaves the previous file in place.

use std::io::Write;
use std::path::Path;

use crate::error::{Result, SbnError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::temp_dir;

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
}
