//! The layers that eval's two small networks share, each with its own weights and output head:
//! the judge ([`super::Classifier`]) and the feature network ([`super::FeatureNet`]).

use candle_core::Tensor;
use candle_nn::{Linear, Module, VarBuilder};

use crate::nn::init::linear;
use crate::nn::Conv;
use crate::Result;

/// Width of the penultimate layer: the features of the Fréchet distance.
pub const FEATURES: usize = 128;

/// conv 3x3 (1 -> 16), ReLU, 2x2 max pool; conv 3x3 (16 -> 32), ReLU, max pool;
/// linear 1568 -> 128, ReLU: the penultimate features of 28x28 images. 205 632 parameters,
/// named `conv1`, `conv2`, `fc1` beside the head of the network that holds it.
#[derive(Debug, Clone)]
pub struct Trunk {
    conv1: Conv,
    conv2: Conv,
    fc1: Linear,
}

impl Trunk {
    /// Builds the layers from `vb` (f32).
    pub fn new(vb: &VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: Conv::new(1, 16, 3, 1, vb.pp("conv1"))?,
            conv2: Conv::new(16, 32, 3, 1, vb.pp("conv2"))?,
            fc1: linear(32 * 7 * 7, FEATURES, vb.pp("fc1"))?,
        })
    }

    /// The features (B, 128) of images (B, 1, 28, 28) in [-1, 1].
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(x)?.relu()?.max_pool2d(2)?; // (B, 16, 14, 14)
        let h = self.conv2.forward(&h)?.relu()?.max_pool2d(2)?; // (B, 32, 7, 7)
        Ok(self.fc1.forward(&h.flatten_from(1)?)?.relu()?)
    }
}
