//! The formulas of Ho et al. 2020 that turn one quantity of the diffusion into another, each
//! written once, generic over [`DiffusionArray`] (ndarray's f64 arrays and candle's tensors)
//! and over [`At`] (one t, or one t per batch element). The coefficients come from
//! [`NoiseSchedule`]'s f64 tables; the arithmetic, in the order written, is the one the
//! training step and the sampler run.

use super::array::{same_shape, At, DiffusionArray};
use crate::{NoiseSchedule, Result};

/// How the mean of a reverse step is scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MeanScale {
    /// Divide by sqrt(alpha_t), as Ho et al. 2020, Algorithm 2 line 4 and Eq. 11.
    #[default]
    SqrtAlpha,
    /// Divide by alpha_t, as note 000 writes Algorithm 2 (erratum 1 of EQUATIONS.md). Wrong on
    /// purpose: it exists so the notebooks can show the samples drift.
    AlphaErratum,
}

/// Samples the closed form of the forward process, `q_sample` of Ho et al.'s code
/// (Ho et al. 2020, Eq. 4; E5; notes 000, 003):
///
/// $$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$$
///
/// `t` in 0..=T (t = 0 gives x_0). Note 000 writes this as an equality with the per-step sample;
/// it holds in distribution only, with a fresh eps (erratum 2 of EQUATIONS.md).
///
/// ```
/// use ddpm::candle_core::{Device, Tensor};
/// use ddpm::diffusion::q_sample;
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let x0 = array![1.0, -1.0];
/// assert_eq!(q_sample(&s, &x0, 0, &array![0.3, 0.3]).unwrap(), x0); // t = 0: nothing added
/// // A batch of two tensors, each at its own t.
/// let x0 = Tensor::new(&[[1f32], [1.0]], &Device::Cpu).unwrap();
/// let eps = Tensor::new(&[[0f32], [0.0]], &Device::Cpu).unwrap();
/// let xt: Vec<Vec<f32>> = q_sample(&s, &x0, &[1, 1000], &eps).unwrap().to_vec2().unwrap();
/// assert_eq!(xt[0][0], s.sqrt_alpha_bar(1) as f32);
/// assert_eq!(xt[1][0], s.sqrt_alpha_bar(1000) as f32);
/// ```
pub fn q_sample<'a, A: DiffusionArray>(schedule: &NoiseSchedule, x0: &A, t: impl Into<At<'a>>, eps: &A) -> Result<A> {
    let t = t.into();
    t.check(schedule, 0)?;
    same_shape(x0, eps, "x0", "eps")?;
    let (a, s) = (t.coef(|t| schedule.sqrt_alpha_bar(t)), t.coef(|t| schedule.sqrt_one_minus_alpha_bar(t)));
    x0.scaled(&a)?.plus(&eps.scaled(&s)?)
}

/// x_0 from x_t and the noise, Eq. 4 solved for x_0 (Ho et al. 2020, Eq. 15; note 002; E12),
/// `predict_start_from_noise` of Ho et al.'s code and note 001's "full noise removal":
///
/// $$\hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\epsilon}{\sqrt{\bar\alpha_t}}$$
///
/// `t` in 1..=T.
///
/// ```
/// use ddpm::diffusion::{predict_x0_from_eps, q_sample};
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let (x0, eps) = (array![0.5, -0.2], array![1.0, 0.3]);
/// let xt = q_sample(&s, &x0, 300, &eps).unwrap();
/// let back = predict_x0_from_eps(&s, &xt, 300, &eps).unwrap();
/// assert!((back - x0).iter().all(|d| d.abs() < 1e-12));
/// ```
pub fn predict_x0_from_eps<'a, A: DiffusionArray>(
    schedule: &NoiseSchedule,
    xt: &A,
    t: impl Into<At<'a>>,
    eps: &A,
) -> Result<A> {
    let t = t.into();
    t.check(schedule, 1)?;
    same_shape(xt, eps, "xt", "eps")?;
    let s = t.coef(|t| schedule.sqrt_one_minus_alpha_bar(t));
    xt.minus(&eps.scaled(&s)?)?.scaled(&t.coef(|t| schedule.sqrt_recip_alpha_bar(t)))
}

/// The noise from x_t and x_0, Eq. 4 solved for eps (Ho et al. 2020, Eq. 4; E21):
///
/// $$\epsilon = \frac{x_t - \sqrt{\bar\alpha_t}\,x_0}{\sqrt{1-\bar\alpha_t}}$$
///
/// `t` in 1..=T.
///
/// ```
/// use ddpm::diffusion::{predict_eps_from_x0, q_sample};
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::cosine(100).unwrap();
/// let (x0, eps) = (array![0.5, -0.2], array![1.0, 0.3]);
/// let xt = q_sample(&s, &x0, 40, &eps).unwrap();
/// assert!((predict_eps_from_x0(&s, &xt, 40, &x0).unwrap() - eps).iter().all(|d| d.abs() < 1e-12));
/// ```
pub fn predict_eps_from_x0<'a, A: DiffusionArray>(
    schedule: &NoiseSchedule,
    xt: &A,
    t: impl Into<At<'a>>,
    x0: &A,
) -> Result<A> {
    let t = t.into();
    t.check(schedule, 1)?;
    same_shape(xt, x0, "xt", "x0")?;
    let a = t.coef(|t| schedule.sqrt_alpha_bar(t));
    xt.minus(&x0.scaled(&a)?)?.scaled(&t.coef(|t| schedule.sqrt_recip_one_minus_alpha_bar(t)))
}

/// The velocity v from x_0 and the noise (Salimans and Ho 2022, Sec. 4), the target of a
/// v-predicting network:
///
/// $$v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\,x_0$$
///
/// `t` in 1..=T.
///
/// ```
/// use ddpm::diffusion::predict_v;
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let v = predict_v(&s, &array![1.0], 10, &array![0.0]).unwrap();
/// assert_eq!(v[0], -s.sqrt_one_minus_alpha_bar(10));
/// ```
pub fn predict_v<'a, A: DiffusionArray>(schedule: &NoiseSchedule, x0: &A, t: impl Into<At<'a>>, eps: &A) -> Result<A> {
    let t = t.into();
    t.check(schedule, 1)?;
    same_shape(x0, eps, "x0", "eps")?;
    let (a, s) = (t.coef(|t| schedule.sqrt_alpha_bar(t)), t.coef(|t| schedule.sqrt_one_minus_alpha_bar(t)));
    eps.scaled(&a)?.minus(&x0.scaled(&s)?)
}

/// The noise from x_t and v (Salimans and Ho 2022, Sec. 4; x_t and v are a rotation of x_0 and eps):
///
/// $$\epsilon = \sqrt{1-\bar\alpha_t}\,x_t + \sqrt{\bar\alpha_t}\,v$$
///
/// `t` in 1..=T.
///
/// ```
/// use ddpm::diffusion::{predict_eps_from_v, predict_v, q_sample};
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let (x0, eps) = (array![0.5, -0.2], array![1.0, 0.3]);
/// let (xt, v) = (q_sample(&s, &x0, 500, &eps).unwrap(), predict_v(&s, &x0, 500, &eps).unwrap());
/// assert!((predict_eps_from_v(&s, &xt, 500, &v).unwrap() - eps).iter().all(|d| d.abs() < 1e-12));
/// ```
pub fn predict_eps_from_v<'a, A: DiffusionArray>(
    schedule: &NoiseSchedule,
    xt: &A,
    t: impl Into<At<'a>>,
    v: &A,
) -> Result<A> {
    let t = t.into();
    t.check(schedule, 1)?;
    same_shape(xt, v, "xt", "v")?;
    let (a, s) = (t.coef(|t| schedule.sqrt_alpha_bar(t)), t.coef(|t| schedule.sqrt_one_minus_alpha_bar(t)));
    xt.scaled(&s)?.plus(&v.scaled(&a)?)
}

/// The mean of the forward-process posterior q(x_{t-1} | x_t, x_0), `q_posterior_mean` of
/// Ho et al.'s code (Ho et al. 2020, Eq. 7; note 002; E11):
///
/// $$\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t} x_0
///              + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t} x_t$$
///
/// `t` in 1..=T. Its variance is [`NoiseSchedule::beta_tilde`].
///
/// ```
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let mu = ddpm::diffusion::q_posterior_mean(&s, &array![0.5], &array![0.9], 1).unwrap();
/// assert!((mu[0] - 0.5).abs() < 1e-12); // at t = 1 the posterior mean is x_0
/// ```
pub fn q_posterior_mean<'a, A: DiffusionArray>(
    schedule: &NoiseSchedule,
    x0: &A,
    xt: &A,
    t: impl Into<At<'a>>,
) -> Result<A> {
    let t = t.into();
    t.check(schedule, 1)?;
    same_shape(x0, xt, "x0", "xt")?;
    let (c0, ct) = (t.coef(|t| schedule.mu_tilde_coef_x0(t)), t.coef(|t| schedule.mu_tilde_coef_xt(t)));
    x0.scaled(&c0)?.plus(&xt.scaled(&ct)?)
}

/// The mean of the reverse step p(x_{t-1} | x_t) from the predicted noise (Ho et al. 2020,
/// Eq. 11; Algorithm 2, line 4; notes 002, 003; E12, E20). With the true eps it is the posterior
/// mean of Eq. 7 with x_0 from Eq. 15 substituted:
///
/// $$\mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon_\theta(x_t, t)\Big)$$
///
/// `t` in 1..=T.
///
/// ```
/// use ddpm::diffusion::{p_mean, q_posterior_mean, q_sample};
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let (x0, eps) = (array![0.5, -0.2], array![1.0, 0.3]);
/// let xt = q_sample(&s, &x0, 70, &eps).unwrap();
/// let (a, b) = (p_mean(&s, &xt, 70, &eps).unwrap(), q_posterior_mean(&s, &x0, &xt, 70).unwrap());
/// assert!((a - b).iter().all(|d| d.abs() < 1e-12));
/// ```
pub fn p_mean<'a, A: DiffusionArray>(schedule: &NoiseSchedule, xt: &A, t: impl Into<At<'a>>, eps: &A) -> Result<A> {
    p_mean_scaled(schedule, xt, t, eps, MeanScale::SqrtAlpha)
}

/// [`p_mean`] with the division chosen by `scale`: by sqrt(alpha_t) as in the paper, or by
/// alpha_t as note 000 writes it (erratum 1, wrong on purpose).
pub fn p_mean_scaled<'a, A: DiffusionArray>(
    schedule: &NoiseSchedule,
    xt: &A,
    t: impl Into<At<'a>>,
    eps: &A,
    scale: MeanScale,
) -> Result<A> {
    let t = t.into();
    t.check(schedule, 1)?;
    same_shape(xt, eps, "xt", "eps")?;
    let k = match scale {
        MeanScale::SqrtAlpha => t.coef(|t| schedule.p_mean_coef_xt(t)),
        MeanScale::AlphaErratum => t.coef(|t| 1.0 / schedule.alpha(t)),
    };
    xt.minus(&eps.scaled(&t.coef(|t| schedule.p_mean_coef_eps(t)))?)?.scaled(&k)
}

/// The noise from x_t and the reverse mean, [`p_mean`] solved for eps:
///
/// $$\epsilon = \big(x_t - \sqrt{\alpha_t}\,\mu\big)\,\frac{\sqrt{1-\bar\alpha_t}}{\beta_t}$$
///
/// `t` in 1..=T.
///
/// ```
/// use ddpm::diffusion::{p_mean, predict_eps_from_mean};
/// use ndarray::array;
/// let s = ddpm::NoiseSchedule::linear(1000).unwrap();
/// let (xt, eps) = (array![0.5, -0.2], array![1.0, 0.3]);
/// let mean = p_mean(&s, &xt, 20, &eps).unwrap();
/// assert!((predict_eps_from_mean(&s, &xt, 20, &mean).unwrap() - eps).iter().all(|d| d.abs() < 1e-9));
/// ```
pub fn predict_eps_from_mean<'a, A: DiffusionArray>(
    schedule: &NoiseSchedule,
    xt: &A,
    t: impl Into<At<'a>>,
    mean: &A,
) -> Result<A> {
    let t = t.into();
    t.check(schedule, 1)?;
    same_shape(xt, mean, "xt", "mean")?;
    let sqrt_alpha = t.coef(|t| schedule.alpha(t).sqrt());
    xt.minus(&mean.scaled(&sqrt_alpha)?)?.scaled(&t.coef(|t| 1.0 / schedule.p_mean_coef_eps(t)))
}
