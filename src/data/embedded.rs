//! The digits set compiled into the binary, so `sbn` runs without any data file: 1,797 handwritten
//! digits, 8×8 pixels with values 0..16 (UCI via scikit-learn, CC BY 4.0; see `data/README.md`).

use std::sync::OnceLock;

use super::{Dataset, LoadOptions, csv, idx};

/// The gzip-compressed CSV (64 pixel columns, then the label; no header).
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// The digits set: 1,797 examples, 64 byte features in 0..=16, 10 classes "0".."9", image shape
/// (8, 8), name "digits". Parsed once per process, then cloned.
pub fn digits() -> Dataset {
    static DIGITS: OnceLock<Dataset> = OnceLock::new();
    DIGITS
        .get_or_init(|| {
            let text = idx::gunzip_if_gz(DIGITS_CSV_GZ.to_vec(), "embedded digits.csv.gz").expect("embedded digits data is valid gzip");
            let ds = csv::parse_csv(&text, "embedded digits.csv", "digits", &LoadOptions::default()).expect("embedded digits data is valid CSV");
            ds.with_image_shape(8, 8).expect("64 features")
        })
        .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn digits_shape() {
        let ds = super::digits();
        assert_eq!((ds.len(), ds.dim, ds.n_classes()), (1797, 64, 10));
        assert!(ds.is_bytes());
        assert_eq!(ds.image_shape, Some((8, 8)));
    }
}
