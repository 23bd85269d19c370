//! The residual block of the U-Net, with the time (and class) embedding added in every block
//! (Ho et al. 2020, Appendix B; E22), or entering through an adaptive group norm (Dhariwal and
//! Nichol 2021, §3; E23). Its dropout is in `dropout.rs`, the down- and up-sampling between
//! levels in `resample.rs`.

use candle_core::Tensor;
use candle_nn::{Linear, Module, VarBuilder};

use super::conv::{Conv, Conv1x1};
use super::cpu::{self, on_cpu_f32, BlockLayers};
use super::dropout::{shared_rng, Dropout, SharedRng};
use super::init::linear;
use super::norm::{silu, GroupNorm, NormAct};
use crate::Result;

/// Adaptive group norm (Dhariwal and Nichol 2021, §3; E23):
///
/// $$\mathrm{AdaGN}(h, y) = (1 + y_s)\,\mathrm{GroupNorm}(h) + y_b,\qquad (y_s, y_b) = \mathrm{Linear}(\mathrm{SiLU}(y))$$
///
/// where y is the time (plus class) embedding. The paper writes y_s GroupNorm(h) + y_b; like its
/// code (`scale_shift_norm`), we scale by 1 + y_s, so that a y_s near 0 leaves the norm as it is.
/// Parameters: `norm` (group norm over `channels`), `proj` (emb_dim -> 2 channels: y_s then y_b).
#[derive(Debug, Clone)]
pub struct AdaGroupNorm {
    norm: GroupNorm,
    proj: Linear,
}

impl AdaGroupNorm {
    /// An adaptive group norm over `channels` channels in `groups` groups, conditioned on an
    /// embedding of width `emb_dim`.
    pub fn new(channels: usize, groups: usize, emb_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: GroupNorm::new(groups, channels, vb.pp("norm"))?,
            proj: linear(emb_dim, 2 * channels, vb.pp("proj"))?,
        })
    }

    /// `h` (B, C, H, W), `emb` (B, E) -> (B, C, H, W).
    pub fn forward(&self, h: &Tensor, emb: &Tensor) -> Result<Tensor> {
        let y = self.proj.forward(&silu(emb)?)?; // (B, E) -> (B, 2C)
        let y = y.unsqueeze(2)?.unsqueeze(3)?; // -> (B, 2C, 1, 1)
        let c = y.dim(1)? / 2;
        let (y_s, y_b) = (y.narrow(1, 0, c)?, y.narrow(1, c, c)?); // (B, C, 1, 1) each
        let h = self.norm.forward(h)?; // (B, C, H, W)
        Ok(h.broadcast_mul(&(y_s + 1.0)?)?.broadcast_add(&y_b)?)
    }
}

/// The shape of a [`ResBlock`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResBlockConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    /// Width of the time (plus class) embedding.
    pub emb_dim: usize,
    /// Groups of every group norm; must divide both channel counts.
    pub groups: usize,
    /// Dropout probability before the second convolution, in [0, 1).
    pub dropout: f64,
    /// Condition through [`AdaGroupNorm`] instead of adding the projected embedding.
    pub adaptive_norm: bool,
}

/// How the embedding enters a [`ResBlock`].
#[derive(Debug, Clone)]
enum Conditioning {
    /// h + Linear(SiLU(emb)), broadcast over H and W (Ho et al. 2020), then SiLU(GroupNorm(.)).
    Add { proj: Linear, norm2: NormAct },
    /// AdaGN at the second norm (Dhariwal and Nichol 2021).
    Adaptive(AdaGroupNorm),
}

/// A residual block (He et al. 2016, in the pre-activation form of Ho et al.'s U-Net, E22):
///
/// h = Conv3x3(SiLU(GroupNorm(x))) + Linear(SiLU(emb)),
/// out = skip(x) + Conv3x3(Dropout(SiLU(GroupNorm(h)))),
///
/// with skip a 1x1 convolution when the channel count changes, the identity otherwise. With
/// `adaptive_norm`, the embedding is not added but enters the second norm as AdaGN(h, emb).
/// Parameters: `norm1`, `conv1`, `emb_proj` + `norm2` (or `ada_norm.{norm, proj}`), `conv2`, `skip`.
#[derive(Debug, Clone)]
pub struct ResBlock {
    norm1: NormAct,
    conv1: Conv,
    conditioning: Conditioning,
    dropout: Dropout,
    conv2: Conv,
    skip: Option<Conv1x1>,
}

/// The shape of `h` concatenated with `skip` along the channels (dimension 1), or an error naming
/// both shapes when they differ elsewhere.
pub(crate) fn cat_dims(h: &Tensor, skip: &Tensor) -> Result<Vec<usize>> {
    let (a, b) = (h.dims(), skip.dims());
    let fits = a.len() >= 2 && a.len() == b.len() && a.iter().zip(b).enumerate().all(|(i, (x, y))| i == 1 || x == y);
    if !fits {
        return Err(invalid!("cannot concatenate {a:?} and {b:?} along the channels (dimension 1)"));
    }
    let mut dims = a.to_vec();
    dims[1] += b[1];
    Ok(dims)
}

impl ResBlock {
    /// A residual block whose dropout masks come from a generator seeded with 0.
    pub fn new(cfg: ResBlockConfig, vb: VarBuilder) -> Result<Self> {
        Self::with_rng(cfg, shared_rng(0), vb)
    }

    /// A residual block whose dropout masks come from `rng` (shared by a whole model).
    pub fn with_rng(cfg: ResBlockConfig, rng: SharedRng, vb: VarBuilder) -> Result<Self> {
        let ResBlockConfig { in_channels: c_in, out_channels: c_out, emb_dim, groups, dropout, adaptive_norm } = cfg;
        if c_in == 0 || c_out == 0 || emb_dim == 0 {
            return Err(invalid!(
                "a residual block needs channels and emb_dim >= 1, got {c_in} -> {c_out}, emb_dim {emb_dim}"
            ));
        }
        let conditioning = if adaptive_norm {
            Conditioning::Adaptive(AdaGroupNorm::new(c_out, groups, emb_dim, vb.pp("ada_norm"))?)
        } else {
            Conditioning::Add {
                proj: linear(emb_dim, c_out, vb.pp("emb_proj"))?,
                norm2: NormAct::new(groups, c_out, vb.pp("norm2"))?,
            }
        };
        Ok(Self {
            norm1: NormAct::new(groups, c_in, vb.pp("norm1"))?,
            conv1: Conv::new(c_in, c_out, 3, 1, vb.pp("conv1"))?,
            conditioning,
            dropout: Dropout::new(dropout, rng)?,
            conv2: Conv::new(c_out, c_out, 3, 1, vb.pp("conv2"))?,
            skip: if c_in != c_out { Some(Conv1x1::new(c_in, c_out, vb.pp("skip"))?) } else { None },
        })
    }

    /// `x` (B, C_in, H, W), `emb` (B, E) -> (B, C_out, H, W); dropout only when `train`.
    pub fn forward(&self, x: &Tensor, emb: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_on(x, None, emb, train, on_cpu_f32(x))
    }

    /// [`Self::forward`] on `h` (B, C_h, H, W) concatenated along the channels with `skip`
    /// (B, C_in - C_h, H, W), the up path's input: in training on the CPU without a separate
    /// concatenation (`cpu/res_block.rs`).
    pub fn forward_cat(&self, h: &Tensor, skip: &Tensor, emb: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_on(h, Some(skip), emb, train, on_cpu_f32(h) && on_cpu_f32(skip))
    }

    /// [`Self::forward`] on x, or on cat(x, s) when `cat` is the tensor s, with the whole block as
    /// one CPU operation in training if `one_op` (`cpu/res_block.rs`: the same values and
    /// gradients, without the graph's inner tensors).
    fn forward_on(&self, x: &Tensor, cat: Option<&Tensor>, emb: &Tensor, train: bool, one_op: bool) -> Result<Tensor> {
        if let (Conditioning::Add { proj, norm2 }, true) = (&self.conditioning, train && one_op) {
            let e = proj.forward(&silu(emb)?)?; // (B, E) -> (B, C_out)
            let layers = BlockLayers {
                norm1: &self.norm1,
                conv1: &self.conv1,
                norm2,
                dropout: &self.dropout,
                conv2: &self.conv2,
                skip: self.skip.as_ref(),
            };
            return cpu::res_block(x, cat, &e, layers); // skip(x) + h in the operation
        }
        let x = &match cat {
            Some(s) => Tensor::cat(&[x, s], 1)?, // (B, C_h, H, W) + (B, C_s, H, W) -> (B, C_h + C_s, H, W)
            None => x.clone(),
        };
        let h = self.main_path(x, emb, train)?;
        let skip = match &self.skip {
            Some(conv) => conv.forward(x)?, // (B, C_in, H, W) -> (B, C_out, H, W)
            None => x.clone(),
        };
        Ok((skip + h)?)
    }

    /// Conv3x3(Dropout(SiLU(GroupNorm(h)))) with h from x and emb as above, layer by layer.
    fn main_path(&self, x: &Tensor, emb: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.norm1.forward(x)?; // SiLU(GroupNorm(x)), (B, C_in, H, W)
        let h = match &self.conditioning {
            Conditioning::Add { proj, norm2 } => {
                let e = proj.forward(&silu(emb)?)?; // (B, E) -> (B, C_out)
                let h = self.conv1.forward_add(&h, &e)?; // conv1(h) + e at every pixel, (B, C_out, H, W)
                norm2.forward(&h)? // SiLU(GroupNorm(h))
            }
            // SiLU(AdaGN(conv1(h), emb)), (B, C_out, H, W)
            Conditioning::Adaptive(ada) => silu(&ada.forward(&self.conv1.forward(&h)?, emb)?)?,
        };
        let h = self.dropout.forward(&h, train)?;
        self.conv2.forward(&h) // (B, C_out, H, W)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};
    use candle_nn::VarMap;
    use rand::Rng as _;

    use super::{cat_dims, shared_rng, ResBlock, ResBlockConfig};
    use crate::nn::seeded_var_builder;
    use crate::rng::seeded;

    /// A tensor of `shape` with values uniform in [-1, 1) from `seed`.
    fn uniform(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = seeded(seed);
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    /// Channels add up; any other difference of shape is an error that names both shapes.
    #[test]
    fn cat_dims_adds_the_channels_and_names_a_mismatch() {
        let t = |dims: &[usize]| Tensor::zeros(dims, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert_eq!(cat_dims(&t(&[2, 3, 4, 4]), &t(&[2, 5, 4, 4])).unwrap(), [2, 8, 4, 4]);
        let why = cat_dims(&t(&[2, 3, 4, 4]), &t(&[2, 5, 4, 2])).unwrap_err().to_string();
        assert!(why.contains("[2, 3, 4, 4]") && why.contains("[2, 5, 4, 2]"), "{why}");
        assert!(cat_dims(&t(&[2, 3, 4, 4]), &t(&[1, 3, 4, 4])).is_err());
    }

    /// The one-operation training pass on the CPU gives the composed block's output and
    /// gradients (input, embedding, every parameter), value for value, with and without a skip
    /// convolution and dropout, on x or on the up path's cat(h, s). x (or s) also feeds the loss
    /// directly, as a block's input feeds a skip connection in the U-Net: its gradient then sums
    /// three contributions (x) or two (s, the concatenation's and the loss's), and only the
    /// composed graph's order gives the same bits.
    #[test]
    fn the_cpu_block_is_the_composed_block() {
        let cases =
            [(4, 8, 0.3, None), (8, 8, 0.0, None), (8, 4, 0.0, None), (4, 8, 0.3, Some(3)), (8, 8, 0.0, Some(5))];
        for (c_in, c_out, dropout, c_h) in cases {
            let cfg = ResBlockConfig {
                in_channels: c_in,
                out_channels: c_out,
                emb_dim: 6,
                groups: 2,
                dropout,
                adaptive_norm: false,
            };
            let varmap = VarMap::new();
            let vb = seeded_var_builder(&varmap, 7, &Device::Cpu);
            let (one, composed) = (
                ResBlock::with_rng(cfg, shared_rng(3), vb.clone()).unwrap(),
                ResBlock::with_rng(cfg, shared_rng(3), vb).unwrap(),
            );
            // Norms away from weight 1 and bias 0, so that every parameter shows in the output.
            let vars = varmap.all_vars();
            for (i, var) in vars.iter().enumerate() {
                var.set(&uniform(var.dims(), 100 + i as u64)).unwrap();
            }
            let x = Var::from_tensor(&uniform(&[2, c_in, 6, 6], 1)).unwrap();
            let emb = Var::from_tensor(&uniform(&[2, 6], 2)).unwrap();
            // On cat(h, s): h the first c_h channels of x, s the rest; s feeds the loss.
            let split = c_h.map(|c_h| {
                let part =
                    |from, len| Var::from_tensor(&x.narrow(1, from, len).unwrap().contiguous().unwrap()).unwrap();
                (part(0, c_h), part(c_h, c_in - c_h))
            });
            let outputs = match &split {
                Some((h, s)) => [
                    one.forward_on(h, Some(s), &emb, true, true).unwrap(),
                    composed
                        .forward_on(&Tensor::cat(&[h.as_tensor(), s.as_tensor()], 1).unwrap(), None, &emb, true, false)
                        .unwrap(),
                ],
                None => [
                    one.forward_on(&x, None, &emb, true, true).unwrap(),
                    composed.forward_on(&x, None, &emb, true, false).unwrap(),
                ],
            };
            let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(values(&outputs[0]), values(&outputs[1]), "{c_in} -> {c_out}, {c_h:?}: output");
            let inputs: Vec<&Tensor> = match &split {
                Some((h, s)) => vec![h.as_tensor(), s.as_tensor()],
                None => vec![x.as_tensor()],
            };
            let fed = inputs[inputs.len() - 1];
            let r = uniform(fed.dims(), 4);
            let loss = |y: Tensor| (y.sqr()?.sum_all()? + (fed * &r)?.sqr()?.sum_all()?)?.backward();
            let grads = outputs.map(|y| loss(y).unwrap());
            for t in vars.iter().map(Var::as_tensor).chain(inputs.iter().copied()).chain([emb.as_tensor()]) {
                let [a, b] = [&grads[0], &grads[1]].map(|g| g.get(t).map(values));
                assert!(a.is_some(), "{c_in} -> {c_out}, {c_h:?}: a tensor without a gradient");
                assert_eq!(a, b, "{c_in} -> {c_out}, {c_h:?}: gradient of a tensor of shape {:?}", t.dims());
            }
        }
    }
}
