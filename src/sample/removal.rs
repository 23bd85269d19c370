//! Note 001's "full noise removal" view (E21): noise real images to x_t for several t with the
//! closed form (E5), then ask the network, in one call each, for the noise and for x_0.
//!
//! A trained network's predicted x_0 is sharp for small t and a blurry "average digit" for
//! large t: the network predicts E[x_0 | x_t], and the more noise, the more images fit x_t.

use candle_core::{DType, Tensor};

use super::denoise::Prediction;
use super::network::normal_tensor;
use crate::diffusion::q_sample;
use crate::nn::EpsModel;
use crate::rng::seeded;
use crate::{NoiseSchedule, Result};

/// One row of the view: the noised images at step `t` and what the network makes of them.
#[derive(Clone, Debug)]
pub struct Removal {
    pub t: usize,
    /// x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps ([`q_sample`], E5).
    pub xt: Tensor,
    /// The noise that was added (the same draw at every t).
    pub eps: Tensor,
    /// The network's eps_theta(x_t, t).
    pub eps_pred: Tensor,
    /// x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps_pred) / sqrt(alpha_bar_t)
    /// ([`crate::diffusion::predict_x0_from_eps`]), clipped when asked.
    pub x0_pred: Tensor,
}

impl Removal {
    /// Mean squared error of the predicted noise, per element.
    pub fn eps_mse(&self) -> Result<f64> {
        mse(&self.eps_pred, &self.eps)
    }

    /// Mean squared error of the predicted x_0 against the true `x0`, per element.
    pub fn x0_mse(&self, x0: &Tensor) -> Result<f64> {
        mse(&self.x0_pred, x0)
    }
}

/// Noises `x0` (B, ...) to every step of `ts` with one noise draw eps ~ N(0, I) from a generator
/// seeded with `seed`, and predicts eps and x_0 back, one network call per step.
pub fn full_noise_removal<M: EpsModel>(
    prediction: &Prediction<M>,
    schedule: &NoiseSchedule,
    x0: &Tensor,
    ts: &[usize],
    seed: u64,
    clip: bool,
) -> Result<Vec<Removal>> {
    if ts.is_empty() {
        return Err(invalid!("full_noise_removal needs at least one step t, got none"));
    }
    let eps = normal_tensor(&mut seeded(seed), x0.dims(), x0.device())?;
    ts.iter()
        .map(|&t| {
            schedule.check_t(t)?;
            let xt = q_sample(schedule, x0, t, &eps)?;
            let d = prediction.denoise(schedule, &xt, t, None, clip)?;
            Ok(Removal { t, xt, eps: eps.clone(), eps_pred: d.eps, x0_pred: d.x0 })
        })
        .collect()
}

fn mse(a: &Tensor, b: &Tensor) -> Result<f64> {
    if a.dims() != b.dims() {
        return Err(invalid!("mean squared error of tensors of different shapes {:?} and {:?}", a.dims(), b.dims()));
    }
    Ok((a - b)?.sqr()?.to_dtype(DType::F64)?.mean_all()?.to_scalar::<f64>()?)
}
