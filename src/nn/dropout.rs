//! Dropout (Srivastava et al. 2014) in the residual blocks, with masks from a seeded generator
//! shared by the whole model, so that a training run repeats exactly.

use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use rand::Rng as _;

use super::cpu::{self, on_cpu_f32};
use crate::rng::{seeded, Rng};
use crate::Result;

/// Mask values drawn by one rayon task of [`draw_mask`].
const STRETCH: usize = 16 * 1024;

/// A generator shared by the dropout layers of one model.
pub type SharedRng = Arc<Mutex<Rng>>;

/// A new [`SharedRng`] seeded with `seed`.
pub fn shared_rng(seed: u64) -> SharedRng {
    Arc::new(Mutex::new(seeded(seed)))
}

/// Dropout (Srivastava et al. 2014) with probability `p`: in training each element is zeroed with
/// probability `p` and the rest scaled by 1 / (1 - p), so the mean is unchanged; outside training
/// it is the identity. The masks come from a seeded generator (candle's own cannot be seeded), so
/// a training run repeats exactly.
///
/// ```
/// use ddpm::candle_core::{DType, Device, Tensor};
/// use ddpm::nn::dropout::{shared_rng, Dropout};
///
/// let dropout = Dropout::new(0.5, shared_rng(0)).unwrap();
/// let x = Tensor::ones(1000, DType::F32, &Device::Cpu).unwrap();
/// let y = dropout.forward(&x, true).unwrap().to_vec1::<f32>().unwrap();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0)); // zeroed, or scaled by 1 / (1 - p)
/// assert!(y.iter().any(|&v| v == 0.0) && y.iter().any(|&v| v == 2.0));
/// assert_eq!(dropout.forward(&x, false).unwrap().to_vec1::<f32>().unwrap(), vec![1.0; 1000]);
/// ```
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f64,
    rng: SharedRng,
}

impl Dropout {
    /// Dropout with probability `p` in [0, 1), masks drawn from `rng`.
    pub fn new(p: f64, rng: SharedRng) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(invalid!("dropout must be in [0, 1), got {p}"));
        }
        Ok(Self { p, rng })
    }

    /// `x` unchanged unless `train` and p > 0; then x * mask / (1 - p), mask ~ Bernoulli(1 - p).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let Some(mask) = self.mask(x.elem_count(), train) else { return Ok(x.clone()) };
        if on_cpu_f32(x) {
            return Ok(cpu::mask_mul(x, mask)?);
        }
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok((x * mask)?)
    }

    /// The next mask for `n` values, 1 / (1 - p) or 0 each, drawn as [`Self::forward`] draws it;
    /// None (and nothing drawn) unless `train` and p > 0.
    pub(crate) fn mask(&self, n: usize, train: bool) -> Option<Vec<f32>> {
        if !train || self.p == 0.0 {
            return None;
        }
        let keep = 1.0 - self.p;
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        Some(draw_mask(&mut rng, n, keep, (1.0 / keep) as f32))
    }
}

/// Dropout's mask of `n` values: value i is `scale` if the i-th draw of `rng`, uniform in [0, 1),
/// is below `keep`, and 0 otherwise. The draws are made on rayon's pool, each stretch of the mask
/// by a copy of the generator moved to that stretch's place in its stream (ChaCha can jump to any
/// position; a draw takes one 64-bit number, two of its 32-bit words), and `rng` is left where
/// drawing one by one would leave it: the same mask, and the same numbers after it, as a loop.
fn draw_mask(rng: &mut Rng, n: usize, keep: f64, scale: f32) -> Vec<f32> {
    let start = rng.get_word_pos();
    let draw = |i: usize, stretch: &mut [MaybeUninit<f32>]| {
        let mut rng = rng.clone();
        rng.set_word_pos(start + 2 * (i * STRETCH) as u128);
        for m in stretch {
            m.write(if rng.random::<f64>() < keep { scale } else { 0.0 });
        }
    };
    // SAFETY: `draw` writes every value of its stretch.
    let (mask, _) = unsafe { cpu::par_written(n, STRETCH, draw) };
    rng.set_word_pos(start + 2 * n as u128);
    mask
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, RngCore as _};

    use super::*;

    /// The parallel draw gives the mask of a plain loop over the same generator, and leaves the
    /// generator where the loop does, also from a position inside a 64-bit number (an odd
    /// number of 32-bit words drawn before) and for a mask of several stretches plus a partial one.
    #[test]
    fn the_mask_is_the_one_drawn_in_a_row() {
        for (words_before, n) in [(0, 10), (1, 3 * STRETCH + 5), (7, STRETCH), (64, 2 * STRETCH - 1)] {
            let (mut parallel, mut in_a_row) = (seeded(11), seeded(11));
            for _ in 0..words_before {
                parallel.next_u32();
                in_a_row.next_u32();
            }
            let (keep, scale) = (0.9, 1.25);
            let mask = draw_mask(&mut parallel, n, keep, scale);
            let expected: Vec<f32> =
                (0..n).map(|_| if in_a_row.random::<f64>() < keep { scale } else { 0.0 }).collect();
            assert_eq!(mask, expected, "{words_before} words before, {n} values");
            assert_eq!(parallel.next_u64(), in_a_row.next_u64(), "the generator after the mask");
        }
    }
}
