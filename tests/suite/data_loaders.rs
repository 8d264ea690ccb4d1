//! Loaders on the vendored and installed data sets, and on bad files written at run time.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sbn::data::scaling::InputScaling;
use sbn::data::{Dataset, Features, LabelColumn, LoadOptions, Role, embedded, toy};

/// Loads labelled data with the label column `label`.
fn load(path: &Path, role: Role, label: Option<&LabelColumn>) -> sbn::Result<Dataset> {
    sbn::data::load(path, &LoadOptions { role, label_column: label.cloned(), ..LoadOptions::default() })
}

fn vendored(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(name)
}

/// A fresh temp folder unique to this test (and process).
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sbn-data-loaders-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn idx_file(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// Histogram of an IDX label file computed straight from its bytes.
fn raw_histogram(labels_gz: &Path, k: usize) -> Vec<usize> {
    let raw = gunzip(&std::fs::read(labels_gz).unwrap());
    assert_eq!(&raw[..4], &[0, 0, 8, 1]);
    let mut h = vec![0; k];
    for &l in &raw[8..] {
        h[l as usize] += 1;
    }
    h
}

fn load_err(path: &Path, label: Option<&LabelColumn>) -> String {
    match load(path, Role::Train, label) {
        Ok(ds) => panic!("expected an error for {}, got {ds:?}", path.display()),
        Err(e) => {
            eprintln!("{e}");
            e.to_string()
        }
    }
}

#[test]
fn vendored_mnist_subset() {
    let ds = load(&vendored("mnist10k-images-idx3-ubyte.gz"), Role::Test, None).unwrap();
    assert_eq!(ds.len(), 10_000);
    assert_eq!((ds.dim, ds.image_shape), (784, Some((28, 28))));
    assert!(ds.is_bytes());
    assert_eq!(ds.name, "mnist10k");
    assert_eq!(ds.class_names(), (0..10).map(|k| k.to_string()).collect::<Vec<_>>());
    let h = ds.label_histogram();
    assert_eq!(h, raw_histogram(&vendored("mnist10k-labels-idx1-ubyte.gz"), 10));
    assert_eq!(h.iter().sum::<usize>(), 10_000);
    assert!(h.iter().all(|&c| c > 0));
}

#[test]
fn fashion_mnist_if_installed() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.is_dir() {
        eprintln!("skipping: {} not installed", dir.display());
        return;
    }
    let train = load(dir, Role::Train, None).unwrap();
    let test = load(dir, Role::Test, None).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.label_histogram(), vec![6_000; 10]);
    assert_eq!(test.label_histogram(), vec![1_000; 10]);
    assert_eq!(train.class_names()[0], "T-shirt/top");
    assert_eq!(test.class_names()[9], "Ankle boot");
    assert_eq!(train.image_shape, Some((28, 28)));
    assert_eq!((train.name.as_str(), test.name.as_str()), ("fashion-mnist-train", "fashion-mnist-t10k"));
    // A single image file also finds its labels and the Fashion names.
    let t = load(&dir.join("t10k-images-idx3-ubyte.gz"), Role::Train, None).unwrap();
    assert_eq!(t.labels().unwrap(), test.labels().unwrap());
    assert_eq!(t.class_names()[0], "T-shirt/top");
}

#[test]
fn embedded_digits() {
    let ds = embedded::digits();
    assert_eq!((ds.len(), ds.dim, ds.n_classes(), ds.name.as_str()), (1797, 64, 10, "digits"));
    let Features::Bytes(v) = &ds.features else { panic!("digits should be bytes") };
    assert_eq!(v.iter().copied().max(), Some(16));
    assert!(ds.label_histogram().iter().all(|&c| c > 150));
    // The same file through the CSV loader.
    let from_file = load(&vendored("digits.csv.gz"), Role::Train, None).unwrap();
    assert_eq!(from_file.features, ds.features);
    assert_eq!(from_file.labels().unwrap(), ds.labels().unwrap());
}

#[test]
fn csv_header_string_labels_by_name() {
    let dir = temp_dir("csv-header");
    let text = "width,species,height\n1.5,setosa,0.2\n2.5,virginica,1.2\n1.7, setosa ,0.3\n\n3.0,versicolor,2.0\n";
    let path = dir.join("iris.csv");
    std::fs::write(&path, text).unwrap();
    let ds = load(&path, Role::Train, Some(&LabelColumn::Name("species".into()))).unwrap();
    assert_eq!(ds.name, "iris");
    assert_eq!(ds.class_names(), vec!["setosa", "versicolor", "virginica"]);
    assert_eq!(ds.labels().unwrap(), vec![0, 2, 0, 1]);
    assert_eq!((ds.dim, ds.n_classes()), (2, 3));
    assert!(!ds.is_bytes());
    assert_eq!(ds.feature(3, 1), 2.0);
    // Gzip-compressed, same result.
    let gz = dir.join("iris.csv.gz");
    std::fs::write(&gz, gzip(text.as_bytes())).unwrap();
    assert_eq!(load(&gz, Role::Test, Some(&LabelColumn::Name("species".into()))).unwrap(), ds);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_no_header_label_by_index() {
    let dir = temp_dir("csv-index");
    let path = dir.join("plain.csv");
    std::fs::write(&path, "1,0.5,-2\n0,1.5,3\n2,2.5,4e-1\n").unwrap();
    let ds = load(&path, Role::Train, Some(&LabelColumn::Index(0))).unwrap();
    assert_eq!(ds.labels().unwrap(), vec![1, 0, 2]);
    assert_eq!(ds.class_names(), vec!["0", "1", "2"]);
    assert_eq!(ds.dim, 2);
    assert_eq!(ds.feature(2, 1), 0.4);
    // Default: last column.
    let path2 = dir.join("last.csv");
    std::fs::write(&path2, "0.5,-2,1\n1.5,3,0\n").unwrap();
    assert_eq!(load(&path2, Role::Train, None).unwrap().labels().unwrap(), vec![1, 0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_idx_and_gzip_files() {
    let dir = temp_dir("bad-idx");
    let labels_gz = std::fs::read(vendored("mnist10k-labels-idx1-ubyte.gz")).unwrap();
    let images = idx_file(0x0803, &[3, 2, 2], &[0; 12]);

    // Truncated gzip (label file cut in half).
    let img = dir.join("trunc-images-idx3-ubyte.gz");
    std::fs::write(&img, gzip(&images)).unwrap();
    std::fs::write(dir.join("trunc-labels-idx1-ubyte.gz"), &labels_gz[..labels_gz.len() / 2]).unwrap();
    let e = load_err(&img, None);
    assert!(e.contains("trunc-labels-idx1-ubyte.gz") && e.contains("gzip"), "{e}");

    // Corrupt gzip (deflate data overwritten).
    let img = dir.join("corrupt-images-idx3-ubyte.gz");
    let mut bad = gzip(&images);
    let mid = bad.len() / 2;
    bad[12..mid].iter_mut().for_each(|b| *b ^= 0xa5);
    std::fs::write(&img, &bad).unwrap();
    std::fs::write(dir.join("corrupt-labels-idx1-ubyte"), idx_file(0x0801, &[3], &[0, 1, 2])).unwrap();
    let e = load_err(&img, None);
    assert!(e.contains("corrupt-images-idx3-ubyte.gz") && e.contains("gzip"), "{e}");

    // Wrong magic (raw, no gzip).
    let img = dir.join("magic-images-idx3-ubyte");
    std::fs::write(&img, idx_file(0x0801, &[3], &[0; 3])).unwrap();
    std::fs::write(dir.join("magic-labels-idx1-ubyte"), idx_file(0x0801, &[3], &[0, 1, 2])).unwrap();
    let e = load_err(&img, None);
    assert!(e.contains("magic-images-idx3-ubyte") && e.contains("magic number 0x00000801"), "{e}");

    // Truncated payload.
    let img = dir.join("short-images-idx3-ubyte");
    std::fs::write(&img, &images[..images.len() - 5]).unwrap();
    std::fs::write(dir.join("short-labels-idx1-ubyte.gz"), gzip(&idx_file(0x0801, &[3], &[0, 1, 2]))).unwrap();
    let e = load_err(&img, None);
    assert!(e.contains("short-images-idx3-ubyte") && e.contains("needs 12 bytes, found 7"), "{e}");

    // Image/label count mismatch: 3 images, 4 labels.
    let img = dir.join("count-images-idx3-ubyte");
    std::fs::write(&img, &images).unwrap();
    std::fs::write(dir.join("count-labels-idx1-ubyte"), idx_file(0x0801, &[4], &[0, 1, 2, 3])).unwrap();
    let e = load_err(&img, None);
    assert!(e.contains("count-images-idx3-ubyte") && e.contains("count-labels-idx1-ubyte") && e.contains("3 images but 4 labels"), "{e}");

    // Missing label file; missing image file; directory without the standard files.
    let img = dir.join("alone-images-idx3-ubyte");
    std::fs::write(&img, &images).unwrap();
    let e = load_err(&img, None);
    assert!(e.contains("alone-labels-idx1-ubyte"), "{e}");
    let e = load_err(&dir.join("nothing-images-idx3-ubyte.gz"), None);
    assert!(e.contains("nothing-images-idx3-ubyte.gz"), "{e}");
    let e = load_err(&dir, None);
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");

    // A good pair in the same folder loads, from raw files.
    let img = dir.join("good-images-idx3-ubyte");
    std::fs::write(&img, &images).unwrap();
    std::fs::write(dir.join("good-labels-idx1-ubyte"), idx_file(0x0801, &[3], &[0, 1, 2])).unwrap();
    let ds = load(&img, Role::Train, None).unwrap();
    assert_eq!((ds.len(), ds.dim, ds.image_shape), (3, 4, Some((2, 2))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_csv_files() {
    let dir = temp_dir("bad-csv");
    let check = |file: &str, text: &str, label: Option<&LabelColumn>, needles: &[&str]| {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let e = load_err(&path, label);
        assert!(e.contains(file), "{e}");
        for n in needles {
            assert!(e.contains(n), "`{n}` not in: {e}");
        }
    };
    check("ragged.csv", "a,b,label\n1,2,0\n3,4,1\n5,6\n", None, &[":4", "ragged", "2 fields, expected 3"]);
    check("text.csv", "a,b,label\n1,2,0\n3,x7,1\n", None, &[":3", "column 2", "`b`", "x7"]);
    check("nan.csv", "1,2,0\n3,NaN,1\n", None, &[":2", "column 2", "non-finite"]);
    check("inf.csv", "1,2,0\n-inf,3,1\n", None, &[":2", "column 1", "non-finite"]);
    check("empty.csv", "", None, &["empty"]);
    check("headeronly.csv", "a,b,label\n", None, &["no data rows"]);
    check("noname.csv", "a,b,label\n1,2,0\n", Some(&LabelColumn::Name("species".into())), &["species", "not found"]);
    check("negative.csv", "1,2,0\n3,4,-1\n", None, &[":2", "column 3", "-1"]);
    check("fraction.csv", "1,2,0\n3,4,1.5\n", None, &[":2", "1.5"]);
    check("index.csv", "1,2,0\n", Some(&LabelColumn::Index(3)), &["index 3"]);
    let missing = dir.join("missing.csv");
    let e = load_err(&missing, None);
    assert!(e.contains("missing.csv"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rows of a data set as byte vectors, sorted, for multiset comparison.
fn sorted_rows(ds: &Dataset) -> Vec<(Vec<u8>, usize)> {
    let mut rows: Vec<_> = (0..ds.len()).map(|n| ((0..ds.dim).map(|i| ds.feature(n, i) as u8).collect(), ds.labels().unwrap()[n])).collect();
    rows.sort();
    rows
}

#[test]
fn split_is_deterministic_partition() {
    let ds = embedded::digits();
    let (train, valid) = ds.split(0.1, 42);
    let (train2, valid2) = ds.split(0.1, 42);
    assert_eq!((&train, &valid), (&train2, &valid2));
    assert_eq!(train.len() + valid.len(), ds.len());
    assert!((170..=190).contains(&valid.len()), "{}", valid.len());
    let mut both = sorted_rows(&train);
    both.extend(sorted_rows(&valid));
    both.sort();
    assert_eq!(both, sorted_rows(&ds));
    // Stratified: every class is in the validation part in proportion.
    for (v, all) in valid.label_histogram().iter().zip(ds.label_histogram()) {
        assert!((*v as f64 - 0.1 * all as f64).abs() <= 0.5 + 1e-9);
    }
    assert_ne!(ds.split(0.1, 43).1, valid);
}

#[test]
fn scaling_affine_and_standardize() {
    let ds = embedded::digits();
    let s = InputScaling::fit(&ds);
    assert_eq!(s, InputScaling::Affine { alpha: 0.25, offset: -2.0 });
    let x = s.apply(&ds, &[0, 5, 7]).unwrap();
    assert_eq!(x.shape(), (64, 3));
    for (j, &n) in [0usize, 5, 7].iter().enumerate() {
        for i in 0..64 {
            let v = ds.feature(n, i);
            assert_eq!(x[(i, j)], 0.25 * v - 2.0);
            if v == 0.0 {
                assert_eq!(x[(i, j)], -2.0);
            }
            if v == 16.0 {
                assert_eq!(x[(i, j)], 2.0);
            }
        }
    }

    let moons = toy::two_moons(300, 0.1, 5);
    let (train, test) = moons.split(0.2, 1);
    let s = InputScaling::fit(&train);
    assert!(matches!(s, InputScaling::Standardize { .. }));
    let x = s.apply_all(&train).unwrap();
    for i in 0..2 {
        let row: Vec<f64> = x.row(i).iter().copied().collect();
        let mean = row.iter().sum::<f64>() / row.len() as f64;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / row.len() as f64;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-9, "{mean} {var}");
    }
    assert_eq!(s.apply_all(&test).unwrap().ncols(), test.len());
    assert!(s.apply_all(&ds).is_err(), "64-feature data through a 2-feature scaling");
}

#[test]
fn toy_generators() {
    assert_eq!(toy::two_moons(200, 0.15, 9), toy::two_moons(200, 0.15, 9));
    let t = toy::psa_paper_toy(toy::PSA_TOY_DEFAULT_N, 11);
    assert_eq!(t, toy::psa_paper_toy(toy::PSA_TOY_DEFAULT_N, 11));
    assert_ne!(t, toy::psa_paper_toy(toy::PSA_TOY_DEFAULT_N, 12));
    assert_eq!(t.label_histogram(), vec![100, 100]);
    for n in (0..t.len()).filter(|&n| t.labels().unwrap()[n] == 0) {
        assert!(t.feature(n, 1) < t.feature(n, 0).cos());
    }
}
