//! Dropout (Srivastava et al. 2014) in the residual blocks, with masks from a seeded generator
//! shared by the whole model, so that a training run repeats exactly.

use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use rand::Rng as _;

use crate::rng::{seeded, Rng};
use crate::Result;

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
        if !train || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (0..x.elem_count()).map(|_| if rng.random::<f64>() < keep { scale } else { 0.0 }).collect()
        };
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok((x * mask)?)
    }
}
