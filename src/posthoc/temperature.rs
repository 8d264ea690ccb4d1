//! Temperature scaling (Guo et al. 2017) of the Monte Carlo predictive: the one-parameter fit.
//!
//! `T` minimizes the NLL of the tempered mixture on labelled data. The NLL of a mixture need not
//! be unimodal in `T`, so the search is a grid on `ln T` over [`TEMPERATURE_RANGE`] followed by a
//! golden-section search between the best grid point's neighbours; the result is kept only if its
//! NLL is not above that of `T = 1`, so a fit never makes the fitting data's NLL worse.

use super::{log_probs, mixture_nll};
use crate::error::Result;
use crate::predictive::Predictive;

/// The temperatures searched, `[0.05, 20]`.
pub const TEMPERATURE_RANGE: (f64, f64) = (0.05, 20.0);

/// Grid points on `ln T` (about 0.1 apart in `ln T`).
const GRID: usize = 61;

/// Golden-section steps after the grid (the bracket shrinks by 0.618 per step).
const GOLDEN_STEPS: usize = 40;

/// The temperature of least NLL of the tempered mixture on `labels`, or 1 when none in the range
/// does better than 1. `pred` and `labels` must already be checked against each other.
pub fn fit_temperature(pred: &Predictive, labels: &[usize]) -> Result<f64> {
    let (k, s_w) = (pred.n_classes, pred.weight_samples);
    let lp = log_probs(pred);
    let zeros = vec![0.0; k];
    let nll = |log_t: f64| mixture_nll(&lp, s_w, k, labels, &vec![(-log_t).exp(); k], &zeros, false).0;
    let (lo, hi) = (TEMPERATURE_RANGE.0.ln(), TEMPERATURE_RANGE.1.ln());
    let grid: Vec<f64> = (0..GRID).map(|i| lo + (hi - lo) * i as f64 / (GRID - 1) as f64).collect();
    let values: Vec<f64> = grid.iter().map(|&x| nll(x)).collect();
    let best = (0..GRID).min_by(|&i, &j| values[i].total_cmp(&values[j])).expect("grid points");
    let (mut a, mut b) = (grid[best.saturating_sub(1)], grid[(best + 1).min(GRID - 1)]);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
    let (mut fc, mut fd) = (nll(c), nll(d));
    for _ in 0..GOLDEN_STEPS {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - ratio * (b - a);
            fc = nll(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + ratio * (b - a);
            fd = nll(d);
        }
    }
    let candidates = [(grid[best], values[best]), (c, fc), (d, fd)];
    let (log_t, value) = candidates.into_iter().min_by(|x, y| x.1.total_cmp(&y.1)).expect("candidates");
    Ok(if value < nll(0.0) { log_t.exp() } else { 1.0 })
}
