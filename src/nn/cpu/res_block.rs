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
//!
//! A block of the up path takes x = cat(h, s), h concatenated along the channels with the
//! tensor s the skip connection brings from the down path. The operation then takes h and s as
//! its first two inputs and makes x itself: x's gradient is only split between them (the
//! concatenation is x's only consumer), so the operation sums x's two contributions as the
//! graph would, 0 + the first + the second, and returns each input its channels of the sum.
//! candle's concatenation would copy x on one thread, and its backward pass start x's gradient
//! from zeros, add both contributions to it and copy the two parts out, on one thread too.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::channels::{concat, split};
use super::conv_cols::Geometry;
use super::conv_grads::backward as conv_backward;
use super::conv_op::forward as conv_forward;
use super::group_norm::GroupNormOp;
use super::mask::products;
use super::{values, with_values, zip_with};
use crate::nn::blocks::cat_dims;
use crate::nn::dropout::Dropout;
use crate::nn::norm::{NormAct, GROUP_NORM_EPS};
use crate::nn::{Conv, Conv1x1};

/// The shape of a block: batch, input and output channels, the channels of h when x = cat(h, s)
/// (the first two inputs are then h and s, else x twice), whether it has a skip convolution,
/// group norm groups and epsilon.
#[derive(Debug, Clone, Copy)]
struct BlockShape {
    b: usize,
    c_in: usize,
    c_out: usize,
    cat: Option<usize>,
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

/// The activations the backward pass needs: x when the operation made it (else empty), conv1's
/// input, group norm 2's input, conv2's input.
struct Kept {
    x: Vec<f32>,
    h1: Vec<f32>,
    h2: Vec<f32>,
    h3: Vec<f32>,
}

/// (x, x, [bias1, parameters]) or (h, s, [bias1, parameters]) -> out, see the module
/// documentation; `mask` has one value per value of h3, or is empty (no dropout).
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
    /// (B, C_in, H, W), given the operation's first input (x, or h).
    fn geometries(&self, first: &Shape) -> candle_core::Result<[Geometry; 3]> {
        let (b, _, h, w) = first.dims4()?;
        let BlockShape { c_in, c_out, .. } = self.shape;
        let (x, h_shape) = (Shape::from((b, c_in, h, w)), Shape::from((b, c_out, h, w)));
        Ok([
            Geometry::new(&x, &Shape::from((c_out, c_in, 3, 3)), 1, 1)?,
            Geometry::new(&h_shape, &Shape::from((c_out, c_out, 3, 3)), 1, 1)?,
            Geometry::new(&x, &Shape::from((c_out, c_in, 1, 1)), 1, 0)?,
        ])
    }

    /// Whether the first two inputs have the shapes the block expects: x twice, or h and s with
    /// the block's channels between them.
    fn fits(&self, first: &Shape, second: &Shape) -> bool {
        let BlockShape { b, c_in, cat, .. } = self.shape;
        match (first.dims4(), second.dims4(), cat) {
            (Ok(f), Ok(s), None) => f == s && (f.0, f.1) == (b, c_in),
            (Ok(f), Ok(s), Some(c_h)) => (f.0, f.1, f.2, f.3) == (b, c_h, s.2, s.3) && s.0 == b && c_h + s.1 == c_in,
            _ => false,
        }
    }

    /// x's values: the first input, or the concatenation the operation `made` of its first two.
    fn x<'a>(&self, first: &'a [f32], made: &'a [f32]) -> &'a [f32] {
        match self.shape.cat {
            Some(_) => made,
            None => first,
        }
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
        let (first, parts) = (values::<f32>(s1, l1)?, values::<f32>(s3, l3)?);
        let [g1, g2, gs] = self.geometries(l1.shape())?;
        let BlockShape { c_in, c_out, .. } = self.shape;
        let total: usize = self.shape.part_lengths().iter().sum();
        let h_len = g1.b * c_out * g1.h * g1.w;
        let mask_fits = self.mask.is_empty() || self.mask.len() == h_len;
        if !self.fits(l1.shape(), l2.shape()) || parts.len() != total || !mask_fits {
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
        let made = match self.shape.cat {
            Some(_) => concat(first, values::<f32>(s2, l2)?, g1.b),
            None => Vec::new(),
        };
        let x = self.x(first, &made);
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
        if self.kept.set(Kept { x: made, h1, h2, h3 }).is_err() {
            candle_core::bail!("ddpm-res-block: the forward pass ran twice on one operation")
        }
        Ok((CpuStorage::F32(out), Shape::from((g1.b, c_out, g1.h, g1.w))))
    }

    fn bwd(
        &self,
        first: &Tensor,
        second: &Tensor,
        parts: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(Kept { x: made, h1, h2, h3 }) = self.kept.get() else {
            candle_core::bail!("ddpm-res-block: the backward pass ran before the forward pass")
        };
        let [g1, g2, gs] = self.geometries(first.shape())?;
        let BlockShape { c_in, c_out, skip, cat, .. } = self.shape;
        let hw = g1.h * g1.w;
        let grads = with_values(first, |first: &[f32]| {
            let x = self.x(first, made);
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
                    // x's two contributions, in the order the composed graph adds them (module
                    // documentation): as x twice, each an input's gradient; as cat(h, s), summed
                    // here as the graph's gradient of x would sum them, then split.
                    let (a, b) = match dx_skip {
                        Some(dx_skip) => (dx, dx_skip),
                        None => (g, dx),
                    };
                    let contributions = match cat {
                        Some(c_h) => split(&zip_with(&a, &b, |a, b| (0.0 + a) + b), g1.b, c_h * hw),
                        None => (a, b),
                    };
                    (contributions, dparts.concat())
                })
            })
        })???;
        let ((a, b), dparts) = grads;
        let dev = first.device();
        let (a, b) = (Tensor::from_vec(a, first.shape(), dev)?, Tensor::from_vec(b, second.shape(), dev)?);
        Ok((Some(a), Some(b), Some(Tensor::from_vec(dparts, parts.shape(), dev)?)))
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

/// out of the module documentation for f32 `x` (B, C_in, H, W) on the CPU in training, or for
/// x = cat(`x`, s) when `cat` is the tensor s, `e` (B, C_out) each image's projected embedding:
/// [`ResBlockOp`] on x, x again (or x and s), and conv1's bias plus e and the parameters,
/// flattened and concatenated in the order of [`BlockShape::part_lengths`], with dropout's next
/// mask (drawn here, as the dropout layer would draw it). The same values and gradients as the
/// layers one after the other on x (the concatenation included).
pub(crate) fn res_block(x: &Tensor, cat: Option<&Tensor>, e: &Tensor, layers: BlockLayers) -> crate::Result<Tensor> {
    let BlockLayers { norm1, conv1, norm2, dropout, conv2, skip } = layers;
    let [n1, n2] = [norm1.norm(), norm2.norm()];
    let x_dims = match cat {
        Some(s) => cat_dims(x, s)?,
        None => x.dims().to_vec(),
    };
    n1.check_dims(&x_dims)?; // as the layer-by-layer path checks x
    let ((b, c_h, h, w), c_in) = (x.dims4()?, x_dims[1]);
    let c_out = conv2.parameters()[1].dim(0)?;
    let bias1 = conv1.shifted_bias(e)?; // (B, C_out)
    let mut parts = [&[&bias1][..], &n1.parameters(), &conv1.parameters()[..1], &n2.parameters()].concat();
    parts.extend(conv2.parameters());
    parts.extend(skip.map(Conv1x1::parameters).into_iter().flatten());
    let flat = parts.iter().map(|p| p.flatten_all()).collect::<candle_core::Result<Vec<_>>>()?;
    let cat_at = cat.map(|_| c_h);
    let shape =
        BlockShape { b, c_in, c_out, cat: cat_at, skip: skip.is_some(), groups: n1.groups(), eps: GROUP_NORM_EPS };
    let mask = dropout.mask(b * c_out * h * w, true).unwrap_or_default();
    let op = ResBlockOp { shape, mask, kept: OnceLock::new() };
    let x = x.contiguous()?;
    let second = match cat {
        Some(s) => s.contiguous()?,
        None => x.clone(),
    };
    Ok(x.apply_op3(&second, &Tensor::cat(&flat, 0)?, op)?)
}
