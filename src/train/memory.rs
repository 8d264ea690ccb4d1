//! Whether a training run fits in memory, checked before anything is allocated.

use crate::error::Result;
use crate::model::init::LayerShape;

/// Checks, before anything is allocated, that training a network of `shapes` on examples of `d0`
/// features fits in memory: about eight copies of the parameters (the network, the optimizer's
/// two moments, a gradient per thread, the best network, the checkpoint being written), and per
/// parallel chunk about eight matrices per unit plus a convolution's patches.
pub fn check_training_memory(shapes: &[LayerShape], d0: usize, batch: usize, chunk: usize) -> Result<()> {
    let mut params = 0u128;
    let mut per_example = d0 as u128;
    for shape in shapes {
        let (rows, fan_in, units, patches) = match *shape {
            LayerShape::Dense { n_in, n_out } => (n_out, n_in, n_out as u128, 0),
            LayerShape::Conv(c) => (c.out_c, c.fan_in(), c.out_features() as u128, c.fan_in() as u128 * c.positions() as u128),
        };
        params += rows as u128 * (fan_in as u128 + 2);
        per_example += 8 * units + patches;
    }
    let widths: Vec<String> = shapes.iter().map(|s| s.features().1.to_string()).collect();
    let what = format!("network ({d0} → {})", widths.join(" → "));
    crate::limits::ensure_fits(&what, &format!("training its {params} parameters"), params.checked_mul(8 * 8))?;
    let threads = rayon::current_num_threads().max(1) as u128;
    let step = per_example.checked_mul(8 * threads * chunk.min(batch) as u128).and_then(|b| b.checked_add(8 * batch as u128 * d0 as u128));
    crate::limits::ensure_fits(&format!("training.chunk = {chunk}, training.batch_size = {batch}"), "a training step's unit matrices", step)
}
