//! Risk–coverage curves of selective prediction, one or several on the same axes.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, Figure, PlotFiles, draw_styled_series, label_font, series_style, style_mesh, title_font, write_figure};
use crate::error::{Result, SbnError};
use crate::metrics::RiskCoverage;

struct Curves<'a> {
    title: String,
    curves: &'a [(&'a str, &'a RiskCoverage)],
}

impl Figure for Curves<'_> {
    fn size(&self) -> (u32, u32) {
        (800, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.titled(&self.title, title_font())?;
        let top = self.curves.iter().flat_map(|c| c.1.risk.iter().copied()).fold(0.0, f64::max);
        let top = if top > 0.0 { top * 1.1 } else { 0.1 };
        let mut chart = ChartBuilder::on(&area).margin(15).x_label_area_size(45).y_label_area_size(70).build_cartesian_2d(0.0..1.0, 0.0..top)?;
        style_mesh(&mut chart.configure_mesh()).x_desc("coverage").y_desc("risk (error rate)").draw()?;
        for (i, (name, rc)) in self.curves.iter().enumerate() {
            // Step curve: risk_i holds on (coverage_{i−1}, coverage_i], as in the AURC; the
            // markers sit on the data points (coverage_i, risk_i).
            let mut points = Vec::with_capacity(2 * rc.coverage.len());
            let mut previous = 0.0;
            for (&cov, &r) in rc.coverage.iter().zip(&rc.risk) {
                points.push((previous, r));
                points.push((cov, r));
                previous = cov;
            }
            let data: Vec<(f64, f64)> = rc.coverage.iter().copied().zip(rc.risk.iter().copied()).collect();
            draw_styled_series(&mut chart, &points, &data, series_style(i), &format!("{name} (AURC = {:.4})", rc.aurc))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(label_font())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

/// Writes the named risk–coverage curves (legend shows each AURC) to `stem.png` / `stem.svg`.
pub fn risk_coverage(curves: &[(&str, &RiskCoverage)], title: &str, stem: impl AsRef<Path>) -> Result<PlotFiles> {
    if curves.is_empty() {
        return Err(SbnError::invalid("risk-coverage plot", "no curves"));
    }
    for (name, rc) in curves {
        let ok = !rc.coverage.is_empty()
            && rc.coverage.len() == rc.risk.len()
            && rc.coverage.iter().chain(&rc.risk).all(|v| (0.0..=1.0).contains(v))
            && rc.aurc.is_finite();
        if !ok {
            return Err(SbnError::invalid("risk-coverage plot", format!("curve {name:?}: needs equally many coverage and risk values in [0, 1]")));
        }
    }
    write_figure(&Curves { title: title.to_string(), curves }, stem.as_ref())
}
