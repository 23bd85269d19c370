//! The networks eps_theta: a U-Net for images (Ho et al. 2020, Appendix B; E22, E23) and a small
//! MLP for 2-D toy data, on candle, in f32, on whatever device the `VarBuilder` names.
//!
//! The layers, read top-down as the paper draws them:
//!
//! - [`unet`]: [`UNet`], levels of stages (`stage.rs`: a residual block, then attention where
//!   the level has it) joined by skip connections; [`mlp`]: [`Mlp`];
//! - [`blocks`]: the residual block and adaptive group norm; [`dropout`]: seeded dropout;
//! - [`resample`]: down- and up-sampling between levels;
//! - [`attention`]: multi-head self-attention over pixels;
//! - [`embedding`]: the sinusoidal time embedding and its MLP, the class embedding;
//! - [`conv`]: [`Conv`] and [`Conv1x1`]; [`norm`]: [`GroupNorm`], [`silu`], and [`NormAct`]
//!   (the two in a row);
//! - [`config`]: [`UNetConfig`], its checks and its parameter count in closed form;
//! - [`init`]: PyTorch's default initialisation and a seeded `VarBuilder`.
//!
//! Below them, [`cpu`]: the CPU engine, hand-written operations with their backward passes
//! (convolution through im2col and matrix products, group norm fused with SiLU, SiLU,
//! up-sampling) that the layers of `conv` and `norm` and [`upsample_nearest`] call for f32
//! tensors on the CPU, using candle's own operations elsewhere. Whether an operation runs fused is
//! the layer's business: the blocks and the U-Net only call layers.
//!
//! Every piece can be built alone to look at its shapes:
//!
//! ```
//! use ddpm::candle_core::{DType, Device, Tensor};
//! use ddpm::candle_nn::{VarBuilder, VarMap};
//! use ddpm::nn::{ResBlock, ResBlockConfig};
//!
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let cfg = ResBlockConfig { in_channels: 8, out_channels: 16, emb_dim: 32, groups: 4, dropout: 0.0, adaptive_norm: false };
//! let block = ResBlock::new(cfg, vb).unwrap();
//! let x = Tensor::zeros((2, 8, 4, 4), DType::F32, &Device::Cpu).unwrap();
//! let emb = Tensor::zeros((2, 32), DType::F32, &Device::Cpu).unwrap();
//! assert_eq!(block.forward(&x, &emb, false).unwrap().dims(), &[2, 16, 4, 4]);
//! ```
//!
//! The network never knows how it is trained: [`EpsModel`] is all that training and sampling see.

pub mod attention;
pub mod blocks;
pub mod config;
pub mod conv;
pub mod cpu;
pub mod dropout;
pub mod embedding;
pub mod init;
pub mod mlp;
pub mod norm;
pub mod resample;
mod stage;
pub mod unet;

use candle_core::Tensor;
use candle_nn::VarMap;

pub use attention::AttentionBlock;
pub use blocks::{AdaGroupNorm, ResBlock, ResBlockConfig};
pub use config::UNetConfig;
pub use conv::{Conv, Conv1x1};
pub use dropout::Dropout;
pub use embedding::{timestep_embedding, ClassEmbedding, TimeEmbedding};
pub use init::seeded_var_builder;
pub use mlp::{Mlp, MlpConfig};
pub use norm::{silu, GroupNorm, NormAct};
pub use resample::{upsample_nearest, Downsample, Upsample};
pub use unet::UNet;

use crate::Result;

/// The number of scalars in every variable of `varmap`: the trainable parameter count.
pub fn parameter_count(varmap: &VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

/// The variable `name` of `varmap` (e.g. `"time_embed.lin1.weight"`), as a tensor that shares its
/// storage: to read a layer's weights and redo its computation by hand.
pub fn variable(varmap: &VarMap, name: &str) -> Result<Tensor> {
    let vars = varmap.data().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match vars.get(name) {
        Some(var) => Ok(var.as_tensor().clone()),
        None => {
            let mut names: Vec<&String> = vars.keys().collect();
            names.sort();
            Err(invalid!("no variable named {name:?}; the variables are {names:?}"))
        }
    }
}

/// The parameter count of each group of variables whose names share their first `depth` dotted
/// parts (depth 1: `conv_in`, `down`, `mid`, ...; depth 2: `down.0`, `down.1`, ...), sorted by
/// name (a depth of 0 counts as 1). The counts add up to [`parameter_count`].
pub fn parameter_count_by_prefix(varmap: &VarMap, depth: usize) -> Vec<(String, usize)> {
    let vars = varmap.data().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut groups: std::collections::BTreeMap<String, usize> = Default::default();
    for (name, var) in vars.iter() {
        let prefix: Vec<&str> = name.split('.').take(depth.max(1)).collect();
        *groups.entry(prefix.join(".")).or_default() += var.elem_count();
    }
    groups.into_iter().collect()
}

/// A noise-prediction network eps_theta(x_t, t [, class]) (Ho et al. 2020, Eq. 11-12): what
/// training (Algorithm 1) and sampling (Algorithm 2) need from a model. `Send + Sync`, as a model
/// made of tensors is, so that a step can run on rayon's pool ([`crate::device::on_cpu_pool`]).
pub trait EpsModel: Send + Sync {
    /// eps_pred for `xt` (B, ...), steps `t` (B,) in 1..=T, optional class labels (B,) u32;
    /// `train` turns dropout on.
    fn eps_theta(&self, xt: &Tensor, t: &Tensor, class: Option<&Tensor>, train: bool) -> Result<Tensor>;
}

/// A reference to a model is a model: `Prediction { model: &net, .. }` borrows the network.
impl<M: EpsModel + ?Sized> EpsModel for &M {
    fn eps_theta(&self, xt: &Tensor, t: &Tensor, class: Option<&Tensor>, train: bool) -> Result<Tensor> {
        (**self).eps_theta(xt, t, class, train)
    }
}

/// A network with bf16 weights takes and returns the dtype of `xt` (f32): x_t is cast to the
/// weights' dtype on the way in and eps_pred back on the way out (no-ops for f32 weights).
impl EpsModel for UNet {
    fn eps_theta(&self, xt: &Tensor, t: &Tensor, class: Option<&Tensor>, train: bool) -> Result<Tensor> {
        Ok(self.forward(&xt.to_dtype(self.dtype())?, t, class, train)?.to_dtype(xt.dtype())?)
    }
}

/// As the U-Net, the MLP with bf16 weights takes and returns the dtype of `xt`.
impl EpsModel for Mlp {
    /// The MLP has no class conditioning: `class` must be None. It has no dropout either.
    fn eps_theta(&self, xt: &Tensor, t: &Tensor, class: Option<&Tensor>, _train: bool) -> Result<Tensor> {
        if class.is_some() {
            return Err(invalid!("the MLP is unconditional: pass class = None"));
        }
        Ok(self.forward(&xt.to_dtype(self.dtype())?, t)?.to_dtype(xt.dtype())?)
    }
}
