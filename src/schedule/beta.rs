//! [`BetaSchedule`]: how beta_t grows with t, and the names of the built-in schedules.

use std::fmt;
use std::str::FromStr;

use crate::error::{check_open, check_positive};
use crate::{Error, Result};

/// The largest number of steps a schedule may have (a bound that keeps tables in memory).
pub const MAX_STEPS: usize = 1_000_000;

/// How beta_t grows with t. Build one, then call [`super::NoiseSchedule::new`].
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
                return Err(invalid!(
                    "the {self} schedule has no beta_start or beta_end; allowed only for linear, quadratic, sigmoid"
                ))
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
            _ => Err(invalid!("unknown schedule kind {s:?}; allowed: linear, cosine, quadratic, sigmoid")),
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
            return Err(invalid!("steps (T) must be in 1..={MAX_STEPS}, got {steps}"));
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
                    return Err(invalid!(
                        "a custom schedule with {} betas has T = {}, got steps = {steps}",
                        betas.len(),
                        betas.len()
                    ));
                }
                betas.clone()
            }
        };
        for (i, &beta) in betas.iter().enumerate() {
            if !(beta > 0.0 && beta < 1.0) {
                return Err(invalid!("beta_{} must be in (0, 1), got {beta}", i + 1));
            }
        }
        Ok(betas)
    }
}

fn check_range(beta_start: f64, beta_end: f64) -> Result<()> {
    check_open("beta_start", beta_start, 0.0, 1.0)?;
    check_open("beta_end", beta_end, 0.0, 1.0)?;
    if beta_start > beta_end {
        return Err(invalid!("beta_start must be <= beta_end, got beta_start = {beta_start} > beta_end = {beta_end}"));
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
