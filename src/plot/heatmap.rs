//! A 2-D map: a scalar on a regular grid over a rectangle of the plane as a colour heat map, with
//! class-labelled points on top and a colour bar (used for the data part and the model part of
//! the uncertainty on a 2-D toy problem).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DrawResult, Figure, PlotFiles, check_finite, colour, colour_map, label_font, padded_range, style_mesh, title_font, write_figure};
use crate::error::{Result, SbnError};

/// A point drawn on the map, coloured by its class `label`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelledPoint {
    /// Horizontal coordinate, in the units of `x_range`.
    pub x: f64,
    /// Vertical coordinate, in the units of `y_range`.
    pub y: f64,
    /// Class of the point: its palette colour and its legend entry.
    pub label: usize,
}

/// A heat-map description. The rectangle `x_range × y_range` is cut into `nx × ny` equal cells;
/// `values[iy * nx + ix]` is the value of cell `(ix, iy)` (typically evaluated at its centre),
/// `iy = 0` at the bottom (`y_range.0`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeatMap {
    /// Title above the figure.
    pub title: String,
    /// Label of the horizontal axis.
    pub x_label: String,
    /// Label of the vertical axis.
    pub y_label: String,
    /// Colour-bar label, e.g. "model uncertainty (nats)".
    pub value_label: String,
    /// Horizontal extent `(left, right)` of the rectangle, finite with left < right.
    pub x_range: (f64, f64),
    /// Vertical extent `(bottom, top)` of the rectangle, finite with bottom < top.
    pub y_range: (f64, f64),
    /// Cells along x.
    pub nx: usize,
    /// Cells along y.
    pub ny: usize,
    /// The `nx · ny` cell values, row by row from the bottom (`values[iy * nx + ix]`); finite.
    pub values: Vec<f64>,
    /// Drawn on top; points outside the rectangle are skipped.
    pub points: Vec<LabelledPoint>,
}

impl HeatMap {
    fn check(&self) -> Result<()> {
        let place = "heat map";
        let ok_range = |(a, b): (f64, f64)| a.is_finite() && b.is_finite() && a < b;
        if !ok_range(self.x_range) || !ok_range(self.y_range) {
            return Err(SbnError::invalid(place, "x and y ranges must be finite with lower < upper"));
        }
        if self.nx == 0 || self.ny == 0 || self.values.len() != self.nx * self.ny {
            return Err(SbnError::invalid(place, format!("{} values for a {} × {} grid", self.values.len(), self.nx, self.ny)));
        }
        check_finite("heat-map values", &self.values)?;
        if self.points.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
            return Err(SbnError::invalid(place, "point coordinates must be finite"));
        }
        Ok(())
    }
}

impl Figure for HeatMap {
    fn size(&self) -> (u32, u32) {
        (820, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.titled(&self.title, title_font())?;
        let width = area.dim_in_pixel().0;
        let (main, bar) = area.split_horizontally(width.saturating_sub(130));
        let (v0, v1) = padded_range(self.values.iter().copied(), 0.0);
        let t = |v: f64| (v - v0) / (v1 - v0);

        let (x0, x1) = self.x_range;
        let (y0, y1) = self.y_range;
        let (dx, dy) = ((x1 - x0) / self.nx as f64, (y1 - y0) / self.ny as f64);
        let mut chart = ChartBuilder::on(&main).margin(15).x_label_area_size(45).y_label_area_size(60).build_cartesian_2d(x0..x1, y0..y1)?;
        chart.draw_series(self.values.iter().enumerate().map(|(i, &v)| {
            let (ix, iy) = ((i % self.nx) as f64, (i / self.nx) as f64);
            let lo = (x0 + ix * dx, y0 + iy * dy);
            Rectangle::new([lo, (lo.0 + dx, lo.1 + dy)], colour_map(t(v)).filled())
        }))?;
        style_mesh(&mut chart.configure_mesh()).disable_mesh().x_desc(self.x_label.as_str()).y_desc(self.y_label.as_str()).draw()?;

        let inside = |p: &&LabelledPoint| (x0..=x1).contains(&p.x) && (y0..=y1).contains(&p.y);
        let mut classes: Vec<usize> = self.points.iter().filter(inside).map(|p| p.label).collect();
        classes.sort_unstable();
        classes.dedup();
        for &k in &classes {
            let c = colour(k);
            chart
                .draw_series(
                    self.points
                        .iter()
                        .filter(inside)
                        .filter(|p| p.label == k)
                        .map(|p| EmptyElement::at((p.x, p.y)) + Circle::new((0, 0), 4, c.filled()) + Circle::new((0, 0), 4, BLACK.stroke_width(1))),
                )?
                .label(format!("class {k}"))
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
        }
        if !classes.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(label_font())
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }

        let mut scale = ChartBuilder::on(&bar).margin_top(15).margin_bottom(60).margin_right(10).y_label_area_size(80).build_cartesian_2d(0.0..1.0, v0..v1)?;
        const STEPS: usize = 100;
        let step = (v1 - v0) / STEPS as f64;
        scale.draw_series((0..STEPS).map(|i| {
            let lo = v0 + i as f64 * step;
            Rectangle::new([(0.0, lo), (1.0, lo + step)], colour_map(t(lo + step / 2.0)).filled())
        }))?;
        style_mesh(&mut scale.configure_mesh()).disable_mesh().disable_x_axis().y_desc(self.value_label.as_str()).y_labels(6).draw()?;
        Ok(())
    }
}

/// Writes `map` to `stem.png` / `stem.svg`.
pub fn heat_map(map: &HeatMap, stem: impl AsRef<Path>) -> Result<PlotFiles> {
    map.check()?;
    write_figure(map, stem.as_ref())
}
