//! The sampling loop on candle tensors for a trained network: Algorithm 2 of Ho et al. 2020
//! (E20) or DDIM, with the trajectory of x_t and of the predicted x_0 (E21).

use candle_core::{Device, Tensor};

use super::config::{SampleConfig, Sampler};
use super::denoise::{Denoised, Guidance, Prediction};
use crate::diffusion::p_mean_scaled;
use crate::nn::EpsModel;
use crate::rng::{normal_vec, seeded, Rng};
use crate::{NoiseSchedule, Result};

/// x_t and the predicted x_0 at the recorded steps, from T down.
#[derive(Clone, Debug, Default)]
pub struct Trajectory {
    /// The steps recorded.
    pub t: Vec<usize>,
    /// x_t at each recorded step, before the step is taken.
    pub xt: Vec<Tensor>,
    /// The network's x_0 at each recorded step (clipped if the sampler clips).
    pub x0_pred: Vec<Tensor>,
}

impl Trajectory {
    /// The recorded steps that are in `keep`, in this trajectory's order (T first): one
    /// sampling run recorded for several pictures (a strip of a few steps, an animation of many).
    pub fn only(&self, keep: &[usize]) -> Trajectory {
        let at: Vec<usize> = (0..self.t.len()).filter(|&i| keep.contains(&self.t[i])).collect();
        Trajectory {
            t: at.iter().map(|&i| self.t[i]).collect(),
            xt: at.iter().map(|&i| self.xt[i].clone()).collect(),
            x0_pred: at.iter().map(|&i| self.x0_pred[i].clone()).collect(),
        }
    }
}

/// Draws samples of `shape` (B, ...) from x_T ~ N(0, I), with one generator seeded with
/// `config.seed` for x_T and every z. Returns x_0 (not clipped) and the trajectory.
///
/// Ancestral, at each t = T, ..., 1 (Algorithm 2, lines 3-4, eps form of Eq. 11):
///
/// $$x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon_\theta\Big) + \sigma_t z,
///   \quad z \sim \mathcal N(0, I) \text{ if } t > 1, \text{ else } 0$$
///
/// DDIM from t to the next visited step s (alpha_bar_0 = 1), Song et al. 2021, Eq. 12:
///
/// $$x_s = \sqrt{\bar\alpha_s}\,\hat x_0 + \sqrt{1-\bar\alpha_s-\sigma^2}\,\epsilon_\theta + \sigma z$$
///
/// `on_step(done, total)` is called after every step (progress lines).
pub fn sample<M: EpsModel>(
    prediction: &Prediction<M>,
    schedule: &NoiseSchedule,
    shape: &[usize],
    guidance: Option<&Guidance>,
    config: &SampleConfig,
    device: &Device,
    mut on_step: impl FnMut(usize, usize),
) -> Result<(Tensor, Trajectory)> {
    let steps = config.timesteps(schedule)?;
    let recorded = config.recorded_steps(schedule)?;
    if shape.len() < 2 || shape.contains(&0) {
        return Err(invalid!("the sample shape must be (B, ...) with rank >= 2 and no zero, got {shape:?}"));
    }
    let mut rng = seeded(config.seed);
    // Algorithm 2, line 1: x_T ~ N(0, I).
    let mut x = normal_tensor(&mut rng, shape, device)?;
    let mut trajectory = Trajectory::default();
    // Line 2: for t = T, ..., 1 (DDIM: the visited steps only).
    for (i, &t) in steps.iter().enumerate() {
        let s = steps.get(i + 1).copied().unwrap_or(0);
        let (next, d) = reverse_step(prediction, schedule, &x, t, s, guidance, config, &mut rng)?;
        if recorded.contains(&t) {
            trajectory.t.push(t);
            trajectory.xt.push(x.clone());
            trajectory.x0_pred.push(d.x0);
        }
        x = next;
        on_step(i + 1, steps.len());
    }
    Ok((x, trajectory))
}

/// One step of the sampler of `config` from x_t to x_s, s the next visited step below t (0 after
/// the last): Algorithm 2, lines 3-4 (s = t - 1), or DDIM's Eq. 12, z drawn from `rng` (see
/// [`sample`] for both formulas). Returns x_s and what the network said at (x_t, t). [`sample`]
/// and the inpainting loop ([`super::inpaint`]) take their steps here.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reverse_step<M: EpsModel>(
    prediction: &Prediction<M>,
    schedule: &NoiseSchedule,
    x: &Tensor,
    t: usize,
    s: usize,
    guidance: Option<&Guidance>,
    config: &SampleConfig,
    rng: &mut Rng,
) -> Result<(Tensor, Denoised)> {
    let d = prediction.denoise(schedule, x, t, guidance, config.clip_x0)?;
    let next = match config.sampler {
        Sampler::Ancestral { sigma } => {
            // Line 4: the mean (Eq. 11), then + sigma_t z (line 3: z = 0 when t = 1).
            let mean = p_mean_scaled(schedule, x, t, &d.eps, config.mean_scale)?;
            add_noise(mean, sigma.sigma_sq(schedule, t)?.sqrt(), t > 1, rng)?
        }
        Sampler::Ddim { eta, .. } => {
            let (ab_t, ab_s) = (schedule.alpha_bar(t), schedule.alpha_bar(s));
            let sigma = eta * ((1.0 - ab_s) / (1.0 - ab_t) * (1.0 - ab_t / ab_s)).max(0.0).sqrt();
            let dir = (1.0 - ab_s - sigma * sigma).max(0.0).sqrt();
            let mean = (d.x0.affine(ab_s.sqrt(), 0.0)? + d.eps.affine(dir, 0.0)?)?;
            add_noise(mean, sigma, s > 0, rng)?
        }
    };
    Ok((next, d))
}

/// mean + std z with z ~ N(0, I) from `rng`, when `noisy` and std > 0; else the mean.
fn add_noise(mean: Tensor, std: f64, noisy: bool, rng: &mut Rng) -> Result<Tensor> {
    if !noisy || std == 0.0 {
        return Ok(mean);
    }
    let z = normal_tensor(rng, mean.dims(), mean.device())?;
    Ok((mean + z.affine(std, 0.0)?)?)
}

/// An f32 tensor of N(0, 1) draws from `rng` (candle's own generator cannot be seeded).
pub fn normal_tensor(rng: &mut Rng, shape: &[usize], device: &Device) -> Result<Tensor> {
    let n = shape.iter().product();
    let v: Vec<f32> = normal_vec(rng, n).into_iter().map(|e| e as f32).collect();
    Ok(Tensor::from_vec(v, shape, device)?)
}
