//! 2-D toy problems with real features, seeded and deterministic.

use std::f64::consts::{FRAC_PI_2, PI};

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::{Dataset, Features};

/// Number of points of the PSA paper's toy problem.
pub const PSA_TOY_DEFAULT_N: usize = 200;

/// Shuffle labelled points (seeded) and pack them into a 2-class data set.
fn finish(name: &str, mut points: Vec<([f64; 2], usize)>, rng: &mut rand::rngs::Xoshiro256PlusPlus) -> Dataset {
    points.shuffle(rng);
    let features = Features::Real(points.iter().flat_map(|(p, _)| *p).collect());
    let labels = points.iter().map(|&(_, l)| l).collect();
    Dataset::new(name, features, 2, labels, vec!["0".into(), "1".into()]).expect("toy data is consistent")
}

/// Two interleaving half circles (class 0 the upper one, class 1 the lower, shifted one), `n`
/// points in all (class 0 gets the odd one), with isotropic Gaussian noise of standard deviation
/// `noise` so the classes overlap a little (0.1–0.2 is typical). Angles are drawn uniformly.
pub fn two_moons(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let normal = Normal::new(0.0, noise.abs()).expect("finite noise");
    let n0 = n.div_ceil(2);
    let points = (0..n)
        .map(|k| {
            let t: f64 = rng.random_range(0.0..PI);
            let (x, y, l) = if k < n0 { (t.cos(), t.sin(), 0) } else { (1.0 - t.cos(), 0.5 - t.sin(), 1) };
            ([x + normal.sample(&mut rng), y + normal.sample(&mut rng)], l)
        })
        .collect();
    finish("two-moons", points, &mut rng)
}

/// The PSA paper's 2-D toy: class 1 uniform on [−π/2, π/2]×[0, 1]; class 0 with x ~ U(−π/2, π/2),
/// y ~ U(−1, 1), kept only when y < cos x (rejection sampling). `n` points, balanced (class 0 gets
/// the odd one); the paper uses n = [`PSA_TOY_DEFAULT_N`].
pub fn psa_paper_toy(n: usize, seed: u64) -> Dataset {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let n0 = n.div_ceil(2);
    let mut points = Vec::with_capacity(n);
    while points.len() < n0 {
        let x: f64 = rng.random_range(-FRAC_PI_2..FRAC_PI_2);
        let y: f64 = rng.random_range(-1.0..1.0);
        if y < x.cos() {
            points.push(([x, y], 0));
        }
    }
    for _ in n0..n {
        let x: f64 = rng.random_range(-FRAC_PI_2..FRAC_PI_2);
        let y: f64 = rng.random_range(0.0..1.0);
        points.push(([x, y], 1));
    }
    finish("psa-toy", points, &mut rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_balanced() {
        assert_eq!(two_moons(101, 0.1, 3), two_moons(101, 0.1, 3));
        assert_ne!(two_moons(101, 0.1, 3), two_moons(101, 0.1, 4));
        assert_eq!(two_moons(101, 0.1, 3).label_histogram(), vec![51, 50]);
        let t = psa_paper_toy(PSA_TOY_DEFAULT_N, 1);
        assert_eq!(t, psa_paper_toy(PSA_TOY_DEFAULT_N, 1));
        assert_eq!(t.label_histogram(), vec![100, 100]);
        for n in 0..t.len() {
            let (x, y) = (t.feature(n, 0), t.feature(n, 1));
            assert!(x.abs() <= FRAC_PI_2);
            if t.labels().unwrap()[n] == 0 {
                assert!(y < x.cos() && y >= -1.0);
            } else {
                assert!((0.0..1.0).contains(&y));
            }
        }
    }
}
