//! Sizes that come from users (flags, specs, files) checked against the memory the machine can
//! hold, before anything is allocated: too large is an error naming the flag or field, what it
//! would allocate and the limit, never an abort or a capacity-overflow panic.

use std::sync::OnceLock;

use crate::error::{Result, SbnError};

/// Memory assumed where the operating system does not say (no `/proc/meminfo`).
const FALLBACK_BYTES: u64 = 16 << 30;

/// Bytes this process may plan to allocate: the memory the kernel reports as available
/// (`MemAvailable` of `/proc/meminfo`, read once), or 16 GiB where that cannot be read.
pub fn available_memory() -> u64 {
    static AVAILABLE: OnceLock<u64> = OnceLock::new();
    *AVAILABLE.get_or_init(|| read_mem_available().unwrap_or(FALLBACK_BYTES))
}

fn read_mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The product of `sizes` (`None` when it does not fit in 128 bits).
pub fn product(sizes: &[usize]) -> Option<u128> {
    sizes.iter().try_fold(1u128, |acc, &s| acc.checked_mul(s as u128))
}

/// `bytes` as a short human-readable size (`1.5 GiB`).
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Errors unless `bytes` (`None`: too large to count) fits in the available memory. `what` names
/// the flag or field and its value (e.g. `--weight-samples 1000000`), `holds` says what would be
/// allocated (e.g. "the Monte Carlo predictive of 1,797 examples").
pub fn ensure_fits(what: &str, holds: &str, bytes: Option<u128>) -> Result<()> {
    let available = available_memory();
    match bytes {
        Some(b) if b <= available as u128 => Ok(()),
        Some(b) => {
            Err(SbnError::invalid(what, format!("{holds} would need {}, more than the {} of memory available", human_bytes(b), human_bytes(available as u128))))
        }
        None => Err(SbnError::invalid(what, format!("{holds} would need more than 2^128 bytes; the machine has {} available", human_bytes(available as u128)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_limits() {
        assert_eq!(product(&[2, 3, 4]), Some(24));
        assert_eq!(product(&[usize::MAX, usize::MAX, usize::MAX]), None);
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert!(available_memory() > 0);
        assert!(ensure_fits("x", "y", Some(1024)).is_ok());
        let e = ensure_fits("--weight-samples 9", "the predictive", Some(u128::from(u64::MAX))).unwrap_err().to_string();
        assert!(e.starts_with("--weight-samples 9: the predictive would need") && e.contains("available"), "{e}");
        assert!(ensure_fits("x", "y", None).unwrap_err().to_string().contains("2^128"));
    }
}
