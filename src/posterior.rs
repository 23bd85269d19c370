//! The forward-process posterior q(x_{t-1} | x_t, x_0): its variance, the reverse variances, its
//! density by Bayes' rule, and what a network may predict (the noise eps, the clean x_0, the
//! posterior mean, or v), converted into each other by the formulas of [`crate::diffusion`]
//! (Ho et al. 2020, Eq. 6, 7, 11; note 002; Salimans and Ho 2022 for v). Its mean is
//! [`crate::diffusion::q_posterior_mean`] (Eq. 7), or [`crate::diffusion::p_mean`] in the eps form.

use std::fmt;
use std::str::FromStr;

use crate::diffusion::{
    p_mean, predict_eps_from_mean, predict_eps_from_v, predict_eps_from_x0, predict_v, predict_x0_from_eps, same_shape,
    At, DiffusionArray,
};
use crate::stats::normal_log_pdf;
use crate::{Error, NoiseSchedule, Result};

/// The variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, Eq. 7; note 002; E11):
///
/// $$\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t$$
///
/// `t` in 1..=T; it is 0 at t = 1 (x_0 is then known exactly).
pub fn beta_tilde(schedule: &NoiseSchedule, t: usize) -> Result<f64> {
    schedule.check_t(t)?;
    Ok(schedule.beta_tilde(t))
}

/// What a network predicts from (x_t, t): the four parameterisations are affine in each other
/// given x_t and t (E21; erratum 4 of EQUATIONS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Parameterisation {
    /// The noise eps (Ho et al.'s choice, which they report trains best).
    #[default]
    Eps,
    /// The clean data x_0.
    X0,
    /// The velocity v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0.
    V,
    /// The posterior mean mu_tilde_t directly.
    Mean,
}

impl Parameterisation {
    /// All four, in the order notebooks show them.
    pub const ALL: [Parameterisation; 4] = [Self::Eps, Self::X0, Self::V, Self::Mean];

    /// The noise eps implied by a prediction `value` of this kind at (x_t, t), by the formulas of
    /// [`crate::diffusion`]: eps itself, [`predict_eps_from_x0`], [`predict_eps_from_v`] or
    /// [`predict_eps_from_mean`]. For ndarray arrays and tensors, at one t or one per batch element.
    pub fn to_eps<'a, A: DiffusionArray + Clone>(
        self,
        schedule: &NoiseSchedule,
        xt: &A,
        value: &A,
        t: impl Into<At<'a>>,
    ) -> Result<A> {
        let t = t.into();
        match self {
            Self::Eps => {
                t.check(schedule, 1)?;
                same_shape(xt, value, "xt", "value")?;
                Ok(value.clone())
            }
            Self::X0 => predict_eps_from_x0(schedule, xt, t, value),
            Self::V => predict_eps_from_v(schedule, xt, t, value),
            Self::Mean => predict_eps_from_mean(schedule, xt, t, value),
        }
    }

    /// The prediction of this kind implied by the noise `eps` at (x_t, t): eps itself,
    /// [`predict_x0_from_eps`], [`predict_v`] of that x_0, or [`p_mean`].
    ///
    /// ```
    /// use ddpm::candle_core::{Device, Tensor};
    /// use ddpm::posterior::Parameterisation;
    /// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
    /// let xt = Tensor::new(&[[0.3f32, -0.1]], &Device::Cpu).unwrap();
    /// let eps = Tensor::new(&[[1f32, 0.5]], &Device::Cpu).unwrap();
    /// let x0 = Parameterisation::X0.from_eps(&s, &xt, &eps, 100).unwrap();
    /// let back = Parameterisation::X0.to_eps(&s, &xt, &x0, 100).unwrap();
    /// let err: f32 = (back - &eps).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    /// assert!(err < 1e-4);
    /// ```
    pub fn from_eps<'a, A: DiffusionArray + Clone>(
        self,
        schedule: &NoiseSchedule,
        xt: &A,
        eps: &A,
        t: impl Into<At<'a>>,
    ) -> Result<A> {
        let t = t.into();
        match self {
            Self::Eps => Self::Eps.to_eps(schedule, xt, eps, t),
            Self::X0 => predict_x0_from_eps(schedule, xt, t, eps),
            Self::V => {
                let x0 = predict_x0_from_eps(schedule, xt, t, eps)?;
                predict_v(schedule, &x0, t, eps)
            }
            Self::Mean => p_mean(schedule, xt, t, eps),
        }
    }

    /// Converts a prediction of this kind into one of kind `to`.
    pub fn convert<'a, A: DiffusionArray + Clone>(
        self,
        to: Self,
        schedule: &NoiseSchedule,
        xt: &A,
        value: &A,
        t: impl Into<At<'a>>,
    ) -> Result<A> {
        let t = t.into();
        let eps = self.to_eps(schedule, xt, value, t)?;
        to.from_eps(schedule, xt, &eps, t)
    }
}

impl fmt::Display for Parameterisation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eps => "eps",
            Self::X0 => "x0",
            Self::V => "v",
            Self::Mean => "mean",
        })
    }
}

impl FromStr for Parameterisation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "eps" | "epsilon" | "noise" => Ok(Self::Eps),
            "x0" | "x_0" => Ok(Self::X0),
            "v" => Ok(Self::V),
            "mean" | "mu" => Ok(Self::Mean),
            _ => Err(invalid!("unknown parameterisation {s:?}; allowed: eps, x0, v, mean")),
        }
    }
}

/// The reverse-step variance sigma_t^2 of Algorithm 2: Ho et al. 2020 (Sec. 3.2) found both
/// choices give similar samples; they are the upper and lower bounds on the reverse entropy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReverseVar {
    /// sigma_t^2 = beta_t (optimal for x_0 ~ N(0, I)).
    #[default]
    Beta,
    /// sigma_t^2 = beta_tilde_t (optimal for x_0 deterministic).
    BetaTilde,
}

impl ReverseVar {
    /// sigma_t^2 at step t (t in 1..=T).
    pub fn sigma_sq(self, schedule: &NoiseSchedule, t: usize) -> Result<f64> {
        schedule.check_t(t)?;
        Ok(match self {
            ReverseVar::Beta => schedule.beta(t),
            ReverseVar::BetaTilde => schedule.beta_tilde(t),
        })
    }
}

impl FromStr for ReverseVar {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "beta" => Ok(Self::Beta),
            "beta_tilde" | "beta-tilde" => Ok(Self::BetaTilde),
            _ => Err(invalid!("unknown reverse variance {s:?}; allowed: beta, beta_tilde")),
        }
    }
}

/// q(x_{t-1} | x_t, x_0) for scalar x_0 and x_t on a grid of x_{t-1}, by Bayes' rule
/// (note 002; E10), without completing the square:
///
/// $$q(x_{t-1}\mid x_t, x_0) = \frac{q(x_t \mid x_{t-1})\, q(x_{t-1} \mid x_0)}{q(x_t \mid x_0)}$$
///
/// `t` in 2..=T (at t = 1, q(x_0 | x_0) is a point mass).
pub fn posterior_density_bayes(schedule: &NoiseSchedule, t: usize, x0: f64, xt: f64, grid: &[f64]) -> Result<Vec<f64>> {
    schedule.check_t(t)?;
    if t < 2 {
        return Err(invalid!("posterior_density_bayes needs t in 2..={}, got {t}: at t = 1, x_0 is known and the density is a point mass", schedule.steps()));
    }
    let (a_t, b_t) = (schedule.alpha(t), schedule.beta(t));
    let (ab_prev, ab_t) = (schedule.alpha_bar(t - 1), schedule.alpha_bar(t));
    let log_evidence = normal_log_pdf(xt, ab_t.sqrt() * x0, 1.0 - ab_t);
    Ok(grid
        .iter()
        .map(|&x_prev| {
            let log_lik = normal_log_pdf(xt, a_t.sqrt() * x_prev, b_t);
            let log_prior = normal_log_pdf(x_prev, ab_prev.sqrt() * x0, 1.0 - ab_prev);
            (log_lik + log_prior - log_evidence).exp()
        })
        .collect())
}
