//! The steps between the U-Net's levels (Ho et al. 2020, E22): [`Downsample`] halves the size
//! with a strided convolution, [`Upsample`] doubles it by repeating pixels ([`upsample_nearest`])
//! and smooths with a convolution.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::conv::Conv;
use super::cpu::{self, on_cpu_f32};
use crate::Result;

/// Halves the size: a 3x3 convolution with stride 2 (Ho et al. 2020). (B, C, H, W) -> (B, C, H/2, W/2).
/// Parameter: `conv`.
#[derive(Debug, Clone)]
pub struct Downsample {
    conv: Conv,
}

impl Downsample {
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self { conv: Conv::new(channels, channels, 3, 2, vb.pp("conv"))? })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv.forward(x) // (B, C, H, W) -> (B, C, H/2, W/2)
    }
}

/// Doubles the size: nearest-neighbour up-sampling, then a 3x3 convolution (Ho et al. 2020).
/// (B, C, H, W) -> (B, C, 2H, 2W). Parameter: `conv`.
#[derive(Debug, Clone)]
pub struct Upsample {
    conv: Conv,
}

impl Upsample {
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self { conv: Conv::new(channels, channels, 3, 1, vb.pp("conv"))? })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = upsample_nearest(x)?; // (B, C, H, W) -> (B, C, 2H, 2W)
        self.conv.forward(&x)
    }
}

/// Nearest-neighbour up-sampling by 2, each pixel repeated in a 2x2 square (the same values as
/// `upsample_nearest2d(2H, 2W)`), whose gradient is the sum over each square: on the CPU in f32
/// one operation of the engine, elsewhere a broadcast. (B, C, H, W) -> (B, C, 2H, 2W).
///
/// ```
/// use ddpm::candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[[[[1f32, 2.0]]]], &Device::Cpu).unwrap(); // (1, 1, 1, 2)
/// let y = ddpm::nn::upsample_nearest(&x).unwrap(); // (1, 1, 2, 4)
/// assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
/// ```
pub fn upsample_nearest(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    if on_cpu_f32(x) {
        return Ok(cpu::upsample2x(x)?);
    }
    let x = x.reshape((b, c, h, 1, w, 1))?.broadcast_as((b, c, h, 2, w, 2))?; // (B, C, H, 2, W, 2)
    Ok(x.reshape((b, c, 2 * h, 2 * w))?) // (B, C, 2H, 2W)
}
