//! The flags that choose a sampler, shared by `ddpm sample` and `ddpm eval` so that each idea
//! has one name and one default in both: --sampler, --ddim-steps, --eta, --sigma, --no-clip.

use ddpm::sample::Sampler;
use ddpm::{NoiseSchedule, Result};

use crate::choices::{SamplerKind, Sigma};

/// How the samples are drawn.
#[derive(clap::Args)]
pub struct SamplerFlags {
    /// ddpm: Algorithm 2, all T steps; ddim: DDIM on --ddim-steps steps. Default: ddpm for
    /// `sample`, ddim for `eval` (fewer steps for a thousand samples).
    #[arg(long, value_enum)]
    pub sampler: Option<SamplerKind>,
    /// DDIM only: the number of steps K, in 1..=T. Default: 50 for `sample`, 250 for `eval`.
    #[arg(long)]
    pub ddim_steps: Option<usize>,
    /// DDIM only: eta, the noise of each step: 0 is deterministic DDIM, 1 is as noisy as
    /// Algorithm 2 (with fewer steps).
    #[arg(long, default_value_t = 1.0)]
    pub eta: f64,
    /// ddpm only: the variance of each step, sigma_t^2.
    #[arg(long, value_enum, default_value_t = Sigma::Beta)]
    pub sigma: Sigma,
    /// Do not clip the predicted x_0 to [-1, 1] (then the ancestral step is Algorithm 2 exactly).
    #[arg(long)]
    pub no_clip: bool,
}

/// The defaults of one subcommand.
pub struct Defaults {
    pub sampler: SamplerKind,
    pub ddim_steps: usize,
}

impl SamplerFlags {
    /// The sampler asked for; --ddim-steps with the ddpm sampler is refused (it runs all T
    /// steps), and K is capped at T when it was not given.
    pub fn sampler(&self, defaults: Defaults, schedule: &NoiseSchedule) -> Result<Sampler> {
        match (self.sampler.unwrap_or(defaults.sampler), self.ddim_steps) {
            (SamplerKind::Ddpm, Some(_)) => {
                Err(ddpm::invalid!("--ddim-steps is for --sampler ddim; ddpm runs all T = {} steps", schedule.steps()))
            }
            (SamplerKind::Ddpm, None) => Ok(Sampler::Ancestral { sigma: self.sigma.into() }),
            (SamplerKind::Ddim, steps) => {
                Ok(Sampler::Ddim { steps: steps.unwrap_or(defaults.ddim_steps.min(schedule.steps())), eta: self.eta })
            }
        }
    }
}
