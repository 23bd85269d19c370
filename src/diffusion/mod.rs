//! The vocabulary of the diffusion, named as in Ho et al.'s `diffusion_utils`: each formula that
//! turns one quantity into another is written once, here, and every part of the crate (training,
//! sampling, evaluation, the checks, the notebooks) calls it by name.
//!
//! | name | formula | source |
//! |---|---|---|
//! | [`q_sample`] | x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps | Ho et al. 2020, Eq. 4 |
//! | [`predict_x0_from_eps`] | x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) | Eq. 15 |
//! | [`predict_eps_from_x0`] | eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t) | Eq. 4 |
//! | [`predict_v`] | v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 | Salimans and Ho 2022 |
//! | [`predict_eps_from_v`] | eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v | Salimans and Ho 2022 |
//! | [`q_posterior_mean`] | mu_tilde_t = c_0 x_0 + c_t x_t | Eq. 7 |
//! | [`p_mean`] | mu_theta = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) | Eq. 11 |
//! | [`predict_eps_from_mean`] | eps = (x_t - sqrt(alpha_t) mu) sqrt(1 - alpha_bar_t) / beta_t | Eq. 11 |
//!
//! The coefficients are the f64 tables of [`crate::NoiseSchedule`] (`sqrt_alpha_bar`,
//! `sqrt_one_minus_alpha_bar`, `sqrt_recip_alpha_bar`, `mu_tilde_coef_x0`, `p_mean_coef_eps`...).
//! Each formula works on any [`DiffusionArray`]: ndarray's `Array<f64, D>` (the checks, the
//! mixture world) and candle's `Tensor` (the networks), at one t for the whole array or at one t
//! per batch element ([`At`]), the coefficients broadcast over each element's dimensions.
//!
//! ```
//! use ddpm::candle_core::{Device, Tensor};
//! use ddpm::diffusion::{predict_x0_from_eps, q_sample};
//! let s = ddpm::NoiseSchedule::linear(1000).unwrap();
//! let x0 = Tensor::new(&[[0.5f32, -0.5], [0.25, 0.0]], &Device::Cpu).unwrap();
//! let eps = Tensor::new(&[[1f32, 0.5], [-1.0, 0.0]], &Device::Cpu).unwrap();
//! let t = vec![10, 200]; // one t per batch element, as in training
//! let xt = q_sample(&s, &x0, &t, &eps).unwrap();
//! let back = predict_x0_from_eps(&s, &xt, &t, &eps).unwrap();
//! let err: f32 = (back - &x0).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
//! assert!(err < 1e-5);
//! ```

pub mod array;
pub mod formulas;

pub use array::{same_shape, At, Coef, DiffusionArray};
pub use formulas::{
    p_mean, p_mean_scaled, predict_eps_from_mean, predict_eps_from_v, predict_eps_from_x0, predict_v,
    predict_x0_from_eps, q_posterior_mean, q_sample, MeanScale,
};
