//! Algorithm 1 of Ho et al. 2020 (training; E19) on candle:
//!
//! ```text
//! 1: repeat
//! 2:   x_0 ~ q(x_0)
//! 3:   t ~ Uniform({1, ..., T})
//! 4:   eps ~ N(0, I)
//! 5:   take a gradient descent step on grad_theta || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2
//! 6: until converged
//! ```
//!
//! - [`config`]: [`TrainConfig`], its checks and the warm-up schedule of the learning rate;
//! - [`step`]: [`NoisedBatch`] (lines 2-4 made explicit) and [`loss`] (line 5's objective);
//! - [`weighting`]: [`LossWeighting`], L_simple's uniform weight over t or Min-SNR-gamma;
//! - [`trainer`]: [`Trainer`], the gradient step (AdamW, warm-up, clipping, NaN stop);
//! - [`adamw`]: [`AdamW`], whose moments can be saved, so that a resumed run continues exactly;
//! - [`ema`]: [`Ema`], the moving average of the weights used for sampling;
//! - [`algorithm1`]: [`DataSource`] and [`Trainer::train`], the loop ("repeat ... until
//!   converged") with progress and a CSV;
//! - [`progress`]: a bar in a terminal, a line every N steps in a notebook.
//!
//! All randomness (batches, t, eps, label dropout) comes from one generator seeded with
//! `TrainConfig::seed`: the same seed gives the same loss curve, bit for bit, on the CPU.
//!
//! ```
//! use ddpm::candle_core::Device;
//! use ddpm::data::ToyData;
//! use ddpm::nn::{Mlp, MlpConfig};
//! use ddpm::train::{DataSource, TrainConfig, Trainer};
//! use ddpm::NoiseSchedule;
//!
//! let device = Device::Cpu;
//! let (mlp, varmap) = Mlp::new_seeded(&MlpConfig { hidden: 32, layers: 1, ..Default::default() }, &device, 0)?;
//! let config = TrainConfig { steps: 5, batch_size: 16, log_every: 0, ..Default::default() };
//! let mut trainer = Trainer::new(mlp, varmap, NoiseSchedule::linear(100)?, config)?;
//! let losses = trainer.train(&DataSource::Toy(ToyData::Ring), &device, None)?;
//! assert_eq!(losses.len(), 5);
//! # Ok::<(), ddpm::Error>(())
//! ```

pub mod adamw;
pub mod algorithm1;
pub mod config;
pub mod ema;
pub mod progress;
pub(crate) mod resume;
pub mod step;
pub mod trainer;
pub mod weighting;

pub use adamw::AdamW;
pub use algorithm1::{read_loss_csv, Control, DataSource};
pub use config::TrainConfig;
pub use ema::Ema;
pub use progress::{Progress, ProgressStyle};
pub use step::{loss, weighted_loss, NoisedBatch};
pub use trainer::{StepStats, Trainer};
pub use weighting::LossWeighting;
