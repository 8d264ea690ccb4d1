//! Shifted copies of image data (docs/math.md §9): rotations, translations, Gaussian noise,
//! Gaussian blur, contrast loss and inversion, each at a severity in the kind's own unit, to see
//! how a model's accuracy, calibration and uncertainty change as test images move away from the
//! training distribution.
//!
//! ```
//! use sbn::data::embedded::digits;
//! use sbn::data::shift::{Shift, ShiftKind};
//!
//! # fn main() -> sbn::Result<()> {
//! let clean = digits();
//! let rotated = Shift::new(ShiftKind::Rotate, 30.0)?.apply(&clean, 7)?;
//! // Same examples, labels and classes; other pixels, in the same range and storage.
//! assert_eq!((rotated.len(), rotated.labels(), rotated.class_names()), (clean.len(), clean.labels(), clean.class_names()));
//! assert!(rotated.is_bytes() && rotated.features != clean.features);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Dataset, Features};
use crate::error::{Result, SbnError};

/// Image side the default spatial severities (translation, blur) are given for; other images get
/// them in proportion to their shorter side.
pub const REFERENCE_SIDE: f64 = 28.0;

/// First element of every shift stream's path: keeps these draws apart from the Monte Carlo
/// streams of the same seed (which start their paths with small sample indices).
const STREAM_DOMAIN: u64 = 0x5348_4946_5400;

/// A way of moving test images away from the training distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShiftKind {
    /// Rotation about the image centre, counter-clockwise, in degrees.
    Rotate,
    /// Translation by a distance in pixels, in a random direction per image (`shift`).
    #[serde(rename = "shift")]
    Translate,
    /// Additive Gaussian noise, σ on a 0–255 scale of the data's range.
    Noise,
    /// Gaussian blur, σ in pixels.
    Blur,
    /// Contrast loss: the fraction of each pixel's distance to the image mean taken away.
    Contrast,
    /// Inversion: the fraction of the way from each pixel to its negative.
    Invert,
}

impl ShiftKind {
    /// Every kind, in report order.
    pub const ALL: [ShiftKind; 6] = [ShiftKind::Rotate, ShiftKind::Translate, ShiftKind::Noise, ShiftKind::Blur, ShiftKind::Contrast, ShiftKind::Invert];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ShiftKind::Rotate => "rotate",
            ShiftKind::Translate => "shift",
            ShiftKind::Noise => "noise",
            ShiftKind::Blur => "blur",
            ShiftKind::Contrast => "contrast",
            ShiftKind::Invert => "invert",
        }
    }

    /// The unit of the severity, for tables and axes.
    pub fn unit(self) -> &'static str {
        match self {
            ShiftKind::Rotate => "degrees",
            ShiftKind::Translate => "pixels",
            ShiftKind::Noise => "σ on 0–255",
            ShiftKind::Blur => "σ in pixels",
            ShiftKind::Contrast => "fraction removed",
            ShiftKind::Invert => "fraction inverted",
        }
    }

    /// The largest severity allowed (the fraction kinds stop at 1).
    pub fn max_severity(self) -> f64 {
        match self {
            ShiftKind::Contrast | ShiftKind::Invert => 1.0,
            _ => f64::INFINITY,
        }
    }

    /// The five default severities for images of `rows × cols` pixels, mildest first.
    ///
    /// Rotation: 15° to 90°, on the 15° grid of Ovadia et al. 2019's rotated MNIST. Noise and
    /// contrast: CIFAR-10-C's severities 1–5 (Hendrycks & Dietterich 2019), σ = 0.04, 0.06, 0.08,
    /// 0.09, 0.10 of the range (10.2 … 25.5 on 0–255) and contrast kept 0.75 … 0.15 (removed 0.25
    /// … 0.85). Translation (2 … 10 px) and blur (σ = 0.5 … 2.5 px) are chosen here for 28-pixel
    /// images, heavier than CIFAR-10-C's blur (0.4 … 1 px on 32 px), and scaled to the image's
    /// shorter side. Inversion: a fifth of the way at a time, 0.2 … 1.
    pub fn default_severities(self, rows: usize, cols: usize) -> Vec<f64> {
        let scale = rows.min(cols) as f64 / REFERENCE_SIDE;
        match self {
            ShiftKind::Rotate => vec![15.0, 30.0, 45.0, 60.0, 90.0],
            ShiftKind::Translate => [2.0, 4.0, 6.0, 8.0, 10.0].iter().map(|d| d * scale).collect(),
            ShiftKind::Noise => [0.04, 0.06, 0.08, 0.09, 0.10].iter().map(|c| c * 255.0).collect(),
            ShiftKind::Blur => [0.5, 1.0, 1.5, 2.0, 2.5].iter().map(|s| s * scale).collect(),
            ShiftKind::Contrast => vec![0.25, 0.5, 0.6, 0.7, 0.85],
            ShiftKind::Invert => vec![0.2, 0.4, 0.6, 0.8, 1.0],
        }
    }

    /// The names of every kind, for messages.
    pub fn names() -> String {
        ShiftKind::ALL.map(ShiftKind::name).join(", ")
    }
}

impl fmt::Display for ShiftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ShiftKind {
    type Err = SbnError;

    /// A kind by its [`name`](ShiftKind::name) (case-insensitive); otherwise an error listing them.
    fn from_str(s: &str) -> Result<ShiftKind> {
        let t = s.trim().to_ascii_lowercase();
        ShiftKind::ALL
            .into_iter()
            .find(|k| k.name() == t)
            .ok_or_else(|| SbnError::invalid("shift kind", format!("unknown kind `{s}`; expected one of {}", ShiftKind::names())))
    }
}

/// One shift: a kind at a severity. A value of this type is always valid (finite, non-negative,
/// at most [`ShiftKind::max_severity`]); severity 0 changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    kind: ShiftKind,
    severity: f64,
}

/// The pixel range of a data set: values are kept in `[lo, hi]`, and `lo` is the background.
#[derive(Clone, Copy, Debug)]
struct Range {
    lo: f64,
    hi: f64,
}

impl Shift {
    /// `kind` at `severity` (in [`ShiftKind::unit`]); a negative, non-finite or too large
    /// severity is an error naming the kind and the range allowed.
    pub fn new(kind: ShiftKind, severity: f64) -> Result<Shift> {
        if !severity.is_finite() || severity < 0.0 || severity > kind.max_severity() {
            let allowed = if kind.max_severity().is_finite() { format!("from 0 to {}", kind.max_severity()) } else { "0 or more".into() };
            return Err(SbnError::invalid(format!("{kind} severity"), format!("{severity} is not a severity: expected a number {allowed} ({})", kind.unit())));
        }
        Ok(Shift { kind, severity })
    }

    /// The kind.
    pub fn kind(&self) -> ShiftKind {
        self.kind
    }

    /// The severity, in the kind's unit.
    pub fn severity(&self) -> f64 {
        self.severity
    }

    /// A copy of `ds` with every image shifted: same examples in the same order, same labels,
    /// classes and origins, pixel values in the data's range `[lo, hi]` (its smallest and largest
    /// stored value) and in its storage (bytes rounded to the nearest integer). Image `n` draws from
    /// its own stream of `seed` (for the kind, not the severity), so the result depends on the seed
    /// only, and a translation or a noise pattern is the same at every severity, only scaled.
    /// Data without an image shape (CSV, tables) is an error naming the data set.
    pub fn apply(&self, ds: &Dataset, seed: u64) -> Result<Dataset> {
        let shape = image_shape(ds)?;
        let range = value_range(&ds.features);
        let features = match &ds.features {
            Features::Bytes(v) => Features::Bytes(self.map_images(v, shape, range, seed, |x| x as f64, |y| y.round().clamp(0.0, 255.0) as u8)),
            Features::Real(v) => Features::Real(self.map_images(v, shape, range, seed, |x| x, |y| y)),
        };
        let mut out = ds.clone();
        out.features = features;
        out.name = format!("{} ({} {})", ds.name, self.kind, self.severity);
        Ok(out)
    }

    /// Every image of `values` through [`Shift::image`], in parallel (one stream per image).
    fn map_images<T: Copy + Send + Sync>(
        &self,
        values: &[T],
        (rows, cols): (usize, usize),
        range: Range,
        seed: u64,
        to: impl Fn(T) -> f64 + Sync,
        from: impl Fn(f64) -> T + Sync,
    ) -> Vec<T> {
        let dim = rows * cols;
        let mut out = values.to_vec();
        out.par_chunks_mut(dim).enumerate().for_each(|(n, image)| {
            let x: Vec<f64> = image.iter().map(|&v| to(v)).collect();
            let mut rng = crate::rng::stream(seed, &[STREAM_DOMAIN, self.kind as u64, n as u64]);
            let y = self.image(&x, rows, cols, range, &mut rng);
            image.iter_mut().zip(y).for_each(|(o, v)| *o = from(v.clamp(range.lo, range.hi)));
        });
        out
    }

    /// One shifted image (`rows × cols`, row by row), before clamping to the range.
    fn image(&self, x: &[f64], rows: usize, cols: usize, range: Range, rng: &mut impl rand::Rng) -> Vec<f64> {
        let s = self.severity;
        match self.kind {
            ShiftKind::Rotate => {
                let (sin, cos) = s.to_radians().sin_cos();
                // Output (u, v) shows the input at the point rotated back: (u cos − v sin, u sin + v cos),
                // so with y pointing down the content turns counter-clockwise on screen.
                resample(x, rows, cols, range.lo, |u, v| (u * cos - v * sin, u * sin + v * cos))
            }
            ShiftKind::Translate => {
                let angle = rng.random_range(0.0..std::f64::consts::TAU);
                let (dy, dx) = (s * angle.sin(), s * angle.cos());
                resample(x, rows, cols, range.lo, |u, v| (u - dx, v - dy))
            }
            ShiftKind::Noise => {
                let sigma = s / 255.0 * (range.hi - range.lo);
                x.iter()
                    .map(|&v| {
                        let z: f64 = StandardNormal.sample(rng);
                        v + sigma * z
                    })
                    .collect()
            }
            ShiftKind::Blur => blur(x, rows, cols, s),
            ShiftKind::Contrast => {
                let mean = x.iter().sum::<f64>() / x.len() as f64;
                x.iter().map(|&v| mean + (1.0 - s) * (v - mean)).collect()
            }
            ShiftKind::Invert => x.iter().map(|&v| v + s * (range.lo + range.hi - 2.0 * v)).collect(),
        }
    }
}

impl fmt::Display for Shift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind, self.severity, self.kind.unit())
    }
}

/// The `(rows, cols)` of the images of `ds`; data without an image shape (CSV, tables) is an error
/// naming the data set and what shifts need.
pub fn image_shape(ds: &Dataset) -> Result<(usize, usize)> {
    ds.image_shape.ok_or_else(|| {
        SbnError::invalid(
            ds.source(),
            format!(
                "data set `{}` has no image shape ({} features per example, read as a table); shifts need images stored row by row, such as an IDX images file or embedded:digits",
                ds.name, ds.dim
            ),
        )
    })
}

/// The smallest and largest stored value (0 and 1 for no data; `hi > lo` unless the data is flat).
fn value_range(features: &Features) -> Range {
    let fold = |it: &mut dyn Iterator<Item = f64>| it.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    let (lo, hi) = match features {
        Features::Bytes(v) => fold(&mut v.iter().map(|&b| b as f64)),
        Features::Real(v) => fold(&mut v.iter().copied()),
    };
    if lo.is_finite() { Range { lo, hi } } else { Range { lo: 0.0, hi: 1.0 } }
}

/// Snaps a coordinate within 1e-9 of an integer onto it, so rotations by multiples of 90° and
/// whole-pixel translations move pixels exactly instead of through round-off.
fn snap(c: f64) -> f64 {
    let r = c.round();
    if (c - r).abs() < 1e-9 { r } else { c }
}

/// Output pixel `(y, x)` shows the input at `source(u, v)`, where `(u, v)` are the pixel's
/// coordinates relative to the image centre (x right, y down): bilinear interpolation between the
/// four neighbours, pixels outside the image counting as `background`.
fn resample(x: &[f64], rows: usize, cols: usize, background: f64, source: impl Fn(f64, f64) -> (f64, f64)) -> Vec<f64> {
    let (cy, cx) = ((rows as f64 - 1.0) / 2.0, (cols as f64 - 1.0) / 2.0);
    let at = |r: i64, c: i64| if (0..rows as i64).contains(&r) && (0..cols as i64).contains(&c) { x[r as usize * cols + c as usize] } else { background };
    let mut out = Vec::with_capacity(rows * cols);
    for y in 0..rows {
        for xo in 0..cols {
            let (u, v) = source(xo as f64 - cx, y as f64 - cy);
            let (sx, sy) = (snap(u + cx), snap(v + cy));
            let (c0, r0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - c0, sy - r0);
            let (c0, r0) = (c0 as i64, r0 as i64);
            let top = (1.0 - fx) * at(r0, c0) + fx * at(r0, c0 + 1);
            let bottom = (1.0 - fx) * at(r0 + 1, c0) + fx * at(r0 + 1, c0 + 1);
            out.push((1.0 - fy) * top + fy * bottom);
        }
    }
    out
}

/// Gaussian blur of standard deviation `sigma` pixels: a normalized kernel truncated at
/// `⌈3σ⌉`, along rows then columns, the image mirrored at its edges (pixel −1 is pixel 0), so a
/// constant image stays constant and the total intensity changes only by what the mirror adds.
fn blur(x: &[f64], rows: usize, cols: usize, sigma: f64) -> Vec<f64> {
    if sigma == 0.0 {
        return x.to_vec();
    }
    let radius = (3.0 * sigma).ceil() as i64;
    let raw: Vec<f64> = (-radius..=radius).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = raw.iter().sum();
    let kernel: Vec<f64> = raw.iter().map(|w| w / total).collect();
    let mirror = |i: i64, n: usize| {
        let n = n as i64;
        let period = 2 * n;
        let m = i.rem_euclid(period);
        (if m < n { m } else { period - 1 - m }) as usize
    };
    let mut along_rows = vec![0.0; rows * cols];
    for y in 0..rows {
        for c in 0..cols {
            along_rows[y * cols + c] = kernel.iter().enumerate().map(|(k, w)| w * x[y * cols + mirror(c as i64 + k as i64 - radius, cols)]).sum();
        }
    }
    let mut out = vec![0.0; rows * cols];
    for y in 0..rows {
        for c in 0..cols {
            out[y * cols + c] = kernel.iter().enumerate().map(|(k, w)| w * along_rows[mirror(y as i64 + k as i64 - radius, rows) * cols + c]).sum();
        }
    }
    out
}
