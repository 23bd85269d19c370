//! The forward (noising) process: one step q(x_t | x_{t-1}) and the closed form q(x_t | x_0)
//! (Ho et al. 2020, Eq. 2 and 4; notes 000, 001, 003).
//!
//! Every function works element-wise on an array of any shape: an image, a batch, or many
//! independent 1-D draws. Noise is always passed in (or drawn from an explicit seeded generator),
//! so the same inputs give the same numbers.

use ndarray::{Array, Dimension, Zip};

use crate::rng::{normal_like, Rng};
use crate::stats::normal_log_pdf;
use crate::{NoiseSchedule, Result};

/// The closed form x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (Eq. 4), from the
/// crate's vocabulary of formulas.
pub use crate::diffusion::q_sample;

fn check_same_shape<D: Dimension>(a: &Array<f64, D>, b: &Array<f64, D>, a_name: &str, b_name: &str) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(invalid!(
            "{a_name} and {b_name} must have the same shape, got {:?} and {:?}",
            a.shape(),
            b.shape()
        ));
    }
    Ok(())
}

/// The mean coefficient and variance of one forward step (Ho et al. 2020, Eq. 2; E1):
///
/// $$q(x_t \mid x_{t-1}) = \mathcal N\big(x_t;\ \sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big)$$
///
/// Returns `(sqrt(1 - beta_t), beta_t)`; `t` in 1..=T.
///
/// ```
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let (coef, var) = ddpm::forward::q_step_coef_var(&s, 1).unwrap();
/// assert_eq!(var, 1e-4);
/// assert!((coef - (1.0f64 - 1e-4).sqrt()).abs() < 1e-15);
/// ```
pub fn q_step_coef_var(schedule: &NoiseSchedule, t: usize) -> Result<(f64, f64)> {
    schedule.check_t(t)?;
    Ok((schedule.alpha(t).sqrt(), schedule.beta(t)))
}

/// One forward step through the reparameterisation (E3; notes 003, 004):
///
/// $$x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\epsilon,\qquad \epsilon\sim\mathcal N(0, I)$$
pub fn q_step_sample<D: Dimension>(
    schedule: &NoiseSchedule,
    x_prev: &Array<f64, D>,
    t: usize,
    eps: &Array<f64, D>,
) -> Result<Array<f64, D>> {
    let (coef, var) = q_step_coef_var(schedule, t)?;
    check_same_shape(x_prev, eps, "x_prev", "eps")?;
    let std = var.sqrt();
    Ok(Zip::from(x_prev).and(eps).map_collect(|&x, &e| coef * x + std * e))
}

/// The log-density ln q(x_t | x_{t-1}) summed over all elements (E1).
pub fn q_step_log_density<D: Dimension>(
    schedule: &NoiseSchedule,
    xt: &Array<f64, D>,
    x_prev: &Array<f64, D>,
    t: usize,
) -> Result<f64> {
    let (coef, var) = q_step_coef_var(schedule, t)?;
    check_same_shape(xt, x_prev, "xt", "x_prev")?;
    Ok(Zip::from(xt).and(x_prev).fold(0.0, |acc, &x, &xp| acc + normal_log_pdf(x, coef * xp, var)))
}

/// The mean coefficient and variance of the closed form (Ho et al. 2020, Eq. 4; E5):
///
/// $$q(x_t \mid x_0) = \mathcal N\big(x_t;\ \sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big)$$
///
/// Returns `(sqrt(alpha_bar_t), 1 - alpha_bar_t)`; `t` in 0..=T (t = 0 gives (1, 0): x_t = x_0).
pub fn q_coef_var(schedule: &NoiseSchedule, t: usize) -> Result<(f64, f64)> {
    if t > schedule.steps() {
        return Err(invalid!("t must be in 0..={}, got {t}", schedule.steps()));
    }
    Ok((schedule.sqrt_alpha_bar(t), 1.0 - schedule.alpha_bar(t)))
}

/// The log-density ln q(x_t | x_0) summed over all elements (E5); `t` in 1..=T.
pub fn q_log_density<D: Dimension>(
    schedule: &NoiseSchedule,
    xt: &Array<f64, D>,
    x0: &Array<f64, D>,
    t: usize,
) -> Result<f64> {
    schedule.check_t(t)?;
    let (coef, var) = q_coef_var(schedule, t)?;
    check_same_shape(xt, x0, "xt", "x0")?;
    Ok(Zip::from(xt).and(x0).fold(0.0, |acc, &x, &x0| acc + normal_log_pdf(x, coef * x0, var)))
}

/// x_t by iterating the per-step process t times from x_0, with fresh noise at every step
/// drawn from `rng` (E1 applied t times; compare with [`q_sample`], E5).
pub fn q_iterate<D: Dimension>(
    schedule: &NoiseSchedule,
    x0: &Array<f64, D>,
    t: usize,
    rng: &mut Rng,
) -> Result<Array<f64, D>> {
    if t > schedule.steps() {
        return Err(invalid!("t must be in 0..={}, got {t}", schedule.steps()));
    }
    let mut x = x0.clone();
    for s in 1..=t {
        let eps = normal_like(rng, &x);
        x = q_step_sample(schedule, &x, s, &eps)?;
    }
    Ok(x)
}

/// A whole forward path x_0, x_1, ..., x_T (the Markov chain of E2), with fresh noise per step.
pub fn q_path<D: Dimension>(schedule: &NoiseSchedule, x0: &Array<f64, D>, rng: &mut Rng) -> Result<Vec<Array<f64, D>>> {
    let mut path = Vec::with_capacity(schedule.steps() + 1);
    path.push(x0.clone());
    for t in 1..=schedule.steps() {
        let eps = normal_like(rng, &path[t - 1]);
        let next = q_step_sample(schedule, &path[t - 1], t, &eps)?;
        path.push(next);
    }
    Ok(path)
}

/// ln q(x_{1:T} | x_0) of a path by the Markov factorisation (Ho et al. 2020, Eq. 2; E2):
///
/// $$\ln q(x_{1:T} \mid x_0) = \sum_{t=1}^T \ln q(x_t \mid x_{t-1})$$
///
/// `path[t]` is x_t, so the path has T + 1 entries.
pub fn q_path_log_density<D: Dimension>(schedule: &NoiseSchedule, path: &[Array<f64, D>]) -> Result<f64> {
    if path.len() != schedule.steps() + 1 {
        return Err(invalid!(
            "a path of a {}-step schedule has {} entries (x_0..x_T), got {}",
            schedule.steps(),
            schedule.steps() + 1,
            path.len()
        ));
    }
    (1..path.len()).try_fold(0.0, |acc, t| Ok(acc + q_step_log_density(schedule, &path[t], &path[t - 1], t)?))
}
