//! Figures for reports: every function writes `stem.png` and `stem.svg` (same drawing, two
//! backends), atomically ([`crate::io::write_atomic`]), with text set
//! in DejaVu Sans embedded in the binary so output does not depend on installed fonts.
//!
//! * [`reliability_diagram`]: per-bin accuracy against confidence, each gap shaded by its side
//!   (underconfident or overconfident), ECE in the title, with the confidence histogram below.
//! * [`score_histogram`]: one uncertainty score, in-distribution against OOD, overlaid.
//! * [`risk_coverage`]: selective-prediction curves with their AURC.
//! * [`line_chart`]: several named series over a shared x (optionally log x), e.g. accuracy or
//!   NLL against MC samples, or training curves.
//! * [`panels`]: several line charts in one figure, one panel per metric (the shift benchmark).
//! * [`heat_map`]: a value on a grid over the plane with labelled points on top (data and model
//!   uncertainty on a 2-D toy).
//!
//! Series of multi-series charts are told apart by colour and marker shape together
//! ([`series_style`]).

mod heatmap;
mod histogram;
mod line;
mod marker;
mod panels;
mod reliability;
mod risk;

pub use heatmap::{HeatMap, LabelledPoint, heat_map};
pub use histogram::{group_histogram, score_histogram};
pub use line::{LineChart, Series, line_chart};
pub use marker::Marker;
pub(crate) use marker::draw_styled_series;
pub use panels::{Panels, panels};
pub use reliability::{OVERCONFIDENT_RGB, UNDERCONFIDENT_RGB, reliability_diagram};
pub use risk::risk_coverage;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::ColorType;
use image::ImageEncoder;
use image::codecs::png::PngEncoder;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Result, SbnError};
use crate::io::write_atomic;

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
    /// The raster image, `stem.png`.
    pub png: PathBuf,
    /// The vector image, `stem.svg`.
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
    let size = figure.size();

    // Drawn in memory, encoded as PNG (the encoder plotters' file backend uses), written
    // atomically like every file the crate writes.
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE)?;
        figure.draw(&root)?;
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| draw_error(&png, e))?;
    let mut encoded = Vec::new();
    PngEncoder::new(&mut encoded).write_image(&rgb, size.0, size.1, ColorType::Rgb8).map_err(|e| draw_error(&png, e))?;
    write_atomic(&png, &encoded)?;

    let mut text = String::new();
    (|| -> DrawResult {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE)?;
        figure.draw(&root)?;
        root.present()?;
        Ok(())
    })()
    .map_err(|e| draw_error(&svg, e))?;
    write_atomic(&svg, text.as_bytes())?;
    Ok(PlotFiles { png, svg })
}

/// Series colours: twelve that stay apart on white (pairwise CIELAB ΔE ≥ 25, none lighter than
/// L* = 75), the Okabe–Ito colour-blind-safe set first, then darker or earthier ones. Their
/// order also gives the group colours of histograms and the class colours of heat maps.
pub(crate) const PALETTE: [RGBColor; 12] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(80, 80, 80),    // dark grey
    RGBColor(136, 34, 85),   // wine
    RGBColor(153, 153, 51),  // olive
    RGBColor(51, 34, 136),   // indigo
    RGBColor(140, 86, 75),   // brown
    RGBColor(102, 166, 30),  // leaf green
];

/// The `i`-th palette colour (cycling).
pub(crate) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// How one series of a multi-series chart is drawn: a colour and a marker shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesStyle {
    /// Red, green, blue.
    pub rgb: (u8, u8, u8),
    /// The marker shape drawn on the series' points and in its legend entry.
    pub marker: Marker,
}

impl SeriesStyle {
    pub(crate) fn colour(&self) -> RGBColor {
        RGBColor(self.rgb.0, self.rgb.1, self.rgb.2)
    }
}

/// The style of series `i`: palette colour `i mod 12` and marker `i mod 7`. The first twelve
/// series differ in colour and, up to seven, also in shape; as 12 and 7 are coprime no two of the
/// first 84 series share both. Every multi-series line chart draws its series through this and
/// one drawing function (line, markers, legend entry with the marker), so the styles cannot drift
/// apart between figures.
pub fn series_style(i: usize) -> SeriesStyle {
    let RGBColor(r, g, b) = colour(i);
    SeriesStyle { rgb: (r, g, b), marker: Marker::ALL[i % Marker::ALL.len()] }
}

/// A perceptually ordered dark-blue → green → yellow colour map on `t ∈ [0, 1]`.
pub(crate) fn colour_map(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
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
    mesh.max_light_lines(0).bold_line_style(BLACK.mix(0.12)).label_style((FONT, 13).into_font().color(&BLACK)).axis_desc_style(label_font())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CIELAB (D65) of an sRGB colour.
    fn lab(c: RGBColor) -> [f64; 3] {
        let lin = |u: u8| {
            let u = f64::from(u) / 255.0;
            if u <= 0.04045 { u / 12.92 } else { ((u + 0.055) / 1.055).powf(2.4) }
        };
        let (r, g, b) = (lin(c.0), lin(c.1), lin(c.2));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| if t > 216.0 / 24389.0 { t.cbrt() } else { (24389.0 / 27.0 * t + 16.0) / 116.0 };
        [116.0 * f(y) - 16.0, 500.0 * (f(x) - f(y)), 200.0 * (f(y) - f(z))]
    }

    #[test]
    fn palette_colours_are_far_apart_and_visible_on_white() {
        for (i, &a) in PALETTE.iter().enumerate() {
            let la = lab(a);
            assert!(la[0] <= 75.0, "colour {i} {a:?} is too light on white (L* = {:.1})", la[0]);
            for (j, &b) in PALETTE.iter().enumerate().skip(i + 1) {
                let lb = lab(b);
                let de = la.iter().zip(&lb).map(|(u, v)| (u - v).powi(2)).sum::<f64>().sqrt();
                assert!(de >= 25.0, "colours {i} {a:?} and {j} {b:?} are too close (ΔE = {de:.1})");
            }
        }
    }
}
