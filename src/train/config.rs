//! The hyper-parameters of Algorithm 1 (Ho et al. 2020) and the learning-rate schedule.

use serde::{Deserialize, Serialize};

use super::LossWeighting;
use crate::posterior::Parameterisation;
use crate::{Error, Result};

/// How a run of Algorithm 1 is set up. Ho et al. 2020 (Appendix B) used Adam at lr 2e-4
/// (1e-4 at 256x256), batch 128, 5000 warm-up steps, gradient clipping at norm 1 and an EMA decay
/// of 0.9999; the defaults are scaled down for a laptop.
///
/// ```
/// let config = ddpm::train::TrainConfig { steps: 100, ..Default::default() };
/// config.validate().unwrap();
/// assert_eq!(config.lr_at(1), config.lr / config.warmup_steps as f64);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// The step to train up to ("repeat ... until converged"): a run stops at step `steps`.
    pub steps: usize,
    /// Samples x_0 per step.
    pub batch_size: usize,
    /// Peak learning rate of AdamW, reached after `warmup_steps`.
    pub lr: f64,
    /// Steps of linear warm-up: lr_k = lr min(1, k / warmup_steps) at step k = 1, 2, ...
    /// (0: the full rate from the first step).
    pub warmup_steps: usize,
    /// After the warm-up: keep the rate (None), or let it fall along a half cosine to 0 at this
    /// step (Loshchilov and Hutter 2017, "SGDR", without restarts). Kept apart from `steps` so
    /// that a run trained in stages (or stopped and resumed) follows one schedule; `steps` may
    /// not go past it, where the rate is 0.
    pub lr_decay_end: Option<usize>,
    /// Clip the gradients to this global L2 norm; None: no clipping.
    pub grad_clip: Option<f64>,
    /// AdamW's decoupled weight decay (0 is plain Adam, as Ho et al.).
    pub weight_decay: f64,
    /// Decay of the exponential moving average of the weights, in [0, 1].
    pub ema_decay: f64,
    /// Warm the EMA's decay up as min(ema_decay, (1 + n) / (10 + n)) at update n, so that short
    /// runs do not keep their random initial weights in the average (see `Ema`).
    pub ema_warmup: bool,
    /// Seed of the one generator that draws batches, t, eps and label dropout.
    pub seed: u64,
    /// What the network predicts: eps (Ho et al.), x0 or v. Mean is not trained here.
    #[serde(with = "by_name")]
    pub target: Parameterisation,
    /// How the loss weighs the timesteps: uniformly in the target (L_simple for eps), or
    /// Min-SNR-gamma ([`LossWeighting`]). Runs saved before it existed read as uniform.
    #[serde(with = "by_name")]
    pub loss_weighting: LossWeighting,
    /// Probability of replacing a class label by "no class" (classifier-free guidance, Ho and
    /// Salimans 2022); used only when the data has labels. In [0, 1).
    pub label_dropout: f64,
    /// A progress line every `log_every` steps; 0: silent.
    pub log_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch_size: 64,
            lr: 2e-4,
            warmup_steps: 100,
            lr_decay_end: None,
            grad_clip: Some(1.0),
            weight_decay: 0.0,
            ema_decay: 0.999,
            ema_warmup: true,
            seed: 0,
            target: Parameterisation::Eps,
            loss_weighting: LossWeighting::Uniform,
            label_dropout: 0.0,
            log_every: 100,
        }
    }
}

impl TrainConfig {
    /// Checks every field; the message says what was wrong and what is allowed.
    ///
    /// ```
    /// let bad = ddpm::train::TrainConfig { lr: -1.0, ..Default::default() };
    /// assert!(bad.validate().unwrap_err().to_string().contains("lr must be a finite number > 0, got -1"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::out_of_range("steps", 0, "at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::out_of_range("batch_size", 0, "at least 1"));
        }
        crate::error::check_positive("lr", self.lr)?;
        if let Some(end) = self.lr_decay_end {
            if self.steps > end {
                return Err(invalid!(
                    "steps ({}) go past lr_decay_end ({end}), where the cosine decay has brought the learning \
                     rate to 0; train to at most step {end}, or move the end of the decay as well \
                     (ddpm train --lr-decay cosine, which ends it at --steps)",
                    self.steps
                ));
            }
        }
        if let Some(clip) = self.grad_clip {
            crate::error::check_positive("grad_clip (the largest global gradient norm)", clip)?;
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::out_of_range("weight_decay", self.weight_decay, "a finite number >= 0"));
        }
        if !(0.0..=1.0).contains(&self.ema_decay) {
            return Err(Error::out_of_range("ema_decay", self.ema_decay, "in [0, 1]"));
        }
        if !(0.0..1.0).contains(&self.label_dropout) {
            return Err(Error::out_of_range("label_dropout", self.label_dropout, "in [0, 1)"));
        }
        if self.target == Parameterisation::Mean {
            return Err(invalid!(
                "target must be eps, x0 or v; training on the posterior mean is not supported, got mean"
            ));
        }
        self.loss_weighting.validate()
    }

    /// Makes the run `steps` long: it stops there, and its learning-rate decay, if any, ends
    /// there too. (Setting `steps` alone only moves where training stops, as a stage does.)
    ///
    /// ```
    /// let mut config = ddpm::train::TrainConfig { steps: 5000, lr_decay_end: Some(5000), ..Default::default() };
    /// config.set_length(800);
    /// assert_eq!((config.steps, config.lr_decay_end), (800, Some(800)));
    /// ```
    pub fn set_length(&mut self, steps: usize) {
        self.steps = steps;
        self.lr_decay_end = self.lr_decay_end.map(|_| steps);
    }

    /// The learning rate at step `k` (1-based): linear warm-up to `lr` over `warmup_steps`,
    /// lr_k = lr k / warmup_steps; then `lr`, or with `lr_decay_end` = Some(n)
    /// lr_k = lr (1 + cos(pi (k - warmup_steps) / (n - warmup_steps))) / 2, which is `lr` at the
    /// end of the warm-up and 0 at step n (and after it). A run whose decay would end within its
    /// warm-up (a very short one) has no room for it: its rate only warms up.
    ///
    /// ```
    /// let config = ddpm::train::TrainConfig { steps: 1100, warmup_steps: 100, lr_decay_end: Some(1100), ..Default::default() };
    /// assert_eq!(config.lr_at(100), config.lr);
    /// assert!((config.lr_at(600) - config.lr / 2.0).abs() < 1e-15);
    /// assert_eq!(config.lr_at(1100), 0.0);
    /// ```
    pub fn lr_at(&self, k: usize) -> f64 {
        if k < self.warmup_steps {
            return self.lr * k as f64 / self.warmup_steps as f64;
        }
        match self.lr_decay_end {
            Some(end) if end > self.warmup_steps => {
                let progress = ((k - self.warmup_steps) as f64 / (end - self.warmup_steps) as f64).min(1.0);
                // cos(pi) is exactly -1 in f64, so the rate at the end is exactly 0.
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            _ => self.lr,
        }
    }
}

/// A field stored as its name ("eps", "min-snr-5"), through its `Display` and `FromStr`:
/// `Parameterisation` and `LossWeighting`.
mod by_name {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let name = String::deserialize(d)?;
        name.parse().map_err(D::Error::custom)
    }
}
