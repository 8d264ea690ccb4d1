//! Reliability diagram: per-bin accuracy against confidence with the gap to the diagonal, the ECE
//! in the title, and the confidence histogram below (same bins).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, Figure, PlotFiles, colour, label_font, style_mesh, title_font, write_figure};
use crate::error::{Result, SbnError};
use crate::metrics::ReliabilityTable;

struct Reliability<'a> {
    table: &'a ReliabilityTable,
    title: String,
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
        let (top, bottom) = area.split_vertically(area.dim_in_pixel().1 * 7 / 10);
        let bins = &self.table.bins;

        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        style_mesh(&mut chart.configure_mesh()).y_desc("accuracy").draw()?;
        let filled = bins.iter().filter(|b| b.count > 0);
        // The bar is solid up to min(accuracy, confidence); the gap between the two is shaded
        // separately so it reads the same whether the bin is over- or under-confident. The
        // outline marks the accuracy, the thick line the mean confidence.
        chart
            .draw_series(filled.clone().map(|b| {
                Rectangle::new([(b.lower, 0.0), (b.upper, b.accuracy.min(b.confidence))], colour(0).filled())
            }))?
            .label("accuracy (black outline: its top)")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour(0).filled()));
        chart
            .draw_series(filled.clone().map(|b| {
                let (lo, hi) = (b.accuracy.min(b.confidence), b.accuracy.max(b.confidence));
                Rectangle::new([(b.lower, lo), (b.upper, hi)], colour(1).mix(0.3).filled())
            }))?
            .label("gap to the mean confidence")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour(1).mix(0.3).filled()));
        chart.draw_series(filled.clone().map(|b| Rectangle::new([(b.lower, 0.0), (b.upper, b.accuracy)], BLACK.stroke_width(1))))?;
        chart
            .draw_series(filled.map(|b| {
                PathElement::new([(b.lower, b.confidence), (b.upper, b.confidence)], colour(1).stroke_width(3))
            }))?
            .label("mean confidence")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], colour(1).stroke_width(3)));
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.stroke_width(1)))?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(label_font())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;

        let max_count = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
        let mut hist = ChartBuilder::on(&bottom)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..max_count * 1.1)?;
        let count_label = |v: &f64| format!("{v:.0}");
        style_mesh(&mut hist.configure_mesh())
            .x_desc("confidence")
            .y_desc("count")
            .y_labels(4)
            .y_label_formatter(&count_label)
            .draw()?;
        hist.draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
            Rectangle::new([(b.lower, 0.0), (b.upper, b.count as f64)], colour(6).mix(0.8).filled())
        }))?;
        Ok(())
    }
}

/// Writes the reliability diagram of `table` to `stem.png` / `stem.svg`. The title shown is
/// `"{title} (ECE = x.xx%)"`.
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
