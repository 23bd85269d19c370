//! A small MLP eps_theta(x_t, t) for 2-D toy data (two moons, Gaussian mixtures, swiss roll),
//! where a U-Net would be out of place: seconds to train on a CPU.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::embedding::timestep_embedding;
use super::init::{linear, linear_zero, seeded_var_builder};
use super::norm::silu;
use crate::Result;

/// The MLP's hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Dimension of the data (2 for the toy sets).
    pub dim: usize,
    /// Width of every hidden layer.
    pub hidden: usize,
    /// Number of hidden layers (hidden -> hidden), at least 1.
    pub layers: usize,
    /// Width of the sinusoidal time embedding; even, at least 4.
    pub time_dim: usize,
}

impl Default for MlpConfig {
    /// 2-D data, 3 hidden layers of 128, time embedding of width 32 (54 402 parameters).
    fn default() -> Self {
        Self { dim: 2, hidden: 128, layers: 3, time_dim: 32 }
    }
}

impl MlpConfig {
    /// Checks every field; the message says what was wrong and what is allowed.
    pub fn validate(&self) -> Result<()> {
        const MAX: usize = 1 << 16;
        if self.dim == 0 || self.dim > MAX {
            return Err(invalid!("dim must be in 1..={MAX}, got {}", self.dim));
        }
        if self.hidden == 0 || self.hidden > MAX {
            return Err(invalid!("hidden must be in 1..={MAX}, got {}", self.hidden));
        }
        if self.layers == 0 || self.layers > 1024 {
            return Err(invalid!("layers must be in 1..=1024, got {}", self.layers));
        }
        if self.time_dim < 4 || !self.time_dim.is_multiple_of(2) || self.time_dim > MAX {
            return Err(invalid!("time_dim must be even and in 4..={MAX}, got {}", self.time_dim));
        }
        Ok(())
    }

    /// The number of trainable parameters, by arithmetic on the config alone.
    pub fn expected_parameter_count(&self) -> Result<usize> {
        self.validate()?;
        let linear = |i: usize, o: usize| i * o + o;
        let (d, h) = (self.dim, self.hidden);
        Ok(linear(self.time_dim, h) + linear(d, h) + self.layers * linear(h, h) + linear(h, d))
    }
}

/// eps_theta(x_t, t) for vectors:
///
/// e = SiLU(Linear(sinusoid(t))),  h_0 = Linear(x_t),  h_{l} = SiLU(Linear_l(h_{l-1} + e)),
/// eps_pred = Linear_out(h_L),
///
/// the time embedding added before every hidden layer, the output layer zero-initialised so that
/// an untrained model predicts eps_pred = 0 (E18). Variables: `time_proj`, `input`,
/// `hidden.{l}`, `out`.
#[derive(Debug, Clone)]
pub struct Mlp {
    config: MlpConfig,
    time_proj: Linear,
    input: Linear,
    hidden: Vec<Linear>,
    out: Linear,
}

impl Mlp {
    /// The name of the last, zero-initialised layer (`out.weight`, `out.bias`).
    pub const OUTPUT_LAYER: &'static str = "out";

    /// Builds the MLP from `vb` (its device is used; f32).
    pub fn new(config: &MlpConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let h = config.hidden;
        let hidden = (0..config.layers).map(|l| linear(h, h, vb.pp("hidden").pp(l))).collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: config.clone(),
            time_proj: linear(config.time_dim, h, vb.pp("time_proj"))?,
            input: linear(config.dim, h, vb.pp("input"))?,
            hidden,
            out: linear_zero(h, config.dim, vb.pp(Self::OUTPUT_LAYER))?,
        })
    }

    /// A fresh MLP whose initial weights come from a generator seeded with `seed`; returns the
    /// model and the [`VarMap`] holding its variables.
    pub fn new_seeded(config: &MlpConfig, device: &Device, seed: u64) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let model = Self::new(config, seeded_var_builder(&varmap, seed, device))?;
        Ok((model, varmap))
    }

    /// The configuration the MLP was built from.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The dtype of its weights.
    pub fn dtype(&self) -> DType {
        self.input.weight().dtype()
    }

    /// `x` (B, dim) f32, `t` (B,) the paper's steps 1..=T (u32 or f32) -> eps_pred (B, dim).
    pub fn forward(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let b = match *x.dims() {
            [b, d] if d == self.config.dim => b,
            _ => return Err(invalid!("x must have shape (B, {}), got {:?}", self.config.dim, x.dims())),
        };
        if t.dims() != [b] {
            return Err(invalid!("t must have shape ({b},), one step per batch element, got {:?}", t.dims()));
        }
        let e = timestep_embedding(t, self.config.time_dim)?.to_dtype(x.dtype())?; // (B,) -> (B, time_dim)
        let e = silu(&self.time_proj.forward(&e)?)?; // -> (B, hidden)
        let mut h = self.input.forward(x)?; // (B, dim) -> (B, hidden)
        for layer in &self.hidden {
            h = silu(&layer.forward(&(h + &e)?)?)?; // (B, hidden) -> (B, hidden)
        }
        Ok(self.out.forward(&h)?) // (B, hidden) -> (B, dim)
    }
}
