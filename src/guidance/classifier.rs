//! A classifier of noisy images p_phi(y | x_t, t) (Dhariwal and Nichol 2021, Sec. 4.1: the
//! downsampling half of the U-Net with the time embedding, then a pooled linear head), small
//! enough to train in minutes on two CPU cores.

use candle_core::{Tensor, D};
use candle_nn::{Linear, Module, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::nn::init::linear;
use crate::nn::{Conv, Downsample, NormAct, ResBlock, ResBlockConfig, TimeEmbedding};
use crate::Result;

/// What classifier guidance needs of a classifier: the logits of y for x_t at steps t. `Send +
/// Sync`, as a model is ([`crate::nn::EpsModel`]).
pub trait NoisyClassify: Send + Sync {
    /// `xt` (B, C, H, W) f32, `t` (B,) u32 in 1..=T -> logits (B, classes).
    fn logits(&self, xt: &Tensor, t: &Tensor) -> Result<Tensor>;
}

impl<C: NoisyClassify + ?Sized> NoisyClassify for &C {
    fn logits(&self, xt: &Tensor, t: &Tensor) -> Result<Tensor> {
        (**self).logits(xt, t)
    }
}

/// The shape of a [`NoisyClassifier`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoisyClassifierConfig {
    pub in_channels: usize,
    pub image_size: usize,
    /// Channels of the first level; the second has twice as many.
    pub channels: usize,
    pub classes: usize,
}

impl Default for NoisyClassifierConfig {
    /// MNIST: 1 x 28 x 28, 16 and 32 channels, 10 digits.
    fn default() -> Self {
        Self { in_channels: 1, image_size: 28, channels: 16, classes: 10 }
    }
}

/// conv 3x3 (C -> c); ResBlock(c), downsample; ResBlock(c -> 2c), downsample; SiLU(GroupNorm);
/// mean over the pixels; linear 2c -> classes. The time enters every block through the
/// U-Net's embedding (sinusoid of width c, MLP to 4c).
#[derive(Debug, Clone)]
pub struct NoisyClassifier {
    config: NoisyClassifierConfig,
    time: TimeEmbedding,
    conv_in: Conv,
    block1: ResBlock,
    down1: Downsample,
    block2: ResBlock,
    down2: Downsample,
    out_norm: NormAct,
    head: Linear,
}

impl NoisyClassifier {
    /// The network with the weights of `vb` (e.g. [`crate::nn::seeded_var_builder`] to train).
    pub fn new(config: &NoisyClassifierConfig, vb: VarBuilder) -> Result<Self> {
        let c = config.channels;
        if c == 0 || !c.is_multiple_of(8) || config.classes < 2 || config.in_channels == 0 || config.image_size < 4 {
            return Err(invalid!(
                "a noisy classifier needs channels a multiple of 8, at least 2 classes, an image of at least 4 pixels a side; got {config:?}"
            ));
        }
        let emb = 4 * c;
        let block = |i, o| ResBlockConfig {
            in_channels: i,
            out_channels: o,
            emb_dim: emb,
            groups: 8,
            dropout: 0.0,
            adaptive_norm: false,
        };
        Ok(Self {
            config: config.clone(),
            time: TimeEmbedding::new(c, emb, vb.pp("time"))?,
            conv_in: Conv::new(config.in_channels, c, 3, 1, vb.pp("conv_in"))?,
            block1: ResBlock::new(block(c, c), vb.pp("block1"))?,
            down1: Downsample::new(c, vb.pp("down1"))?,
            block2: ResBlock::new(block(c, 2 * c), vb.pp("block2"))?,
            down2: Downsample::new(2 * c, vb.pp("down2"))?,
            out_norm: NormAct::new(8, 2 * c, vb.pp("out_norm"))?,
            head: linear(2 * c, config.classes, vb.pp("head"))?,
        })
    }

    /// Its shape.
    pub fn config(&self) -> &NoisyClassifierConfig {
        &self.config
    }
}

impl NoisyClassify for NoisyClassifier {
    fn logits(&self, xt: &Tensor, t: &Tensor) -> Result<Tensor> {
        let emb = self.time.forward(t)?; // (B, 4c)
        let h = self.conv_in.forward(xt)?; // (B, c, H, W)
        let h = self.down1.forward(&self.block1.forward(&h, &emb, false)?)?; // (B, c, H/2, W/2)
        let h = self.down2.forward(&self.block2.forward(&h, &emb, false)?)?; // (B, 2c, H/4, W/4)
        let h = self.out_norm.forward(&h)?.flatten_from(2)?.mean(D::Minus1)?; // (B, 2c)
        Ok(self.head.forward(&h)?)
    }
}
