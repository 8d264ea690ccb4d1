//! Training-time augmentation of image batches: random translations and left–right mirroring.
//!
//! Each training example is moved by a random offset `(dy, dx) ∈ [−shift, shift]²` (the pixels
//! moved in from outside take the scaled value of a zero pixel, as when cropping a zero-padded
//! image) and, with `flip`, mirrored left–right with probability ½. The draws come from the
//! batch's own stream, so a resumed run sees the same augmented batches.

use nalgebra::DMatrix;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// `[training.augment]` of a model spec. The default does nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Largest translation in pixels, along each axis.
    pub shift: usize,
    /// Mirror left–right with probability ½.
    pub flip: bool,
}

impl Augment {
    /// Whether any augmentation is asked for.
    pub fn is_active(&self) -> bool {
        self.shift > 0 || self.flip
    }

    /// Augments every column of `x` in place: an `h × w × c` image stored row by row with the
    /// channels innermost (the layout of the convolutions); `fill` is the input of a zero pixel.
    pub fn apply<R: rand::Rng + ?Sized>(&self, x: &mut DMatrix<f64>, [h, w, c]: [usize; 3], fill: f64, rng: &mut R) {
        assert_eq!(x.nrows(), h * w * c, "augmentation geometry does not match the inputs");
        if !self.is_active() {
            return;
        }
        let s = self.shift as i64;
        let mut source = vec![0.0; h * w * c];
        for mut col in x.column_iter_mut() {
            let dy = rng.random_range(-s..=s) as isize;
            let dx = rng.random_range(-s..=s) as isize;
            let mirror = self.flip && rng.random_bool(0.5);
            source.copy_from_slice(col.as_slice());
            let out = col.as_mut_slice();
            for y in 0..h {
                for xo in 0..w {
                    // Output pixel (y, xo) shows input pixel (y − dy, x' − dx), x' the mirrored column.
                    let xm = if mirror { w - 1 - xo } else { xo };
                    let (sy, sx) = (y as isize - dy, xm as isize - dx);
                    let dst = &mut out[(y * w + xo) * c..(y * w + xo + 1) * c];
                    if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                        let from = (sy as usize * w + sx as usize) * c;
                        dst.copy_from_slice(&source[from..from + c]);
                    } else {
                        dst.fill(fill);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;
    use std::collections::HashSet;

    /// A 5×6 image with 2 channels: background −1, one marked pixel (values 1 and 2) at (r, q).
    fn marked(r: usize, q: usize) -> DMatrix<f64> {
        let mut x = DMatrix::from_element(5 * 6 * 2, 1, -1.0);
        x[((r * 6 + q) * 2, 0)] = 1.0;
        x[((r * 6 + q) * 2 + 1, 0)] = 2.0;
        x
    }

    fn mark_position(x: &DMatrix<f64>) -> Option<(usize, usize)> {
        let i = (0..30).find(|&i| x[(2 * i, 0)] == 1.0)?;
        assert_eq!(x[(2 * i + 1, 0)], 2.0, "channels travel together");
        assert_eq!(x.iter().filter(|&&v| v != -1.0).count(), 2, "one pixel marked, the rest filled");
        Some((i / 6, i % 6))
    }

    #[test]
    fn shifts_cover_every_offset_within_range_and_nothing_else() {
        let aug = Augment { shift: 1, flip: false };
        let mut seen = HashSet::new();
        let mut r = rng::stream(7, &[0]);
        for _ in 0..400 {
            let mut x = marked(2, 3);
            aug.apply(&mut x, [5, 6, 2], -1.0, &mut r);
            let (y, q) = mark_position(&x).expect("a shift of 1 keeps a central pixel inside");
            seen.insert((y as isize - 2, q as isize - 3));
        }
        let all: HashSet<_> = (-1..=1).flat_map(|a| (-1..=1).map(move |b| (a, b))).collect();
        assert_eq!(seen, all);
    }

    #[test]
    fn flips_mirror_columns_half_of_the_time() {
        let aug = Augment { shift: 0, flip: true };
        let mut r = rng::stream(8, &[0]);
        let mut mirrored = 0;
        for _ in 0..400 {
            let mut x = marked(1, 0);
            aug.apply(&mut x, [5, 6, 2], -1.0, &mut r);
            match mark_position(&x) {
                Some((1, 0)) => {}
                Some((1, 5)) => mirrored += 1,
                other => panic!("mark moved to {other:?}"),
            }
        }
        assert!((150..250).contains(&mirrored), "{mirrored} of 400 mirrored");
    }

    #[test]
    fn pixels_moved_out_are_lost_and_the_default_changes_nothing() {
        let mut r = rng::stream(9, &[0]);
        let mut lost = 0;
        for _ in 0..200 {
            let mut x = marked(0, 0);
            Augment { shift: 2, flip: false }.apply(&mut x, [5, 6, 2], -1.0, &mut r);
            lost += mark_position(&x).is_none() as usize;
        }
        // The corner pixel leaves the image unless dy ≥ 0 and dx ≥ 0: 16 of 25 offsets.
        assert!((100..160).contains(&lost), "{lost} of 200 lost");
        let mut x = marked(0, 0);
        Augment::default().apply(&mut x, [5, 6, 2], -1.0, &mut r);
        assert_eq!(x, marked(0, 0));
    }
}
