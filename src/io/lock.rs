//! The output lock: one writer per output (a model and its checkpoint) at a time, held through an
//! OS advisory lock on `OUT.lock`, which names its holder for the error a second writer gets.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, SbnError};

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
                        format!(
                            "is being written by another process ({}); wait for it to end or stop it (lock file {})",
                            describe_holder(&holder),
                            path.display()
                        ),
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

/// A duration in words at a sensible precision: `42 s`, `5 min`, `3.5 h`, `2.0 days`.
fn duration_words(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{:.1} h", secs as f64 / 3_600.0),
        _ => format!("{:.1} days", secs as f64 / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::temp_dir;

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
