//! A residual block in training as one CPU operation (behind [`crate::nn::ResBlock`]), when its
//! embedding is added (not AdaGN):
//!
//! ```text
//! h1 = SiLU(GroupNorm1(x)),  h2 = conv1(h1) + bias1,  h3 = SiLU(GroupNorm2(h2)) m,
//! h4 = conv2(h3),  out = skip(x) + h4
//! ```
//!
//! with bias1 (B, O) conv1's bias plus each image's projected embedding, m dropout's mask (or
//! none) and skip a 1x1 convolution or the identity. The pieces are the engine's own
//! (`group_norm.rs`, `conv_op.rs`, `conv_grads.rs`, `mask.rs`), called on slices in the order
//! candle's graph would call them, so the values and gradients are the same bits as the
//! composed block's.
//!
//! Why one operation: candle's backward pass starts the gradient of every tensor of the graph
//! as a tensor of zeros and adds each contribution to it, both on one thread while the other
//! cores wait, and adds the residual on one thread too. As one operation, h1 to h4 and skip(x)
//! are not tensors of the graph, so they cost no such zeros and additions.
//!
//! What keeps x's gradient the same bits is the order of its sums: candle adds each contribution
//! to the gradient of a tensor as it comes, and x has several (the main path's, the skip path's,
//! and those of later layers, such as a skip connection to the up path, which come first). The
//! operation therefore takes x twice, as its first and second input, and returns the two
//! contributions separately, in the order the composed graph adds them: with the identity as
//! skip, out's gradient then the main path's; with a skip convolution, the main path's then
//! the skip convolution's. Its third input is bias1 and the parameters, flattened and
//! concatenated. The operation keeps h1, h2 and h3 from the forward pass for the backward pass,
//! as the graph did.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::conv_cols::Geometry;
use super::conv_grads::backward as conv_backward;
use super::conv_op::forward as conv_forward;
use super::group_norm::GroupNormOp;
use super::mask::products;
use super::{values, with_values, zip_with};
use crate::nn::dropout::Dropout;
use crate::nn::norm::{NormAct, GROUP_NORM_EPS};
use crate::nn::{Conv, Conv1x1};

/// The shape of a block: batch, input and output channels, whether it has a skip convolution,
/// group norm groups and epsilon.
#[derive(Debug, Clone, Copy)]
struct BlockShape {
    b: usize,
    c_in: usize,
    c_out: usize,
    skip: bool,
    groups: usize,
    eps: f64,
}

impl BlockShape {
    /// The lengths of the third input's parts in the order they are concatenated: bias1, norm1's
    /// weight and bias, conv1's kernel, norm2's weight and bias, conv2's kernel and bias, and the
    /// skip convolution's kernel and bias if it has one.
    fn part_lengths(&self) -> Vec<usize> {
        let (i, o) = (self.c_in, self.c_out);
        let mut lengths = vec![self.b * o, i, i, o * i * 9, o, o, o * o * 9, o];
        if self.skip {
            lengths.extend([o * i, o]);
        }
        lengths
    }
}

/// The activations the backward pass needs: conv1's input, group norm 2's input, conv2's input.
struct Kept {
    h1: Vec<f32>,
    h2: Vec<f32>,
    h3: Vec<f32>,
}

/// (x, x, [bias1, parameters]) -> out, see the module documentation; `mask` has one value per
/// value of h3, or is empty (no dropout).
struct ResBlockOp {
    shape: BlockShape,
    mask: Vec<f32>,
    kept: OnceLock<Kept>,
}

impl ResBlockOp {
    /// The third input, split into bias1, norm1 (w, b), k1, norm2 (w, b), k2, b2 and the skip
    /// convolution's kernel and bias if any.
    fn split<'a>(&self, parts: &'a [f32]) -> Vec<&'a [f32]> {
        let mut rest = parts;
        let split = |len: usize| {
            let (part, tail) = rest.split_at(len);
            rest = tail;
            part
        };
        self.shape.part_lengths().into_iter().map(split).collect()
    }

    /// The geometries of conv1, conv2 (3x3, padding 1) and the skip convolution (1x1) for x
    /// (B, C_in, H, W).
    fn geometries(&self, x: &Shape) -> candle_core::Result<[Geometry; 3]> {
        let (b, _, h, w) = x.dims4()?;
        let BlockShape { c_in, c_out, .. } = self.shape;
        let h_shape = Shape::from((b, c_out, h, w));
        Ok([
            Geometry::new(x, &Shape::from((c_out, c_in, 3, 3)), 1, 1)?,
            Geometry::new(&h_shape, &Shape::from((c_out, c_out, 3, 3)), 1, 1)?,
            Geometry::new(x, &Shape::from((c_out, c_in, 1, 1)), 1, 0)?,
        ])
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
        _s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, parts) = (values::<f32>(s1, l1)?, values::<f32>(s3, l3)?);
        let [g1, g2, gs] = self.geometries(l1.shape())?;
        let BlockShape { c_in, c_out, .. } = self.shape;
        let total: usize = self.shape.part_lengths().iter().sum();
        let h_len = g1.b * c_out * g1.h * g1.w;
        let mask_fits = self.mask.is_empty() || self.mask.len() == h_len;
        let x_twice = l2.shape() == l1.shape();
        if g1.b != self.shape.b || g1.c != c_in || parts.len() != total || !mask_fits || !x_twice {
            candle_core::bail!(
                "ddpm-res-block: x {:?} and {:?}, {} values of bias and parameters and a mask of {} for {} images, {c_in} -> {c_out} channels",
                l1.shape(),
                l2.shape(),
                parts.len(),
                self.mask.len(),
                self.shape.b
            )
        }
        let p = self.split(parts);
        let hw = g1.h * g1.w;
        let h1 = self.norm_act().forward(x, p[1], p[2], (c_in, hw));
        let h2 = conv_forward(&h1, p[3], p[0], &g1);
        let h3 = self.norm_act().forward(&h2, p[4], p[5], (c_out, hw));
        let h3 = if self.mask.is_empty() { h3 } else { products(&h3, &self.mask) };
        let h4 = conv_forward(&h3, p[6], p[7], &g2);
        // skip(x) + h4, as candle's addition of the two tensors computes it.
        let out = match self.shape.skip {
            true => zip_with(&conv_forward(x, p[8], p[9], &gs), &h4, |s, h| s + h),
            false => zip_with(x, &h4, |s, h| s + h),
        };
        if self.kept.set(Kept { h1, h2, h3 }).is_err() {
            candle_core::bail!("ddpm-res-block: the forward pass ran twice on one operation")
        }
        Ok((CpuStorage::F32(out), Shape::from((g1.b, c_out, g1.h, g1.w))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _x_again: &Tensor,
        parts: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(Kept { h1, h2, h3 }) = self.kept.get() else {
            candle_core::bail!("ddpm-res-block: the backward pass ran before the forward pass")
        };
        let [g1, g2, gs] = self.geometries(x.shape())?;
        let BlockShape { c_in, c_out, skip, .. } = self.shape;
        let hw = g1.h * g1.w;
        let grads = with_values(x, |x: &[f32]| {
            with_values(parts, |parts: &[f32]| {
                with_values(grad, |g: &[f32]| {
                    let p = self.split(parts);
                    // The gradient h4 and skip(x) received in the graph: 0 + dL/dout, a tensor of
                    // zeros with the output's gradient added to it (which turns a -0 into +0).
                    let g = zip_with(g, g, |g, _| 0.0 + g);
                    // Back through conv2, dropout, norm2, conv1 and norm1, in turn.
                    let conv2 = conv_backward(h3, p[6], &g, &g2, true, false);
                    let dh3 = if self.mask.is_empty() { conv2.x } else { products(&conv2.x, &self.mask) };
                    let (dh2, dn2w, dn2b) = self.norm_act().backward(h2, p[4], p[5], &dh3, (c_out, hw));
                    let conv1 = conv_backward(h1, p[3], &dh2, &g1, true, true);
                    let (dx, dn1w, dn1b) = self.norm_act().backward(x, p[1], p[2], &conv1.x, (c_in, hw));
                    let mut dparts = vec![conv1.bias, dn1w, dn1b, conv1.kernel, dn2w, dn2b, conv2.kernel, conv2.bias];
                    let dx_skip = skip.then(|| {
                        let conv = conv_backward(x, p[8], &g, &gs, true, false);
                        dparts.extend([conv.kernel, conv.bias]);
                        conv.x
                    });
                    (dx, dx_skip, dparts.concat())
                })
            })
        })???;
        let (dx, dx_skip, dparts) = grads;
        let dev = x.device();
        let dx = Tensor::from_vec(dx, x.shape(), dev)?;
        // The order in which the composed graph adds them to x's gradient (module documentation).
        let (first, second) = match dx_skip {
            Some(dx_skip) => (dx, Tensor::from_vec(dx_skip, x.shape(), dev)?),
            None => (grad.clone(), dx),
        };
        Ok((Some(first), Some(second), Some(Tensor::from_vec(dparts, parts.shape(), dev)?)))
    }
}

/// The layers of a residual block, as [`res_block`] takes them.
pub(crate) struct BlockLayers<'a> {
    pub norm1: &'a NormAct,
    pub conv1: &'a Conv,
    pub norm2: &'a NormAct,
    pub dropout: &'a Dropout,
    pub conv2: &'a Conv,
    pub skip: Option<&'a Conv1x1>,
}

/// out of the module documentation for f32 `x` (B, C_in, H, W) on the CPU in training, `e`
/// (B, C_out) each image's projected embedding: [`ResBlockOp`] on x, x again, and conv1's bias
/// plus e and the parameters, flattened and concatenated in the order of
/// [`BlockShape::part_lengths`], with dropout's next mask (drawn here, as the dropout layer would
/// draw it). The same values and gradients as the layers one after the other.
pub(crate) fn res_block(x: &Tensor, e: &Tensor, layers: BlockLayers) -> crate::Result<Tensor> {
    let BlockLayers { norm1, conv1, norm2, dropout, conv2, skip } = layers;
    let [n1, n2] = [norm1.norm(), norm2.norm()];
    n1.check_input(x)?; // as the layer-by-layer path checks it
    let (b, c_in, h, w) = x.dims4()?;
    let c_out = conv2.parameters()[1].dim(0)?;
    let bias1 = conv1.shifted_bias(e)?; // (B, C_out)
    let mut parts = [&[&bias1][..], &n1.parameters(), &conv1.parameters()[..1], &n2.parameters()].concat();
    parts.extend(conv2.parameters());
    parts.extend(skip.map(Conv1x1::parameters).into_iter().flatten());
    let flat = parts.iter().map(|p| p.flatten_all()).collect::<candle_core::Result<Vec<_>>>()?;
    let shape = BlockShape { b, c_in, c_out, skip: skip.is_some(), groups: n1.groups(), eps: GROUP_NORM_EPS };
    let mask = dropout.mask(b * c_out * h * w, true).unwrap_or_default();
    let op = ResBlockOp { shape, mask, kept: OnceLock::new() };
    let x = x.contiguous()?;
    Ok(x.apply_op3(&x, &Tensor::cat(&flat, 0)?, op)?)
}
