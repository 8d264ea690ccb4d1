//! One gradient estimate for a minibatch, data-parallel over fixed chunks of examples.
//!
//! The weights are drawn once per minibatch (shared by its examples, so the forward and backward
//! passes are matrix products); each chunk of `chunk` examples draws its unit noise from its own
//! stream; chunk results are combined in chunk order. The result depends on the seed and the
//! chunk size, never on the number of threads.

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::TrainingConfig;
use crate::error::Result;
use crate::estimator::{DeferredProduct, Estimate, Estimator, Gradient};
use crate::model::{Network, RngDraws};
use crate::rng;

/// A chunk's share of the minibatch with what it computed.
type Weighted<T> = (f64, T);

/// The batch-mean estimate of `estimator` for inputs `x` (`d0 × B`) and labels `y`, from the
/// random streams below `seed`, on `config`'s engine in chunks of `config.chunk` examples. With
/// `config.point_weights` the weights are not sampled but set to the posterior's mode (a
/// deterministic binary network with latent logits).
pub fn estimate_batch(net: &Network, x: &DMatrix<f64>, y: &[usize], estimator: &dyn Estimator, seed: u64, config: &TrainingConfig) -> Result<Estimate> {
    let chunk = config.chunk;
    let batch = x.ncols();
    assert!(batch > 0 && chunk > 0, "empty batch or chunk");
    assert_eq!(batch, y.len(), "one label per example");
    let ws =
        if config.point_weights { net.mode_weights().for_engine(config.engine) } else { net.sample_weights_for(rng::stream_seed(seed, &[0]), config.engine) };
    let starts: Vec<usize> = (0..batch).step_by(chunk).collect();
    let parts: Vec<Result<(usize, Estimate, Vec<DeferredProduct>)>> = starts
        .par_iter()
        .enumerate()
        .map(|(c, &start)| {
            let len = chunk.min(batch - start);
            let xc = x.columns(start, len).into_owned();
            let mut stream = rng::stream(seed, &[1, c as u64]);
            estimator.estimate_chunk(net, &xc, &y[start..start + len], &ws, &mut RngDraws(&mut stream)).map(|(e, d)| (len, e, d))
        })
        .collect();
    let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    let share = |len: usize| len as f64 / batch as f64;
    let loss = parts.iter().fold(0.0, |acc, (len, est, _)| acc + share(*len) * est.loss);
    let (grads, deferred): (Vec<Weighted<Gradient>>, Vec<Weighted<Vec<DeferredProduct>>>) =
        parts.into_iter().map(|(len, est, d)| ((share(len), est.grad), (share(len), d))).unzip();
    let mut grad = Gradient::weighted_sum(grads);
    // Layers whose products the chunks deferred (the same in every chunk): multiplied once.
    for (i, first) in deferred[0].1.iter().enumerate() {
        let items: Vec<(f64, &DeferredProduct)> = deferred.iter().map(|(w, d)| (*w, &d[i])).collect();
        assert!(items.iter().all(|(_, d)| d.layer == first.layer), "chunks deferred different layers");
        grad.layers[first.layer].w = DeferredProduct::combine(&items, net.weights_in_use(&ws, first.layer));
    }
    Ok(Estimate { loss, grad })
}
