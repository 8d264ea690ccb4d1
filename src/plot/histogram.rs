//! Overlaid histograms (as densities) of one uncertainty score on in-distribution and OOD data.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, Figure, PlotFiles, check_finite, colour, label_font, padded_range, style_mesh, title_font, write_figure};
use crate::error::Result;

/// Number of histogram bins over the joint range of both samples.
const BINS: usize = 40;

struct ScoreHistogram {
    title: String,
    score_name: String,
    lo: f64,
    width: f64,
    /// (legend, densities per bin)
    groups: Vec<(String, Vec<f64>)>,
}

fn densities(values: &[f64], lo: f64, width: f64) -> Vec<f64> {
    let mut counts = vec![0.0; BINS];
    for v in values {
        let i = (((v - lo) / width) as usize).min(BINS - 1);
        counts[i] += 1.0;
    }
    counts.iter().map(|c| c / (values.len() as f64 * width)).collect()
}

impl Figure for ScoreHistogram {
    fn size(&self) -> (u32, u32) {
        (800, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.titled(&self.title, title_font())?;
        let hi = self.lo + self.width * BINS as f64;
        let top = self.groups.iter().flat_map(|g| g.1.iter().copied()).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let mut chart = ChartBuilder::on(&area).margin(15).x_label_area_size(45).y_label_area_size(70).build_cartesian_2d(self.lo..hi, 0.0..top * 1.1)?;
        style_mesh(&mut chart.configure_mesh()).x_desc(self.score_name.as_str()).y_desc("density").draw()?;
        for (g, (name, dens)) in self.groups.iter().enumerate() {
            let c = colour(g);
            chart
                .draw_series(dens.iter().enumerate().filter(|(_, d)| **d > 0.0).map(|(i, &d)| {
                    let x0 = self.lo + i as f64 * self.width;
                    Rectangle::new([(x0, 0.0), (x0 + self.width, d)], c.mix(0.45).filled())
                }))?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.mix(0.6).filled()));
            // Outline of the histogram so overlapping parts stay readable.
            let outline = dens.iter().enumerate().flat_map(|(i, &d)| {
                let x0 = self.lo + i as f64 * self.width;
                [(x0, d), (x0 + self.width, d)]
            });
            chart.draw_series(LineSeries::new(outline, c.stroke_width(2)))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(label_font())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

/// Writes overlaid density histograms of `in_dist` and `ood` values of the score `score_name`
/// (the x-axis label) to `stem.png` / `stem.svg`. Both samples must be non-empty and finite.
pub fn score_histogram(in_dist: &[f64], ood: &[f64], score_name: &str, title: &str, stem: impl AsRef<Path>) -> Result<PlotFiles> {
    group_histogram(&[("in-distribution", in_dist), ("OOD", ood)], score_name, title, stem)
}

/// Overlaid density histograms of named groups of one score (e.g. correct against incorrect
/// predictions). Every group must be non-empty and finite.
pub fn group_histogram(groups: &[(&str, &[f64])], score_name: &str, title: &str, stem: impl AsRef<Path>) -> Result<PlotFiles> {
    for (name, values) in groups {
        check_finite(name, values)?;
    }
    let (lo, hi) = padded_range(groups.iter().flat_map(|(_, v)| v.iter()).copied(), 0.0);
    let width = (hi - lo) / BINS as f64;
    let groups = groups.iter().map(|(name, v)| (format!("{name} (n = {})", v.len()), densities(v, lo, width))).collect();
    write_figure(&ScoreHistogram { title: title.to_string(), score_name: score_name.to_string(), lo, width, groups }, stem.as_ref())
}
