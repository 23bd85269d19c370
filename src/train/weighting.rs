//! How the loss of Algorithm 1 weighs the timesteps: uniformly in the network's target (Ho et
//! al.'s L_simple for eps), or by Min-SNR-gamma (Hang et al. 2023, "Efficient Diffusion Training
//! via Min-SNR Weighting Strategy", Sec. 3.4).
//!
//! Every target's error is a multiple of the error of the x_0 it implies, with
//! SNR(t) = alpha_bar_t / (1 - alpha_bar_t) (x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps):
//!
//! ```text
//! || eps - eps_theta ||^2 = SNR(t)       || x_0 - x0_theta ||^2
//! || v   - v_theta   ||^2 = (SNR(t) + 1) || x_0 - x0_theta ||^2
//! ```
//!
//! So L_simple on eps weighs the x_0 error by SNR(t): it spends most of its effort on small t,
//! where the noise is nearly invisible, and the steps of high noise, where the shape of a sample
//! is decided, conflict with them. Min-SNR-gamma weighs the x_0 error by min(SNR(t), gamma)
//! instead: the same as L_simple where SNR(t) <= gamma, capped above it. Per target the factor on
//! the mean square is min(SNR, gamma) / SNR (eps), min(SNR, gamma) (x0) and
//! min(SNR, gamma) / (SNR + 1) (v); Hang et al. use gamma = 5.

use std::fmt;
use std::str::FromStr;

use crate::posterior::Parameterisation;
use crate::{Error, NoiseSchedule, Result};

/// The weight of each timestep in the loss of Algorithm 1 (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum LossWeighting {
    /// Every t alike in the target's own mean square: L_simple (Ho et al. 2020, Eq. 14) for eps.
    #[default]
    Uniform,
    /// Min-SNR-gamma (Hang et al. 2023): the x_0 error weighted by min(SNR(t), gamma).
    MinSnr {
        /// The cap on the signal-to-noise ratio, > 0 (Hang et al.: 5).
        gamma: f64,
    },
}

impl LossWeighting {
    /// Min-SNR with Hang et al.'s gamma = 5.
    pub const MIN_SNR_5: Self = Self::MinSnr { gamma: 5.0 };

    /// The factor on the mean square error of `target` at step t.
    ///
    /// ```
    /// use ddpm::posterior::Parameterisation;
    /// use ddpm::train::LossWeighting;
    /// let s = ddpm::NoiseSchedule::linear(1000)?;
    /// let w = LossWeighting::MIN_SNR_5;
    /// // At t = 1000 the SNR is far below 5: eps keeps weight 1, as in L_simple.
    /// assert_eq!(w.weight(&s, Parameterisation::Eps, 1000)?, 1.0);
    /// // At t = 1 (SNR about 10^4) eps is weighted 5 / SNR(1).
    /// assert!((w.weight(&s, Parameterisation::Eps, 1)? - 5.0 / s.snr(1)).abs() < 1e-15);
    /// # Ok::<(), ddpm::Error>(())
    /// ```
    pub fn weight(&self, schedule: &NoiseSchedule, target: Parameterisation, t: usize) -> Result<f64> {
        schedule.check_t(t)?;
        let gamma = match *self {
            Self::Uniform => return Ok(1.0),
            Self::MinSnr { gamma } => gamma,
        };
        let snr = schedule.snr(t);
        let capped = snr.min(gamma);
        match target {
            Parameterisation::Eps => Ok(capped / snr),
            Parameterisation::X0 => Ok(capped),
            Parameterisation::V => Ok(capped / (snr + 1.0)),
            Parameterisation::Mean => Err(invalid!("target must be eps, x0 or v to weigh the loss, got mean")),
        }
    }

    /// Checks gamma: a finite number > 0.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Uniform => Ok(()),
            Self::MinSnr { gamma } => crate::error::check_positive("the Min-SNR gamma", gamma),
        }
    }
}

impl fmt::Display for LossWeighting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uniform => f.write_str("uniform"),
            Self::MinSnr { gamma } => write!(f, "min-snr-{gamma}"),
        }
    }
}

impl FromStr for LossWeighting {
    type Err = Error;
    /// "uniform" (or "simple"), "min-snr" (gamma 5) or "min-snr-G" for another gamma G.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let weighting = match lower.as_str() {
            "uniform" | "simple" => Self::Uniform,
            "min-snr" => Self::MIN_SNR_5,
            other => match other.strip_prefix("min-snr-").map(str::parse::<f64>) {
                Some(Ok(gamma)) => Self::MinSnr { gamma },
                _ => {
                    return Err(invalid!(
                        "unknown loss weighting {s:?}; allowed: uniform, min-snr (gamma 5), min-snr-G (gamma G > 0)"
                    ))
                }
            },
        };
        weighting.validate()?;
        Ok(weighting)
    }
}
