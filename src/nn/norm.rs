//! Group norm (Wu and He 2018) and SiLU (Elfwing et al. 2018), the normalisation and the
//! non-linearity of every block, and [`NormAct`], the two in a row as every residual block has
//! them. On the CPU in f32 they run through the engine's kernels (`cpu/`), elsewhere through
//! candle's operations: the same values up to rounding.

use candle_core::Tensor;
use candle_nn::{Init, Module, VarBuilder};

use super::cpu::{self, on_cpu_f32};
use crate::Result;

/// Epsilon of every group norm (PyTorch's default).
pub const GROUP_NORM_EPS: f64 = 1e-5;

/// SiLU (swish), x s(x) with s the logistic function, element by element.
///
/// ```
/// use ddpm::candle_core::{Device, Tensor};
///
/// let y = ddpm::nn::silu(&Tensor::new(&[0f32, 1.0], &Device::Cpu).unwrap()).unwrap();
/// let y = y.to_vec1::<f32>().unwrap();
/// assert_eq!(y[0], 0.0);
/// assert!((y[1] - 1.0 / (1.0 + (-1f32).exp())).abs() < 1e-6); // 1 s(1)
/// ```
pub fn silu(x: &Tensor) -> Result<Tensor> {
    if on_cpu_f32(x) {
        Ok(cpu::silu(x)?)
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
        if groups == 0 || !channels.is_multiple_of(groups) {
            return Err(invalid!(
                "group norm: channels must be divisible by groups, got {channels} channels and {groups} groups"
            ));
        }
        let weight = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
        let bias = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
        Ok(Self { weight, bias, groups })
    }

    /// (B, C, ...) -> (B, C, ...).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_then(x, false)
    }

    /// The weight and the bias (C each).
    pub(crate) fn parameters(&self) -> [&Tensor; 2] {
        [&self.weight, &self.bias]
    }

    /// An error unless `x` is (B, C, ...) with this norm's C channels.
    pub(crate) fn check_input(&self, x: &Tensor) -> Result<()> {
        self.check_dims(x.dims())
    }

    /// [`Self::check_input`] for an input of shape `dims`.
    pub(crate) fn check_dims(&self, dims: &[usize]) -> Result<()> {
        let channels = self.weight.dim(0)?;
        if dims.len() < 3 || dims[1] != channels {
            return Err(invalid!("group norm: expected input of shape (B, {channels}, ...), got {dims:?}"));
        }
        Ok(())
    }

    /// The number of groups.
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// GroupNorm(x), then SiLU when `then_silu`: on the CPU in f32 one operation, which neither
    /// stores the norm's output nor adds a node to the backward pass.
    fn forward_then(&self, x: &Tensor, then_silu: bool) -> Result<Tensor> {
        self.check_input(x)?;
        if on_cpu_f32(x) {
            return Ok(cpu::group_norm(x, &self.weight, &self.bias, self.groups, GROUP_NORM_EPS, then_silu)?);
        }
        let norm =
            candle_nn::GroupNorm::new(self.weight.clone(), self.bias.clone(), x.dim(1)?, self.groups, GROUP_NORM_EPS)?;
        let y = norm.forward(x)?;
        if then_silu {
            silu(&y)
        } else {
            Ok(y)
        }
    }
}

/// SiLU(GroupNorm(x)): the normalisation and activation that open every residual block (Ho et
/// al. 2020, E22). The same numbers as `silu(&norm.forward(x)?)`; on the CPU in f32 one
/// operation. Parameters those of its [`GroupNorm`]: `weight` and `bias` (channels).
///
/// ```
/// use ddpm::candle_core::{DType, Device, Tensor};
/// use ddpm::candle_nn::VarMap;
/// use ddpm::nn::{seeded_var_builder, NormAct};
///
/// let varmap = VarMap::new();
/// let norm_act = NormAct::new(2, 4, seeded_var_builder(&varmap, 0, &Device::Cpu)).unwrap();
/// let x = Tensor::ones((1, 4, 3, 3), DType::F32, &Device::Cpu).unwrap();
/// // A constant input normalises to 0 (weight 1, bias 0), and SiLU(0) = 0.
/// let y = norm_act.forward(&x).unwrap(); // (B, C, H, W) -> (B, C, H, W)
/// assert!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|&v| v == 0.0));
/// ```
#[derive(Debug, Clone)]
pub struct NormAct {
    norm: GroupNorm,
}

impl NormAct {
    /// A group norm over `channels` channels in `groups` groups, then SiLU.
    pub fn new(groups: usize, channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self { norm: GroupNorm::new(groups, channels, vb)? })
    }

    /// (B, C, ...) -> (B, C, ...).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.norm.forward_then(x, true)
    }

    /// The group norm.
    pub(crate) fn norm(&self) -> &GroupNorm {
        &self.norm
    }
}
