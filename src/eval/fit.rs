//! The training loop of eval's own networks (the judge and the feature network): epochs of
//! shuffled minibatches, AdamW with a learning rate decayed to 0 along a half cosine, every
//! random draw from one seeded generator.

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use rand::seq::SliceRandom;

use crate::rng::{seeded, Rng};
use crate::train::TrainConfig;
use crate::Result;

/// Trains the variables of `varmap` for `epochs` passes over `n` examples in batches of
/// `batch_size`: each epoch shuffles the indices 0..n with the generator seeded by `seed`,
/// and `loss(indices, rng)` gives the loss of one batch (drawing any noise it needs from the
/// same generator). AdamW, no weight decay, the learning rate `lr` decayed to 0 along a
/// cosine over the whole training, no warm-up (the schedule of Algorithm 1's runs).
pub fn fit(
    varmap: &VarMap,
    n: usize,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    seed: u64,
    mut loss: impl FnMut(&[usize], &mut Rng) -> Result<Tensor>,
) -> Result<()> {
    if epochs == 0 || batch_size == 0 {
        return Err(invalid!("epochs and batch_size must be at least 1, got {epochs} and {batch_size}"));
    }
    if n == 0 {
        return Err(invalid!("training needs at least one example, got none"));
    }
    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW { lr, weight_decay: 0.0, ..Default::default() })?;
    let mut rng = seeded(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let total = epochs * n.div_ceil(batch_size);
    let schedule = TrainConfig { lr, warmup_steps: 0, lr_decay_end: Some(total), ..TrainConfig::default() };
    let mut step = 0;
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for idx in order.chunks(batch_size) {
            opt.set_learning_rate(schedule.lr_at(step));
            step += 1;
            let l = loss(idx, &mut rng)?;
            opt.backward_step(&l)?;
        }
    }
    Ok(())
}
