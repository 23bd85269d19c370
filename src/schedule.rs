//! Beta schedules and the tables derived from them, in f64 (Ho et al. 2020, Sec. 2 and 4; notes 000, 003).
//!
//! Every table is indexed by the paper's step `t` in 1..=T; index 0 holds the conventions at
//! t = 0 (beta_0 = 0, alpha_0 = alpha_bar_0 = 1), so `alpha_bar(t - 1)` is always defined.

use std::fmt;
use std::str::FromStr;

use crate::error::{check_open, check_positive};
use crate::{Error, Result};

/// The largest number of steps a schedule may have (a bound that keeps tables in memory).
pub const MAX_STEPS: usize = 1_000_000;

/// How beta_t grows with t. Build one, then call [`NoiseSchedule::new`].
#[derive(Clone, Debug, PartialEq)]
pub enum BetaSchedule {
    /// beta_t evenly spaced from `beta_start` (t = 1) to `beta_end` (t = T), as numpy's
    /// `linspace` (Ho et al. 2020, Sec. 4: 1e-4 to 0.02 with T = 1000).
    Linear { beta_start: f64, beta_end: f64 },
    /// Nichol and Dhariwal 2021, Eq. 17: alpha_bar(t) = f(t)/f(0), f(t) = cos^2((t/T + s)/(1 + s) pi/2),
    /// beta_t = min(1 - alpha_bar(t)/alpha_bar(t-1), max_beta), with s = 0.008 and max_beta = 0.999.
    Cosine { s: f64, max_beta: f64 },
    /// sqrt(beta_t) evenly spaced from sqrt(beta_start) to sqrt(beta_end), then squared
    /// (the "quad" schedule of Ho et al.'s diffusion_utils).
    Quadratic { beta_start: f64, beta_end: f64 },
    /// beta_t = beta_start + (beta_end - beta_start) sigmoid(-6 + 12 (t - 1)/(T - 1))
    /// (the sigmoid schedule of Xu et al. 2022, GeoDiff): slow at both ends, fast in the middle.
    Sigmoid { beta_start: f64, beta_end: f64 },
    /// Any betas, beta_1 first; T is their number.
    Custom(Vec<f64>),
}

/// The names of the built-in schedules, as the command line spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScheduleKind {
    Linear,
    Cosine,
    Quadratic,
    Sigmoid,
}

impl ScheduleKind {
    /// All built-in kinds, in the order plots list them.
    pub const ALL: [ScheduleKind; 4] =
        [ScheduleKind::Linear, ScheduleKind::Cosine, ScheduleKind::Quadratic, ScheduleKind::Sigmoid];

    /// The schedule of this kind with the default parameters.
    pub fn default_schedule(self) -> BetaSchedule {
        match self {
            ScheduleKind::Linear => BetaSchedule::linear(),
            ScheduleKind::Cosine => BetaSchedule::cosine(),
            ScheduleKind::Quadratic => BetaSchedule::Quadratic { beta_start: 1e-4, beta_end: 0.02 },
            ScheduleKind::Sigmoid => BetaSchedule::Sigmoid { beta_start: 1e-4, beta_end: 0.02 },
        }
    }

    /// The schedule of this kind with `beta_start` and `beta_end` where given. The cosine
    /// schedule has no such parameters: giving them is an error.
    pub fn with_betas(self, beta_start: Option<f64>, beta_end: Option<f64>) -> Result<BetaSchedule> {
        let mut schedule = self.default_schedule();
        match &mut schedule {
            BetaSchedule::Linear { beta_start: b0, beta_end: b1 }
            | BetaSchedule::Quadratic { beta_start: b0, beta_end: b1 }
            | BetaSchedule::Sigmoid { beta_start: b0, beta_end: b1 } => {
                *b0 = beta_start.unwrap_or(*b0);
                *b1 = beta_end.unwrap_or(*b1);
            }
            _ if beta_start.is_some() || beta_end.is_some() => {
                invalid!(
                    "the {self} schedule has no beta_start or beta_end; allowed only for linear, quadratic, sigmoid"
                )
            }
            _ => {}
        }
        Ok(schedule)
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScheduleKind::Linear => "linear",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Quadratic => "quadratic",
            ScheduleKind::Sigmoid => "sigmoid",
        })
    }
}

impl FromStr for ScheduleKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "linear" => Ok(ScheduleKind::Linear),
            "cosine" => Ok(ScheduleKind::Cosine),
            "quadratic" | "quad" => Ok(ScheduleKind::Quadratic),
            "sigmoid" => Ok(ScheduleKind::Sigmoid),
            _ => invalid!("unknown schedule kind {s:?}; allowed: linear, cosine, quadratic, sigmoid"),
        }
    }
}

impl BetaSchedule {
    /// The linear schedule of Ho et al. 2020: beta from 1e-4 to 0.02.
    pub fn linear() -> Self {
        BetaSchedule::Linear { beta_start: 1e-4, beta_end: 0.02 }
    }

    /// The cosine schedule of Nichol and Dhariwal 2021 (s = 0.008, betas clipped at 0.999).
    pub fn cosine() -> Self {
        BetaSchedule::Cosine { s: 0.008, max_beta: 0.999 }
    }

    /// A short name for plots and tables.
    pub fn name(&self) -> &'static str {
        match self {
            BetaSchedule::Linear { .. } => "linear",
            BetaSchedule::Cosine { .. } => "cosine",
            BetaSchedule::Quadratic { .. } => "quadratic",
            BetaSchedule::Sigmoid { .. } => "sigmoid",
            BetaSchedule::Custom(_) => "custom",
        }
    }

    /// beta_1, ..., beta_T for `steps` = T steps (for `Custom`, `steps` must equal its length).
    ///
    /// ```
    /// use ddpm::BetaSchedule;
    /// let betas = BetaSchedule::linear().betas(1000).unwrap();
    /// assert_eq!((betas[0], betas[999]), (1e-4, 0.02));
    /// assert!(BetaSchedule::Linear { beta_start: 1e-4, beta_end: 1.5 }.betas(10).is_err());
    /// ```
    pub fn betas(&self, steps: usize) -> Result<Vec<f64>> {
        if steps == 0 || steps > MAX_STEPS {
            invalid!("steps (T) must be in 1..={MAX_STEPS}, got {steps}");
        }
        let betas = match *self {
            BetaSchedule::Linear { beta_start, beta_end } => {
                check_range(beta_start, beta_end)?;
                linspace(beta_start, beta_end, steps)
            }
            BetaSchedule::Quadratic { beta_start, beta_end } => {
                check_range(beta_start, beta_end)?;
                linspace(beta_start.sqrt(), beta_end.sqrt(), steps).into_iter().map(|b| b * b).collect()
            }
            BetaSchedule::Sigmoid { beta_start, beta_end } => {
                check_range(beta_start, beta_end)?;
                linspace(-6.0, 6.0, steps)
                    .into_iter()
                    .map(|x| beta_start + (beta_end - beta_start) / (1.0 + (-x).exp()))
                    .collect()
            }
            BetaSchedule::Cosine { s, max_beta } => {
                check_positive("cosine offset s", s)?;
                check_open("max_beta", max_beta, 0.0, 1.0)?;
                cosine_betas(s, max_beta, steps)
            }
            BetaSchedule::Custom(ref betas) => {
                if betas.len() != steps {
                    invalid!(
                        "a custom schedule with {} betas has T = {}, got steps = {steps}",
                        betas.len(),
                        betas.len()
                    );
                }
                betas.clone()
            }
        };
        for (i, &beta) in betas.iter().enumerate() {
            if !(beta > 0.0 && beta < 1.0) {
                invalid!("beta_{} must be in (0, 1), got {beta}", i + 1);
            }
        }
        Ok(betas)
    }
}

fn check_range(beta_start: f64, beta_end: f64) -> Result<()> {
    check_open("beta_start", beta_start, 0.0, 1.0)?;
    check_open("beta_end", beta_end, 0.0, 1.0)?;
    if beta_start > beta_end {
        invalid!("beta_start must be <= beta_end, got beta_start = {beta_start} > beta_end = {beta_end}");
    }
    Ok(())
}

/// `n` evenly spaced numbers from `start` to `end`, both included, computed as numpy's
/// `linspace` does (start + i * step, with the last set to `end` exactly).
pub fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
    v[n - 1] = end;
    v
}

fn cosine_betas(s: f64, max_beta: f64, steps: usize) -> Vec<f64> {
    // f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), with t / T a fraction (t_frac), never integer division.
    let f = |t: usize| {
        let t_frac = t as f64 / steps as f64;
        ((t_frac + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2)
    };
    (1..=steps).map(|t| (1.0 - f(t) / f(t - 1)).min(max_beta)).collect()
}

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
            invalid!(
                "alpha_bar_T underflows to {alpha_bar_last:e} with these betas and T = {steps}: x_0 could not be recovered from x_T; use fewer steps or smaller betas"
            );
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
            invalid!("t must be in 1..={}, got {t}", self.steps());
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

    /// A whole column for t = 1..=T, by one of the names in [`TABLE_COLUMNS`] or "alpha_bar_prev",
    /// "log_snr", "posterior_log_var_clipped".
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
            _ => invalid!(
                "unknown column {name:?}; allowed: {}, alpha_bar_prev, log_snr, posterior_log_var_clipped",
                TABLE_COLUMNS.join(", ")
            ),
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
