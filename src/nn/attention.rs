//! Multi-head self-attention over the pixels of a feature map, with a residual connection
//! (Vaswani et al. 2017; used by Ho et al. 2020 at the 16x16 resolution; E22).

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;

use super::conv::Conv1x1;
use super::cpu::{self, on_cpu_f32};
use super::norm::GroupNorm;
use crate::Result;

/// Self-attention over the H W positions of a (B, C, H, W) feature map, in `heads` heads of
/// C / heads channels each:
///
/// $$\mathrm{out} = x + W_o\,\big[\,V\,\mathrm{softmax}_{\text{keys}}\!\big(Q^\top K / \sqrt{d}\big)^\top\big],\qquad
///   (Q, K, V) = W_{qkv}\,\mathrm{GroupNorm}(x)$$
///
/// with W_qkv and W_o 1x1 convolutions. On the CPU in f32 everything between the two convolutions
/// is one operation (`cpu/attend.rs`: each image's products and softmax a task on rayon's pool,
/// the same values as below); elsewhere it is candle's batched products and
/// `candle_nn::ops::softmax(.., D::Minus1)` of the scaled scores, which has a gradient (candle's
/// fused `softmax_last_dim` has none).
/// Parameters: `norm`, `qkv` (C -> 3C), `proj` (C -> C).
#[derive(Debug, Clone)]
pub struct AttentionBlock {
    heads: usize,
    norm: GroupNorm,
    qkv: Conv1x1,
    proj: Conv1x1,
}

impl AttentionBlock {
    /// Attention over `channels` channels in `heads` heads; `groups` for the group norm.
    pub fn new(channels: usize, heads: usize, groups: usize, vb: VarBuilder) -> Result<Self> {
        if heads == 0 || !channels.is_multiple_of(heads) {
            return Err(invalid!(
                "attention: channels must be divisible by heads, got {channels} channels and {heads} heads"
            ));
        }
        Ok(Self {
            heads,
            norm: GroupNorm::new(groups, channels, vb.pp("norm"))?,
            qkv: Conv1x1::new(channels, 3 * channels, vb.pp("qkv"))?,
            proj: Conv1x1::new(channels, channels, vb.pp("proj"))?,
        })
    }

    /// (B, C, H, W) -> (B, C, H, W).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let (heads, d, n) = (self.heads, c / self.heads, h * w);
        let qkv = self.qkv.forward(&self.norm.forward(x)?)?; // (B, C, H, W) -> (B, 3C, H, W)
        if on_cpu_f32(&qkv) {
            return Ok((x + self.proj.forward(&cpu::attend(&qkv, heads)?)?)?);
        }
        let qkv = qkv.reshape((b, 3, heads, d, n))?; // -> (B, 3, heads, d, HW)
        let part = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(1, i, 1)?.reshape((b * heads, d, n)) // -> (B heads, d, HW)
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let q = q.transpose(1, 2)?.contiguous()?; // (B heads, HW, d)
        let scores = q.matmul(&k.contiguous()?)?; // (B heads, HW queries, HW keys)
        let scale = 1.0 / (d as f64).sqrt();
        let attn = candle_nn::ops::softmax(&(scores * scale)?, D::Minus1)?; // over the keys
        let out = v.contiguous()?.matmul(&attn.transpose(1, 2)?.contiguous()?)?; // (B heads, d, HW queries)
        let out = out.reshape((b, c, h, w))?; // (B, C, H, W)
        Ok((x + self.proj.forward(&out)?)?)
    }
}
