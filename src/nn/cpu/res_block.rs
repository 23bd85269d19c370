//! The main path of a residual block in training as one CPU operation (behind
//! [`crate::nn::ResBlock`]), when its embedding is added (not AdaGN):
//!
//! ```text
//! h1 = SiLU(GroupNorm1(x)),  h2 = conv1(h1) + bias1,  h3 = SiLU(GroupNorm2(h2)) m,
//! h4 = conv2(h3)
//! ```
//!
//! with bias1 (B, O) conv1's bias plus each image's projected embedding and m dropout's mask (or
//! none); the block adds h4 to its skip path outside. The pieces are the engine's own
//! (`group_norm.rs`, `conv_op.rs`, `conv_grads.rs`, `mask.rs`), called on slices in the order
//! candle's graph would call them, so the values and gradients are the same bits as the
//! composed block's.
//!
//! Why one operation: candle's backward pass starts the gradient of every tensor of the graph
//! as a tensor of zeros and adds each contribution to it, both on one thread while the other
//! cores wait. As one operation, h1, h2 and h3 are not tensors of the graph, so they cost no
//! such zeros and additions. The residual addition and the skip path stay in the graph: x's
//! gradient is then the sum of the same contributions in the same order as before (its skip
//! connection to the up path adds one more), which keeps its bits. The operation keeps h1, h2
//! and h3 from the forward pass for the backward pass, as the graph did.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::conv_cols::Geometry;
use super::conv_grads::backward as conv_backward;
use super::conv_op::forward as conv_forward;
use super::group_norm::GroupNormOp;
use super::mask::products;
use super::{values, with_values};
use crate::nn::dropout::Dropout;
use crate::nn::norm::{NormAct, GROUP_NORM_EPS};
use crate::nn::Conv;

/// The shape of a block: input and output channels, group norm groups and epsilon.
#[derive(Debug, Clone, Copy)]
struct BlockShape {
    c_in: usize,
    c_out: usize,
    groups: usize,
    eps: f64,
}

impl BlockShape {
    /// The lengths of the parameters in the order they are concatenated: norm1's weight and
    /// bias, conv1's kernel, norm2's weight and bias, conv2's kernel and bias.
    fn parameter_lengths(&self) -> [usize; 7] {
        let (i, o) = (self.c_in, self.c_out);
        [i, i, o * i * 9, o, o, o * o * 9, o]
    }
}

/// The activations the backward pass needs: conv1's input, group norm 2's input, conv2's input.
struct Kept {
    h1: Vec<f32>,
    h2: Vec<f32>,
    h3: Vec<f32>,
}

/// (x, bias1, parameters) -> h4, see the module documentation; `mask` has one value per value
/// of h3, or is empty (no dropout).
struct ResBlockOp {
    shape: BlockShape,
    mask: Vec<f32>,
    kept: OnceLock<Kept>,
}

impl ResBlockOp {
    /// The parameters, split into norm1 (w, b), k1, norm2 (w, b), k2 and b2.
    fn split<'a>(&self, params: &'a [f32]) -> [&'a [f32]; 7] {
        let mut rest = params;
        self.shape.parameter_lengths().map(|len| {
            let (part, tail) = rest.split_at(len);
            rest = tail;
            part
        })
    }

    /// The geometries of conv1 and conv2 (3x3, padding 1) for x (B, C_in, H, W).
    fn geometries(&self, x: &Shape) -> candle_core::Result<(Geometry, Geometry)> {
        let (b, _, h, w) = x.dims4()?;
        let BlockShape { c_in, c_out, .. } = self.shape;
        let h_shape = Shape::from((b, c_out, h, w));
        Ok((
            Geometry::new(x, &Shape::from((c_out, c_in, 3, 3)), 1, 1)?,
            Geometry::new(&h_shape, &Shape::from((c_out, c_out, 3, 3)), 1, 1)?,
        ))
    }

    /// Group norm then SiLU, with the block's groups and epsilon.
    fn norm_act(&self) -> GroupNormOp {
        GroupNormOp { groups: self.shape.groups, eps: self.shape.eps, silu: true }
    }
}

impl CustomOp3 for ResBlockOp {
    fn name(&self) -> &'static str {
        "ddpm-res-block"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, bias1, params) = (values::<f32>(s1, l1)?, values::<f32>(s2, l2)?, values::<f32>(s3, l3)?);
        let (g1, g2) = self.geometries(l1.shape())?;
        let BlockShape { c_in, c_out, .. } = self.shape;
        let total: usize = self.shape.parameter_lengths().iter().sum();
        let h_len = g1.b * c_out * g1.h * g1.w;
        let mask_fits = self.mask.is_empty() || self.mask.len() == h_len;
        if g1.c != c_in || bias1.len() != g1.b * c_out || params.len() != total || !mask_fits {
            candle_core::bail!(
                "ddpm-res-block: x {:?}, bias {:?}, {} parameters and a mask of {} for {c_in} -> {c_out} channels",
                l1.shape(),
                l2.shape(),
                params.len(),
                self.mask.len()
            )
        }
        let p = self.split(params);
        let hw = g1.h * g1.w;
        let h1 = self.norm_act().forward(x, p[0], p[1], (c_in, hw));
        let h2 = conv_forward(&h1, p[2], bias1, &g1);
        let h3 = self.norm_act().forward(&h2, p[3], p[4], (c_out, hw));
        let h3 = if self.mask.is_empty() { h3 } else { products(&h3, &self.mask) };
        let h4 = conv_forward(&h3, p[5], p[6], &g2);
        if self.kept.set(Kept { h1, h2, h3 }).is_err() {
            candle_core::bail!("ddpm-res-block: the forward pass ran twice on one operation")
        }
        Ok((CpuStorage::F32(h4), Shape::from((g1.b, c_out, g1.h, g1.w))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        bias1: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(Kept { h1, h2, h3 }) = self.kept.get() else {
            candle_core::bail!("ddpm-res-block: the backward pass ran before the forward pass")
        };
        let (g1, g2) = self.geometries(x.shape())?;
        let BlockShape { c_in, c_out, .. } = self.shape;
        let hw = g1.h * g1.w;
        let grads = with_values(x, |x: &[f32]| {
            with_values(params, |params: &[f32]| {
                with_values(grad, |g: &[f32]| {
                    let p = self.split(params);
                    // Back through conv2, dropout, norm2, conv1 and norm1, in turn.
                    let conv2 = conv_backward(h3, p[5], g, &g2, true, false);
                    let dh3 = if self.mask.is_empty() { conv2.x } else { products(&conv2.x, &self.mask) };
                    let (dh2, dn2w, dn2b) = self.norm_act().backward(h2, p[3], p[4], &dh3, (c_out, hw));
                    let conv1 = conv_backward(h1, p[2], &dh2, &g1, true, true);
                    let (dx, dn1w, dn1b) = self.norm_act().backward(x, p[0], p[1], &conv1.x, (c_in, hw));
                    let dparams = [dn1w, dn1b, conv1.kernel, dn2w, dn2b, conv2.kernel, conv2.bias].concat();
                    (dx, conv1.bias, dparams)
                })
            })
        })???;
        let (dx, dbias1, dparams) = grads;
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dbias1, bias1.shape(), dev)?),
            Some(Tensor::from_vec(dparams, params.shape(), dev)?),
        ))
    }
}

/// The layers of a residual block's main path, as [`res_block`] takes them.
pub(crate) struct MainPath<'a> {
    pub norm1: &'a NormAct,
    pub conv1: &'a Conv,
    pub norm2: &'a NormAct,
    pub dropout: &'a Dropout,
    pub conv2: &'a Conv,
}

/// h4 of the module documentation for f32 `x` (B, C_in, H, W) on the CPU in training, `e`
/// (B, C_out) each image's projected embedding: [`ResBlockOp`] on x, conv1's bias plus e, and the
/// parameters flattened and concatenated in the order of [`BlockShape::parameter_lengths`], with
/// dropout's next mask (drawn here, as the dropout layer would draw it). The same values and
/// gradients as the layers one after the other.
pub(crate) fn res_block(x: &Tensor, e: &Tensor, layers: MainPath) -> crate::Result<Tensor> {
    let MainPath { norm1, conv1, norm2, dropout, conv2 } = layers;
    let [n1, n2] = [norm1.norm(), norm2.norm()];
    n1.check_input(x)?; // as the layer-by-layer path checks it
    let (b, c_in, h, w) = x.dims4()?;
    let c_out = conv2.parameters()[1].dim(0)?;
    let bias1 = conv1.shifted_bias(e)?; // (B, C_out)
    let mut params = [&n1.parameters()[..], &conv1.parameters()[..1], &n2.parameters()].concat();
    params.extend(conv2.parameters());
    let flat = params.iter().map(|p| p.flatten_all()).collect::<candle_core::Result<Vec<_>>>()?;
    let shape = BlockShape { c_in, c_out, groups: n1.groups(), eps: GROUP_NORM_EPS };
    let mask = dropout.mask(b * c_out * h * w, true).unwrap_or_default();
    let op = ResBlockOp { shape, mask, kept: OnceLock::new() };
    Ok(x.contiguous()?.apply_op3(&bias1.contiguous()?, &Tensor::cat(&flat, 0)?, op)?)
}
