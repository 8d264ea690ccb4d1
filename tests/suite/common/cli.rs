//! Running the `sbn` binary from integration tests.

use std::path::PathBuf;
use std::process::Command;

/// Runs `sbn args…`: whether it succeeded, its stdout and its stderr. A panic fails the test.
pub fn sbn(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sbn")).args(args).output().unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!e.contains("panicked"), "panic: {e}");
    (out.status.success(), o, e)
}

/// A fresh, empty folder named after the test and this process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sbn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
