//! The shift benchmark: the image shift generators (labels kept, seeded per image, identities at
//! severity 0, known answers for rotation, translation, blur, contrast, inversion and noise), and
//! `sbn shift` through the command line, with its bad input.

use sbn::data::embedded::digits;
use sbn::data::shift::{Shift, ShiftKind};
use sbn::data::{Dataset, Features};

use crate::common::cli::{sbn, temp_dir};

/// The first 200 digits (8×8 bytes in 0..=16).
fn some_digits() -> Dataset {
    digits().subset(&(0..200).collect::<Vec<_>>())
}

fn shifted(ds: &Dataset, kind: ShiftKind, severity: f64, seed: u64) -> Dataset {
    Shift::new(kind, severity).unwrap().apply(ds, seed).unwrap()
}

fn reals(ds: &Dataset) -> Vec<f64> {
    match &ds.features {
        Features::Real(v) => v.clone(),
        Features::Bytes(v) => v.iter().map(|&b| b as f64).collect(),
    }
}

/// Real images `rows × cols` from `pixels(n, r, c)`, labelled 0, in a data set with that image shape.
fn images(n: usize, rows: usize, cols: usize, pixels: impl Fn(usize, usize, usize) -> f64) -> Dataset {
    let v: Vec<f64> = (0..n).flat_map(|i| (0..rows * cols).map(move |p| (i, p / cols, p % cols))).map(|(i, r, c)| pixels(i, r, c)).collect();
    Dataset::new("images", Features::Real(v), rows * cols, vec![0; n], vec!["a".into()]).unwrap().with_image_shape(rows, cols).unwrap()
}

#[test]
fn every_kind_keeps_examples_labels_storage_and_range() {
    let clean = some_digits();
    let as_real = clean.to_real();
    for kind in ShiftKind::ALL {
        let severity = kind.default_severities(8, 8)[2];
        for ds in [&clean, &as_real] {
            let s = shifted(ds, kind, severity, 3);
            assert_eq!((s.len(), s.dim, s.image_shape, s.is_bytes()), (ds.len(), ds.dim, ds.image_shape, ds.is_bytes()), "{kind}");
            assert_eq!((s.labels(), s.class_names()), (ds.labels(), ds.class_names()), "{kind}");
            assert_eq!((s.place(7), s.source()), (ds.place(7), ds.source()), "{kind}");
            assert!(reals(&s).iter().all(|&v| (0.0..=16.0).contains(&v)), "{kind}: a value left the digits' range 0..=16");
            assert_ne!(s.features, ds.features, "{kind} at {severity} changed nothing");
            assert!(s.name.contains(kind.name()), "{}", s.name);
        }
    }
}

#[test]
fn draws_come_from_the_seed_alone() {
    let clean = some_digits();
    for kind in ShiftKind::ALL {
        let a = shifted(&clean, kind, kind.default_severities(8, 8)[4], 11);
        assert_eq!(a.features, shifted(&clean, kind, kind.default_severities(8, 8)[4], 11).features, "{kind}");
        let other = shifted(&clean, kind, kind.default_severities(8, 8)[4], 12);
        let random = matches!(kind, ShiftKind::Translate | ShiftKind::Noise);
        assert_eq!(a.features != other.features, random, "{kind}: only translations and noise draw");
        // One thread or several: the same images.
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(one.install(|| shifted(&clean, kind, kind.default_severities(8, 8)[4], 11)).features, a.features, "{kind}");
    }
}

#[test]
fn severity_zero_is_the_identity() {
    let clean = some_digits();
    let real = images(3, 6, 7, |i, r, c| ((i * 31 + r * 7 + c * 13) % 17) as f64 / 4.0);
    for kind in ShiftKind::ALL {
        assert_eq!(shifted(&clean, kind, 0.0, 5).features, clean.features, "{kind}");
        assert_eq!(shifted(&real, kind, 0.0, 5).features, real.features, "{kind}");
    }
    // A full turn, and translations by whole pixels along an axis, move pixels exactly too.
    assert_eq!(shifted(&real, ShiftKind::Rotate, 360.0, 0).features, real.features);
}

#[test]
fn rotating_by_90_degrees_turns_the_image_counter_clockwise() {
    for n in [4, 5] {
        let ds = images(2, n, n, |i, r, c| (100 * i + n * r + c) as f64);
        let out = reals(&shifted(&ds, ShiftKind::Rotate, 90.0, 0));
        let input = reals(&ds);
        for i in 0..2 {
            for r in 0..n {
                for c in 0..n {
                    // Counter-clockwise: the right column becomes the top row, read top to bottom.
                    assert_eq!(out[i * n * n + r * n + c], input[i * n * n + c * n + (n - 1 - r)], "n = {n}, image {i}, pixel ({r}, {c})");
                }
            }
        }
    }
    // 180°: every row and column reversed, on byte images too.
    let clean = some_digits();
    let half = shifted(&clean, ShiftKind::Rotate, 180.0, 0);
    let (a, b) = (reals(&clean), reals(&half));
    assert!((0..clean.len() * 64).all(|p| b[p] == a[(p / 64) * 64 + 63 - p % 64]));
}

#[test]
fn translation_moves_the_centre_of_mass_by_the_distance_in_varied_directions() {
    // A bright 3×3 square in the middle of a 28×28 image, the background 0.
    let ds = images(40, 28, 28, |_, r, c| if (13..16).contains(&r) && (12..15).contains(&c) { 1.0 } else { 0.0 });
    let out = shifted(&ds, ShiftKind::Translate, 4.5, 9);
    let centre = |v: &[f64]| {
        let m: f64 = v.iter().sum();
        let (y, x) = v.iter().enumerate().fold((0.0, 0.0), |(y, x), (p, &w)| (y + w * (p / 28) as f64, x + w * (p % 28) as f64));
        (m, y / m, x / m)
    };
    let mut angles = Vec::new();
    for (a, b) in reals(&ds).chunks(784).zip(reals(&out).chunks(784)) {
        let ((ma, ya, xa), (mb, yb, xb)) = (centre(a), centre(b));
        assert!((ma - mb).abs() < 1e-9, "mass {ma} became {mb}");
        assert!(((yb - ya).hypot(xb - xa) - 4.5).abs() < 1e-9, "moved by {}", (yb - ya).hypot(xb - xa));
        angles.push((yb - ya).atan2(xb - xa));
    }
    // Directions spread round the circle: all four quadrants occur.
    for q in 0..4 {
        let lo = -std::f64::consts::PI + q as f64 * std::f64::consts::FRAC_PI_2;
        assert!(angles.iter().any(|&a| (lo..lo + std::f64::consts::FRAC_PI_2).contains(&a)), "no direction in quadrant {q}: {angles:?}");
    }
}

#[test]
fn blur_spreads_a_point_by_the_gaussian_and_keeps_mass_and_flat_images() {
    // A unit point in the middle of a 15×15 image, σ = 1: the kernel (truncated at 3σ, normalized)
    // gives the centre k0² and a side neighbour k0·k1.
    let ds = images(1, 15, 15, |_, r, c| if (r, c) == (7, 7) { 1.0 } else { 0.0 });
    let out = reals(&shifted(&ds, ShiftKind::Blur, 1.0, 0));
    let norm = 1.0 + 2.0 * ((-0.5f64).exp() + (-2.0f64).exp() + (-4.5f64).exp());
    let (k0, k1) = (1.0 / norm, (-0.5f64).exp() / norm);
    assert!((out[7 * 15 + 7] - k0 * k0).abs() < 1e-12, "{} against {}", out[7 * 15 + 7], k0 * k0);
    assert!((out[7 * 15 + 8] - k0 * k1).abs() < 1e-12);
    assert_eq!(out[7 * 15 + 11], 0.0, "beyond 3σ nothing arrives");
    // Mass is kept (the image is mirrored at its edges), also near an edge.
    let edge = images(3, 10, 12, |i, r, c| ((i + 1) * (r * 12 + c) % 7) as f64);
    let blurred = reals(&shifted(&edge, ShiftKind::Blur, 2.0, 0));
    for (a, b) in reals(&edge).chunks(120).zip(blurred.chunks(120)) {
        let (ma, mb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
        assert!((ma - mb).abs() < 1e-9 * ma, "mass {ma} became {mb}");
    }
    // Byte digits: mass kept up to rounding; a flat image stays exactly flat.
    let clean = some_digits();
    let (ma, mb) = (reals(&clean).iter().sum::<f64>(), reals(&shifted(&clean, ShiftKind::Blur, 1.0, 0)).iter().sum::<f64>());
    assert!((ma - mb).abs() < 0.01 * ma, "digits' mass {ma} became {mb}");
    let flat = Dataset::new("flat", Features::Bytes([vec![9u8; 64], vec![0; 63], vec![200]].concat()), 64, vec![0, 0], vec!["a".into()])
        .unwrap()
        .with_image_shape(8, 8)
        .unwrap();
    assert_eq!(&reals(&shifted(&flat, ShiftKind::Blur, 1.5, 0))[..64], &[9.0; 64][..]);
}

#[test]
fn contrast_pulls_to_the_mean_and_invert_mirrors_the_range() {
    let clean = some_digits();
    let input = reals(&clean);
    let flat = reals(&shifted(&clean, ShiftKind::Contrast, 1.0, 0));
    for (a, b) in input.chunks(64).zip(flat.chunks(64)) {
        let mean = a.iter().sum::<f64>() / 64.0;
        assert!(b.iter().all(|&v| v == mean.round()), "full contrast loss: every pixel at the image's mean {mean}");
    }
    let real = images(2, 4, 4, |i, r, c| (i + 2 * r + 3 * c) as f64);
    let half = reals(&shifted(&real, ShiftKind::Contrast, 0.5, 0));
    for (a, b) in reals(&real).chunks(16).zip(half.chunks(16)) {
        let mean = a.iter().sum::<f64>() / 16.0;
        assert!(a.iter().zip(b).all(|(x, y)| (y - (mean + 0.5 * (x - mean))).abs() < 1e-12));
    }
    // The digits' range is 0..=16: the negative of v is 16 − v; half way, every pixel is 8.
    let negative = reals(&shifted(&clean, ShiftKind::Invert, 1.0, 0));
    assert!(input.iter().zip(&negative).all(|(v, n)| *n == 16.0 - v));
    assert!(reals(&shifted(&clean, ShiftKind::Invert, 0.5, 0)).iter().all(|&v| v == 8.0));
}

#[test]
fn noise_has_the_asked_spread_on_the_datas_range() {
    // Range [0, 2] (one pixel at each end), the rest at 1: σ = 25.5 on 0–255 is 0.2 here.
    let ds = images(50, 20, 20, |i, r, c| {
        if (i, r, c) == (0, 0, 0) {
            0.0
        } else if (i, r, c) == (0, 0, 1) {
            2.0
        } else {
            1.0
        }
    });
    let out = reals(&shifted(&ds, ShiftKind::Noise, 25.5, 4));
    let d: Vec<f64> = out.iter().skip(2).map(|v| v - 1.0).collect();
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
    assert!(mean.abs() < 0.01 && (sd - 0.2).abs() < 0.01, "mean {mean}, sd {sd}");
    assert!(out.iter().all(|v| (0.0..=2.0).contains(v)), "clipped to the range");
}

#[test]
fn bad_severities_and_tables_are_refused() {
    for (kind, s) in [(ShiftKind::Contrast, 1.5), (ShiftKind::Rotate, -1.0), (ShiftKind::Noise, f64::NAN), (ShiftKind::Invert, f64::INFINITY)] {
        let e = Shift::new(kind, s).unwrap_err().to_string();
        assert!(e.contains(kind.name()) && e.contains("expected"), "{e}");
    }
    let table = Dataset::new("survey", Features::Real(vec![0.0; 12]), 4, vec![0, 0, 0], vec!["a".into()]).unwrap();
    let e = Shift::new(ShiftKind::Blur, 1.0).unwrap().apply(&table, 0).unwrap_err().to_string();
    assert!(e.contains("survey") && e.contains("image shape"), "{e}");
    assert!("spin".parse::<ShiftKind>().unwrap_err().to_string().contains("rotate, shift, noise, blur, contrast, invert"));
    use sbn::shift::ShiftConfig;
    assert!(ShiftConfig::new(&[], 0).is_err());
    assert!(ShiftConfig::new(&[(ShiftKind::Blur, vec![1.0]), (ShiftKind::Blur, vec![2.0])], 0).unwrap_err().to_string().contains("twice"));
    assert!(ShiftConfig::new(&[(ShiftKind::Blur, vec![])], 0).is_err());
    // Defaults: five per kind, the spatial ones in proportion to the image (2 px at 28 px).
    let d = ShiftConfig::defaults(&ShiftKind::ALL, 28, 28, 0).unwrap();
    assert_eq!(d.n_sets(), 31);
    assert_eq!(d.plan()[1].1.iter().map(|s| s.severity()).collect::<Vec<_>>(), vec![2.0, 4.0, 6.0, 8.0, 10.0]);
    let small = ShiftConfig::defaults(&[ShiftKind::Blur], 8, 12, 0).unwrap();
    assert!((small.plan()[0].1[0].severity() - 0.5 * 8.0 / 28.0).abs() < 1e-12);
    let c = ShiftConfig::new(&[(ShiftKind::Rotate, vec![90.0, 15.0, 90.0])], 0).unwrap();
    assert_eq!(c.plan()[0].1.iter().map(|s| s.severity()).collect::<Vec<_>>(), vec![15.0, 90.0]);
}

#[test]
fn sbn_shift_writes_its_report_and_refuses_bad_input() {
    let dir = temp_dir("cli-shift");
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    std::fs::write(dir.join("spec.toml"), "[network]\nhidden = [32]\nweights = \"bernoulli\"\n[objective]\nbeta = 0.01\n[training]\nlr = 0.003\nlogit_lr = 0.1\nbatch_size = 32\nepochs = 2\nchunk = 16\n").unwrap();
    let (ok, _, err) = sbn(&["fit", &p("spec.toml"), "--train", "embedded:digits", "--out", &p("m.sbn")]);
    assert!(ok, "{err}");
    let mc = ["--weight-samples", "2", "--noise-samples", "2", "--seed", "3"];
    let run = |extra: &[&str]| sbn(&[&["shift", &p("m.sbn"), "--data", "embedded:digits"], extra, &mc[..]].concat());

    let (ok, stdout, err) = run(&["--out", &p("all")]);
    assert!(ok, "{err}");
    assert!(stdout.contains("clean: accuracy") && stdout.contains("invert"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("all/shift.json")).unwrap()).unwrap();
    let kinds = json["kinds"].as_array().unwrap();
    assert_eq!(kinds.iter().map(|k| k["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["rotate", "shift", "noise", "blur", "contrast", "invert"]);
    assert!(kinds.iter().all(|k| k["results"].as_array().unwrap().len() == 5));
    assert_eq!((json["model"].as_str(), json["n_examples"].as_u64()), (Some("m"), Some(1797)));
    // Rotating by 90° costs most of the accuracy of a dense net on 8×8 digits.
    let rotated = json["kinds"][0]["results"][4]["accuracy"].as_f64().unwrap();
    assert!(rotated < json["clean"]["accuracy"].as_f64().unwrap() - 0.3, "rotated {rotated}");
    let md = std::fs::read_to_string(dir.join("all/shift.md")).unwrap();
    assert!(md.contains("## rotate (degrees)") && md.contains("| 0 (clean) |") && md.contains("AUROC model"), "{md}");
    for stem in ["shift_overview", "shift_rotate", "shift_shift", "shift_noise", "shift_blur", "shift_contrast", "shift_invert"] {
        assert_eq!(&std::fs::read(dir.join(format!("all/{stem}.png"))).unwrap()[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
        assert!(std::fs::read_to_string(dir.join(format!("all/{stem}.svg"))).unwrap().contains("<svg"), "{stem}.svg");
    }

    // Rotation by 0° gives the clean images and the same Monte Carlo draws: the same accuracy, and
    // no score tells the two sets apart (AUROC exactly ½).
    let (ok, _, err) = run(&["--kinds", "rotate", "--severities", "0,45", "--out", &p("zero")]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("zero/shift.json")).unwrap()).unwrap();
    let zero = &json["kinds"][0]["results"][0];
    assert_eq!(zero["accuracy"], json["clean"]["accuracy"]);
    for score in ["max_probability", "total", "data", "model"] {
        assert_eq!(zero["auroc"][score].as_f64(), Some(0.5), "{score}");
    }

    // Bad input: an unknown kind, severities without their kind, a bad severity, tabular data.
    let (ok, _, err) = run(&["--kinds", "rotate,spin", "--out", &p("bad")]);
    assert!(!ok && err.contains("--kinds") && err.contains("spin") && err.contains("rotate, shift, noise, blur, contrast, invert"), "{err}");
    let (ok, _, err) = run(&["--severities", "10,20", "--out", &p("bad")]);
    assert!(!ok && err.contains("--severities") && err.contains("KIND="), "{err}");
    let (ok, _, err) = run(&["--severities", "contrast=0.5,2", "--out", &p("bad")]);
    assert!(!ok && err.contains("contrast") && err.contains("from 0 to 1"), "{err}");
    let digits = digits();
    let rows: Vec<String> = (0..20)
        .map(|n| (0..64).map(|i| digits.feature(n, i).to_string()).chain([digits.labels().unwrap()[n].to_string()]).collect::<Vec<_>>().join(","))
        .collect();
    std::fs::write(dir.join("table.csv"), rows.join("\n")).unwrap();
    let (ok, _, err) = sbn(&[&["shift", &p("m.sbn"), "--data", &p("table.csv"), "--out", &p("bad")], &mc[..]].concat());
    assert!(!ok && err.contains("table") && err.contains("image shape"), "{err}");
    assert!(!dir.join("bad").exists(), "a refused run writes nothing");
    std::fs::remove_dir_all(&dir).unwrap();
}
