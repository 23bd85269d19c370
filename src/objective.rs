//! The training objective: Gaussian KL, the decoder term L_0, the variational bound and its
//! terms, the eps-weight, and L_simple (Ho et al. 2020, Eq. 3, 5, 8, 12, 14; notes 003, 004).

use ndarray::{Array, Dimension, Zip};

use crate::diffusion::q_posterior_mean;
use crate::forward::{q_coef_var, q_path, q_path_log_density, q_sample};
use crate::rng::{normal_like, Rng};
use crate::stats::{normal_cdf, normal_log_pdf};
use crate::{NoiseSchedule, Result};

/// KL between two scalar Gaussians, from their means and log-variances (Ho et al.'s
/// diffusion_utils `normal_kl`; note 004; E15):
///
/// $$\mathrm{KL}(\mathcal N(m_1, v_1)\,\|\,\mathcal N(m_2, v_2)) = \tfrac12\Big(\ln\frac{v_2}{v_1} + \frac{v_1 + (m_1-m_2)^2}{v_2} - 1\Big)$$
///
/// ```
/// let kl = ddpm::objective::normal_kl(0.0, 0.0, 1.0, 0.0);
/// assert!((kl - 0.5).abs() < 1e-15); // KL(N(0,1) || N(1,1)) = 1/2
/// ```
pub fn normal_kl(mean1: f64, log_var1: f64, mean2: f64, log_var2: f64) -> f64 {
    0.5 * (-1.0 + log_var2 - log_var1 + (log_var1 - log_var2).exp() + (mean1 - mean2).powi(2) * (-log_var2).exp())
}

/// KL between two isotropic Gaussians N(mean1, var1 I) and N(mean2, var2 I), summed over elements.
pub fn gaussian_kl<D: Dimension>(mean1: &Array<f64, D>, var1: f64, mean2: &Array<f64, D>, var2: f64) -> Result<f64> {
    if mean1.shape() != mean2.shape() {
        return Err(invalid!(
            "mean1 and mean2 must have the same shape, got {:?} and {:?}",
            mean1.shape(),
            mean2.shape()
        ));
    }
    if !(var1 > 0.0 && var2 > 0.0) {
        return Err(invalid!("variances must be > 0, got var1 = {var1}, var2 = {var2}"));
    }
    let (lv1, lv2) = (var1.ln(), var2.ln());
    Ok(Zip::from(mean1).and(mean2).fold(0.0, |acc, &m1, &m2| acc + normal_kl(m1, lv1, m2, lv2)))
}

/// KL between two diagonal Gaussians N(mean1, diag(var1)) and N(mean2, diag(var2)), summed
/// over elements: each element contributes [`normal_kl`] with its own variances.
///
/// ```
/// use ndarray::array;
/// let kl = ddpm::objective::gaussian_kl_diag(&array![0.0, 0.0], &array![1.0, 2.0], &array![0.0, 0.0], &array![1.0, 2.0]).unwrap();
/// assert_eq!(kl, 0.0);
/// ```
pub fn gaussian_kl_diag<D: Dimension>(
    mean1: &Array<f64, D>,
    var1: &Array<f64, D>,
    mean2: &Array<f64, D>,
    var2: &Array<f64, D>,
) -> Result<f64> {
    let shape = mean1.shape();
    if var1.shape() != shape || mean2.shape() != shape || var2.shape() != shape {
        return Err(invalid!(
            "mean1, var1, mean2 and var2 must have the same shape, got {:?}, {:?}, {:?} and {:?}",
            shape,
            var1.shape(),
            mean2.shape(),
            var2.shape()
        ));
    }
    if let Some(v) = var1.iter().chain(var2.iter()).find(|v| !(**v > 0.0)) {
        return Err(invalid!("variances must be > 0, got {v}"));
    }
    Ok(Zip::from(mean1)
        .and(var1)
        .and(mean2)
        .and(var2)
        .fold(0.0, |acc, &m1, &v1, &m2, &v2| acc + normal_kl(m1, v1.ln(), m2, v2.ln())))
}

/// ln of the probability that N(mean, e^{2 log_scale}) lands in the bin of x, for data on 256
/// levels scaled to [-1, 1]: the bin is [x - 1/255, x + 1/255], with the outer edges at -inf and
/// +inf (Ho et al. 2020, Eq. 13; diffusion_utils `discretized_gaussian_log_likelihood`).
pub fn discretised_gaussian_log_likelihood(x: f64, mean: f64, log_scale: f64) -> f64 {
    let inv_std = (-log_scale).exp();
    let plus = inv_std * (x - mean + 1.0 / 255.0);
    let minus = inv_std * (x - mean - 1.0 / 255.0);
    let (cdf_plus, cdf_minus) = (normal_cdf(plus), normal_cdf(minus));
    if x < -0.999 {
        cdf_plus.max(1e-300).ln()
    } else if x > 0.999 {
        (1.0 - cdf_minus).max(1e-300).ln()
    } else {
        (cdf_plus - cdf_minus).max(1e-300).ln()
    }
}

/// The eps-weight of L_{t-1} (Ho et al. 2020, Eq. 12; note 003; E17):
///
/// $$\lambda_t = \frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1-\bar\alpha_t)}$$
///
/// L_simple sets it to 1 for every t.
pub fn eps_weight(schedule: &NoiseSchedule, t: usize, sigma_sq: f64) -> Result<f64> {
    schedule.check_t(t)?;
    if !(sigma_sq > 0.0) {
        return Err(invalid!("sigma_sq must be > 0, got {sigma_sq}"));
    }
    let b = schedule.beta(t);
    Ok(b * b / (2.0 * sigma_sq * schedule.alpha(t) * (1.0 - schedule.alpha_bar(t))))
}

/// L_simple for one draw: the mean over elements of (eps - eps_pred)^2 (Ho et al. 2020, Eq. 14; E18).
///
/// ```
/// use ndarray::array;
/// let l = ddpm::objective::l_simple(&array![1.0, -1.0], &array![0.0, 0.0]).unwrap();
/// assert_eq!(l, 1.0);
/// ```
pub fn l_simple<D: Dimension>(eps: &Array<f64, D>, eps_pred: &Array<f64, D>) -> Result<f64> {
    if eps.shape() != eps_pred.shape() || eps.is_empty() {
        return Err(invalid!(
            "eps and eps_pred must have the same non-empty shape, got {:?} and {:?}",
            eps.shape(),
            eps_pred.shape()
        ));
    }
    Ok(Zip::from(eps).and(eps_pred).fold(0.0, |acc, &e, &p| acc + (e - p).powi(2)) / eps.len() as f64)
}

/// L_{t-1} - C in the mean form (Ho et al. 2020, Eq. 8; note 003; E16): ||mu_tilde - mu_theta||^2 / (2 sigma_t^2).
pub fn mean_form_loss<D: Dimension>(mu_tilde: &Array<f64, D>, mu_theta: &Array<f64, D>, sigma_sq: f64) -> Result<f64> {
    if mu_tilde.shape() != mu_theta.shape() {
        return Err(invalid!(
            "mu_tilde and mu_theta must have the same shape, got {:?} and {:?}",
            mu_tilde.shape(),
            mu_theta.shape()
        ));
    }
    Ok(Zip::from(mu_tilde).and(mu_theta).fold(0.0, |acc, &a, &b| acc + (a - b).powi(2)) / (2.0 * sigma_sq))
}

/// How the last step p(x_0 | x_1) scores the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoder {
    /// A continuous Gaussian density -ln N(x_0; mu_theta(x_1, 1), sigma_1^2): for continuous data.
    Gaussian,
    /// Ho et al.'s discretised Gaussian over 256 levels in [-1, 1]: for 8-bit images.
    Discretised,
}

/// The terms of the variational bound for one x_0, in nats (Ho et al. 2020, Eq. 5; note 003; E16):
///
/// $$L = \underbrace{D_{KL}(q(x_T|x_0)\|p(x_T))}_{L_T} + \sum_{t>1}\underbrace{D_{KL}(q(x_{t-1}|x_t,x_0)\|p_\theta(x_{t-1}|x_t))}_{L_{t-1}} \underbrace{-\ln p_\theta(x_0|x_1)}_{L_0}$$
#[derive(Clone, Debug, PartialEq)]
pub struct VlbTerms {
    /// L_T, the prior term.
    pub prior: f64,
    /// L_{t-1} for t = 2..=T (`steps[t - 2]`).
    pub steps: Vec<f64>,
    /// L_0, the decoder term.
    pub decoder: f64,
}

impl VlbTerms {
    /// L = L_T + sum L_{t-1} + L_0, in nats.
    pub fn total(&self) -> f64 {
        self.prior + self.steps.iter().sum::<f64>() + self.decoder
    }

    /// The bound in bits per dimension: L / (dims ln 2).
    pub fn bits_per_dim(&self, dims: usize) -> f64 {
        self.total() / (dims as f64 * std::f64::consts::LN_2)
    }
}

/// One Monte Carlo draw of the terms of the bound for `x0`, as Ho et al.'s `calc_bpd_loop`
/// does: for each t a fresh x_t ~ q(x_t | x_0), then the closed-form KL against the model.
///
/// `p_mean_var(x_t, t)` is the model's reverse step p_theta(x_{t-1} | x_t) = N(mean, var I);
/// `prior = (mean, var)` is p(x_T) per element (N(0, 1) in the paper).
pub fn vlb_terms<D, F>(
    schedule: &NoiseSchedule,
    x0: &Array<f64, D>,
    mut p_mean_var: F,
    prior: (f64, f64),
    decoder: Decoder,
    rng: &mut Rng,
) -> Result<VlbTerms>
where
    D: Dimension,
    F: FnMut(&Array<f64, D>, usize) -> Result<(Array<f64, D>, f64)>,
{
    let big_t = schedule.steps();
    let (coef_t, var_t) = q_coef_var(schedule, big_t)?;
    let prior_mean = x0.mapv(|_| prior.0);
    let prior_term = gaussian_kl(&x0.mapv(|x| coef_t * x), var_t, &prior_mean, prior.1)?;
    let mut draw = |t: usize| -> Result<Array<f64, D>> {
        let eps = normal_like(rng, x0);
        q_sample(schedule, x0, t, &eps)
    };
    let mut steps = Vec::with_capacity(big_t.saturating_sub(1));
    for t in 2..=big_t {
        let xt = draw(t)?;
        let mu = q_posterior_mean(schedule, x0, &xt, t)?;
        let (mean, var) = p_mean_var(&xt, t)?;
        steps.push(gaussian_kl(&mu, schedule.beta_tilde(t), &mean, var)?);
    }
    let x1 = draw(1)?;
    let (mean, var) = p_mean_var(&x1, 1)?;
    let decoder_term = match decoder {
        Decoder::Gaussian => -Zip::from(x0).and(&mean).fold(0.0, |acc, &x, &m| acc + normal_log_pdf(x, m, var)),
        Decoder::Discretised => {
            let log_scale = 0.5 * var.ln();
            -Zip::from(x0)
                .and(&mean)
                .fold(0.0, |acc, &x, &m| acc + discretised_gaussian_log_likelihood(x, m, log_scale))
        }
    };
    Ok(VlbTerms { prior: prior_term, steps, decoder: decoder_term })
}

/// The variational bound of E14 along one forward path, one Monte Carlo draw of Ho et al. 2020,
/// Eq. 3 (notes 000, 004):
///
/// $$\ln\frac{q(x_{1:T}\mid x_0)}{p_\theta(x_{0:T})} = \sum_{t=1}^T \ln q(x_t\mid x_{t-1}) - \ln p(x_T) - \sum_{t=1}^T \ln p_\theta(x_{t-1}\mid x_t)$$
///
/// The path x_1, ..., x_T is drawn from q with `rng` ([`q_path`]); `p_mean_var(x_t, t)` is the
/// model's reverse step N(mean, var I) and `prior = (mean, var)` is p(x_T) per element, as in
/// [`vlb_terms`]. Averaged over paths it is >= -ln p_theta(x_0); when p_theta is the exact reverse
/// process of the data, every single path gives exactly -ln q(x_0).
pub fn bound_along_path<D, F>(
    schedule: &NoiseSchedule,
    x0: &Array<f64, D>,
    mut p_mean_var: F,
    prior: (f64, f64),
    rng: &mut Rng,
) -> Result<f64>
where
    D: Dimension,
    F: FnMut(&Array<f64, D>, usize) -> Result<(Array<f64, D>, f64)>,
{
    let path = q_path(schedule, x0, rng)?;
    let log_q = q_path_log_density(schedule, &path)?;
    let big_t = schedule.steps();
    let mut log_p = path[big_t].fold(0.0, |acc, &x| acc + normal_log_pdf(x, prior.0, prior.1));
    for t in 1..=big_t {
        let (mean, var) = p_mean_var(&path[t], t)?;
        if mean.shape() != x0.shape() {
            return Err(invalid!("the model's mean at t = {t} has shape {:?}, x_0 has {:?}", mean.shape(), x0.shape()));
        }
        log_p += Zip::from(&path[t - 1]).and(&mean).fold(0.0, |acc, &x, &m| acc + normal_log_pdf(x, m, var));
    }
    Ok(log_q - log_p)
}
