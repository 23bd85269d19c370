//! [`NoiseSchedule`]: every table derived from a beta schedule, in f64.

use super::BetaSchedule;
use crate::Result;

/// Every table derived from a beta schedule, in f64, indexed by t in 0..=T.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSchedule {
    schedule: BetaSchedule,
    beta: Vec<f64>,
    alpha_bar: Vec<f64>,
}

/// A column of the schedule table, in the order the command line prints them.
pub const TABLE_COLUMNS: [&str; 10] = [
    "t",
    "beta",
    "alpha",
    "alpha_bar",
    "sqrt_alpha_bar",
    "sqrt_one_minus_alpha_bar",
    "beta_tilde",
    "mu_tilde_coef_x0",
    "mu_tilde_coef_xt",
    "snr",
];

/// The columns [`NoiseSchedule::column`] knows besides [`TABLE_COLUMNS`].
pub const EXTRA_COLUMNS: [&str; 7] = [
    "alpha_bar_prev",
    "log_snr",
    "posterior_log_var_clipped",
    "sqrt_recip_alpha_bar",
    "sqrt_recipm1_alpha_bar",
    "p_mean_coef_xt",
    "p_mean_coef_eps",
];

impl NoiseSchedule {
    /// Computes the tables for `steps` = T steps. alpha_bar_t is the running product of
    /// alpha_s = 1 - beta_s (Ho et al. 2020, Eq. 4 and the line above it), as `np.cumprod`.
    ///
    /// ```
    /// use ddpm::{BetaSchedule, NoiseSchedule};
    /// let s = NoiseSchedule::new(BetaSchedule::linear(), 1000).unwrap();
    /// assert_eq!(s.steps(), 1000);
    /// assert_eq!(s.alpha_bar(0), 1.0);
    /// assert!((s.alpha_bar(1000) - 4.0358e-5).abs() < 1e-8);
    /// ```
    pub fn new(schedule: BetaSchedule, steps: usize) -> Result<Self> {
        let betas = schedule.betas(steps)?;
        let mut beta = Vec::with_capacity(steps + 1);
        let mut alpha_bar = Vec::with_capacity(steps + 1);
        beta.push(0.0);
        alpha_bar.push(1.0);
        for b in betas {
            let prev = alpha_bar[alpha_bar.len() - 1];
            beta.push(b);
            alpha_bar.push(prev * (1.0 - b));
        }
        let alpha_bar_last = alpha_bar[steps];
        if !(alpha_bar_last >= f64::MIN_POSITIVE) {
            return Err(invalid!(
                "alpha_bar_T underflows to {alpha_bar_last:e} with these betas and T = {steps}: x_0 could not be recovered from x_T; use fewer steps or smaller betas"
            ));
        }
        Ok(NoiseSchedule { schedule, beta, alpha_bar })
    }

    /// The linear schedule of Ho et al. with T steps.
    pub fn linear(steps: usize) -> Result<Self> {
        Self::new(BetaSchedule::linear(), steps)
    }

    /// The cosine schedule of Nichol and Dhariwal with T steps.
    pub fn cosine(steps: usize) -> Result<Self> {
        Self::new(BetaSchedule::cosine(), steps)
    }

    /// The schedule these tables were computed from.
    pub fn schedule(&self) -> &BetaSchedule {
        &self.schedule
    }

    /// T, the number of steps.
    pub fn steps(&self) -> usize {
        self.beta.len() - 1
    }

    /// `Ok(())` when `t` is in 1..=T, otherwise an error that says so.
    pub fn check_t(&self, t: usize) -> Result<()> {
        if t == 0 || t > self.steps() {
            return Err(invalid!("t must be in 1..={}, got {t}", self.steps()));
        }
        Ok(())
    }

    fn at(&self, table: &[f64], t: usize) -> f64 {
        match table.get(t) {
            Some(&v) => v,
            None => panic!("t must be in 0..={}, got {t}", self.steps()),
        }
    }

    /// beta_t (0 at t = 0). Panics if t > T, like indexing; use [`Self::check_t`] first on user input.
    pub fn beta(&self, t: usize) -> f64 {
        self.at(&self.beta, t)
    }

    /// alpha_t = 1 - beta_t.
    pub fn alpha(&self, t: usize) -> f64 {
        1.0 - self.beta(t)
    }

    /// alpha_bar_t = prod_{s <= t} alpha_s, with alpha_bar_0 = 1.
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.at(&self.alpha_bar, t)
    }

    /// alpha_bar_{t-1} (t >= 1).
    pub fn alpha_bar_prev(&self, t: usize) -> f64 {
        self.alpha_bar(t.checked_sub(1).expect("alpha_bar_prev needs t >= 1"))
    }

    /// sqrt(alpha_bar_t): how much of x_0 survives in x_t.
    pub fn sqrt_alpha_bar(&self, t: usize) -> f64 {
        self.alpha_bar(t).sqrt()
    }

    /// sqrt(1 - alpha_bar_t): the standard deviation of the noise in x_t.
    pub fn sqrt_one_minus_alpha_bar(&self, t: usize) -> f64 {
        (1.0 - self.alpha_bar(t)).sqrt()
    }

    /// 1 / sqrt(alpha_bar_t), the factor of Eq. 15 that turns x_t - sqrt(1 - alpha_bar_t) eps into
    /// x_0 (`sqrt_recip_alphas_cumprod` of Ho et al.'s code).
    pub fn sqrt_recip_alpha_bar(&self, t: usize) -> f64 {
        1.0 / self.sqrt_alpha_bar(t)
    }

    /// sqrt(1 / alpha_bar_t - 1) = sqrt(1 - alpha_bar_t) / sqrt(alpha_bar_t), the weight of eps in
    /// x_0 = x_t / sqrt(alpha_bar_t) - sqrt(1 / alpha_bar_t - 1) eps (Eq. 15;
    /// `sqrt_recipm1_alphas_cumprod` of Ho et al.'s code). The SNR's inverse square root.
    pub fn sqrt_recipm1_alpha_bar(&self, t: usize) -> f64 {
        (1.0 / self.alpha_bar(t) - 1.0).sqrt()
    }

    /// 1 / sqrt(1 - alpha_bar_t), the factor that turns x_t - sqrt(alpha_bar_t) x_0 into eps (Eq. 4
    /// solved for eps).
    pub fn sqrt_recip_one_minus_alpha_bar(&self, t: usize) -> f64 {
        1.0 / self.sqrt_one_minus_alpha_bar(t)
    }

    /// The coefficient of x_t in the reverse mean, 1 / sqrt(alpha_t) (Ho et al. 2020, Eq. 11).
    pub fn p_mean_coef_xt(&self, t: usize) -> f64 {
        1.0 / self.alpha(t).sqrt()
    }

    /// The weight of the predicted noise in the reverse mean, beta_t / sqrt(1 - alpha_bar_t)
    /// (Ho et al. 2020, Eq. 11; Algorithm 2 writes it (1 - alpha_t) / sqrt(1 - alpha_bar_t)).
    pub fn p_mean_coef_eps(&self, t: usize) -> f64 {
        self.beta(t) / self.sqrt_one_minus_alpha_bar(t)
    }

    /// beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t, the variance of
    /// q(x_{t-1} | x_t, x_0) (Ho et al. 2020, Eq. 7; note 002). It is 0 at t = 1.
    pub fn beta_tilde(&self, t: usize) -> f64 {
        (1.0 - self.alpha_bar_prev(t)) / (1.0 - self.alpha_bar(t)) * self.beta(t)
    }

    /// ln beta_tilde_t with t = 1 replaced by t = 2 (beta_tilde_1 = 0 has no logarithm), the
    /// "clipped" convention of Ho et al.'s diffusion_utils (`posterior_log_variance_clipped`).
    pub fn posterior_log_var_clipped(&self, t: usize) -> f64 {
        let t = if t == 1 && self.steps() >= 2 { 2 } else { t };
        self.beta_tilde(t).max(f64::MIN_POSITIVE).ln()
    }

    /// The coefficient of x_0 in mu_tilde_t: sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) (Eq. 7).
    pub fn mu_tilde_coef_x0(&self, t: usize) -> f64 {
        self.alpha_bar_prev(t).sqrt() * self.beta(t) / (1.0 - self.alpha_bar(t))
    }

    /// The coefficient of x_t in mu_tilde_t: sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) (Eq. 7).
    pub fn mu_tilde_coef_xt(&self, t: usize) -> f64 {
        self.alpha(t).sqrt() * (1.0 - self.alpha_bar_prev(t)) / (1.0 - self.alpha_bar(t))
    }

    /// Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t) (Kingma et al. 2021).
    pub fn snr(&self, t: usize) -> f64 {
        self.alpha_bar(t) / (1.0 - self.alpha_bar(t))
    }

    /// ln SNR = ln alpha_bar_t - ln(1 - alpha_bar_t).
    pub fn log_snr(&self, t: usize) -> f64 {
        self.alpha_bar(t).ln() - (-self.alpha_bar(t)).ln_1p()
    }

    /// A whole column for t = 1..=T, by one of the names in [`TABLE_COLUMNS`] or those in
    /// [`EXTRA_COLUMNS`].
    pub fn column(&self, name: &str) -> Result<Vec<f64>> {
        let f: fn(&Self, usize) -> f64 = match name {
            "t" => |_, t| t as f64,
            "beta" => Self::beta,
            "alpha" => Self::alpha,
            "alpha_bar" => Self::alpha_bar,
            "alpha_bar_prev" => Self::alpha_bar_prev,
            "sqrt_alpha_bar" => Self::sqrt_alpha_bar,
            "sqrt_one_minus_alpha_bar" => Self::sqrt_one_minus_alpha_bar,
            "beta_tilde" => Self::beta_tilde,
            "mu_tilde_coef_x0" => Self::mu_tilde_coef_x0,
            "mu_tilde_coef_xt" => Self::mu_tilde_coef_xt,
            "snr" => Self::snr,
            "log_snr" => Self::log_snr,
            "posterior_log_var_clipped" => Self::posterior_log_var_clipped,
            "sqrt_recip_alpha_bar" => Self::sqrt_recip_alpha_bar,
            "sqrt_recipm1_alpha_bar" => Self::sqrt_recipm1_alpha_bar,
            "p_mean_coef_xt" => Self::p_mean_coef_xt,
            "p_mean_coef_eps" => Self::p_mean_coef_eps,
            _ => {
                return Err(invalid!(
                    "unknown column {name:?}; allowed: {}, {}",
                    TABLE_COLUMNS.join(", "),
                    EXTRA_COLUMNS.join(", ")
                ))
            }
        };
        Ok((1..=self.steps()).map(|t| f(self, t)).collect())
    }

    /// The row of [`TABLE_COLUMNS`] at step t (t in 1..=T).
    pub fn row(&self, t: usize) -> Result<[f64; 10]> {
        self.check_t(t)?;
        Ok([
            t as f64,
            self.beta(t),
            self.alpha(t),
            self.alpha_bar(t),
            self.sqrt_alpha_bar(t),
            self.sqrt_one_minus_alpha_bar(t),
            self.beta_tilde(t),
            self.mu_tilde_coef_x0(t),
            self.mu_tilde_coef_xt(t),
            self.snr(t),
        ])
    }

    /// The fraction of steps t in 1..=T with sqrt(alpha_bar_t) < `threshold`: how much of the
    /// schedule is spent on (near) pure noise (note 000's claim, E7).
    pub fn fraction_below(&self, threshold: f64) -> f64 {
        let n = (1..=self.steps()).filter(|&t| self.sqrt_alpha_bar(t) < threshold).count();
        n as f64 / self.steps() as f64
    }
}
