//! Figures: both files are written, the PNG is a PNG of the declared size, the SVG carries the
//! titles as text, and bad input is an error.

use std::path::PathBuf;

use sbn::metrics::{Binning, ReliabilityTable, RiskCoverage};
use std::collections::HashSet;

use sbn::plot::{self, HeatMap, LabelledPoint, LineChart, Marker, PlotFiles, Series};

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

/// `fill="#RRGGBB"` as the SVG backend writes a filled shape's colour.
fn svg_fill((r, g, b): (u8, u8, u8)) -> String {
    format!("fill=\"#{r:02X}{g:02X}{b:02X}\"")
}

/// Confidences spread evenly over `[lo, hi]`, and outcomes correct with probability `accuracy(c)`
/// (deterministically: the golden-ratio sequence against the target rate).
fn table(n: usize, lo: f64, hi: f64, accuracy: impl Fn(f64) -> f64) -> ReliabilityTable {
    let conf: Vec<f64> = (0..n).map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64).collect();
    let hit: Vec<bool> = conf.iter().enumerate().map(|(i, &c)| (i as f64 * 0.618_033_988_749_895).fract() < accuracy(c)).collect();
    ReliabilityTable::new(&conf, &hit, Binning::EqualWidth(10)).unwrap()
}

/// The side of each bin's gap is visible: an underconfident model's gaps are filled in the
/// underconfident colour only and its legend names only that side, an overconfident model's the
/// other way round, and a calibrated one's gaps are small.
#[test]
fn reliability_gap_sides() {
    let (under_fill, over_fill) = (svg_fill(plot::UNDERCONFIDENT_RGB), svg_fill(plot::OVERCONFIDENT_RGB));
    assert_ne!(under_fill, over_fill);
    let under_text = "underconfident (accuracy above confidence)";
    let over_text = "overconfident (accuracy below confidence)";

    let under = table(2000, 0.5, 0.75, |_| 0.97);
    let over = table(2000, 0.85, 1.0, |_| 0.6);
    let calibrated = table(4000, 0.5, 1.0, |c| c);
    for (t, ece) in [(&under, (0.3, 0.4)), (&over, (0.3, 0.4)), (&calibrated, (0.0, 0.02))] {
        let (u, o) = t.ece_by_side();
        assert!((u + o - t.ece()).abs() < 1e-12, "{u} + {o} against {}", t.ece());
        assert!((ece.0..ece.1).contains(&t.ece()), "ECE {}", t.ece());
    }
    assert_eq!(under.ece_by_side().1, 0.0);
    assert_eq!(over.ece_by_side().0, 0.0);

    let svg = |t: &ReliabilityTable, name: &str| {
        let files = plot::reliability_diagram(t, name, out(name)).unwrap();
        check(&files, (700, 860), &["perfect calibration", "accuracy per bin"]);
        std::fs::read_to_string(&files.svg).unwrap()
    };
    let under_svg = svg(&under, "reliability-underconfident");
    assert!(under_svg.contains(&under_fill) && under_svg.contains(under_text));
    assert!(!under_svg.contains(&over_fill) && !under_svg.contains(over_text));
    let over_svg = svg(&over, "reliability-overconfident");
    assert!(over_svg.contains(&over_fill) && over_svg.contains(over_text));
    assert!(!over_svg.contains(&under_fill) && !over_svg.contains(under_text));
    let (u, o) = calibrated.ece_by_side();
    let calibrated_svg = svg(&calibrated, "reliability-calibrated");
    assert!(calibrated_svg.contains(&format!("{under_text}: adds {:.2}% to the ECE", 100.0 * u)));
    assert!(calibrated_svg.contains(&format!("{over_text}: adds {:.2}% to the ECE", 100.0 * o)));
}

/// Series styles: the first twelve series have twelve colours, neighbours differ in shape, and
/// no two of the first 84 share both colour and marker.
#[test]
fn series_styles_are_distinct() {
    let styles: Vec<_> = (0..84).map(plot::series_style).collect();
    assert_eq!(styles[..12].iter().map(|s| s.rgb).collect::<HashSet<_>>().len(), 12);
    assert_eq!(styles[..7].iter().map(|s| s.marker).collect::<HashSet<_>>().len(), Marker::ALL.len());
    assert!(Marker::ALL.len() >= 6);
    assert!(styles.windows(2).all(|w| w[0].marker != w[1].marker));
    assert_eq!(styles.iter().map(|s| (s.rgb, s.marker)).collect::<HashSet<_>>().len(), 84);
    assert_eq!(plot::series_style(84), plot::series_style(0));
}

/// A chart with one series per gradient estimator: every series' colour is drawn, and every
/// name is in the legend.
#[test]
fn many_series_line_chart() {
    let names = ["psa", "st", "hardst", "arm", "disarm", "reinforce", "reinforce-nb", "concrete", "stgumbel", "tanh", "exact", "twelfth"];
    let x = vec![1.0, 10.0, 100.0, 1000.0];
    let series: Vec<Series> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Series { name: n.to_string(), y: x.iter().map(|m: &f64| 1.0 - (1.0 + i as f64) / (10.0 * m.sqrt()) / 2.0).collect() })
        .collect();
    let chart =
        LineChart { title: "Cosine to the exact gradient".into(), x_label: "samples averaged (M)".into(), y_label: "cosine".into(), x, series, log_x: true };
    let files = plot::line_chart(&chart, out("estimators")).unwrap();
    check(&files, (800, 560), &names);
    let svg = std::fs::read_to_string(&files.svg).unwrap();
    for i in 0..names.len() {
        let (r, g, b) = plot::series_style(i).rgb;
        assert!(svg.contains(&format!("#{r:02X}{g:02X}{b:02X}")), "series {i} colour not drawn");
    }
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
