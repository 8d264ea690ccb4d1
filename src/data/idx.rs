//! IDX files (the MNIST format): a big-endian header `0, 0, type, ndims` and `ndims` u32 sizes,
//! then the payload. Files may be gzip-compressed; compression is detected by the gzip magic bytes,
//! not by the name.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Dataset, FASHION_CLASS_NAMES, Features, Origin};
use crate::error::{Result, SbnError};

/// Magic number of an unsigned-byte IDX file with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte IDX file with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// Sizes from the header.
    pub dims: Vec<usize>,
    /// Payload, row-major.
    pub data: Vec<u8>,
}

/// Read a whole file, gunzipping it when it starts with the gzip magic bytes. A corrupt or
/// truncated gzip stream is an error naming the file.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| SbnError::io(path, e))?;
    gunzip_if_gz(raw, &path.display().to_string())
}

/// `raw` unchanged, or gunzipped when it starts with `1f 8b`; `place` names the source in errors.
pub fn gunzip_if_gz(raw: Vec<u8>, place: &str) -> Result<Vec<u8>> {
    if raw.len() < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
    // Never more than the memory available: a small file can claim to unpack to terabytes.
    let limit = crate::limits::available_memory();
    flate2::read::MultiGzDecoder::new(&raw[..]).take(limit).read_to_end(&mut out).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::UnexpectedEof { "truncated gzip stream" } else { "corrupt gzip stream" };
        SbnError::invalid(place, format!("{what} ({e}) after {} decompressed bytes", out.len()))
    })?;
    if out.len() as u64 >= limit {
        return Err(SbnError::invalid(place, format!("unpacks to more than the {} of memory available", crate::limits::human_bytes(limit as u128))));
    }
    Ok(out)
}

/// Parse an IDX byte array with magic `expected_magic` (`0x0000_08NN`, NN = number of dims).
pub fn parse(bytes: &[u8], expected_magic: u32, place: &str) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(SbnError::invalid(place, format!("IDX header truncated: {} bytes, expected at least 4", bytes.len())));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expected_magic {
        return Err(SbnError::invalid(place, format!("IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x}")));
    }
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(SbnError::invalid(place, format!("IDX header truncated: {} bytes, expected {header}", bytes.len())));
    }
    let dims: Vec<usize> = (0..ndims).map(|k| u32::from_be_bytes(bytes[4 + 4 * k..8 + 4 * k].try_into().expect("4 bytes")) as usize).collect();
    let expected =
        dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| SbnError::invalid(place, format!("IDX dimensions {dims:?} overflow")))?;
    let found = bytes.len() - header;
    if found != expected {
        let what = if found < expected { "truncated" } else { "too long" };
        return Err(SbnError::invalid(place, format!("IDX payload {what}: header {dims:?} needs {expected} bytes, found {found}")));
    }
    Ok(IdxArray { dims, data: bytes[header..].to_vec() })
}

/// Read an IDX image file (`0x00000803`: count × rows × cols bytes).
pub fn read_images(path: &Path) -> Result<IdxArray> {
    parse(&read_maybe_gz(path)?, IMAGES_MAGIC, &path.display().to_string())
}

/// Read an IDX label file (`0x00000801`: count bytes).
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    Ok(parse(&read_maybe_gz(path)?, LABELS_MAGIC, &path.display().to_string())?.data)
}

/// The label file that belongs to an image file by the standard naming (`images-idx3` →
/// `labels-idx1`), with the same compression suffix first, then the other.
pub fn labels_path_for(images: &Path) -> Result<PathBuf> {
    let name = images.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if !name.contains("images-idx3") {
        return Err(SbnError::invalid(
            images.display().to_string(),
            "cannot find the labels: the file name does not contain `images-idx3` (expected the standard `…-images-idx3-ubyte[.gz]` naming)",
        ));
    }
    let labels = name.replace("images-idx3", "labels-idx1");
    let other = match labels.strip_suffix(".gz") {
        Some(raw) => raw.to_string(),
        None => format!("{labels}.gz"),
    };
    let candidates = [images.with_file_name(&labels), images.with_file_name(&other)];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        SbnError::invalid(images.display().to_string(), format!("label file not found: tried {} and {}", candidates[0].display(), candidates[1].display()))
    })
}

/// Load an image file, and its label file when given, into a byte data set. Labels are class
/// numbers (the format has no names): the classes are "0".."K-1", or the Fashion-MNIST names when
/// `fashion`; K is at least 10 (the digit and Fashion classes), more if a label says so.
pub fn load_pair(images: &Path, labels: Option<&Path>, name: &str, fashion: bool) -> Result<Dataset> {
    let img = read_images(images)?;
    let (count, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
    let dim = rows
        .checked_mul(cols)
        .filter(|&d| d > 0)
        .ok_or_else(|| SbnError::invalid(images.display().to_string(), format!("IDX image size {rows}×{cols}: expected at least one pixel")))?;
    let ds = Dataset::unlabelled(name, Features::Bytes(img.data), dim)?.with_image_shape(rows, cols)?;
    let Some(labels) = labels else {
        return Ok(ds.with_origin(Origin::idx(&images.display().to_string())));
    };
    let lab = read_labels(labels)?;
    if count != lab.len() {
        return Err(SbnError::invalid(format!("{} and {}", images.display(), labels.display()), format!("{count} images but {} labels", lab.len())));
    }
    let n_classes = lab.iter().map(|&l| l as usize + 1).max().unwrap_or(0).max(10);
    let class_names: Vec<String> =
        if fashion && n_classes == 10 { FASHION_CLASS_NAMES.iter().map(|s| s.to_string()).collect() } else { (0..n_classes).map(|k| k.to_string()).collect() };
    let index = lab.into_iter().map(usize::from).collect();
    ds.with_origin(Origin::idx(&images.display().to_string())).with_labels(index, class_names, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn parses_and_checks() {
        let mut ok = header(IMAGES_MAGIC, &[2, 2, 3]);
        ok.extend(0..12u8);
        let a = parse(&ok, IMAGES_MAGIC, "x").unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data[11], 11);
        let err = parse(&ok[..ok.len() - 2], IMAGES_MAGIC, "x").unwrap_err().to_string();
        assert!(err.contains("needs 12 bytes, found 10"), "{err}");
        assert!(parse(&ok, LABELS_MAGIC, "x").unwrap_err().to_string().contains("magic"));
        assert!(parse(&ok[..6], IMAGES_MAGIC, "x").is_err());
    }

    #[test]
    fn raw_bytes_pass_through() {
        assert_eq!(gunzip_if_gz(vec![0, 0, 8, 1], "x").unwrap(), vec![0, 0, 8, 1]);
        assert!(gunzip_if_gz(vec![0x1f, 0x8b, 0, 0, 0], "x").is_err());
    }
}
