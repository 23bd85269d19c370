//! Group norm (Wu and He 2018) and SiLU (Elfwing et al. 2018), the normalisation and the
//! non-linearity of every block, with fast CPU kernels ([`super::kernels`]) for training.

use candle_core::Tensor;
use candle_nn::{Init, Module, VarBuilder};

use super::kernels::{on_cpu_f32, GroupNormOp, Silu};
use crate::Result;

/// Epsilon of every group norm (PyTorch's default).
pub const GROUP_NORM_EPS: f64 = 1e-5;

/// SiLU (swish), x s(x) with s the logistic function, element by element.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    if on_cpu_f32(x) {
        Ok(x.contiguous()?.apply_op1(Silu)?)
    } else {
        Ok(x.silu()?)
    }
}

/// Group norm over `groups` groups of channels, then a per-channel scale and shift:
///
/// $$y = \frac{x - \mu_g}{\sqrt{\sigma_g^2 + \epsilon}}\, w_c + b_c$$
///
/// with mean and variance over the channels of the group and all pixels, per batch element.
/// Parameters as PyTorch's `nn.GroupNorm`: `weight` (1 to start) and `bias` (0), each (channels).
#[derive(Debug, Clone)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
}

impl GroupNorm {
    /// A group norm over `channels` channels in `groups` groups.
    pub fn new(groups: usize, channels: usize, vb: VarBuilder) -> Result<Self> {
        if groups == 0 || channels % groups != 0 {
            invalid!("group norm: channels must be divisible by groups, got {channels} channels and {groups} groups");
        }
        let weight = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
        let bias = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
        Ok(Self { weight, bias, groups })
    }

    /// (B, C, ...) -> (B, C, ...).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_op(x, false)
    }

    /// SiLU(GroupNorm(x)), as the residual blocks use it: the same numbers as
    /// `silu(&norm.forward(x)?)`; on the CPU in f32 one operation, which neither stores the
    /// norm's output nor adds a node to the backward pass. (B, C, ...) -> (B, C, ...).
    pub fn forward_silu(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_op(x, true)
    }

    fn forward_op(&self, x: &Tensor, then_silu: bool) -> Result<Tensor> {
        let channels = self.weight.dim(0)?;
        if x.rank() < 3 || x.dim(1)? != channels {
            invalid!("group norm: expected input of shape (B, {channels}, ...), got {:?}", x.dims());
        }
        if on_cpu_f32(x) {
            let op = GroupNormOp { groups: self.groups, eps: GROUP_NORM_EPS, silu: then_silu };
            Ok(x.contiguous()?.apply_op3(&self.weight.contiguous()?, &self.bias.contiguous()?, op)?)
        } else {
            let norm = candle_nn::GroupNorm::new(
                self.weight.clone(),
                self.bias.clone(),
                channels,
                self.groups,
                GROUP_NORM_EPS,
            )?;
            let y = norm.forward(x)?;
            if then_silu {
                silu(&y)
            } else {
                Ok(y)
            }
        }
    }
}
