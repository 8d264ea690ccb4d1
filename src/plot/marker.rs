//! Marker shapes and the one way every multi-series chart draws a series: its line in the
//! series colour, its marker shape on the points, and a legend entry showing both, so that no two
//! series look alike even where colours are hard to tell apart (colour vision, grey print).

use plotters::coord::types::RangedCoordf64;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};

use super::{DrawResult, SeriesStyle};

/// A marker shape. [`Marker::ALL`] is the order in which series receive them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Marker {
    /// A filled disc.
    Circle,
    /// A filled square.
    Square,
    /// A filled triangle pointing up.
    TriangleUp,
    /// A filled square standing on a corner.
    Diamond,
    /// Two diagonal strokes, `×`.
    Cross,
    /// A horizontal and a vertical stroke, `+`.
    Plus,
    /// A filled triangle pointing down.
    TriangleDown,
}

impl Marker {
    /// Every shape, in the order series receive them. Seven shapes against twelve colours: the
    /// counts are coprime, so the (colour, marker) pair repeats only after 84 series.
    pub const ALL: [Marker; 7] = [Marker::Circle, Marker::Square, Marker::TriangleUp, Marker::Diamond, Marker::Cross, Marker::Plus, Marker::TriangleDown];
}

/// Half-width of a marker in pixels; the shapes are scaled to look about equally heavy.
const RADIUS: i32 = 4;

/// One marker at one point, a plotters element: chart coordinates (`C = (f64, f64)`) on the
/// plot, pixel coordinates (`C = (i32, i32)`) in legends. One element type for every shape, so
/// a series' markers and its legend entry are drawn by the same code.
struct MarkerGlyph<C> {
    at: C,
    marker: Marker,
    colour: RGBColor,
}

impl<'a, C> PointCollection<'a, C> for &'a MarkerGlyph<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for MarkerGlyph<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(&self, mut points: I, backend: &mut DB, _: (u32, u32)) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = points.next() else { return Ok(()) };
        let (fill, line) = (self.colour.filled(), self.colour.stroke_width(2));
        let r = RADIUS;
        match self.marker {
            Marker::Circle => backend.draw_circle((x, y), r as u32, &fill, true),
            Marker::Square => backend.draw_rect((x - r, y - r), (x + r, y + r), &fill, true),
            Marker::TriangleUp => backend.fill_polygon([(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)], &fill),
            Marker::TriangleDown => backend.fill_polygon([(x, y + r + 1), (x + r + 1, y - r), (x - r - 1, y - r)], &fill),
            Marker::Diamond => backend.fill_polygon([(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)], &fill),
            Marker::Cross => {
                backend.draw_path([(x - r, y - r), (x + r, y + r)], &line)?;
                backend.draw_path([(x - r, y + r), (x + r, y - r)], &line)
            }
            Marker::Plus => {
                backend.draw_path([(x - r - 1, y), (x + r + 1, y)], &line)?;
                backend.draw_path([(x, y - r - 1), (x, y + r + 1)], &line)
            }
        }
    }
}

/// Up to this many points every point gets a marker; denser series get about half as many,
/// evenly spaced, so the shape stays recognisable without hiding the line.
const ALL_MARKERS_UP_TO: usize = 60;

/// The points of a series that carry a marker.
fn marked(points: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
    let step = if points.len() <= ALL_MARKERS_UP_TO { 1 } else { points.len().div_ceil(ALL_MARKERS_UP_TO / 2) };
    points.iter().copied().step_by(step)
}

/// Draws one series of a multi-series chart in `style`: the line through `line` (width 2), a
/// marker on each of `markers` (thinned when dense), and a legend entry `label` showing a piece
/// of line with the marker on it. `markers` is usually `line` itself; a step curve passes its
/// data points instead of its corners.
pub(crate) fn draw_styled_series<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    line: &[(f64, f64)],
    markers: &[(f64, f64)],
    style: SeriesStyle,
    label: &str,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
{
    let (c, m) = (style.colour(), style.marker);
    chart.draw_series(LineSeries::new(line.iter().copied(), c.stroke_width(2)))?.label(label).legend(move |(x, y)| {
        EmptyElement::at((x, y)) + PathElement::new([(0, 0), (22, 0)], c.stroke_width(2)) + MarkerGlyph { at: (11, 0), marker: m, colour: c }
    });
    chart.draw_series(marked(markers).map(|p| MarkerGlyph { at: p, marker: m, colour: c }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_series_are_thinned_sparse_ones_not() {
        let sparse: Vec<(f64, f64)> = (0..60).map(|i| (f64::from(i), 0.0)).collect();
        assert_eq!(marked(&sparse).count(), 60);
        let dense: Vec<(f64, f64)> = (0..1000).map(|i| (f64::from(i), 0.0)).collect();
        let n = marked(&dense).count();
        assert!((20..=30).contains(&n), "{n} markers");
        assert_eq!(marked(&dense).next(), Some((0.0, 0.0)));
    }
}
