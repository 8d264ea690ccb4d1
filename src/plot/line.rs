//! A generic line chart: several named series over one shared x, optionally with a log-scaled x
//! (accuracy / NLL against the number of MC samples, training curves against epochs).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DrawResult, Figure, PlotFiles, check_finite, draw_styled_series, label_font, padded_range, series_style, style_mesh, title_font, write_figure};
use crate::error::{Result, SbnError};

/// One named curve; `y[i]` belongs to the chart's `x[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend entry of the curve.
    pub name: String,
    /// The values, one per entry of the chart's `x`; finite.
    pub y: Vec<f64>,
}

/// A line chart description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LineChart {
    /// Title above the figure.
    pub title: String,
    /// Label of the horizontal axis.
    pub x_label: String,
    /// Label of the vertical axis.
    pub y_label: String,
    /// Shared x values (positive when `log_x`).
    pub x: Vec<f64>,
    /// The curves, at least one, styled by [`series_style`] in this order.
    pub series: Vec<Series>,
    /// Log-scaled x axis (e.g. MC sample counts 1, 2, 4, …).
    pub log_x: bool,
}

impl LineChart {
    /// Rejects empty or non-finite data, series of the wrong length and non-positive log x.
    pub(crate) fn check(&self) -> Result<()> {
        let place = "line chart";
        check_finite("x", &self.x)?;
        if self.log_x && self.x.iter().any(|&v| v <= 0.0) {
            return Err(SbnError::invalid(place, "a log-scaled x needs positive values"));
        }
        if self.series.is_empty() {
            return Err(SbnError::invalid(place, "no series"));
        }
        for s in &self.series {
            if s.y.len() != self.x.len() {
                return Err(SbnError::invalid(place, format!("series {:?}: {} values for {} x", s.name, s.y.len(), self.x.len())));
            }
            check_finite(&s.name, &s.y)?;
        }
        Ok(())
    }
}

/// Mesh, one styled series each (own colour and marker, see [`series_style`]), and legend; the
/// same for linear and log x.
macro_rules! draw_lines {
    ($chart:ident, $self:ident) => {{
        style_mesh(&mut $chart.configure_mesh()).x_desc($self.x_label.as_str()).y_desc($self.y_label.as_str()).draw()?;
        for (i, s) in $self.series.iter().enumerate() {
            let points: Vec<(f64, f64)> = $self.x.iter().copied().zip(s.y.iter().copied()).collect();
            draw_styled_series(&mut $chart, &points, &points, series_style(i), &s.name)?;
        }
        $chart
            .configure_series_labels()
            .position($self.legend_corner())
            .label_font(label_font())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }};
}

impl LineChart {
    /// Puts the legend in the right-hand corner away from where the series end.
    fn legend_corner(&self) -> SeriesLabelPosition {
        let (lo, hi) = padded_range(self.series.iter().flat_map(|s| s.y.iter().copied()), 0.0);
        let last = self.series.iter().filter_map(|s| s.y.last()).sum::<f64>() / self.series.len() as f64;
        if last > (lo + hi) / 2.0 { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperRight }
    }
}

impl Figure for LineChart {
    fn size(&self) -> (u32, u32) {
        (800, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.titled(&self.title, title_font())?;
        let (y0, y1) = padded_range(self.series.iter().flat_map(|s| s.y.iter().copied()), 0.05);
        let mut builder = ChartBuilder::on(&area);
        builder.margin(15).x_label_area_size(45).y_label_area_size(70);
        if self.log_x {
            let lo = self.x.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = self.x.iter().copied().fold(0.0, f64::max);
            let (lo, hi) = if hi > lo { (lo / 1.15, hi * 1.15) } else { (lo / 2.0, hi * 2.0) };
            let mut chart = builder.build_cartesian_2d((lo..hi).log_scale(), y0..y1)?;
            draw_lines!(chart, self);
        } else {
            let (x0, x1) = padded_range(self.x.iter().copied(), 0.02);
            let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
            draw_lines!(chart, self);
        }
        Ok(())
    }
}

/// Writes `chart` to `stem.png` / `stem.svg`.
pub fn line_chart(chart: &LineChart, stem: impl AsRef<Path>) -> Result<PlotFiles> {
    chart.check()?;
    write_figure(chart, stem.as_ref())
}
