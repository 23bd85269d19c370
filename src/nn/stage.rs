//! One stage of the U-Net (E22): a residual block, then self-attention at the resolutions that
//! have it. Each level of the down and up paths is a list of these.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::attention::AttentionBlock;
use super::blocks::{ResBlock, ResBlockConfig};
use super::config::UNetConfig;
use super::dropout::SharedRng;
use crate::Result;

/// A residual block, followed by attention at the levels that have it.
#[derive(Debug, Clone)]
pub(super) struct Stage {
    pub(super) res: ResBlock,
    pub(super) attn: Option<AttentionBlock>,
}

impl Stage {
    pub(super) fn new(
        c_in: usize,
        c_out: usize,
        attention: bool,
        cfg: &UNetConfig,
        rng: &SharedRng,
        vb: VarBuilder,
    ) -> Result<Self> {
        let block = ResBlockConfig {
            in_channels: c_in,
            out_channels: c_out,
            emb_dim: cfg.emb_dim(),
            groups: cfg.groups,
            dropout: cfg.dropout,
            adaptive_norm: cfg.adaptive_norm,
        };
        let attn =
            if attention { Some(AttentionBlock::new(c_out, cfg.heads, cfg.groups, vb.pp("attn"))?) } else { None };
        Ok(Self { res: ResBlock::with_rng(block, rng.clone(), vb.pp("res"))?, attn })
    }

    /// "+attn" when attention follows the residual block, for `UNet::trace`.
    pub(super) fn suffix(&self) -> &'static str {
        self.attn.as_ref().map_or("", |_| "+attn")
    }

    // (B, C_in, H, W) -> (B, C_out, H, W)
    pub(super) fn forward(&self, x: &Tensor, emb: &Tensor, train: bool) -> Result<Tensor> {
        self.attend(self.res.forward(x, emb, train)?)
    }

    // (B, C_h, H, W) and (B, C_in - C_h, H, W), concatenated along the channels -> (B, C_out, H, W)
    pub(super) fn forward_cat(&self, h: &Tensor, skip: &Tensor, emb: &Tensor, train: bool) -> Result<Tensor> {
        self.attend(self.res.forward_cat(h, skip, emb, train)?)
    }

    /// The block's output h, through attention where the stage has it.
    fn attend(&self, h: Tensor) -> Result<Tensor> {
        match &self.attn {
            Some(attn) => attn.forward(&h),
            None => Ok(h),
        }
    }
}
