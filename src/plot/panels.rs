//! Several line charts side by side in one figure, under one title: one panel per metric, as in
//! the figures of Ovadia et al. 2019 (accuracy, calibration and uncertainty against the shift).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, Figure, LineChart, PlotFiles, title_font, write_figure};
use crate::error::{Result, SbnError};

/// A grid of line charts, filled row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Panels {
    /// Title above the grid.
    pub title: String,
    /// The panels, each drawn as its own [`LineChart`] (with its own title and axes).
    pub charts: Vec<LineChart>,
    /// Panels per row (at least 1).
    pub columns: usize,
}

/// Pixel size of one panel.
const PANEL: (u32, u32) = (600, 420);

impl Panels {
    fn rows(&self) -> usize {
        self.charts.len().div_ceil(self.columns.max(1))
    }
}

impl Figure for Panels {
    fn size(&self) -> (u32, u32) {
        (PANEL.0 * self.columns as u32, PANEL.1 * self.rows() as u32 + 40)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.titled(&self.title, title_font())?.margin(10, 0, 0, 0);
        let cells = area.split_evenly((self.rows(), self.columns));
        for (chart, cell) in self.charts.iter().zip(&cells) {
            chart.draw(cell)?;
        }
        Ok(())
    }
}

/// Writes `panels` to `stem.png` / `stem.svg`; every chart is checked as [`line_chart`](super::line_chart) checks one.
pub fn panels(panels: &Panels, stem: impl AsRef<Path>) -> Result<PlotFiles> {
    if panels.charts.is_empty() || panels.columns == 0 {
        return Err(SbnError::invalid("panels", "needs at least one chart and one column"));
    }
    for chart in &panels.charts {
        chart.check()?;
    }
    write_figure(panels, stem.as_ref())
}
