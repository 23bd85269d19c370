//! The U-Net eps_theta(x_t, t) of Ho et al. 2020 (Appendix B; after PixelCNN++ and Ronneberger et
//! al. 2015; E22): residual blocks at several resolutions, attention at some, skip connections from
//! the down path to the up path, and the time (and class) embedding in every residual block.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::attention::AttentionBlock;
use super::blocks::{cat_dims, ResBlock, ResBlockConfig};
use super::config::UNetConfig;
use super::conv::Conv;
use super::dropout::{shared_rng, SharedRng};
use super::embedding::{ClassEmbedding, TimeEmbedding};
use super::init::seeded_var_builder;
use super::norm::NormAct;
use super::resample::{Downsample, Upsample};
use super::stage::Stage;
use crate::Result;

/// The stages of one forward pass, in order, each with the shape of its output: [`UNet::trace`].
pub type StageShapes = Vec<(String, Vec<usize>)>;

/// The noise-prediction network eps_theta(x_t, t [, class]) (Ho et al. 2020, Appendix B; E22, E23).
///
/// Variables, under the VarBuilder's prefix: `time_embed`, `class_embed` (class-conditional only),
/// `conv_in`, `down.{level}.{block}.{res,attn}`, `down.{level}.downsample`, `mid.{res1,attn,res2}`,
/// `up.{level}.{block}.{res,attn}`, `up.{level}.upsample`, `norm_out`, and `conv_out`, the last
/// convolution, which starts at zero so that an untrained model predicts eps_pred = 0 (E18).
#[derive(Debug, Clone)]
pub struct UNet {
    config: UNetConfig,
    time_embed: TimeEmbedding,
    class_embed: Option<ClassEmbedding>,
    conv_in: Conv,
    down: Vec<(Vec<Stage>, Option<Downsample>)>,
    mid: (Stage, ResBlock),
    up: Vec<(Vec<Stage>, Option<Upsample>)>,
    norm_out: NormAct,
    conv_out: Conv,
}

impl UNet {
    /// The name of the last, zero-initialised convolution (`conv_out.weight`, `conv_out.bias`).
    pub const OUTPUT_LAYER: &'static str = "conv_out";

    /// Builds the network from `vb` (its device is used; f32). Weights come from `vb`: a
    /// checkpoint, `VarBuilder::from_varmap` (candle's unseeded generator) or
    /// [`seeded_var_builder`]. Dropout masks come from a generator seeded with 0.
    pub fn new(config: &UNetConfig, vb: VarBuilder) -> Result<Self> {
        Self::build(config, vb, shared_rng(0))
    }

    /// A fresh network whose every initial weight and dropout mask comes from generators seeded
    /// with `seed`: the same seed gives the same model on every run. Returns the network and the
    /// [`VarMap`] holding its variables (for the optimiser and for checkpoints).
    pub fn new_seeded(config: &UNetConfig, device: &Device, seed: u64) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let vb = seeded_var_builder(&varmap, seed, device);
        let model = Self::build(config, vb, shared_rng(seed.wrapping_add(0x9E37_79B9_7F4A_7C15)))?;
        Ok((model, varmap))
    }

    fn build(config: &UNetConfig, vb: VarBuilder, rng: SharedRng) -> Result<Self> {
        config.validate()?;
        let cfg = config;
        let (base, levels, emb_dim) = (cfg.base_channels, cfg.levels(), cfg.emb_dim());
        let chans = cfg.level_channels();
        let time_embed = TimeEmbedding::new(base, emb_dim, vb.pp("time_embed"))?;
        let class_embed = match cfg.num_classes {
            Some(n) => Some(ClassEmbedding::new(n, emb_dim, vb.pp("class_embed"))?),
            None => None,
        };
        let conv_in = Conv::new(cfg.in_channels, base, 3, 1, vb.pp("conv_in"))?;

        // Down path; `skips` records the channels of each feature map kept for the up path.
        let mut skips = vec![base];
        let mut ch = base;
        let mut down = Vec::with_capacity(levels);
        for (level, &level_ch) in chans.iter().enumerate() {
            let vb_level = vb.pp("down").pp(level);
            let mut stages = Vec::with_capacity(cfg.blocks_per_level);
            for j in 0..cfg.blocks_per_level {
                stages.push(Stage::new(ch, level_ch, cfg.has_attention(level), cfg, &rng, vb_level.pp(j))?);
                ch = level_ch;
                skips.push(ch);
            }
            let downsample =
                if level + 1 < levels { Some(Downsample::new(ch, vb_level.pp("downsample"))?) } else { None };
            if downsample.is_some() {
                skips.push(ch);
            }
            down.push((stages, downsample));
        }

        let vb_mid = vb.pp("mid");
        let mid_block = |name: &str| {
            let block = ResBlockConfig {
                in_channels: ch,
                out_channels: ch,
                emb_dim,
                groups: cfg.groups,
                dropout: cfg.dropout,
                adaptive_norm: cfg.adaptive_norm,
            };
            ResBlock::with_rng(block, rng.clone(), vb_mid.pp(name))
        };
        let res1 = mid_block("res1")?;
        let attn = if cfg.has_attention(levels - 1) {
            Some(AttentionBlock::new(ch, cfg.heads, cfg.groups, vb_mid.pp("attn"))?)
        } else {
            None
        };
        let mid = (Stage { res: res1, attn }, mid_block("res2")?);

        // Up path, from the smallest level: blocks_per_level + 1 stages, each eating one skip.
        let mut up = Vec::with_capacity(levels);
        for level in (0..levels).rev() {
            let vb_level = vb.pp("up").pp(level);
            let mut stages = Vec::with_capacity(cfg.blocks_per_level + 1);
            for j in 0..=cfg.blocks_per_level {
                let skip = skips.pop().unwrap_or(0);
                stages.push(Stage::new(ch + skip, chans[level], cfg.has_attention(level), cfg, &rng, vb_level.pp(j))?);
                ch = chans[level];
            }
            let upsample = if level > 0 { Some(Upsample::new(ch, vb_level.pp("upsample"))?) } else { None };
            up.push((stages, upsample));
        }

        Ok(Self {
            config: config.clone(),
            time_embed,
            class_embed,
            conv_in,
            down,
            mid,
            up,
            norm_out: NormAct::new(cfg.groups, ch, vb.pp("norm_out"))?,
            conv_out: Conv::zeros(ch, cfg.in_channels, 3, 1, vb.pp(Self::OUTPUT_LAYER))?,
        })
    }

    /// The configuration the network was built from.
    pub fn config(&self) -> &UNetConfig {
        &self.config
    }

    /// The dtype of its weights (f32 unless loaded otherwise, e.g. bf16 on a GPU).
    pub fn dtype(&self) -> DType {
        self.time_embed.dtype()
    }

    /// The label meaning "no class" (`num_classes`), for unconditional samples and for the label
    /// dropout of classifier-free guidance; None for an unconditional model.
    pub fn null_class(&self) -> Option<u32> {
        self.class_embed.as_ref().map(|table| table.null_label())
    }

    /// eps_pred = eps_theta(x_t, t [, class]).
    ///
    /// `x` (B, C, H, W) f32, H and W multiples of 2^(levels - 1) (normally `image_size`);
    /// `t` (B,) the paper's steps 1..=T, u32 or f32; `class` (B,) u32 labels in 0..=num_classes
    /// (num_classes = "no class"), or None (every element "no class"; required for an
    /// unconditional model); `train` turns dropout on. Returns (B, C, H, W).
    pub fn forward(&self, x: &Tensor, t: &Tensor, class: Option<&Tensor>, train: bool) -> Result<Tensor> {
        self.forward_traced(x, t, class, train, None)
    }

    /// The forward pass of [`UNet::forward`] (dropout off) and the shape after every stage, in
    /// order: `time_embed` (B, E), `conv_in`, `down.{level}.{block}` (a residual block, "+attn"
    /// when attention follows it), `down.{level}.downsample`, `mid.res1[+attn]`, `mid.res2`, then
    /// for each block of the up path `up.{level}.{block} <- {skip}` (h concatenated with the
    /// feature map that stage `{skip}` of the down path kept) and `up.{level}.{block}` (after the
    /// block), `up.{level}.upsample`, and `conv_out` (B, C, H, W).
    pub fn trace(&self, x: &Tensor, t: &Tensor, class: Option<&Tensor>) -> Result<(Tensor, StageShapes)> {
        let mut shapes = Vec::new();
        let out = self.forward_traced(x, t, class, false, Some(&mut shapes))?;
        Ok((out, shapes))
    }

    /// The forward pass of [`UNet::forward`], pushing each stage's name and output shape onto
    /// `trace` when given ([`UNet::trace`]).
    fn forward_traced(
        &self,
        x: &Tensor,
        t: &Tensor,
        class: Option<&Tensor>,
        train: bool,
        mut trace: Option<&mut StageShapes>,
    ) -> Result<Tensor> {
        let mut note = |name: &dyn Fn() -> String, dims: &[usize]| {
            if let Some(shapes) = trace.as_mut() {
                shapes.push((name(), dims.to_vec()));
            }
        };
        let cfg = &self.config;
        let (b, c, height, width) = match *x.dims() {
            [b, c, h, w] => (b, c, h, w),
            _ => return Err(invalid!("x must have shape (B, C, H, W), got {:?}", x.dims())),
        };
        let factor = 1usize << (cfg.levels() - 1);
        if c != cfg.in_channels || height == 0 || height % factor != 0 || width == 0 || width % factor != 0 {
            return Err(invalid!(
                "x must have shape (B, {}, H, W) with H and W positive multiples of {factor}, got {:?}",
                cfg.in_channels,
                x.dims()
            ));
        }
        if t.dims() != [b] {
            return Err(invalid!("t must have shape ({b},), one step per batch element, got {:?}", t.dims()));
        }
        let mut emb = self.time_embed.forward(t)?; // (B,) -> (B, E)
        match (&self.class_embed, class) {
            (Some(table), class) => emb = (emb + table.forward(class, b, x.device())?)?, // (B, E)
            (None, Some(_)) => {
                return Err(invalid!("this U-Net is unconditional (num_classes = None): pass class = None"))
            }
            (None, None) => {}
        }
        note(&|| "time_embed".into(), emb.dims());

        let mut h = self.conv_in.forward(x)?; // (B, C, H, W) -> (B, ch, H, W)
        note(&|| "conv_in".into(), h.dims());
        // The feature maps kept for the skip connections, with the names of the stages that made them.
        let mut hs = vec![(h.clone(), "conv_in".to_string())];
        for (level, (stages, downsample)) in self.down.iter().enumerate() {
            for (j, stage) in stages.iter().enumerate() {
                h = stage.forward(&h, &emb, train)?; // (B, c, H', W') -> (B, ch_level, H', W')
                note(&|| format!("down.{level}.{j}{}", stage.suffix()), h.dims());
                hs.push((h.clone(), format!("down.{level}.{j}")));
            }
            if let Some(down) = downsample {
                h = down.forward(&h)?; // (B, c, H', W') -> (B, c, H'/2, W'/2)
                note(&|| format!("down.{level}.downsample"), h.dims());
                hs.push((h.clone(), format!("down.{level}.downsample")));
            }
        }

        let (mid_stage, mid_res2) = &self.mid;
        h = mid_stage.forward(&h, &emb, train)?; // (B, c, H_min, W_min), same shape
        note(&|| format!("mid.res1{}", mid_stage.suffix()), h.dims());
        h = mid_res2.forward(&h, &emb, train)?; // same shape
        note(&|| "mid.res2".into(), h.dims());

        for (i, (stages, upsample)) in self.up.iter().enumerate() {
            let level = self.up.len() - 1 - i;
            for (j, stage) in stages.iter().enumerate() {
                let (skip, from) = match hs.pop() {
                    Some(s) => s,
                    None => return Err(invalid!("internal error: the U-Net ran out of skip connections")),
                };
                // h (B, c, H', W') concatenated with skip (B, c_skip, H', W') along the channels:
                // (B, c + c_skip, H', W'), inside the stage.
                note(&|| format!("up.{level}.{j} <- {from}"), &cat_dims(&h, &skip)?);
                h = stage.forward_cat(&h, &skip, &emb, train)?; // -> (B, ch_level, H', W')
                note(&|| format!("up.{level}.{j}{}", stage.suffix()), h.dims());
            }
            if let Some(up) = upsample {
                h = up.forward(&h)?; // (B, c, H', W') -> (B, c, 2H', 2W')
                note(&|| format!("up.{level}.upsample"), h.dims());
            }
        }

        let h = self.norm_out.forward(&h)?; // SiLU(GroupNorm(h)), (B, ch, H, W)
        let out = self.conv_out.forward(&h)?; // (B, ch, H, W) -> (B, C, H, W)
        note(&|| "conv_out".into(), out.dims());
        Ok(out)
    }
}
