//! The framing both binary formats (model files and packed exports) share, and its one checked
//! reader and writer.
//!
//! ```text
//! magic (8 bytes) | format version u32 | header length u64 | header (JSON) | body | CRC-32 u32
//! ```
//!
//! All numbers little-endian; the CRC-32 (IEEE, as zlib) covers everything after the magic. The
//! body is either 8-byte values after their count (u64), so the framing knows the file's length,
//! or opaque bytes running up to the checksum (their own format checks their length). One older
//! layout, that of version 1 packed exports, is read too: the same without the version field and
//! without the checksum.
//!
//! Reading checks, in this order, the magic, the version, that the file can hold the framing, and
//! the checksum (on a mismatch, a counted body's framing tells a cut or run-on file apart from a
//! corrupted one); only then is the header parsed. Each failure is its own error naming the file:
//! wrong magic, an unknown version, truncation (where the file ends and how long it should be),
//! trailing bytes, a checksum mismatch, an unreadable header.

use std::cmp::Ordering;
use std::ops::Range;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, SbnError};

const MAGIC_LEN: usize = 8;
const VERSION_LEN: usize = 4;
const CRC_LEN: usize = 4;

/// What follows the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyKind {
    /// A count (u64) of 8-byte values, then the values: the file's length is known.
    Counted,
    /// Bytes up to the checksum.
    Rest,
}

/// A body to write, of the format's [`BodyKind`].
pub(super) enum Body<'a> {
    /// The values of a [`BodyKind::Counted`] body.
    Floats(&'a [f64]),
    /// A [`BodyKind::Rest`] body.
    Bytes(&'a [u8]),
}

/// One binary format on the shared framing.
#[derive(Debug)]
pub(super) struct Format {
    /// The first 8 bytes.
    pub magic: &'static [u8; 8],
    /// The version this build writes and reads; `None` for the older layout without version
    /// field and checksum (read only).
    pub version: Option<u32>,
    /// What the file is, for errors: "not {kind} (wrong magic bytes)".
    pub kind: &'static str,
    /// The format's name in version errors: "{name} format version 7".
    pub name: &'static str,
    /// Older layouts this build also reads, for version errors: " (and version 1)" or "".
    pub also_reads: &'static str,
    /// What follows the header.
    pub body: BodyKind,
}

impl Format {
    /// Where the header length is.
    fn header_len_at(&self) -> usize {
        MAGIC_LEN + if self.version.is_some() { VERSION_LEN } else { 0 }
    }

    /// Where the header starts.
    fn header_at(&self) -> usize {
        self.header_len_at() + 8
    }

    /// The length of the checksum at the end.
    fn crc_len(&self) -> usize {
        if self.version.is_some() { CRC_LEN } else { 0 }
    }
}

/// A file read by [`read`]: its parsed header and its body (for a counted body, the values'
/// bytes, a multiple of 8).
pub(super) struct Contents<'a, H> {
    pub header: H,
    pub body: &'a [u8],
}

/// The file of `format` holding `header` (as JSON) and `body`.
pub(super) fn write(format: &Format, header: &impl Serialize, body: Body) -> Vec<u8> {
    let version = format.version.expect("only versioned formats are written");
    let header = serde_json::to_vec(header).expect("the header serializes");
    let body_len = match body {
        Body::Floats(v) => 8 + 8 * v.len(),
        Body::Bytes(b) => b.len(),
    };
    let mut out = Vec::with_capacity(format.header_at() + header.len() + body_len + CRC_LEN);
    out.extend_from_slice(format.magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    match body {
        Body::Floats(v) => {
            debug_assert_eq!(format.body, BodyKind::Counted);
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        Body::Bytes(b) => {
            debug_assert_eq!(format.body, BodyKind::Rest);
            out.extend_from_slice(b);
        }
    }
    let crc = crc32(&out[MAGIC_LEN..]);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads a file of `format`: checks magic, version, framing and checksum, then parses the header.
/// `place` names the file in errors.
pub(super) fn read<'a, H: DeserializeOwned>(format: &Format, bytes: &'a [u8], place: &str) -> Result<Contents<'a, H>> {
    let bad = |message: String| SbnError::Format { path: place.to_string(), message };
    let smallest = format.header_at() + format.crc_len();
    if !bytes.starts_with(format.magic) {
        return Err(bad(match bytes.len() {
            0 => "empty file".into(),
            n if n < MAGIC_LEN && format.magic.starts_with(bytes) => truncated(n, smallest),
            _ => format!("not {} (wrong magic bytes)", format.kind),
        }));
    }
    if let Some(expected) = format.version {
        let version = field(bytes, MAGIC_LEN).map(u32::from_le_bytes).ok_or_else(|| bad(truncated(bytes.len(), smallest)))?;
        if version != expected {
            return Err(bad(format!("{} format version {version}; this build reads version {expected}{}", format.name, format.also_reads)));
        }
    }
    if bytes.len() < smallest {
        return Err(bad(truncated(bytes.len(), smallest)));
    }
    if format.crc_len() > 0 {
        let end = bytes.len() - CRC_LEN;
        let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
        if crc32(&bytes[MAGIC_LEN..end]) != stored {
            // A counted body gives the file's length: a file cut short or run on is said so. A
            // header length past the end of an opaque body is as likely a flipped bit as a cut.
            return Err(bad(match format.body {
                BodyKind::Counted => framing(format, bytes).err().unwrap_or_else(|| "checksum mismatch: the file is corrupted".into()),
                BodyKind::Rest => "checksum mismatch: the file is corrupted or truncated".into(),
            }));
        }
    }
    let (header, body) = framing(format, bytes).map_err(bad)?;
    let header = serde_json::from_slice(&bytes[header]).map_err(|e| bad(format!("unreadable header: {e}")))?;
    Ok(Contents { header, body: &bytes[body] })
}

/// The spans of the header and of the body (for a counted body, its values) in `bytes`, whose
/// magic and version have been checked, or why the framing does not fit the file's length.
fn framing(format: &Format, bytes: &[u8]) -> Result<(Range<usize>, Range<usize>), String> {
    let (len, crc_len, header_at) = (bytes.len(), format.crc_len(), format.header_at());
    let header_len = field(bytes, format.header_len_at()).map(u64::from_le_bytes).ok_or_else(|| truncated(len, header_at + crc_len))?;
    let header_end = usize::try_from(header_len).ok().and_then(|n| n.checked_add(header_at)).unwrap_or(usize::MAX);
    let (body, expected) = match format.body {
        BodyKind::Rest => (header_end..len.saturating_sub(crc_len), header_end.saturating_add(crc_len).max(len)),
        BodyKind::Counted => {
            let count = field(bytes, header_end).map(u64::from_le_bytes).ok_or_else(|| truncated(len, header_end.saturating_add(8 + crc_len)))?;
            let start = header_end + 8;
            let end = usize::try_from(count).ok().and_then(|n| n.checked_mul(8)).and_then(|n| n.checked_add(start)).unwrap_or(usize::MAX);
            (start..end, end.saturating_add(crc_len))
        }
    };
    match len.cmp(&expected) {
        Ordering::Less => Err(truncated(len, expected)),
        Ordering::Greater => Err(format!("{} trailing bytes after the checksum", len - expected)),
        Ordering::Equal => Ok((header_at..header_end, body)),
    }
}

/// The `N` bytes at `at`, if the file holds them.
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?).map(|b| b.try_into().expect("N bytes"))
}

/// The truncation error of a file of `len` bytes whose framing needs `at_least`.
fn truncated(len: usize, at_least: usize) -> String {
    if at_least == usize::MAX {
        format!("truncated or corrupted: ends at byte {len}, before the end its length fields give")
    } else {
        format!("truncated: ends at byte {len} of at least {at_least}")
    }
}

/// The CRC-32 (IEEE) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTED: Format = Format { magic: b"TESTFILE", version: Some(3), kind: "a test file", name: "test", also_reads: "", body: BodyKind::Counted };
    const REST: Format = Format { body: BodyKind::Rest, also_reads: " (and version 1)", ..COUNTED };
    const LEGACY: Format = Format { magic: b"TESTOLD\0", version: None, ..REST };

    fn err(format: &Format, bytes: &[u8]) -> String {
        match read::<Vec<String>>(format, bytes, "f.bin") {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn both_bodies_round_trip() {
        let header = vec!["a".to_string(), "b".to_string()];
        let bytes = write(&COUNTED, &header, Body::Floats(&[1.5, -2.0]));
        assert_eq!(bytes.len(), 8 + 4 + 8 + 9 + 8 + 16 + 4);
        let c = read::<Vec<String>>(&COUNTED, &bytes, "f").unwrap();
        assert_eq!((c.header, c.body), (header.clone(), [1.5f64.to_le_bytes(), (-2.0f64).to_le_bytes()].concat().as_slice()));
        let bytes = write(&REST, &header, Body::Bytes(b"xyz"));
        let c = read::<Vec<String>>(&REST, &bytes, "f").unwrap();
        assert_eq!((c.header, c.body), (header, b"xyz".as_slice()));
    }

    #[test]
    fn the_older_layout_is_the_same_without_version_and_checksum() {
        let bytes = write(&REST, &["h"], Body::Bytes(b"body"));
        let old = [LEGACY.magic.as_slice(), &bytes[12..bytes.len() - 4]].concat();
        let c = read::<Vec<String>>(&LEGACY, &old, "f").unwrap();
        assert_eq!((c.header, c.body), (vec!["h".to_string()], b"body".as_slice()));
        assert!(err(&LEGACY, &old[..14]).contains("truncated: ends at byte 14 of at least 16"));
        assert!(err(&LEGACY, &old[..20]).contains("truncated: ends at byte 20 of at least 21"));
    }

    #[test]
    fn every_failure_is_its_own_error_naming_the_file() {
        let bytes = write(&COUNTED, &["h"], Body::Floats(&[1.0, 2.0, 3.0]));
        let len = bytes.len();
        let cases: Vec<(Vec<u8>, String)> = vec![
            (vec![], "empty file".into()),
            (b"TEST".to_vec(), "truncated: ends at byte 4 of at least 24".into()),
            (b"something else entirely".to_vec(), "not a test file (wrong magic bytes)".into()),
            ([b"TESTFILE".as_slice(), &7u32.to_le_bytes(), &[0; 20]].concat(), "test format version 7; this build reads version 3".into()),
            (bytes[..10].to_vec(), "truncated: ends at byte 10 of at least 24".into()),
            (bytes[..len - 1].to_vec(), format!("truncated: ends at byte {} of at least {len}", len - 1)),
            (bytes[..len - 9].to_vec(), format!("truncated: ends at byte {} of at least {len}", len - 9)),
            ([bytes.as_slice(), b"++"].concat(), "2 trailing bytes after the checksum".into()),
            (
                {
                    let mut b = bytes.clone();
                    b[len - 6] ^= 1;
                    b
                },
                "checksum mismatch: the file is corrupted".into(),
            ),
        ];
        for (bad, expected) in cases {
            let e = err(&COUNTED, &bad);
            assert!(e.starts_with("f.bin: ") && e.ends_with(&expected), "{e}, expected {expected}");
        }
        let rest = write(&REST, &["h"], Body::Bytes(b"body"));
        assert!(err(&REST, &rest[..rest.len() - 2]).ends_with("checksum mismatch: the file is corrupted or truncated"));
        assert!(err(&REST, &[b"TESTFILE".as_slice(), &9u32.to_le_bytes()].concat()).ends_with("version 9; this build reads version 3 (and version 1)"));
        // A header that is not the expected JSON, under a valid checksum.
        let bad_header = write(&REST, &7u32, Body::Bytes(b""));
        assert!(err(&REST, &bad_header).contains("unreadable header"));
    }
}
