//! # ddpm
//!
//! Denoising Diffusion Probabilistic Models (Ho, Jain and Abbeel 2020), taught through notebooks.
//!
//! The mathematics lives in small modules named after the paper:
//!
//! - [`schedule`]: beta schedules and every derived table (alpha, alpha_bar, beta_tilde, SNR...) in f64;
//! - [`diffusion`]: every formula once, by the names of Ho et al.'s code (`q_sample`,
//!   `predict_x0_from_eps`, `q_posterior_mean`, `p_mean`, the v conversions), on ndarray and tensors;
//! - [`forward`]: one step of q(x_t | x_{t-1}) and the closed form q(x_t | x_0);
//! - [`posterior`]: q(x_{t-1} | x_t, x_0), the reverse variances, and the parameterisations;
//! - [`objective`]: Gaussian KL, the discretised decoder L_0, the variational bound, L_simple;
//! - [`mixture`]: a Gaussian-mixture data set for which everything is exact;
//! - [`stats`]: moment and Kolmogorov-Smirnov tests, and the [`stats::Check`] record;
//! - [`data`]: MNIST, the photos, toy 2-D data; [`display`]: plots and images for notebooks;
//! - [`nn`]: the U-Net and the MLP denoiser as plain layers, over the CPU engine in `nn::cpu`;
//! - [`train`]: Algorithm 1; [`sample`]: Algorithm 2 and DDIM, in one line
//!   (`SampleConfig::ddpm().sample(..)`);
//! - [`run`]: a training run on disk as a value (`Run::open(dir)?.sample(64)?`), trained by one
//!   process at a time; [`checkpoint`]: the files of a save, written atomically;
//! - [`eval`]: bits/dim, a judge classifier and the Fréchet distance;
//! - [`guidance`]: classifier guidance with a classifier of noisy images (Dhariwal and Nichol 2021);
//!   inpainting (RePaint) is [`sample::inpaint`];
//! - [`verify`]: the numeric check of every equation of the course notes.
//!
//! The timestep `t` is an integer in 1..=T as in the paper, with alpha_bar_0 = 1.

// `!(x > 0.0)` is how a validation rejects NaN along with the out-of-range values.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

// First, so that its `invalid!` macro is in scope in every module below.
#[macro_use]
pub mod error;

mod atomic;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod diffusion;
pub mod display;
pub mod eval;
pub mod figures;
pub mod forward;
pub mod guidance;
pub mod mixture;
pub mod nn;
pub mod objective;
pub mod posterior;
pub mod rng;
pub mod run;
pub mod sample;
pub mod schedule;
pub mod stats;
pub mod train;
pub mod verify;

pub use candle_core;
pub use candle_nn;
pub use error::{Error, Result};
/// Re-exported so notebooks name the same versions as the crate (`ddpm::ndarray::Array1`).
pub use ndarray;
pub use schedule::{BetaSchedule, NoiseSchedule};
