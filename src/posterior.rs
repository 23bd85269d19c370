//! The forward-process posterior q(x_{t-1} | x_t, x_0) and the exact conversions between what a
//! network may predict: the noise eps, the clean x_0, the posterior mean, or v
//! (Ho et al. 2020, Eq. 6, 7, 11; note 002; Salimans and Ho 2022 for v).

use std::fmt;
use std::str::FromStr;

use ndarray::{Array, Dimension, Zip};

use crate::stats::normal_log_pdf;
use crate::{Error, NoiseSchedule, Result};

/// a x + b y, element-wise, for arrays of the same shape.
fn affine<D: Dimension>(
    a: f64,
    x: &Array<f64, D>,
    b: f64,
    y: &Array<f64, D>,
    names: (&str, &str),
) -> Result<Array<f64, D>> {
    if x.shape() != y.shape() {
        invalid!("{} and {} must have the same shape, got {:?} and {:?}", names.0, names.1, x.shape(), y.shape());
    }
    Ok(Zip::from(x).and(y).map_collect(|&x, &y| a * x + b * y))
}

/// The variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, Eq. 7; note 002; E11):
///
/// $$\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t$$
///
/// `t` in 1..=T; it is 0 at t = 1 (x_0 is then known exactly).
pub fn beta_tilde(schedule: &NoiseSchedule, t: usize) -> Result<f64> {
    schedule.check_t(t)?;
    Ok(schedule.beta_tilde(t))
}

/// The mean of q(x_{t-1} | x_t, x_0) in the x_0 form (Ho et al. 2020, Eq. 7; note 002; E11):
///
/// $$\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t} x_0
///              + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t} x_t$$
///
/// ```
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let mu = ddpm::posterior::mu_tilde(&s, &array![0.5], &array![0.5], 1).unwrap();
/// assert!((mu[0] - 0.5).abs() < 1e-12); // at t = 1 the posterior mean is x_0
/// ```
pub fn mu_tilde<D: Dimension>(
    schedule: &NoiseSchedule,
    x0: &Array<f64, D>,
    xt: &Array<f64, D>,
    t: usize,
) -> Result<Array<f64, D>> {
    schedule.check_t(t)?;
    affine(schedule.mu_tilde_coef_x0(t), x0, schedule.mu_tilde_coef_xt(t), xt, ("x0", "xt"))
}

/// The mean of q(x_{t-1} | x_t, x_0) in the eps form (Ho et al. 2020, Eq. 10-11; notes 002, 003; E12),
/// obtained by substituting x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) into Eq. 7:
///
/// $$\tilde\mu_t = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon\Big)$$
///
/// This is also the mean of Algorithm 2's step with eps = eps_theta(x_t, t).
pub fn mu_tilde_from_eps<D: Dimension>(
    schedule: &NoiseSchedule,
    xt: &Array<f64, D>,
    eps: &Array<f64, D>,
    t: usize,
) -> Result<Array<f64, D>> {
    schedule.check_t(t)?;
    let a = 1.0 / schedule.alpha(t).sqrt();
    let b = -a * schedule.beta(t) / schedule.sqrt_one_minus_alpha_bar(t);
    affine(a, xt, b, eps, ("xt", "eps"))
}

/// x_0 from x_t and the noise (Ho et al. 2020, Eq. 4 solved for x_0; note 002; E12):
///
/// $$x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\epsilon}{\sqrt{\bar\alpha_t}}$$
///
/// the "full noise removal" view of note 001.
pub fn x0_from_eps<D: Dimension>(
    schedule: &NoiseSchedule,
    xt: &Array<f64, D>,
    eps: &Array<f64, D>,
    t: usize,
) -> Result<Array<f64, D>> {
    schedule.check_t(t)?;
    let a = 1.0 / schedule.sqrt_alpha_bar(t);
    affine(a, xt, -a * schedule.sqrt_one_minus_alpha_bar(t), eps, ("xt", "eps"))
}

/// The noise from x_t and x_0: eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t).
pub fn eps_from_x0<D: Dimension>(
    schedule: &NoiseSchedule,
    xt: &Array<f64, D>,
    x0: &Array<f64, D>,
    t: usize,
) -> Result<Array<f64, D>> {
    schedule.check_t(t)?;
    let a = 1.0 / schedule.sqrt_one_minus_alpha_bar(t);
    affine(a, xt, -a * schedule.sqrt_alpha_bar(t), x0, ("xt", "x0"))
}

/// The noise from x_t and the posterior mean, inverting the eps form of [`mu_tilde_from_eps`]:
/// eps = (x_t - sqrt(alpha_t) mu) sqrt(1 - alpha_bar_t) / beta_t.
pub fn eps_from_mean<D: Dimension>(
    schedule: &NoiseSchedule,
    xt: &Array<f64, D>,
    mean: &Array<f64, D>,
    t: usize,
) -> Result<Array<f64, D>> {
    schedule.check_t(t)?;
    let k = schedule.sqrt_one_minus_alpha_bar(t) / schedule.beta(t);
    affine(k, xt, -k * schedule.alpha(t).sqrt(), mean, ("xt", "mean"))
}

/// v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans and Ho 2022, Sec. 4).
pub fn v_from_x0_eps<D: Dimension>(
    schedule: &NoiseSchedule,
    x0: &Array<f64, D>,
    eps: &Array<f64, D>,
    t: usize,
) -> Result<Array<f64, D>> {
    schedule.check_t(t)?;
    affine(schedule.sqrt_alpha_bar(t), eps, -schedule.sqrt_one_minus_alpha_bar(t), x0, ("eps", "x0"))
}

/// eps from x_t and v: eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v.
pub fn eps_from_v<D: Dimension>(
    schedule: &NoiseSchedule,
    xt: &Array<f64, D>,
    v: &Array<f64, D>,
    t: usize,
) -> Result<Array<f64, D>> {
    schedule.check_t(t)?;
    affine(schedule.sqrt_one_minus_alpha_bar(t), xt, schedule.sqrt_alpha_bar(t), v, ("xt", "v"))
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

    /// The noise eps implied by a prediction `value` of this kind at (x_t, t).
    pub fn to_eps<D: Dimension>(
        self,
        schedule: &NoiseSchedule,
        xt: &Array<f64, D>,
        value: &Array<f64, D>,
        t: usize,
    ) -> Result<Array<f64, D>> {
        match self {
            Self::Eps => {
                schedule.check_t(t)?;
                affine(0.0, xt, 1.0, value, ("xt", "value"))
            }
            Self::X0 => eps_from_x0(schedule, xt, value, t),
            Self::V => eps_from_v(schedule, xt, value, t),
            Self::Mean => eps_from_mean(schedule, xt, value, t),
        }
    }

    /// The prediction of this kind implied by the noise `eps` at (x_t, t).
    pub fn from_eps<D: Dimension>(
        self,
        schedule: &NoiseSchedule,
        xt: &Array<f64, D>,
        eps: &Array<f64, D>,
        t: usize,
    ) -> Result<Array<f64, D>> {
        match self {
            Self::Eps => Self::Eps.to_eps(schedule, xt, eps, t),
            Self::X0 => x0_from_eps(schedule, xt, eps, t),
            Self::V => {
                let x0 = x0_from_eps(schedule, xt, eps, t)?;
                v_from_x0_eps(schedule, &x0, eps, t)
            }
            Self::Mean => mu_tilde_from_eps(schedule, xt, eps, t),
        }
    }

    /// Converts a prediction of this kind into one of kind `to`.
    pub fn convert<D: Dimension>(
        self,
        to: Self,
        schedule: &NoiseSchedule,
        xt: &Array<f64, D>,
        value: &Array<f64, D>,
        t: usize,
    ) -> Result<Array<f64, D>> {
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
            _ => invalid!("unknown parameterisation {s:?}; allowed: eps, x0, v, mean"),
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
            _ => invalid!("unknown reverse variance {s:?}; allowed: beta, beta_tilde"),
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
        invalid!("posterior_density_bayes needs t in 2..={}, got {t}: at t = 1, x_0 is known and the density is a point mass", schedule.steps());
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
