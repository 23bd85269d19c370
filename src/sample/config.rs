//! How to sample: ancestral (Algorithm 2) or DDIM, which steps are visited, and where the
//! trajectory is recorded.

use std::fmt;

use super::array::MeanScale;
use crate::posterior::ReverseVar;
use crate::{NoiseSchedule, Result};

/// The reverse process to run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Ho et al. 2020, Algorithm 2: every step t = T, ..., 1, with x_{t-1} = mu + sigma_t z and
    /// sigma_t^2 = beta_t or beta_tilde_t.
    Ancestral { sigma: ReverseVar },
    /// Song et al. 2021 (DDIM), Eq. 12, on `steps` evenly spaced steps 1 = tau_1 < ... < tau_K = T:
    /// x_{s} = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s - sigma^2) eps_pred + sigma z,
    /// sigma = eta sqrt((1 - alpha_bar_s)/(1 - alpha_bar_t)) sqrt(1 - alpha_bar_t/alpha_bar_s).
    /// eta = 0 is deterministic; eta = 1 with K = T is ancestral sampling with beta_tilde.
    Ddim { steps: usize, eta: f64 },
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::Ancestral { sigma: ReverseVar::Beta }
    }
}

impl fmt::Display for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampler::Ancestral { sigma: ReverseVar::Beta } => write!(f, "ddpm (sigma^2 = beta)"),
            Sampler::Ancestral { sigma: ReverseVar::BetaTilde } => write!(f, "ddpm (sigma^2 = beta_tilde)"),
            Sampler::Ddim { steps, eta } => write!(f, "ddim ({steps} steps, eta = {eta})"),
        }
    }
}

/// A sampling run: the sampler, whether to clip the predicted x_0 to [-1, 1], the seed, and the
/// steps t at which to record x_t and the predicted x_0.
///
/// ```
/// use ddpm::sample::{SampleConfig, Sampler};
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let config = SampleConfig { sampler: Sampler::Ddim { steps: 4, eta: 0.0 }, ..Default::default() };
/// assert_eq!(config.timesteps(&s).unwrap(), vec![1000, 667, 334, 1]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SampleConfig {
    pub sampler: Sampler,
    /// Clip the predicted x_0 to the data range [-1, 1] before each step (Ho et al.'s
    /// `clip_denoised`); off, the ancestral step is exactly Algorithm 2, line 4.
    pub clip_x0: bool,
    /// Seed of x_T and of every z.
    pub seed: u64,
    /// Steps t (each in 1..=T) at which the trajectory records x_t and the predicted x_0. A step
    /// the sampler does not visit is recorded at the nearest visited step below it.
    pub record_at: Vec<usize>,
    /// How the ancestral step's mean is scaled: 1/sqrt(alpha_t) as in the paper, or note 000's
    /// 1/alpha_t (erratum 1, wrong on purpose, for the notebooks). DDIM ignores it.
    pub mean_scale: MeanScale,
}

impl Default for SampleConfig {
    fn default() -> Self {
        Self {
            sampler: Sampler::default(),
            clip_x0: true,
            seed: 0,
            record_at: Vec::new(),
            mean_scale: MeanScale::SqrtAlpha,
        }
    }
}

impl SampleConfig {
    /// Checks the configuration against `schedule`.
    pub fn validate(&self, schedule: &NoiseSchedule) -> Result<()> {
        if let Sampler::Ddim { steps, eta } = self.sampler {
            if steps == 0 || steps > schedule.steps() {
                return Err(invalid!("DDIM steps must be in 1..={} (the schedule's T), got {steps}", schedule.steps()));
            }
            if !(eta.is_finite() && eta >= 0.0) {
                return Err(invalid!(
                    "eta must be a finite number >= 0 (0: deterministic DDIM, 1: DDPM-like), got {eta}"
                ));
            }
        }
        for &t in &self.record_at {
            if t == 0 || t > schedule.steps() {
                return Err(invalid!("record_at steps must be in 1..={}, got {t}", schedule.steps()));
            }
        }
        Ok(())
    }

    /// The steps visited, from T down: every t for the ancestral sampler; for DDIM with K steps,
    /// K steps evenly spaced from T to 1, rounded: tau_i = round(1 + (i - 1)(T - 1)/(K - 1))
    /// (distinct, since the spacing (T - 1)/(K - 1) is at least 1), and tau_1 = T when K = 1.
    /// Ending at t = 1 leaves the last jump, to x_0, as small as Algorithm 2's.
    pub fn timesteps(&self, schedule: &NoiseSchedule) -> Result<Vec<usize>> {
        self.validate(schedule)?;
        let big_t = schedule.steps();
        Ok(match self.sampler {
            Sampler::Ancestral { .. } => (1..=big_t).rev().collect(),
            Sampler::Ddim { steps: 1, .. } => vec![big_t],
            Sampler::Ddim { steps, .. } => (0..steps)
                .rev()
                .map(|i| (1.0 + i as f64 * (big_t - 1) as f64 / (steps - 1) as f64).round() as usize)
                .collect(),
        })
    }

    /// Which visited steps record the trajectory: for each requested t, the largest visited step
    /// that is <= t (or the smallest visited step), without repeats, from T down.
    pub fn recorded_steps(&self, schedule: &NoiseSchedule) -> Result<Vec<usize>> {
        let visited = self.timesteps(schedule)?;
        let mut chosen: Vec<usize> = self
            .record_at
            .iter()
            .map(|&t| visited.iter().copied().find(|&s| s <= t).unwrap_or(visited[visited.len() - 1]))
            .collect();
        chosen.sort_unstable_by(|a, b| b.cmp(a));
        chosen.dedup();
        Ok(chosen)
    }
}
