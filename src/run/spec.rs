//! What a training run is: the data, the network, the schedule and Algorithm 1's settings,
//! saved in every checkpoint so that `ddpm sample` and `--resume` rebuild the same run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::data::ToyData;
use crate::nn::{MlpConfig, UNetConfig};
use crate::schedule::ScheduleKind;
use crate::train::TrainConfig;
use crate::{Error, NoiseSchedule, Result};

/// Where x_0 comes from, as `--data` spells it: `mnist` or `toy-ring`, `toy-moons`, `toy-swiss-roll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSpec {
    Mnist,
    Toy(ToyData),
}

impl FromStr for DataSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.strip_prefix("toy-") {
            _ if s == "mnist" => Ok(DataSpec::Mnist),
            Some(name) => name.parse::<ToyData>().map(DataSpec::Toy).map_err(|_| {
                Error::Invalid(format!("unknown data {s:?}; allowed: mnist, toy-ring, toy-moons, toy-swiss-roll"))
            }),
            None => Err(invalid!("unknown data {s:?}; allowed: mnist, toy-ring, toy-moons, toy-swiss-roll")),
        }
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Mnist => f.write_str("mnist"),
            DataSpec::Toy(toy) => write!(f, "toy-{}", toy.name()),
        }
    }
}

/// The network of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "network", rename_all = "lowercase")]
pub enum ModelSpec {
    Unet(UNetConfig),
    Mlp(MlpConfig),
}

/// The noise schedule of a run, by name (as `ddpm schedule --kind` spells it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// linear, cosine, quadratic or sigmoid.
    pub kind: String,
    /// T.
    pub steps: usize,
    /// beta_1 and beta_T where not the defaults (not for cosine).
    pub beta_start: Option<f64>,
    pub beta_end: Option<f64>,
}

impl Default for ScheduleSpec {
    /// Ho et al.'s linear schedule, T = 1000.
    fn default() -> Self {
        Self { kind: "linear".into(), steps: 1000, beta_start: None, beta_end: None }
    }
}

impl ScheduleSpec {
    /// The tables of this schedule.
    pub fn build(&self) -> Result<NoiseSchedule> {
        let kind: ScheduleKind = self.kind.parse()?;
        NoiseSchedule::new(kind.with_betas(self.beta_start, self.beta_end)?, self.steps)
    }
}

/// Everything but the weights: saved as the checkpoint's "training" config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// `mnist`, `toy-ring`, ... (see [`DataSpec`]).
    pub data: String,
    /// Train class-conditionally on MNIST's labels (with label dropout for guidance).
    pub class_conditional: bool,
    pub schedule: ScheduleSpec,
    pub train: TrainConfig,
    /// A checkpoint every this many steps (0: only at the end and on Ctrl-C).
    pub checkpoint_every: usize,
}

impl RunSpec {
    /// The embedded default for `data`, chosen to finish on a 2-core laptop CPU:
    ///
    /// - MNIST: [`UNetConfig::mnist_fast`] (619 697 parameters), 8000 steps of batch 32 at
    ///   lr 2e-3 (AdamW, 200 warm-up steps, then a cosine decay to 0 at step 8000, clipping at 1),
    ///   EMA decay 0.995 with warm-up, linear schedule T = 1000. Chosen to train in about half an
    ///   hour on two CPU cores, with room for a slower machine; many small steps beat fewer large
    ///   ones at the same cost, and the cosine decay beats a constant rate. The measurements
    ///   behind these choices (time, loss, the share of samples `ddpm eval` recognises, Fréchet
    ///   distance) are in docs/training.md, docs/results.md and docs/judge.md.
    /// - toy data: the MLP ([`MlpConfig::default`]), 3000 steps of batch 256 at lr 1e-3,
    ///   EMA 0.995, linear schedule T = 1000 (seconds).
    ///
    /// With `class_conditional` (MNIST only), the U-Net gets 10 classes and labels are dropped
    /// with probability 0.1 for classifier-free guidance.
    pub fn default_for(data: DataSpec, class_conditional: bool) -> Result<(RunSpec, ModelSpec)> {
        let base = TrainConfig { lr: 1e-3, ema_decay: 0.995, warmup_steps: 100, ..TrainConfig::default() };
        match data {
            DataSpec::Mnist => {
                let unet = UNetConfig { num_classes: class_conditional.then_some(10), ..UNetConfig::mnist_fast() };
                let label_dropout = if class_conditional { 0.1 } else { 0.0 };
                let train = TrainConfig {
                    steps: 8000,
                    batch_size: 32,
                    lr: 2e-3,
                    warmup_steps: 200,
                    lr_decay_end: Some(8000),
                    log_every: 100,
                    label_dropout,
                    ..base
                };
                let spec = RunSpec {
                    data: data.to_string(),
                    class_conditional,
                    schedule: ScheduleSpec::default(),
                    train,
                    checkpoint_every: 500,
                };
                Ok((spec, ModelSpec::Unet(unet)))
            }
            DataSpec::Toy(_) => {
                if class_conditional {
                    return Err(invalid!(
                        "--class-conditional needs labelled data (mnist); the toy data sets have none"
                    ));
                }
                let train = TrainConfig { steps: 3000, batch_size: 256, log_every: 500, ..base };
                let spec = RunSpec {
                    data: data.to_string(),
                    class_conditional,
                    schedule: ScheduleSpec::default(),
                    train,
                    checkpoint_every: 1000,
                };
                Ok((spec, ModelSpec::Mlp(MlpConfig::default())))
            }
        }
    }

    /// The same run cut down to `steps` steps of batch 16, a warm-up of a third of them (and the
    /// learning rate's decay, if any, ending at `steps`), and a
    /// checkpoint only at the end: what the notebooks train in quick mode (seconds on a CPU;
    /// enough to run every cell, not to make digits).
    pub fn shortened(mut self, steps: usize) -> RunSpec {
        self.train.set_length(steps);
        self.train.batch_size = self.train.batch_size.min(16);
        self.train.warmup_steps = steps / 3;
        self.checkpoint_every = 0;
        self
    }

    /// The data, parsed.
    pub fn data_spec(&self) -> Result<DataSpec> {
        self.data.parse()
    }
}
