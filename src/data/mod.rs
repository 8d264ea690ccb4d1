//! Data sets: the in-memory [`Dataset`], loaders for IDX (MNIST, Fashion-MNIST) and CSV files, the
//! embedded digits set, input scaling, and 2-D toy generators.
//!
//! * [`load`]: one entry point that dispatches on the path (directory of IDX files, an
//!   `*idx3-ubyte[.gz]` image file, or a `.csv[.gz]` file).
//! * [`embedded::digits`]: the default data set, compiled into the binary.
//! * [`scaling::InputScaling`]: the map from stored values to network inputs (one example per column).
//! * [`toy`]: two moons and the PSA paper's 2-D toy.
//! * [`augment::Augment`]: random translations and mirroring of training images.
//! * [`shift`]: shifted copies of test images (rotation, translation, noise, blur, contrast,
//!   inversion) for the shift benchmark.
//! * [`InputBatch`]: the inputs of a Monte Carlo pass, as bytes or scaled reals.
//! * [`classes`]: which of a fitted model's classes a label names ([`Dataset::labels_for`]).
//! * [`origin::Origin`]: the file and line (or record) of every example, for messages.

pub mod augment;
pub mod batch;
pub mod classes;
pub mod csv;
pub mod embedded;
pub mod idx;
pub mod origin;
pub mod scaling;
pub mod shift;
pub mod toy;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::error::{Result, SbnError};

pub use batch::InputBatch;
pub use classes::{class_of, list_classes};
pub use origin::Origin;
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

/// A data set held in memory: features, and labels when the source has them.
///
/// Labels are class indices into [`Dataset::class_names`]. Data read for a fitted model must be
/// put in the model's class order first ([`Dataset::align_classes`], by class name), because each
/// file numbers its classes by what it contains. Two data sets are equal when their examples,
/// labels and classes are, wherever they come from.
#[derive(Clone)]
pub struct Dataset {
    /// Short name (file stem or directory name), used in reports.
    pub name: String,
    /// Features, row-major `[example][feature]`.
    pub features: Features,
    /// Number of features per example.
    pub dim: usize,
    /// `(rows, cols)` when the features are an image stored row by row.
    pub image_shape: Option<(usize, usize)>,
    /// `None` for data without labels.
    labels: Option<Labels>,
    /// Where the examples come from, to name them in messages.
    origin: Origin,
}

/// The labels of a data set: a class index per example and the classes.
#[derive(Clone, Debug, PartialEq)]
struct Labels {
    index: Vec<usize>,
    names: Vec<String>,
    /// Whether the source writes a label as its class number (IDX files, CSV columns of integers)
    /// rather than as its name; the names may then be display names (Fashion-MNIST's).
    numbered: bool,
}

impl PartialEq for Dataset {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, &self.features, self.dim, self.image_shape, &self.labels) == (&other.name, &other.features, other.dim, other.image_shape, &other.labels)
    }
}

impl fmt::Debug for Dataset {
    /// Summary only: the feature vectors are far too long to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("name", &self.name)
            .field("len", &self.len())
            .field("dim", &self.dim)
            .field("bytes", &self.is_bytes())
            .field("class_names", &self.class_names())
            .field("labelled", &self.is_labelled())
            .field("image_shape", &self.image_shape)
            .finish()
    }
}

impl Dataset {
    /// A labelled data set after checking that the parts agree: `labels[n] < class_names.len()`,
    /// `dim` values per example. The origin is "examples in memory" ([`Dataset::with_origin`]).
    pub fn new(name: impl Into<String>, features: Features, dim: usize, labels: Vec<usize>, class_names: Vec<String>) -> Result<Dataset> {
        let ds = Dataset::unlabelled(name, features, dim)?;
        ds.with_labels(labels, class_names, false)
    }

    /// A data set of features alone (to predict).
    pub fn unlabelled(name: impl Into<String>, features: Features, dim: usize) -> Result<Dataset> {
        let name = name.into();
        if dim == 0 {
            return Err(SbnError::invalid(&name, "examples have no features"));
        }
        if !features.len().is_multiple_of(dim) {
            return Err(SbnError::invalid(&name, format!("{} feature values are not whole examples of {dim} features", features.len())));
        }
        let origin = Origin::memory(&name);
        Ok(Dataset { name, features, dim, image_shape: None, labels: None, origin })
    }

    /// The same examples with these labels (`numbered`: the source writes labels as class numbers).
    pub(crate) fn with_labels(mut self, index: Vec<usize>, names: Vec<String>, numbered: bool) -> Result<Dataset> {
        if index.len() != self.len() {
            return Err(SbnError::invalid(&self.name, format!("{} labels for {} examples", index.len(), self.len())));
        }
        if let Some((n, &l)) = index.iter().enumerate().find(|&(_, &l)| l >= names.len()) {
            return Err(SbnError::invalid(self.origin.place(n), format!("label {l} is not below the number of classes {}", names.len())));
        }
        self.labels = Some(Labels { index, names, numbered });
        Ok(self)
    }

    /// The same data set, its examples stored row by row as `rows × cols` images.
    pub fn with_image_shape(mut self, rows: usize, cols: usize) -> Result<Dataset> {
        if rows.checked_mul(cols) != Some(self.dim) {
            return Err(SbnError::invalid(&self.name, format!("image shape {rows}×{cols} does not match dimension {}", self.dim)));
        }
        self.image_shape = Some((rows, cols));
        Ok(self)
    }

    /// The same data set, its examples named by `origin` in messages.
    pub fn with_origin(mut self, origin: Origin) -> Dataset {
        self.origin = origin;
        self
    }

    /// The same examples without labels.
    pub fn without_labels(mut self) -> Dataset {
        self.labels = None;
        self
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.features.len() / self.dim
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the data has labels.
    pub fn is_labelled(&self) -> bool {
        self.labels.is_some()
    }

    /// The class index of every example, `None` for unlabelled data.
    pub fn labels(&self) -> Option<&[usize]> {
        self.labels.as_ref().map(|l| l.index.as_slice())
    }

    /// The class index of every example; unlabelled data is an error saying that `purpose` needs labels.
    pub fn require_labels(&self, purpose: &str) -> Result<&[usize]> {
        self.labels().ok_or_else(|| SbnError::invalid(self.origin.file(), format!("the data has no labels, and {purpose} needs them")))
    }

    /// One name per class (empty for unlabelled data).
    pub fn class_names(&self) -> &[String] {
        self.labels.as_ref().map_or(&[], |l| l.names.as_slice())
    }

    /// Number of classes K (may exceed the largest label present, e.g. in a small test subset).
    pub fn n_classes(&self) -> usize {
        self.class_names().len()
    }

    /// The place of example `n` in its source, for messages (`file:line, column …` for CSV).
    pub fn place(&self, n: usize) -> String {
        self.origin.place(n)
    }

    /// The file (or name) the examples come from.
    pub fn source(&self) -> &str {
        self.origin.file()
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
        let labels = self.labels.as_ref().map(|l| Labels { index: indices.iter().map(|&n| l.index[n]).collect(), ..l.clone() });
        Dataset { name: self.name.clone(), features, dim: d, image_shape: self.image_shape, labels, origin: self.origin.subset(indices) }
    }

    /// Number of examples of each class (length `n_classes`; empty for unlabelled data).
    pub fn label_histogram(&self) -> Vec<usize> {
        let mut h = vec![0; self.n_classes()];
        for &l in self.labels().unwrap_or_default() {
            h[l] += 1;
        }
        h
    }

    /// The labels as class indices of a model whose classes are `classes`, matched by name (see
    /// [`class_of`]). A label the model does not know is an error naming the example's place, the
    /// label as written and the model's classes. Unlabelled data is an error too.
    pub fn labels_for(&self, classes: &[String]) -> Result<Vec<usize>> {
        let labels = self.labels.as_ref().ok_or_else(|| SbnError::invalid(self.origin.file(), "the data has no labels"))?;
        let map: Vec<Option<usize>> = (0..labels.names.len()).map(|c| class_of(classes, &labels.written(c), Some(&labels.names[c]))).collect();
        labels
            .index
            .iter()
            .enumerate()
            .map(|(n, &c)| {
                map[c].ok_or_else(|| {
                    let written = labels.written(c);
                    let shown =
                        if labels.numbered && labels.names[c] != written { format!("`{written}` ({})", labels.names[c]) } else { format!("`{written}`") };
                    SbnError::invalid(
                        self.origin.place(n),
                        format!("label {shown} is not one of the model's {} classes: {}", classes.len(), list_classes(classes)),
                    )
                })
            })
            .collect()
    }

    /// Puts the labels in the class order of a model whose classes are `classes` (by name, see
    /// [`Dataset::labels_for`]); afterwards the data set's class names are the model's.
    pub fn align_classes(&mut self, classes: &[String]) -> Result<()> {
        let index = self.labels_for(classes)?;
        self.labels = Some(Labels { index, names: classes.to_vec(), numbered: false });
        Ok(())
    }

    /// Checks that the data can train a classifier: labelled, at least two classes present, and
    /// not more classes than half the number of examples (labels that are really values, such as
    /// 0 / 50000 / 100000 read as class numbers, would otherwise build a huge output layer).
    pub fn check_trainable(&self) -> Result<()> {
        let labels = self.require_labels("fitting")?;
        let hist = self.label_histogram();
        let present = hist.iter().filter(|&&c| c > 0).count();
        if present < 2 {
            let only = labels.first().map_or(String::new(), |&c| format!(" (`{}`)", self.class_names()[c]));
            return Err(SbnError::invalid(
                self.origin.file(),
                format!("the training data has only one class{only}; a classifier needs examples of at least two"),
            ));
        }
        let k = self.n_classes();
        if 2 * k > self.len().max(4) {
            let numbered = self.labels.as_ref().is_some_and(|l| l.numbered);
            let why = if numbered {
                format!("integer labels are class numbers, so labels up to {} make {k} classes ({present} of them with examples)", k - 1)
            } else {
                format!("{k} distinct labels")
            };
            return Err(SbnError::invalid(
                self.origin.file(),
                format!("{why} for {} examples: more than one class per two examples; is the label column right (--label)?", self.len()),
            ));
        }
        Ok(())
    }

    /// Stratified split into `(train, valid)`: in every class, a seeded shuffle puts
    /// `round(valid_fraction × count)` examples in `valid` and the rest in `train`. Both parts keep
    /// the original order; the result depends only on the data and `seed`. `valid_fraction` is
    /// clamped to [0, 1]. Unlabelled data is split as one class.
    pub fn split(&self, valid_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let frac = if valid_fraction.is_nan() { 0.0 } else { valid_fraction.clamp(0.0, 1.0) };
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.n_classes().max(1)];
        for n in 0..self.len() {
            by_class[self.labels().map_or(0, |l| l[n])].push(n);
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

impl Labels {
    /// Class `c` as the source writes it: its number, or its name.
    fn written(&self, c: usize) -> String {
        if self.numbered { c.to_string() } else { self.names[c].clone() }
    }
}

/// Which half of a standard train/test pair to read from a directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// `train-images-idx3-ubyte[.gz]` and `train-labels-idx1-ubyte[.gz]`.
    Train,
    /// `t10k-images-idx3-ubyte[.gz]` and `t10k-labels-idx1-ubyte[.gz]`.
    #[default]
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

/// Whether a data set is read with its labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LabelPolicy {
    /// Labels must be there (fitting, evaluating): a CSV file's label column, an IDX file's labels
    /// file.
    #[default]
    Required,
    /// Labels are read when the source has them (predicting): an IDX images file without a labels
    /// file, or a CSV file whose columns are exactly the model's inputs
    /// ([`LoadOptions::n_features`]), is read without labels.
    IfPresent,
    /// Every CSV column is a feature and IDX labels files are not read (`--no-label`).
    Absent,
}

/// How [`load`] reads a data set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Which half of a standard folder (`train-…` or `t10k-…` files).
    pub role: Role,
    /// The label column of CSV data (default: the last one).
    pub label_column: Option<LabelColumn>,
    /// Whether labels are required, optional or absent.
    pub labels: LabelPolicy,
    /// The input size of the model the data is for, when known: a CSV file with exactly this many
    /// columns has no label column (with [`LabelPolicy::IfPresent`]), or is an error saying so
    /// (with [`LabelPolicy::Required`]).
    pub n_features: Option<usize>,
}

/// Load a data set from `path`:
/// * a directory: the standard MNIST/Fashion-MNIST files for `options.role` inside it
///   (`train-images-idx3-ubyte[.gz]` + `train-labels-idx1-ubyte[.gz]`, or the `t10k-` pair);
/// * a file whose name contains `idx3-ubyte`: IDX images, with the labels file found by replacing
///   `images-idx3` with `labels-idx1` (with or without `.gz`);
/// * a `.csv` or `.csv.gz` file: CSV (RFC 4180 quoting), labels in `options.label_column`
///   (default: the last column).
pub fn load(path: &Path, options: &LoadOptions) -> Result<Dataset> {
    let meta = std::fs::metadata(path).map_err(|e| SbnError::io(path, e))?;
    let file_name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if meta.is_dir() {
        let prefix = match options.role {
            Role::Train => "train",
            Role::Test => "t10k",
        };
        let images = find_gz_or_raw(path, &format!("{prefix}-images-idx3-ubyte"))?;
        let labels = match options.labels {
            LabelPolicy::Required => Some(find_gz_or_raw(path, &format!("{prefix}-labels-idx1-ubyte"))?),
            LabelPolicy::IfPresent => find_gz_or_raw(path, &format!("{prefix}-labels-idx1-ubyte")).ok(),
            LabelPolicy::Absent => None,
        };
        let dir_name = std::fs::canonicalize(path).ok().and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned())).unwrap_or(file_name);
        let name = format!("{dir_name}-{prefix}");
        idx::load_pair(&images, labels.as_deref(), &name, is_fashion(path))
    } else if file_name.contains("idx3-ubyte") {
        let labels = match options.labels {
            LabelPolicy::Required => Some(idx::labels_path_for(path)?),
            LabelPolicy::IfPresent => idx::labels_path_for(path).ok(),
            LabelPolicy::Absent => None,
        };
        let name = file_name.trim_end_matches(".gz").trim_end_matches("-images-idx3-ubyte").trim_end_matches("-idx3-ubyte").to_string();
        idx::load_pair(path, labels.as_deref(), &name, is_fashion(path))
    } else if file_name.ends_with(".csv") || file_name.ends_with(".csv.gz") {
        csv::read_csv(path, options)
    } else {
        Err(SbnError::invalid(
            path.display().to_string(),
            "not a recognized data set: expected a directory of IDX files, an *idx3-ubyte[.gz] file, or a .csv[.gz] file",
        ))
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

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn small() -> Dataset {
        let labels: Vec<usize> = (0..30).map(|n| n % 3).collect();
        let features = Features::Real((0..60).map(|v| v as f64).collect());
        Dataset::new("small", features, 2, labels, names(&["a", "b", "c"])).unwrap()
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
        let mut seen: Vec<usize> = (0..t1.len()).map(|n| t1.feature(n, 0) as usize / 2).chain((0..v1.len()).map(|n| v1.feature(n, 0) as usize / 2)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..30).collect::<Vec<_>>());
        let (_, v3) = ds.split(0.2, 8);
        assert_ne!(v1, v3);
        // Unlabelled data splits too.
        let (t, v) = ds.clone().without_labels().split(0.2, 7);
        assert_eq!((t.len(), v.len()), (24, 6));
    }

    #[test]
    fn subset_and_histogram() {
        let ds = small();
        let s = ds.subset(&[4, 1, 1]);
        assert_eq!(s.labels().unwrap(), &[1, 1, 1]);
        assert_eq!(s.feature(0, 1), 9.0);
        assert_eq!(s.label_histogram(), vec![0, 3, 0]);
        assert_eq!(s.place(0), "small, example 4");
        assert!(Dataset::new("bad", Features::Real(vec![0.0; 3]), 2, vec![0], names(&["x"])).is_err());
        assert!(Dataset::new("bad", Features::Real(vec![0.0; 2]), 2, vec![1], names(&["x"])).is_err());
        assert!(Dataset::unlabelled("bad", Features::Real(vec![]), 0).is_err());
    }

    #[test]
    fn labels_map_onto_a_models_classes_by_name() {
        // A file with a subset of the classes numbers them by what it contains.
        let ds = Dataset::new("sub", Features::Real(vec![0.0; 3]), 1, vec![1, 0, 1], names(&["cat", "dog"])).unwrap();
        let model = names(&["bird", "cat", "dog"]);
        assert_eq!(ds.labels_for(&model).unwrap(), vec![2, 1, 2]);
        let mut aligned = ds.clone();
        aligned.align_classes(&model).unwrap();
        assert_eq!((aligned.labels().unwrap(), aligned.class_names()), (&[2, 1, 2][..], &model[..]));
        assert_eq!(aligned.labels_for(&model).unwrap(), vec![2, 1, 2]);
        // An unknown label names the example and the model's classes.
        let e = ds.labels_for(&names(&["cat", "bird"])).unwrap_err().to_string();
        assert!(e.contains("sub, example 0") && e.contains("`dog`") && e.contains("cat, bird"), "{e}");
        assert!(ds.clone().without_labels().labels_for(&model).is_err());
    }

    #[test]
    fn numbered_labels_and_fashion_names() {
        let fashion: Vec<String> = FASHION_CLASS_NAMES.iter().map(|s| s.to_string()).collect();
        // IDX labels of Fashion-MNIST: numbers, shown with the data set's names.
        let idx = Dataset::unlabelled("f", Features::Bytes(vec![0; 2]), 1).unwrap().with_labels(vec![3, 9], fashion.clone(), true).unwrap();
        assert_eq!(idx.labels_for(&fashion).unwrap(), vec![3, 9]);
        let digits: Vec<String> = (0..10).map(|k| k.to_string()).collect();
        assert_eq!(idx.labels_for(&digits).unwrap(), vec![3, 9]);
        // Numbers name Fashion-MNIST's classes in its documented order, for a model with its names.
        let csv = Dataset::new("k", Features::Bytes(vec![0; 2]), 1, vec![0, 1], names(&["0", "7"])).unwrap();
        assert_eq!(csv.labels_for(&fashion).unwrap(), vec![0, 7]);
        // Not for other models: "7" is not a class of this one.
        let e = csv.labels_for(&names(&["0", "1"])).unwrap_err().to_string();
        assert!(e.contains("`7`") && e.contains("2 classes"), "{e}");
        assert!(class_of(&names(&["a", "b"]), "1", None).is_none());
    }

    #[test]
    fn trainable_needs_two_classes_and_few_empty_ones() {
        assert!(small().check_trainable().is_ok());
        let one = Dataset::new("one", Features::Real(vec![0.0; 4]), 1, vec![0; 4], names(&["a", "b"])).unwrap();
        let e = one.check_trainable().unwrap_err().to_string();
        assert!(e.contains("one class") && e.contains("`a`"), "{e}");
        let many: Vec<String> = (0..=100).map(|k| k.to_string()).collect();
        let wide = Dataset::unlabelled("w", Features::Real(vec![0.0; 3]), 1).unwrap().with_labels(vec![0, 50, 100], many, true).unwrap();
        let e = wide.check_trainable().unwrap_err().to_string();
        assert!(e.contains("101 classes") && e.contains("up to 100"), "{e}");
        assert!(small().without_labels().check_trainable().unwrap_err().to_string().contains("no labels"));
    }

    #[test]
    fn long_class_lists_are_shortened() {
        let many: Vec<String> = (0..100).map(|k| k.to_string()).collect();
        let s = list_classes(&many);
        assert!(s.starts_with("0, 1, 2") && s.ends_with("98, 99") && s.contains("more"), "{s}");
    }

    #[test]
    fn label_column_from_str() {
        assert_eq!("3".parse::<LabelColumn>().unwrap(), LabelColumn::Index(3));
        assert_eq!("species".parse::<LabelColumn>().unwrap(), LabelColumn::Name("species".into()));
    }
}
