//! Figures: both files are written, the PNG is a PNG of the declared size, the SVG carries the
//! titles as text, and bad input is an error.

use std::path::PathBuf;

use sbn::metrics::{Binning, ReliabilityTable, RiskCoverage};
use sbn::plot::{self, HeatMap, LabelledPoint, LineChart, PlotFiles, Series};

fn out(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plots").join(name)
}

/// Checks the PNG signature and the IHDR size, and that the SVG contains every `text`.
fn check(files: &PlotFiles, size: (u32, u32), texts: &[&str]) {
    let png = std::fs::read(&files.png).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), size);
    let svg = std::fs::read_to_string(&files.svg).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
    for t in texts {
        assert!(svg.contains(t), "SVG lacks {t:?}");
    }
    // No temporary files of this figure left behind (other tests write in the same directory).
    let dir = files.png.parent().unwrap();
    let mine = [files.png.file_name().unwrap(), files.svg.file_name().unwrap()].map(|n| format!(".{}.", n.to_string_lossy()));
    assert!(std::fs::read_dir(dir).unwrap().all(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        !mine.iter().any(|m| name.starts_with(m.as_str()))
    }));
}

#[test]
fn reliability_diagram() {
    let conf: Vec<f64> = (0..200).map(|i| 0.3 + 0.7 * (i as f64 / 199.0)).collect();
    let hit: Vec<bool> = (0..200).map(|i| i % 4 != 0).collect();
    let table = ReliabilityTable::new(&conf, &hit, Binning::EqualWidth(15)).unwrap();
    let files = plot::reliability_diagram(&table, "Reliability test", out("reliability")).unwrap();
    assert_eq!(files.png, out("reliability.png"));
    let title = format!("Reliability test (ECE = {:.2}%)", 100.0 * table.ece());
    check(&files, (700, 860), &[&title, "confidence", "count"]);
    // Empty table.
    let mut empty = table.clone();
    empty.bins.iter_mut().for_each(|b| b.count = 0);
    assert!(plot::reliability_diagram(&empty, "x", out("bad")).is_err());
}

#[test]
fn score_histogram() {
    let inn: Vec<f64> = (0..300).map(|i| (i as f64 / 300.0).powi(2)).collect();
    let ood: Vec<f64> = (0..200).map(|i| 0.4 + i as f64 / 400.0).collect();
    let files = plot::score_histogram(&inn, &ood, "total entropy (nats)", "Entropy ID vs OOD", out("hist")).unwrap();
    check(&files, (800, 560), &["Entropy ID vs OOD", "total entropy (nats)", "OOD (n = 200)"]);
    // Constant scores still plot.
    plot::score_histogram(&[0.5], &[0.5, 0.5], "s", "constant", out("hist-constant")).unwrap();
    assert!(plot::score_histogram(&inn, &[], "s", "t", out("bad")).is_err());
    assert!(plot::score_histogram(&[], &ood, "s", "t", out("bad")).is_err());
    assert!(plot::score_histogram(&[f64::NAN], &ood, "s", "t", out("bad")).is_err());
}

#[test]
fn risk_coverage_plot() {
    let conf: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
    let hit: Vec<bool> = (0..100).map(|i| i > 30 || i % 3 == 0).collect();
    let a = RiskCoverage::new(&conf, &hit).unwrap();
    let b = RiskCoverage::new(&conf, &hit.iter().map(|h| !h).collect::<Vec<_>>()).unwrap();
    let files = plot::risk_coverage(&[("SBN", &a), ("inverted", &b)], "Selective risk", out("risk")).unwrap();
    check(&files, (800, 560), &["Selective risk", "coverage", "SBN (AURC"]);
    assert!(plot::risk_coverage(&[], "t", out("bad")).is_err());
    let mut broken = a.clone();
    broken.risk.pop();
    assert!(plot::risk_coverage(&[("x", &broken)], "t", out("bad")).is_err());
}

#[test]
fn line_charts() {
    let x: Vec<f64> = (0..8).map(|i| f64::from(1u32 << i)).collect();
    let chart = LineChart {
        title: "Accuracy against MC samples".into(),
        x_label: "weight samples".into(),
        y_label: "accuracy".into(),
        x: x.clone(),
        series: vec![
            Series { name: "packed".into(), y: x.iter().map(|s| 0.9 - 0.1 / s).collect() },
            Series { name: "float".into(), y: x.iter().map(|s| 0.89 - 0.1 / s).collect() },
        ],
        log_x: true,
    };
    let files = plot::line_chart(&chart, out("mc")).unwrap();
    check(&files, (800, 560), &["Accuracy against MC samples", "weight samples", "packed", "float"]);
    let training = LineChart {
        title: "Training curve".into(),
        x_label: "epoch".into(),
        y_label: "loss".into(),
        x: (1..=30).map(f64::from).collect(),
        series: vec![Series { name: "train loss".into(), y: (1..=30).map(|e| 1.0 / f64::from(e)).collect() }],
        log_x: false,
    };
    check(&plot::line_chart(&training, out("training")).unwrap(), (800, 560), &["Training curve", "train loss"]);

    let mut bad = chart.clone();
    bad.series[0].y.pop();
    assert!(plot::line_chart(&bad, out("bad")).is_err());
    let mut bad = chart.clone();
    bad.x[0] = 0.0; // log scale
    assert!(plot::line_chart(&bad, out("bad")).is_err());
    let mut bad = training.clone();
    bad.series.clear();
    assert!(plot::line_chart(&bad, out("bad")).is_err());
    let mut bad = training.clone();
    bad.x.clear();
    bad.series[0].y.clear();
    assert!(plot::line_chart(&bad, out("bad")).is_err());
}

#[test]
fn heat_map() {
    let (nx, ny) = (40, 30);
    let values: Vec<f64> = (0..nx * ny)
        .map(|i| {
            let (x, y) = (-3.0 + 6.0 * ((i % nx) as f64 + 0.5) / nx as f64, -2.0 + 4.0 * ((i / nx) as f64 + 0.5) / ny as f64);
            (0.5 * (x * x + y * y)).min(2.0)
        })
        .collect();
    let points = vec![
        LabelledPoint { x: -1.0, y: 0.5, label: 0 },
        LabelledPoint { x: 1.0, y: -0.5, label: 1 },
        LabelledPoint { x: 1.2, y: -0.2, label: 1 },
        LabelledPoint { x: 9.0, y: 9.0, label: 2 }, // outside, skipped
    ];
    let map = HeatMap {
        title: "Model uncertainty on the toy".into(),
        x_label: "x1".into(),
        y_label: "x2".into(),
        value_label: "model part (nats)".into(),
        x_range: (-3.0, 3.0),
        y_range: (-2.0, 2.0),
        nx,
        ny,
        values,
        points,
    };
    let files = plot::heat_map(&map, out("map")).unwrap();
    check(&files, (820, 700), &["Model uncertainty on the toy", "model part (nats)", "class 1"]);
    let mut bad = map.clone();
    bad.values.pop();
    assert!(plot::heat_map(&bad, out("bad")).is_err());
    let mut bad = map.clone();
    bad.x_range = (1.0, 1.0);
    assert!(plot::heat_map(&bad, out("bad")).is_err());
    let mut bad = map.clone();
    bad.values[3] = f64::INFINITY;
    assert!(plot::heat_map(&bad, out("bad")).is_err());
}
