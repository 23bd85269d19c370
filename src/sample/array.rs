//! Algorithm 2 (ancestral sampling) on plain f64 arrays, for any eps-predictor given as a
//! function: the exact eps of a Gaussian mixture, or a network wrapped in a closure
//! (Ho et al. 2020, Algorithm 2 and Eq. 11; notes 000, 002, 003; E20).

use ndarray::{Array, Dimension};

use crate::diffusion::p_mean_scaled;
pub use crate::diffusion::MeanScale;

use crate::posterior::ReverseVar;
use crate::rng::{normal_like, Rng};
use crate::{NoiseSchedule, Result};

/// One step of Algorithm 2, line 4:
///
/// $$x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{1-\alpha_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon_\theta(x_t, t)\Big) + \sigma_t z$$
///
/// with `z` the fresh noise (Algorithm 2 uses z = 0 at t = 1; [`p_sample_loop`] does that): the
/// mean of [`p_mean_scaled`] (Eq. 11) plus sigma_t z.
pub fn p_sample_step<D: Dimension>(
    schedule: &NoiseSchedule,
    xt: &Array<f64, D>,
    t: usize,
    eps_pred: &Array<f64, D>,
    z: &Array<f64, D>,
    sigma: ReverseVar,
    scale: MeanScale,
) -> Result<Array<f64, D>> {
    let sigma_t = sigma.sigma_sq(schedule, t)?.sqrt();
    if xt.shape() != eps_pred.shape() || xt.shape() != z.shape() {
        return Err(invalid!(
            "xt, eps_pred and z must have the same shape, got {:?}, {:?} and {:?}",
            xt.shape(),
            eps_pred.shape(),
            z.shape()
        ));
    }
    let mean = p_mean_scaled(schedule, xt, t, eps_pred, scale)?;
    Ok(mean + z.mapv(|z| sigma_t * z))
}

/// Algorithm 2 from x_T down to x_0: for t = T, ..., 1, x_{t-1} from [`p_sample_step`] with
/// z ~ N(0, I) drawn from `rng` when t > 1 and z = 0 at t = 1. `eps_theta(x_t, t)` is the model.
/// `x_t_start` is x_T (draw it with [`crate::rng::normal`] for N(0, I)).
pub fn p_sample_loop<D, F>(
    schedule: &NoiseSchedule,
    x_t_start: Array<f64, D>,
    mut eps_theta: F,
    sigma: ReverseVar,
    scale: MeanScale,
    rng: &mut Rng,
) -> Result<Array<f64, D>>
where
    D: Dimension,
    F: FnMut(&Array<f64, D>, usize) -> Result<Array<f64, D>>,
{
    let mut x = x_t_start;
    for t in (1..=schedule.steps()).rev() {
        let eps_pred = eps_theta(&x, t)?;
        let z = if t > 1 { normal_like(rng, &x) } else { Array::zeros(x.raw_dim()) };
        x = p_sample_step(schedule, &x, t, &eps_pred, &z, sigma, scale)?;
    }
    Ok(x)
}
