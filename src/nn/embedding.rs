//! How the network learns which step it is at, and which class it should draw: the sinusoidal
//! time embedding of Ho et al. 2020 (after Vaswani et al. 2017), its MLP, and a class embedding
//! with a "no class" row (E22, E23; note 000).

use candle_core::{DType, Device, Tensor};
use candle_nn::{Embedding, Linear, Module, VarBuilder};

use super::init::linear;
use super::norm::silu;
use crate::Result;

/// The sinusoidal embedding of the steps `t` (Ho et al. 2020, Appendix B; Vaswani et al. 2017, §3.5):
///
/// $$\mathrm{emb}(t)_i = \sin(t\,\omega_i),\quad \mathrm{emb}(t)_{h+i} = \cos(t\,\omega_i),\qquad
///   \omega_i = \exp\!\Big(-\frac{\ln 10\,000\; i}{h - 1}\Big),\quad i = 0..h-1,\ h = \mathrm{dim}/2$$
///
/// The convention of Ho et al.'s `get_timestep_embedding`: all sines first, then all cosines;
/// frequencies from 1 down to 1/10 000. `t` is a tensor of shape (B,) holding the paper's step
/// 1..=T, in u32 or f32 (any dtype that converts to f32); it is used as it is, not scaled
/// (Ho et al.'s code passed the 0-based index t - 1: a shift of one step, which the MLP absorbs).
/// `dim` must be even and at least 4. Returns (B, dim) in f32.
///
/// ```
/// use ddpm::candle_core::{Device, Tensor};
/// let t = Tensor::new(&[1u32, 500], &Device::Cpu).unwrap();
/// let emb = ddpm::nn::timestep_embedding(&t, 8).unwrap();
/// assert_eq!(emb.dims(), &[2, 8]);
/// let row: Vec<f32> = emb.get(0).unwrap().to_vec1().unwrap();
/// assert!((row[0] - 1f32.sin()).abs() < 1e-6 && (row[4] - 1f32.cos()).abs() < 1e-6);
/// ```
pub fn timestep_embedding(t: &Tensor, dim: usize) -> Result<Tensor> {
    if dim < 4 || !dim.is_multiple_of(2) {
        return Err(invalid!("the time embedding dimension must be even and at least 4, got {dim}"));
    }
    if t.rank() != 1 {
        return Err(invalid!("t must have shape (B,), one step per batch element, got shape {:?}", t.dims()));
    }
    let half = dim / 2;
    let step = -(10_000f64.ln()) / (half - 1) as f64;
    let omega: Vec<f32> = (0..half).map(|i| (step * i as f64).exp() as f32).collect();
    let omega = Tensor::from_vec(omega, (1, half), t.device())?;
    // (B,) -> (B, 1) * (1, half) -> (B, half)
    let angles = t.to_dtype(DType::F32)?.unsqueeze(1)?.broadcast_mul(&omega)?;
    // (B, half), (B, half) -> (B, dim): sines first, then cosines.
    Ok(Tensor::cat(&[angles.sin()?, angles.cos()?], 1)?)
}

/// The time embedding of the U-Net: the sinusoidal embedding of width `sinusoid_dim`, then
/// Linear, SiLU, Linear to `emb_dim` (Ho et al. 2020, Appendix B: `sinusoid_dim` = ch,
/// `emb_dim` = 4 ch). Parameters: `lin1`, `lin2`.
#[derive(Debug, Clone)]
pub struct TimeEmbedding {
    sinusoid_dim: usize,
    lin1: Linear,
    lin2: Linear,
}

impl TimeEmbedding {
    /// A time embedding `t (B,) -> (B, emb_dim)`.
    pub fn new(sinusoid_dim: usize, emb_dim: usize, vb: VarBuilder) -> Result<Self> {
        if sinusoid_dim < 4 || !sinusoid_dim.is_multiple_of(2) {
            return Err(invalid!("the time embedding dimension must be even and at least 4, got {sinusoid_dim}"));
        }
        if emb_dim == 0 {
            return Err(invalid!("the time embedding width must be at least 1, got 0"));
        }
        Ok(Self {
            sinusoid_dim,
            lin1: linear(sinusoid_dim, emb_dim, vb.pp("lin1"))?,
            lin2: linear(emb_dim, emb_dim, vb.pp("lin2"))?,
        })
    }

    /// The dtype of its weights.
    pub fn dtype(&self) -> DType {
        self.lin1.weight().dtype()
    }

    /// `t` (B,) in 1..=T, u32 or f32 -> (B, emb_dim).
    pub fn forward(&self, t: &Tensor) -> Result<Tensor> {
        // (B,) -> (B, sinusoid_dim), in the dtype of the weights (f32 unless built otherwise)
        let emb = timestep_embedding(t, self.sinusoid_dim)?.to_dtype(self.lin1.weight().dtype())?;
        let emb = silu(&self.lin1.forward(&emb)?)?; // -> (B, emb_dim)
        Ok(self.lin2.forward(&emb)?) // -> (B, emb_dim)
    }
}

/// A learned embedding of class labels 0..num_classes, plus one more row, number `num_classes`,
/// that stands for "no class": the label used when a sample is unconditional, and the label that
/// classifier-free guidance (Ho and Salimans 2022) drops to during training. Rows are N(0, 1) to
/// start, as PyTorch's `nn.Embedding`. Parameter: `weight` (num_classes + 1, emb_dim).
#[derive(Debug, Clone)]
pub struct ClassEmbedding {
    num_classes: usize,
    table: Embedding,
}

impl ClassEmbedding {
    /// An embedding of `num_classes` classes and the "no class" row, each of width `emb_dim`.
    pub fn new(num_classes: usize, emb_dim: usize, vb: VarBuilder) -> Result<Self> {
        if num_classes == 0 {
            return Err(invalid!("num_classes must be at least 1 (or None for an unconditional model), got 0"));
        }
        let weight =
            vb.get_with_hints((num_classes + 1, emb_dim), "weight", candle_nn::Init::Randn { mean: 0.0, stdev: 1.0 })?;
        Ok(Self { num_classes, table: Embedding::new(weight, emb_dim) })
    }

    /// The number of real classes (the "no class" row not counted).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The label that means "no class": `num_classes`.
    pub fn null_label(&self) -> u32 {
        self.num_classes as u32
    }

    /// Labels (B,) in 0..=num_classes (integers; `num_classes` = no class) -> (B, emb_dim); `None`
    /// gives the "no class" row for all `batch` elements.
    pub fn forward(&self, class: Option<&Tensor>, batch: usize, device: &Device) -> Result<Tensor> {
        let labels = match class {
            None => Tensor::full(self.null_label(), batch, device)?,
            Some(c) => {
                if c.dims() != [batch] {
                    return Err(invalid!(
                        "class labels must have shape ({batch},), one per batch element, got {:?}",
                        c.dims()
                    ));
                }
                if c.dtype().is_float() {
                    return Err(invalid!("class labels must be integers (u32), got {:?}", c.dtype()));
                }
                let c = c.to_dtype(DType::U32)?;
                let labels: Vec<u32> = c.to_vec1()?;
                if let Some(bad) = labels.iter().find(|&&l| l > self.null_label()) {
                    return Err(invalid!(
                        "class labels must be in 0..={} ({} = no class), got {bad}",
                        self.null_label(),
                        self.null_label()
                    ));
                }
                c
            }
        };
        Ok(self.table.forward(&labels)?) // (B,) -> (B, emb_dim)
    }
}
