//! The variational bound of a trained network in bits per dimension (Ho et al. 2020, Eq. 5 and
//! Table 2; note 003; E14, E16), on a batch of test images, with its terms.
//!
//! The sum over t of L_{t-1} has T - 1 terms, each a forward pass of the network. To keep this
//! to seconds on a CPU, t = 2..=T is cut into `strata` equal bins and one t is drawn in each
//! (seeded); the bin's sum is estimated by its size times L_{t-1} at that t (stratified sampling:
//! unbiased; with strata = T - 1 it is the exact sum over t, as Ho et al.'s `calc_bpd_loop`).

use candle_core::{DType, Tensor};
use ndarray::Array1;
use rand::Rng as _;

use crate::diffusion::{p_mean, q_posterior_mean, q_sample};
use crate::nn::EpsModel;
use crate::objective::{discretised_gaussian_log_likelihood, normal_kl};
use crate::rng::{normal_vec, seeded};
use crate::sample::Prediction;
use crate::{NoiseSchedule, Result};

/// The bound's terms, in nats per image (averaged over the images).
#[derive(Debug, Clone, PartialEq)]
pub struct BoundReport {
    /// L_T = KL(q(x_T | x_0) || N(0, I)).
    pub prior: f64,
    /// The estimate of sum_{t=2}^{T} L_{t-1}.
    pub steps_sum: f64,
    /// L_0 = -ln p_theta(x_0 | x_1), the discretised decoder.
    pub decoder: f64,
    /// (t, L_{t-1} at that t) for each stratum, in ascending t.
    pub profile: Vec<(usize, f64)>,
    /// Pixels per image (the "dim" of bits/dim).
    pub dims: usize,
    /// Images averaged over.
    pub images: usize,
}

impl BoundReport {
    /// L = L_T + sum L_{t-1} + L_0, nats per image.
    pub fn total(&self) -> f64 {
        self.prior + self.steps_sum + self.decoder
    }
    /// The bound in bits per dimension, L / (dims ln 2).
    pub fn bits_per_dim(&self) -> f64 {
        self.total() / (self.dims as f64 * std::f64::consts::LN_2)
    }
}

/// The reverse variance of Ho et al.'s "fixedlarge": sigma_t^2 = beta_t for t >= 2, and
/// beta_tilde_2 at t = 1 (where beta_tilde_1 = 0 would make L_0 degenerate).
fn sigma_sq(schedule: &NoiseSchedule, t: usize) -> f64 {
    if t == 1 {
        schedule.beta_tilde(2.min(schedule.steps()))
    } else {
        schedule.beta(t)
    }
}

/// The bound for the images `x0` (B, C, H, W) in [-1, 1] (8-bit data), with the network's
/// eps from `prediction` (any parameterisation, no clipping). See the [module docs](self) for
/// `strata`; `seed` draws t and the noise.
pub fn variational_bound<M: EpsModel>(
    prediction: &Prediction<M>,
    schedule: &NoiseSchedule,
    x0: &Tensor,
    strata: usize,
    seed: u64,
) -> Result<BoundReport> {
    let big_t = schedule.steps();
    if big_t < 2 {
        return Err(invalid!("the bound needs T >= 2 steps, got {big_t}"));
    }
    if strata == 0 || strata > big_t - 1 {
        return Err(invalid!("strata must be in 1..={} (T - 1), got {strata}", big_t - 1));
    }
    let (b, dims) = (x0.dim(0)?, x0.elem_count() / x0.dim(0)?.max(1));
    let x: Array1<f64> = x0.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?.into_iter().map(f64::from).collect();
    let mut rng = seeded(seed);
    let per_image = |sum: f64| sum / b as f64;

    // L_T: KL(N(sqrt(alpha_bar_T) x_0, 1 - alpha_bar_T) || N(0, 1)) per pixel.
    let (a_big_t, var_big_t) = (schedule.sqrt_alpha_bar(big_t), 1.0 - schedule.alpha_bar(big_t));
    let prior = per_image(x.iter().map(|&v| normal_kl(a_big_t * v, var_big_t.ln(), 0.0, 0.0)).sum());

    // For one t: x_t ~ q(x_t | x_0) (Eq. 4) and the model's mean mu_theta(x_t, t) (eps form, Eq. 11).
    let mean_at = |t: usize, rng: &mut crate::rng::Rng| -> Result<(Array1<f64>, Array1<f64>)> {
        let eps = Array1::from(normal_vec(rng, x.len()));
        let xt = q_sample(schedule, &x, t, &eps)?;
        let xt_tensor = Tensor::from_vec(xt.iter().map(|&v| v as f32).collect::<Vec<f32>>(), x0.dims(), x0.device())?;
        let eps_pred: Array1<f64> = prediction
            .denoise(schedule, &xt_tensor, t, None, false)?
            .eps
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect();
        let mean = p_mean(schedule, &xt, t, &eps_pred)?;
        Ok((xt, mean))
    };

    // sum_{t=2}^{T} L_{t-1}, one t per stratum.
    let (mut steps_sum, mut profile) = (0.0, Vec::with_capacity(strata));
    let n_terms = big_t - 1;
    for k in 0..strata {
        let (lo, hi) = (2 + k * n_terms / strata, 2 + (k + 1) * n_terms / strata); // t in lo..hi
        let t = rng.random_range(lo..hi);
        let (xt, mean) = mean_at(t, &mut rng)?;
        let mu_tilde = q_posterior_mean(schedule, &x, &xt, t)?;
        let (log_var_q, log_var_p) = (schedule.beta_tilde(t).ln(), sigma_sq(schedule, t).ln());
        let kl: f64 = (0..x.len()).map(|i| normal_kl(mu_tilde[i], log_var_q, mean[i], log_var_p)).sum();
        let term = per_image(kl);
        profile.push((t, term));
        steps_sum += (hi - lo) as f64 * term;
    }

    // L_0: the discretised Gaussian decoder at t = 1.
    let (_, mean) = mean_at(1, &mut rng)?;
    let log_scale = 0.5 * sigma_sq(schedule, 1).ln();
    let decoder =
        per_image(-(0..x.len()).map(|i| discretised_gaussian_log_likelihood(x[i], mean[i], log_scale)).sum::<f64>());
    Ok(BoundReport { prior, steps_sum, decoder, profile, dims, images: b })
}
