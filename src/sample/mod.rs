//! Sampling: Algorithm 2 of Ho et al. 2020 (ancestral sampling; E20), DDIM (Song et al. 2021)
//! and classifier-free guidance (Ho and Salimans 2022; E23).
//!
//! - [`mod@array`]: Algorithm 2 on plain f64 arrays for any eps-predictor given as a function (the
//!   exact eps of a Gaussian mixture, in the checks), with note 000's 1/alpha_t erratum on purpose;
//! - [`config`]: [`Sampler`] (ancestral or DDIM) and [`SampleConfig`], checked, and the steps visited;
//! - [`denoise`]: what a network's output means: eps and the predicted x_0 from any
//!   parameterisation, with guidance;
//! - [`network`]: [`sample`], the loop on candle tensors for a trained [`crate::nn::EpsModel`],
//!   with the trajectory of x_t and of the predicted x_0 ("full noise removal", note 001; E21);
//! - [`short`]: sampling in one line, `SampleConfig::ddpm().sample(&prediction, &schedule, n, &device)?`,
//!   the shape taken from the network ([`SampleShape`]);
//! - [`batched`]: many samples in chunks, with one class per sample;
//! - [`removal`]: note 001's "full noise removal": real images noised to x_t, and the network's
//!   eps and x_0 for them, at several t (E21);
//! - [`mod@inpaint`]: inpainting with an unconditional model (RePaint), with the masks of [`mask`];
//! - [`output`]: samples as images, points or values in [0, 1].
//!
//! Every draw of z comes from one generator seeded with [`SampleConfig::seed`]: the same seed
//! gives the same samples.

pub mod array;
pub mod batched;
pub mod config;
pub mod denoise;
pub mod inpaint;
pub mod mask;
pub mod network;
pub mod output;
pub mod removal;
pub mod short;

pub use array::{p_sample_loop, p_sample_step, MeanScale};
pub use batched::{sample_batched, Batches};
pub use config::{SampleConfig, Sampler};
pub use denoise::{Denoised, Guidance, Prediction};
pub use inpaint::{inpaint, Repaint};
pub use mask::Mask;
pub use network::{normal_tensor, sample, Trajectory};
pub use removal::{full_noise_removal, Removal};
pub use short::SampleShape;
