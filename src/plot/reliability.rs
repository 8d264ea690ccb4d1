//! Reliability diagram: per-bin accuracy against confidence, each bin's gap to its mean
//! confidence shaded by its side (one colour where the model is underconfident, another where it
//! is overconfident), the ECE in the title and its two sides in the legend, and the confidence
//! histogram below (same bins), and on every bar the 95 % Wilson interval of the bin's accuracy
//! (Wilson 1927), so a gap within it reads as noise. The side matters: an ECE, or a gap shaded the same either way,
//! reads the same for a model that is too sure as for one that is not sure enough.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, Figure, PlotFiles, label_font, style_mesh, title_font, write_figure};
use crate::error::{Result, SbnError};
use crate::metrics::ReliabilityTable;
use crate::metrics::interval::bin_intervals;

/// Fill of a bin's gap when its accuracy is above its mean confidence (underconfident): blue.
pub const UNDERCONFIDENT_RGB: (u8, u8, u8) = (0, 114, 178);
/// Fill of a bin's gap when its accuracy is below its mean confidence (overconfident): vermillion.
pub const OVERCONFIDENT_RGB: (u8, u8, u8) = (213, 94, 0);

const fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

/// The accuracy bars: neutral, so that only the gaps carry colour.
const ACCURACY_FILL: RGBColor = RGBColor(205, 205, 205);
/// The confidence histogram.
const COUNT_FILL: RGBColor = RGBColor(140, 140, 140);

/// Pixel rows of the legend strip between the diagram and the histogram.
const LEGEND_ROW: i32 = 24;

/// What a legend row shows before its text.
enum Swatch {
    /// A filled box with a black outline (`true`) or without.
    Fill(RGBColor, bool),
    /// A dashed black line.
    Dashed,
    /// An error bar.
    ErrorBar,
}

/// The confidence level of the error bars.
pub const ERROR_BAR_LEVEL: f64 = 0.95;

struct Reliability<'a> {
    table: &'a ReliabilityTable,
    title: String,
}

impl Reliability<'_> {
    /// Legend rows: the accuracy bars, one row per side that has a gap (with its part of the
    /// ECE), and the diagonal.
    fn legend(&self) -> Vec<(Swatch, String)> {
        let (under, over) = self.table.ece_by_side();
        let filled = || self.table.bins.iter().filter(|b| b.count > 0);
        let mut rows = vec![(Swatch::Fill(ACCURACY_FILL, true), "accuracy per bin (bar)".to_string())];
        if filled().any(|b| b.accuracy > b.confidence) {
            let text = format!("underconfident (accuracy above confidence): adds {:.2}% to the ECE", 100.0 * under);
            rows.push((Swatch::Fill(rgb(UNDERCONFIDENT_RGB), false), text));
        }
        if filled().any(|b| b.accuracy < b.confidence) {
            let text = format!("overconfident (accuracy below confidence): adds {:.2}% to the ECE", 100.0 * over);
            rows.push((Swatch::Fill(rgb(OVERCONFIDENT_RGB), false), text));
        }
        rows.push((Swatch::ErrorBar, format!("{:.0}% Wilson interval of the bin's accuracy", 100.0 * ERROR_BAR_LEVEL)));
        rows.push((Swatch::Dashed, "perfect calibration (accuracy = confidence)".to_string()));
        rows
    }
}

/// Draws the legend rows on `area`, starting at pixel column `left`.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, left: i32, rows: &[(Swatch, String)]) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let text_style = label_font().pos(Pos::new(HPos::Left, VPos::Center));
    for (k, (swatch, text)) in rows.iter().enumerate() {
        let y = LEGEND_ROW / 2 + 6 + k as i32 * LEGEND_ROW;
        match swatch {
            Swatch::Fill(c, outline) => {
                area.draw(&Rectangle::new([(left, y - 7), (left + 28, y + 7)], c.filled()))?;
                if *outline {
                    area.draw(&Rectangle::new([(left, y - 7), (left + 28, y + 7)], BLACK.stroke_width(1)))?;
                }
            }
            Swatch::Dashed => area.draw(&DashedPathElement::new([(left, y), (left + 28, y)], 5, 3, BLACK.stroke_width(2)))?,
            Swatch::ErrorBar => {
                area.draw(&PathElement::new([(left + 14, y - 8), (left + 14, y + 8)], BLACK.stroke_width(1)))?;
                for end in [y - 8, y + 8] {
                    area.draw(&PathElement::new([(left + 9, end), (left + 19, end)], BLACK.stroke_width(1)))?;
                }
            }
        }
        area.draw(&Text::new(text.as_str(), (left + 38, y), text_style.clone()))?;
    }
    Ok(())
}

impl Figure for Reliability<'_> {
    fn size(&self) -> (u32, u32) {
        (700, 860)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.titled(&self.title, title_font())?;
        let rows = self.legend();
        let legend_height = rows.len() as u32 * LEGEND_ROW as u32 + 12;
        let height = area.dim_in_pixel().1;
        let (top, rest) = area.split_vertically(height * 6 / 10);
        let (legend, bottom) = rest.split_vertically(legend_height);
        let bins = &self.table.bins;
        // Plot-area left edge: chart margin plus y-label area (the same in both charts).
        let (margin, y_labels) = (10, 60);

        let mut chart = ChartBuilder::on(&top)
            .margin(margin)
            .margin_right(2 * margin)
            .x_label_area_size(30)
            .y_label_area_size(y_labels)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        style_mesh(&mut chart.configure_mesh()).y_desc("accuracy").draw()?;
        let filled = || bins.iter().filter(|b| b.count > 0);
        // Grey bar up to the accuracy; over it the gap between accuracy and mean confidence, in
        // the colour of its side: for an underconfident bin the top of the bar (accuracy above
        // confidence), for an overconfident one the empty space above the bar up to the
        // confidence. The black outline marks the accuracy; the diagonal goes on top.
        chart.draw_series(filled().map(|b| Rectangle::new([(b.lower, 0.0), (b.upper, b.accuracy)], ACCURACY_FILL.filled())))?;
        chart.draw_series(filled().filter(|b| b.accuracy != b.confidence).map(|b| {
            let side = if b.accuracy > b.confidence { UNDERCONFIDENT_RGB } else { OVERCONFIDENT_RGB };
            Rectangle::new([(b.lower, b.accuracy), (b.upper, b.confidence)], rgb(side).filled())
        }))?;
        chart.draw_series(filled().map(|b| Rectangle::new([(b.lower, 0.0), (b.upper, b.accuracy)], BLACK.stroke_width(1))))?;
        chart.draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 5, 3, BLACK.stroke_width(2)))?;
        draw_error_bars(&mut chart, self.table)?;

        draw_legend(&legend, margin + y_labels, &rows)?;

        let max_count = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
        let mut hist = ChartBuilder::on(&bottom)
            .margin(margin)
            .margin_right(2 * margin)
            .x_label_area_size(45)
            .y_label_area_size(y_labels)
            .build_cartesian_2d(0.0..1.0, 0.0..max_count * 1.1)?;
        let count_label = |v: &f64| format!("{v:.0}");
        style_mesh(&mut hist.configure_mesh()).x_desc("confidence").y_desc("count").y_labels(4).y_label_formatter(&count_label).draw()?;
        hist.draw_series(filled().map(|b| Rectangle::new([(b.lower, 0.0), (b.upper, b.count as f64)], COUNT_FILL.filled())))?;
        Ok(())
    }
}

/// The Wilson interval of every non-empty bin's accuracy as a vertical bar with caps, at the bin's
/// centre.
fn draw_error_bars<DB: DrawingBackend>(chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, table: &ReliabilityTable) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let intervals = bin_intervals(table, ERROR_BAR_LEVEL)?;
    for (b, i) in table.bins.iter().zip(intervals).filter(|(b, _)| b.count > 0) {
        let (x, cap) = ((b.lower + b.upper) / 2.0, (b.upper - b.lower) / 6.0);
        chart.draw_series([
            PathElement::new([(x, i.lower), (x, i.upper)], BLACK.stroke_width(1)),
            PathElement::new([(x - cap, i.lower), (x + cap, i.lower)], BLACK.stroke_width(1)),
            PathElement::new([(x - cap, i.upper), (x + cap, i.upper)], BLACK.stroke_width(1)),
        ])?;
    }
    Ok(())
}

/// Writes the reliability diagram of `table` to `stem.png` / `stem.svg`. The title shown is
/// `"{title} (ECE = x.xx%)"`; gaps are filled with [`UNDERCONFIDENT_RGB`] or
/// [`OVERCONFIDENT_RGB`] by side, and the legend lists only the sides present.
pub fn reliability_diagram(table: &ReliabilityTable, title: &str, stem: impl AsRef<Path>) -> Result<PlotFiles> {
    if table.n == 0 || table.bins.iter().all(|b| b.count == 0) {
        return Err(SbnError::invalid("reliability diagram", "no examples"));
    }
    let bad = |v: f64| !(0.0..=1.0).contains(&v);
    if table.bins.iter().any(|b| bad(b.lower) || bad(b.upper) || bad(b.accuracy) || bad(b.confidence) || b.lower > b.upper) {
        return Err(SbnError::invalid("reliability diagram", "bin bounds, accuracies and confidences must lie in [0, 1]"));
    }
    let title = format!("{title} (ECE = {:.2}%)", 100.0 * table.ece());
    write_figure(&Reliability { table, title }, stem.as_ref())
}
