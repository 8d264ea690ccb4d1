//! Vector scaling of the Monte Carlo predictive: a scale and a bias per class on every weight
//! sample's log-probabilities, `p̄_s ∝ exp(a ⊙ ln p̄_s + b)`, mixed over the weight samples
//! (temperature scaling with one scale per class and a class prior shift; Guo et al. 2017 apply it
//! to logits).
//!
//! Fitted by gradient descent on the mixture's NLL from the fitted temperature (`a = 1/T`,
//! `b = 0`), with a backtracking (Armijo) step: a step is taken only when it lowers the NLL, so
//! the result is never worse than temperature scaling on the fitting data. Deterministic: no
//! random start, a fixed number of steps at most, sums in a fixed order.

use super::{log_probs, mixture_nll};
use crate::predictive::Predictive;

/// Descent steps at most.
const STEPS: usize = 200;

/// Halvings of the step length tried before giving up on a step.
const HALVINGS: usize = 40;

/// Stop when the squared gradient norm falls below this.
const GRADIENT_TOLERANCE: f64 = 1e-14;

/// `(scale, bias)` of least NLL found from the start `a = 1/temperature`, `b = 0`.
pub(super) fn fit(pred: &Predictive, labels: &[usize], temperature: f64) -> (Vec<f64>, Vec<f64>) {
    let (k, s_w) = (pred.n_classes, pred.weight_samples);
    let lp = log_probs(pred);
    let mut x: Vec<f64> = std::iter::repeat_n(1.0 / temperature, k).chain(std::iter::repeat_n(0.0, k)).collect();
    let eval = |x: &[f64], gradient: bool| mixture_nll(&lp, s_w, k, labels, &x[..k], &x[k..], gradient);
    let (mut value, mut grad) = eval(&x, true);
    let mut step = 1.0;
    for _ in 0..STEPS {
        let norm2: f64 = grad.iter().map(|g| g * g).sum();
        if norm2 < GRADIENT_TOLERANCE {
            break;
        }
        let mut accepted = false;
        for _ in 0..HALVINGS {
            let trial: Vec<f64> = x.iter().zip(&grad).map(|(x, g)| x - step * g).collect();
            let (v, _) = eval(&trial, false);
            if v <= value - 1e-4 * step * norm2 {
                x = trial;
                (value, grad) = eval(&x, true);
                step *= 2.0;
                accepted = true;
                break;
            }
            step /= 2.0;
        }
        if !accepted {
            break;
        }
    }
    let bias = x.split_off(k);
    (x, bias)
}
