//! Inpainting with an unconditional model, no retraining (Lugmayr et al. 2022, RePaint, Eq. 8-9
//! and Algorithm 1): at every step of the sampler, the known pixels of x_{t-1} are a fresh draw
//! of the closed form q(x_{t-1} | x_0) (Ho et al. 2020, Eq. 4; notebook 01) and the unknown ones
//! are the network's:
//!
//! $$x_{t-1} = m \odot \big(\sqrt{\bar\alpha_{t-1}}\,x_0 + \sqrt{1-\bar\alpha_{t-1}}\,\epsilon\big)
//!   + (1 - m) \odot x_{t-1}^{\text{unknown}}$$
//!
//! with m the mask of known pixels. Optionally RePaint's resampling: after every `jump` steps,
//! noise the result back up by q(x_t | x_s) and walk the same steps down again, so that the two
//! regions agree.

use candle_core::{DType, Tensor};

use super::config::SampleConfig;
use super::denoise::Prediction;
use super::network::{normal_tensor, reverse_step, Trajectory};
use crate::diffusion::q_sample;
use crate::nn::EpsModel;
use crate::rng::{seeded, Rng};
use crate::{NoiseSchedule, Result};

/// Added to the seed for the generator of the known pixels' noise and of RePaint's jumps, so that
/// the reverse steps draw x_T and every z exactly as unconditional sampling with the same seed.
const KNOWN_STREAM: u64 = 0x5EED_0F1A_9A17;

/// RePaint's resampling (Lugmayr et al. 2022, Sec. 4.2): after every `jump` steps down, go back
/// up `jump` steps by the forward process and down again, `resamplings` times in all.
/// `Repaint { jump: 10, resamplings: 10 }` is the paper's setting; `resamplings: 1` is no
/// resampling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repaint {
    /// Steps walked down before jumping back (j of the paper), >= 1.
    pub jump: usize,
    /// How many times each stretch of `jump` steps is walked down (r of the paper), >= 1.
    pub resamplings: usize,
}

/// Completes the unknown pixels of `x0` (B, ...) with the network, keeping the pixels where
/// `known` is 1 (see the module docs for the step). `known` holds only 0 and 1 (any dtype) and
/// has the shape of `x0` or one that broadcasts to it, e.g. (1, 1, H, W) for one mask for all.
/// The sampler, clipping and seed come from `config`; `repaint` adds RePaint's resampling.
///
/// After the last step the known pixels are x_0 itself (q(x_0 | x_0) is x_0). With no known
/// pixel and no resampling the result is bit for bit [`super::sample`]'s with the same seed.
/// Returns the result and the trajectory at `config.record_at` (on the way down).
///
/// ```
/// use ddpm::candle_core::{Device, Tensor};
/// use ddpm::nn::{Mlp, MlpConfig};
/// use ddpm::sample::{inpaint, Prediction, SampleConfig};
/// let s = ddpm::NoiseSchedule::linear(20).unwrap();
/// let (net, _) = Mlp::new_seeded(&MlpConfig::default(), &Device::Cpu, 0).unwrap();
/// let x0 = Tensor::new(&[[0.5f32, -0.25]], &Device::Cpu).unwrap();
/// let known = Tensor::new(&[[1u8, 0]], &Device::Cpu).unwrap(); // the first coordinate is known
/// let (x, _) = inpaint(&Prediction::eps(&net), &s, &x0, &known, &SampleConfig::ddpm(), None).unwrap();
/// let x: Vec<Vec<f32>> = x.to_vec2().unwrap();
/// assert_eq!(x[0][0], 0.5);
/// ```
pub fn inpaint<M: EpsModel>(
    prediction: &Prediction<M>,
    schedule: &NoiseSchedule,
    x0: &Tensor,
    known: &Tensor,
    config: &SampleConfig,
    repaint: Option<Repaint>,
) -> Result<(Tensor, Trajectory)> {
    let steps = config.timesteps(schedule)?;
    let recorded = config.recorded_steps(schedule)?;
    let known = check_mask(known, x0)?;
    let x0 = x0.to_dtype(DType::F32)?;
    let path = walk(&steps, repaint)?;
    let mut rng = seeded(config.seed);
    let mut known_rng = seeded(config.seed.wrapping_add(KNOWN_STREAM));
    // x_T ~ N(0, I) everywhere, as Algorithm 2, line 1.
    let mut x = normal_tensor(&mut rng, x0.dims(), x0.device())?;
    let mut trajectory = Trajectory::default();
    for leg in path {
        match leg {
            Leg::Down { t, s, last_visit } => {
                let (next, d) = reverse_step(prediction, schedule, &x, t, s, None, config, &mut rng)?;
                if last_visit && recorded.contains(&t) {
                    trajectory.t.push(t);
                    trajectory.xt.push(x.clone());
                    trajectory.x0_pred.push(d.x0);
                }
                let xs_known = if s == 0 {
                    x0.clone()
                } else {
                    q_sample(schedule, &x0, s, &normal_tensor(&mut known_rng, x0.dims(), x0.device())?)?
                };
                x = known.where_cond(&xs_known, &next)?;
            }
            Leg::Up { s, t } => x = q_jump(schedule, &x, s, t, &mut known_rng)?,
        }
    }
    Ok((x, trajectory))
}

/// One move of the walk: a reverse step from t down to s, or a forward jump from s up to t.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leg {
    /// `last_visit`: the last time the walk goes down from t (where the trajectory records).
    Down {
        t: usize,
        s: usize,
        last_visit: bool,
    },
    Up {
        s: usize,
        t: usize,
    },
}

/// The walk over the visited steps (T first, then 0 at the end): straight down without
/// resampling; with it, each stretch of `jump` steps walked `resamplings` times, with a jump back
/// to its top between walks (RePaint's schedule).
fn walk(steps: &[usize], repaint: Option<Repaint>) -> Result<Vec<Leg>> {
    let Repaint { jump, resamplings } = repaint.unwrap_or(Repaint { jump: 1, resamplings: 1 });
    if jump == 0 || resamplings == 0 {
        return Err(invalid!(
            "RePaint's jump length and number of resamplings must be at least 1, got {jump} and {resamplings}"
        ));
    }
    let mut ts = steps.to_vec();
    ts.push(0);
    let mut legs = Vec::new();
    for top in (0..steps.len()).step_by(jump) {
        let bottom = (top + jump).min(steps.len());
        for pass in 0..resamplings {
            let last = pass + 1 == resamplings;
            legs.extend((top..bottom).map(|i| Leg::Down { t: ts[i], s: ts[i + 1], last_visit: last }));
            if !last {
                legs.push(Leg::Up { s: ts[bottom], t: ts[top] });
            }
        }
    }
    Ok(legs)
}

/// A draw of the forward process from step s up to step t > s (Ho et al. 2020, Eq. 4 composed
/// over the steps s + 1, ..., t; RePaint, Sec. 4.2):
///
/// $$x_t = \sqrt{\bar\alpha_t / \bar\alpha_s}\; x_s + \sqrt{1 - \bar\alpha_t / \bar\alpha_s}\; z$$
fn q_jump(schedule: &NoiseSchedule, xs: &Tensor, s: usize, t: usize, rng: &mut Rng) -> Result<Tensor> {
    let ratio = schedule.alpha_bar(t) / schedule.alpha_bar(s);
    let z = normal_tensor(rng, xs.dims(), xs.device())?;
    Ok((xs.affine(ratio.sqrt(), 0.0)? + z.affine((1.0 - ratio).sqrt(), 0.0)?)?)
}

/// The mask as u8 of x0's shape; an error unless it holds only 0 and 1 and broadcasts to x0.
fn check_mask(known: &Tensor, x0: &Tensor) -> Result<Tensor> {
    let bad_shape = || {
        invalid!(
            "the mask of known pixels must have the shape of x0 {:?} or one that broadcasts to it, got {:?}",
            x0.dims(),
            known.dims()
        )
    };
    if x0.rank() < 2 || known.rank() > x0.rank() {
        return Err(bad_shape());
    }
    let known = known.broadcast_as(x0.dims()).map_err(|_| bad_shape())?;
    let values: Vec<f32> = known.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    if let Some(v) = values.iter().find(|&&v| v != 0.0 && v != 1.0) {
        return Err(invalid!("the mask of known pixels must hold only 0 (unknown) and 1 (known), got {v}"));
    }
    Ok(known.to_dtype(DType::U8)?)
}
