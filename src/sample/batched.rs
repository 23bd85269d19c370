//! Many samples drawn in chunks (memory), each chunk with its own seed, optionally one class per
//! sample with classifier-free guidance.

use candle_core::{Device, Tensor};

use super::config::SampleConfig;
use super::denoise::{Guidance, Prediction};
use super::network::{sample, Trajectory};
use crate::nn::EpsModel;
use crate::{NoiseSchedule, Result};

/// What to draw: `n` samples of `shape` (without the batch), `batch` at a time.
#[derive(Clone, Debug)]
pub struct Batches<'a> {
    pub n: usize,
    pub shape: Vec<usize>,
    pub batch: usize,
    /// The class of each sample (length `n`) for a class-conditional model, with guidance weight
    /// `guidance` and the model's "no class" label.
    pub classes: Option<&'a [u32]>,
    pub guidance: f64,
    pub null_class: Option<u32>,
}

/// Draws the samples chunk by chunk; chunk i uses seed `config.seed + i * 0x9E3779B9`, so the
/// samples depend on `batch` but never share noise. Returns all samples (n, ...) and the
/// trajectory of the first chunk. `on_step(first, last, done, total)` reports progress.
pub fn sample_batched<M: EpsModel>(
    prediction: &Prediction<M>,
    schedule: &NoiseSchedule,
    what: &Batches,
    config: &SampleConfig,
    device: &Device,
    mut on_step: impl FnMut(usize, usize, usize, usize),
) -> Result<(Tensor, Trajectory)> {
    if what.n == 0 || what.batch == 0 {
        return Err(invalid!(
            "the number of samples and the batch must be at least 1, got {} and {}",
            what.n,
            what.batch
        ));
    }
    if what.classes.is_some_and(|c| c.len() != what.n) {
        return Err(invalid!(
            "classes must name one class per sample ({}), got {}",
            what.n,
            what.classes.map_or(0, <[u32]>::len)
        ));
    }
    let mut chunks = Vec::new();
    let mut first_trajectory = None;
    for (i, start) in (0..what.n).step_by(what.batch).enumerate() {
        let b = what.batch.min(what.n - start);
        let mut shape = vec![b];
        shape.extend(&what.shape);
        let guidance = match what.classes {
            Some(c) => Some(Guidance {
                class: Tensor::from_vec(c[start..start + b].to_vec(), b, device)?,
                scale: what.guidance,
                null_class: what.null_class,
            }),
            None => None,
        };
        let chunk_config = SampleConfig { seed: config.seed.wrapping_add(i as u64 * 0x9E37_79B9), ..config.clone() };
        let (x, trajectory) =
            sample(prediction, schedule, &shape, guidance.as_ref(), &chunk_config, device, |done, total| {
                on_step(start, start + b, done, total)
            })?;
        chunks.push(x);
        first_trajectory.get_or_insert(trajectory);
    }
    Ok((Tensor::cat(&chunks, 0)?, first_trajectory.unwrap_or_default()))
}
