//! Data sets: the in-memory [`Dataset`], loaders for IDX (MNIST, Fashion-MNIST) and CSV files, the
//! embedded digits set, input scaling, and 2-D toy generators.
//!
//! * [`load`]: one entry point that dispatches on the path (directory of IDX files, an
//!   `*idx3-ubyte[.gz]` image file, or a `.csv[.gz]` file).
//! * [`embedded::digits`]: the default data set, compiled into the binary.
//! * [`scaling::InputScaling`]: the map from stored values to network inputs (one example per column).
//! * [`toy`]: two moons and the PSA paper's 2-D toy.
//! * [`augment::Augment`]: random translations and mirroring of training images.

pub mod augment;
pub mod csv;
pub mod embedded;
pub mod idx;
pub mod scaling;
pub mod toy;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::error::{Result, SbnError};

pub use scaling::InputScaling;

/// The Fashion-MNIST class names, in label order.
pub const FASHION_CLASS_NAMES: [&str; 10] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Feature storage, row-major `[example][feature]`.
#[derive(Clone, PartialEq)]
pub enum Features {
    /// 8-bit values (pixels, or CSV data whose features are all integers in 0..=255; exact).
    Bytes(Vec<u8>),
    /// Real values.
    Real(Vec<f64>),
}

impl fmt::Debug for Features {
    /// Kind and length only (the vectors are long).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Features::Bytes(v) => write!(f, "Bytes({} values)", v.len()),
            Features::Real(v) => write!(f, "Real({} values)", v.len()),
        }
    }
}

impl Features {
    /// Number of stored values (`examples × dim`).
    pub fn len(&self) -> usize {
        match self {
            Features::Bytes(v) => v.len(),
            Features::Real(v) => v.len(),
        }
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A labelled data set held in memory.
#[derive(Clone, PartialEq)]
pub struct Dataset {
    /// Short name (file stem or directory name), used in reports.
    pub name: String,
    /// Features, row-major `[example][feature]`.
    pub features: Features,
    /// Class index of every example, each `< n_classes`.
    pub labels: Vec<usize>,
    /// Number of classes K (may exceed the largest label present, e.g. in a small test subset).
    pub n_classes: usize,
    /// One name per class.
    pub class_names: Vec<String>,
    /// Number of features per example.
    pub dim: usize,
    /// `(rows, cols)` when the features are an image stored row by row.
    pub image_shape: Option<(usize, usize)>,
}

impl fmt::Debug for Dataset {
    /// Summary only: the feature vectors are far too long to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("name", &self.name)
            .field("len", &self.len())
            .field("dim", &self.dim)
            .field("bytes", &self.is_bytes())
            .field("n_classes", &self.n_classes)
            .field("class_names", &self.class_names)
            .field("image_shape", &self.image_shape)
            .finish()
    }
}

impl Dataset {
    /// A data set after checking that the parts agree (feature count, label range, names, shape).
    pub fn new(name: impl Into<String>, features: Features, labels: Vec<usize>, n_classes: usize, class_names: Vec<String>, dim: usize, image_shape: Option<(usize, usize)>) -> Result<Dataset> {
        let name = name.into();
        if features.len() != labels.len() * dim {
            return Err(SbnError::invalid(&name, format!("{} feature values for {} examples of dimension {}", features.len(), labels.len(), dim)));
        }
        if class_names.len() != n_classes {
            return Err(SbnError::invalid(&name, format!("{} class names for {} classes", class_names.len(), n_classes)));
        }
        if let Some((n, &l)) = labels.iter().enumerate().find(|&(_, &l)| l >= n_classes) {
            return Err(SbnError::invalid(&name, format!("label {l} of example {n} is not below the number of classes {n_classes}")));
        }
        if let Some((r, c)) = image_shape
            && r * c != dim {
                return Err(SbnError::invalid(&name, format!("image shape {r}×{c} does not match dimension {dim}")));
            }
        Ok(Dataset { name, features, labels, n_classes, class_names, dim, image_shape })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Whether the features are stored as bytes.
    pub fn is_bytes(&self) -> bool {
        matches!(self.features, Features::Bytes(_))
    }

    /// Feature `i` of example `n`, as stored (no scaling). Panics when out of range.
    pub fn feature(&self, n: usize, i: usize) -> f64 {
        assert!(i < self.dim && n < self.len(), "feature ({n}, {i}) out of range for {} examples of dimension {}", self.len(), self.dim);
        match &self.features {
            Features::Bytes(v) => v[n * self.dim + i] as f64,
            Features::Real(v) => v[n * self.dim + i],
        }
    }

    /// The examples at `indices`, in that order (repeats allowed). Panics on an index out of range.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let d = self.dim;
        let features = match &self.features {
            Features::Bytes(v) => Features::Bytes(indices.iter().flat_map(|&n| &v[n * d..(n + 1) * d]).copied().collect()),
            Features::Real(v) => Features::Real(indices.iter().flat_map(|&n| &v[n * d..(n + 1) * d]).copied().collect()),
        };
        Dataset {
            name: self.name.clone(),
            features,
            labels: indices.iter().map(|&n| self.labels[n]).collect(),
            n_classes: self.n_classes,
            class_names: self.class_names.clone(),
            dim: d,
            image_shape: self.image_shape,
        }
    }

    /// Number of examples of each class (length `n_classes`).
    pub fn label_histogram(&self) -> Vec<usize> {
        let mut h = vec![0; self.n_classes];
        for &l in &self.labels {
            h[l] += 1;
        }
        h
    }

    /// Stratified split into `(train, valid)`: in every class, a seeded shuffle puts
    /// `round(valid_fraction × count)` examples in `valid` and the rest in `train`. Both parts keep
    /// the original order; the result depends only on the data and `seed`. `valid_fraction` is
    /// clamped to [0, 1].
    pub fn split(&self, valid_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let frac = if valid_fraction.is_nan() { 0.0 } else { valid_fraction.clamp(0.0, 1.0) };
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.n_classes];
        for (n, &l) in self.labels.iter().enumerate() {
            by_class[l].push(n);
        }
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        for mut members in by_class {
            members.shuffle(&mut rng);
            let k = (frac * members.len() as f64).round() as usize;
            valid.extend_from_slice(&members[..k]);
            train.extend_from_slice(&members[k..]);
        }
        train.sort_unstable();
        valid.sort_unstable();
        (self.subset(&train), self.subset(&valid))
    }

    /// The same data with `Features::Real` storage (a copy when the features are bytes).
    pub fn to_real(&self) -> Dataset {
        let mut ds = self.clone();
        if let Features::Bytes(v) = &self.features {
            ds.features = Features::Real(v.iter().map(|&b| b as f64).collect());
        }
        ds
    }
}

/// Which half of a standard train/test pair to read from a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `train-images-idx3-ubyte[.gz]` and `train-labels-idx1-ubyte[.gz]`.
    Train,
    /// `t10k-images-idx3-ubyte[.gz]` and `t10k-labels-idx1-ubyte[.gz]`.
    Test,
}

/// Which CSV column holds the label (default: the last one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelColumn {
    /// Column with this header name (the file must have a header).
    Name(String),
    /// Column index, 0-based.
    Index(usize),
}

impl FromStr for LabelColumn {
    type Err = std::convert::Infallible;

    /// A non-negative integer is an index, anything else a name.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s.trim().parse::<usize>() {
            Ok(i) => LabelColumn::Index(i),
            Err(_) => LabelColumn::Name(s.to_string()),
        })
    }
}

/// Load a data set from `path`:
/// * a directory: the standard MNIST/Fashion-MNIST files for `role` inside it
///   (`train-images-idx3-ubyte[.gz]` + `train-labels-idx1-ubyte[.gz]`, or the `t10k-` pair);
/// * a file whose name contains `idx3-ubyte`: IDX images, with the labels file found by replacing
///   `images-idx3` with `labels-idx1` (with or without `.gz`);
/// * a `.csv` or `.csv.gz` file: CSV, labels in the column `label` (default: the last one).
///
/// `role` only matters for directories; `label` only for CSV.
pub fn load(path: &Path, role: Role, label: Option<&LabelColumn>) -> Result<Dataset> {
    let meta = std::fs::metadata(path).map_err(|e| SbnError::io(path, e))?;
    let file_name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if meta.is_dir() {
        let prefix = match role {
            Role::Train => "train",
            Role::Test => "t10k",
        };
        let images = find_gz_or_raw(path, &format!("{prefix}-images-idx3-ubyte"))?;
        let labels = find_gz_or_raw(path, &format!("{prefix}-labels-idx1-ubyte"))?;
        let dir_name = std::fs::canonicalize(path).ok().and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned())).unwrap_or(file_name);
        let name = format!("{dir_name}-{prefix}");
        idx::load_pair(&images, &labels, &name, is_fashion(path))
    } else if file_name.contains("idx3-ubyte") {
        let labels = idx::labels_path_for(path)?;
        let name = file_name.trim_end_matches(".gz").trim_end_matches("-images-idx3-ubyte").trim_end_matches("-idx3-ubyte").to_string();
        idx::load_pair(path, &labels, &name, is_fashion(path))
    } else if file_name.ends_with(".csv") || file_name.ends_with(".csv.gz") {
        csv::read_csv(path, label)
    } else {
        Err(SbnError::invalid(path.display().to_string(), "not a recognized data set: expected a directory of IDX files, an *idx3-ubyte[.gz] file, or a .csv[.gz] file"))
    }
}

/// Whether the path names Fashion-MNIST (case-insensitive "fashion" anywhere in it).
fn is_fashion(path: &Path) -> bool {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    full.to_string_lossy().to_lowercase().contains("fashion") || path.to_string_lossy().to_lowercase().contains("fashion")
}

/// `dir/base.gz` if it exists, else `dir/base`, else an error naming both.
fn find_gz_or_raw(dir: &Path, base: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{base}.gz"));
    let raw = dir.join(base);
    if gz.is_file() {
        Ok(gz)
    } else if raw.is_file() {
        Ok(raw)
    } else {
        Err(SbnError::invalid(dir.display().to_string(), format!("neither {base}.gz nor {base} found in this directory")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Dataset {
        let labels: Vec<usize> = (0..30).map(|n| n % 3).collect();
        let features = Features::Real((0..60).map(|v| v as f64).collect());
        Dataset::new("small", features, labels, 3, vec!["a".into(), "b".into(), "c".into()], 2, None).unwrap()
    }

    #[test]
    fn split_partitions_and_is_deterministic() {
        let ds = small();
        let (t1, v1) = ds.split(0.2, 7);
        let (t2, v2) = ds.split(0.2, 7);
        assert_eq!(t1, t2);
        assert_eq!(v1, v2);
        assert_eq!(t1.len() + v1.len(), ds.len());
        assert_eq!(v1.label_histogram(), vec![2, 2, 2]);
        // Every example appears in exactly one part: first features are 2n.
        let mut seen: Vec<usize> = t1.labels.iter().enumerate().map(|(n, _)| t1.feature(n, 0) as usize / 2).chain((0..v1.len()).map(|n| v1.feature(n, 0) as usize / 2)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..30).collect::<Vec<_>>());
        let (_, v3) = ds.split(0.2, 8);
        assert_ne!(v1, v3);
    }

    #[test]
    fn subset_and_histogram() {
        let ds = small();
        let s = ds.subset(&[4, 1, 1]);
        assert_eq!(s.labels, vec![1, 1, 1]);
        assert_eq!(s.feature(0, 1), 9.0);
        assert_eq!(s.label_histogram(), vec![0, 3, 0]);
        assert!(Dataset::new("bad", Features::Real(vec![0.0; 3]), vec![0], 1, vec!["x".into()], 2, None).is_err());
    }

    #[test]
    fn label_column_from_str() {
        assert_eq!("3".parse::<LabelColumn>().unwrap(), LabelColumn::Index(3));
        assert_eq!("species".parse::<LabelColumn>().unwrap(), LabelColumn::Name("species".into()));
    }
}
