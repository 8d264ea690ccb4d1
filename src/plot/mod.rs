//! Figures for reports: every function writes `stem.png` and `stem.svg` (same drawing, two
//! backends), atomically (temporary file in the target directory, then rename), with text set
//! in DejaVu Sans embedded in the binary so output does not depend on installed fonts.
//!
//! * [`reliability_diagram`]: per-bin accuracy against confidence, ECE in the title, with the
//!   confidence histogram below.
//! * [`score_histogram`]: one uncertainty score, in-distribution against OOD, overlaid.
//! * [`risk_coverage`]: selective-prediction curves with their AURC.
//! * [`line_chart`]: several named series over a shared x (optionally log x), e.g. accuracy or
//!   NLL against MC samples, or training curves.
//! * [`heat_map`]: a value on a grid over the plane with labelled points on top (data and model
//!   uncertainty on a 2-D toy).

mod heatmap;
mod histogram;
mod line;
mod reliability;
mod risk;

pub use heatmap::{HeatMap, LabelledPoint, heat_map};
pub use histogram::{group_histogram, score_histogram};
pub use line::{LineChart, Series, line_chart};
pub use reliability::reliability_diagram;
pub use risk::risk_coverage;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Result, SbnError};

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family every figure uses; registered once, on first use.
pub(crate) const FONT: &str = "sans-serif";

/// Registers the embedded font as plotters' "sans-serif" (once per process).
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok { Ok(()) } else { Err(SbnError::Unsupported("the embedded font could not be loaded".into())) }
}

/// The two files a figure was written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotFiles {
    pub png: PathBuf,
    pub svg: PathBuf,
}

pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// A drawing that can be rendered on any backend.
pub(crate) trait Figure {
    /// Pixel size `(width, height)`.
    fn size(&self) -> (u32, u32);
    /// Draws on a white root area.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// `stem` with `.ext` appended (not replacing an existing extension).
fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s: OsString = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// A unique temporary path next to `target`, keeping its extension (the PNG encoder picks the
/// format from it).
fn temp_path(target: &Path, ext: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let unique = format!(".{name}.{}-{}.tmp.{ext}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    target.with_file_name(unique)
}

fn draw_error(path: &Path, e: impl std::fmt::Display) -> SbnError {
    SbnError::invalid(format!("plot {}", path.display()), e.to_string())
}

/// Renders `figure` to `stem.png` and `stem.svg`, creating the parent directory if needed.
pub(crate) fn write_figure(figure: &impl Figure, stem: &Path) -> Result<PlotFiles> {
    ensure_font()?;
    if stem.file_name().is_none() {
        return Err(SbnError::invalid("plot", format!("{}: not a file stem", stem.display())));
    }
    let (png, svg) = (with_suffix(stem, "png"), with_suffix(stem, "svg"));
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| SbnError::io(dir, e))?;
    }
    let size = figure.size();

    let tmp = temp_path(&png, "png");
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        figure.draw(&root)?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(draw_error(&png, e));
    }
    std::fs::rename(&tmp, &png).map_err(|e| SbnError::io(&png, e))?;

    let mut text = String::new();
    (|| -> DrawResult {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE)?;
        figure.draw(&root)?;
        root.present()?;
        Ok(())
    })()
    .map_err(|e| draw_error(&svg, e))?;
    let tmp = temp_path(&svg, "svg");
    std::fs::write(&tmp, text).map_err(|e| SbnError::io(&tmp, e))?;
    std::fs::rename(&tmp, &svg).map_err(|e| SbnError::io(&svg, e))?;
    Ok(PlotFiles { png, svg })
}

/// Series colours (distinct on white, colour-blind friendly order).
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

/// The `i`-th series colour (cycling).
pub(crate) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A perceptually ordered dark-blue → green → yellow colour map on `t ∈ [0, 1]`.
pub(crate) fn colour_map(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |u: f64, v: f64| (u + f * (v - u)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Rejects empty or non-finite data before anything is drawn.
pub(crate) fn check_finite(what: &str, values: &[f64]) -> Result<()> {
    if values.is_empty() {
        return Err(SbnError::invalid("plot", format!("{what}: no data")));
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(SbnError::invalid("plot", format!("{what}: {v} is not finite")));
    }
    Ok(())
}

/// `(min, max)` padded by `pad` of the span; a zero span becomes ±0.5 (or ±|v|/2).
pub(crate) fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if hi > lo {
        let d = (hi - lo) * pad;
        (lo - d, hi + d)
    } else {
        let d = if lo == 0.0 { 0.5 } else { lo.abs() / 2.0 };
        (lo - d, hi + d)
    }
}

/// Title style.
pub(crate) fn title_font() -> TextStyle<'static> {
    (FONT, 22).into_font().color(&BLACK)
}

/// Axis-label style.
pub(crate) fn label_font() -> TextStyle<'static> {
    (FONT, 16).into_font().color(&BLACK)
}

/// Common axis look: major grid only, readable tick and axis labels.
pub(crate) fn style_mesh<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB> {
    mesh.max_light_lines(0)
        .bold_line_style(BLACK.mix(0.12))
        .label_style((FONT, 13).into_font().color(&BLACK))
        .axis_desc_style(label_font())
}
