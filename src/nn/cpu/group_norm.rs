//! Group norm with a per-channel scale and shift as one CPU operation, optionally followed by
//! SiLU, with its backward pass written out (behind [`crate::nn::GroupNorm`] and
//! [`crate::nn::NormAct`]).
//!
//! Differentiated as candle composes it, a group norm is a chain of small operations (about ten
//! passes over the activations, many of them broadcast reductions). Here:
//!
//! - group norm: one pass forward, two backward, with the textbook gradient
//!   dx = (w / sigma) (g - mean(g) - x_hat mean(g x_hat)) over each group (per channel for g w);
//! - group norm followed by SiLU, as every residual block has it, in one operation: the group
//!   norm's output z is never stored; the backward pass recomputes it from x and the group's
//!   statistics, turns g into g s(z) (1 + z (1 - s(z))), and goes on as the group norm's.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::vector_math::{lane_sum, sigmoid, wide};
use super::{par_written, values, with_values, written};

/// One group of one batch element in the group norm's backward pass: its values, their mean and
/// 1/sqrt(var + eps) (computed once for both steps of the fused operation), its first channel and
/// the pixels per channel.
struct Group<'a> {
    x: &'a [f32],
    mean: f32,
    inv: f32,
    ch0: usize,
    hw: usize,
}

/// Group norm with a per-channel scale and shift: (x, weight, bias) -> y, x of shape (B, C, ...),
/// followed by SiLU when `silu`. One rayon task per group of one batch element, forward and
/// backward.
pub(super) struct GroupNormOp {
    pub groups: usize,
    pub eps: f64,
    pub silu: bool,
}

impl GroupNormOp {
    /// (channels, pixels per channel) of `shape`.
    fn sizes(&self, shape: &Shape) -> candle_core::Result<(usize, usize)> {
        let dims = shape.dims();
        if dims.len() < 3 || !dims[1].is_multiple_of(self.groups) {
            candle_core::bail!("group norm: expected (B, C, ...) with C divisible by {}, got {dims:?}", self.groups)
        }
        Ok((dims[1], dims[2..].iter().product()))
    }

    /// Mean and 1/sqrt(var + eps) of the values of one group (two passes: the mean, then the
    /// mean square deviation from it).
    #[inline(always)]
    fn stats(&self, group: &[f32]) -> (f32, f32) {
        let len = group.len() as f64;
        let mean = lane_sum(group, group, |v, _| v) / len;
        let m = mean as f32;
        let var = lane_sum(group, group, |v, _| (v - m) * (v - m)) / len;
        (m, (1.0 / (var + self.eps).sqrt()) as f32)
    }

    /// The gradient with respect to the group norm's output z = x_hat w + b of one group, from
    /// the gradient `g` of SiLU(z): g s(z) (1 + z (1 - s(z))), written into `dz`.
    #[inline(always)]
    fn through_silu(group: &Group, g: &[f32], w: &[f32], b: &[f32], dz: &mut [MaybeUninit<f32>]) {
        let &Group { x, mean, inv, ch0, hw } = group;
        for (k, (ds, (xs, gs))) in dz.chunks_exact_mut(hw).zip(x.chunks_exact(hw).zip(g.chunks_exact(hw))).enumerate() {
            let (scale, shift) = (inv * w[ch0 + k], b[ch0 + k]);
            for (d, (&x, &g)) in ds.iter_mut().zip(xs.iter().zip(gs)) {
                let z = (x - mean) * scale + shift;
                let s = sigmoid(z);
                d.write(g * s * (1.0 + z * (1.0 - s)));
            }
        }
    }

    /// dx of one group, in place of its output gradient `g`, and the group's share of the weight
    /// and bias gradients, per channel of the group.
    #[inline(always)]
    fn group_backward(group: &Group, w: &[f32], g: &mut [f32]) -> Vec<(f64, f64)> {
        let &Group { x, mean, inv, ch0, hw } = group;
        let len = x.len() as f64;
        // Sums over the group of g w and of g w x_hat, and per channel of g x_hat and g.
        let (mut sum_gw, mut sum_gw_xhat) = (0f64, 0f64);
        let mut dw_db = Vec::with_capacity(x.len() / hw);
        for (k, (xs, gs)) in x.chunks_exact(hw).zip(g.chunks_exact(hw)).enumerate() {
            let dw = lane_sum(xs, gs, |x, g| g * ((x - mean) * inv));
            let db = lane_sum(gs, gs, |g, _| g);
            let w = w[ch0 + k] as f64;
            sum_gw += w * db;
            sum_gw_xhat += w * dw;
            dw_db.push((dw, db));
        }
        let (mean_gw, mean_gw_xhat) = ((sum_gw / len) as f32, (sum_gw_xhat / len) as f32);
        for (k, (gs, xs)) in g.chunks_exact_mut(hw).zip(x.chunks_exact(hw)).enumerate() {
            let w = w[ch0 + k];
            for (d, &x) in gs.iter_mut().zip(xs) {
                *d = inv * (*d * w - mean_gw - (x - mean) * inv * mean_gw_xhat);
            }
        }
        dw_db
    }

    /// The output of x (B, C, ...) with `sizes` (C, pixels per channel), on rayon's pool.
    pub(super) fn forward(&self, x: &[f32], w: &[f32], b: &[f32], (c, hw): (usize, usize)) -> Vec<f32> {
        let (per_group, len) = (c / self.groups, c / self.groups * hw);
        let group = |gi: usize, ys: &mut [MaybeUninit<f32>]| {
            let xs = &x[gi * len..][..len];
            let ch0 = gi % self.groups * per_group;
            wide! {
                let (mean, inv) = self.stats(xs);
                for (k, (ys, xs)) in ys.chunks_exact_mut(hw).zip(xs.chunks_exact(hw)).enumerate() {
                    let (scale, shift) = (inv * w[ch0 + k], b[ch0 + k]);
                    for (y, &x) in ys.iter_mut().zip(xs) {
                        let z = (x - mean) * scale + shift;
                        y.write(if self.silu { z * sigmoid(z) } else { z });
                    }
                }
            }
        };
        // SAFETY: `group` writes every value of its group (its channels' hw values each).
        let (y, _) = unsafe { par_written(x.len(), len, group) };
        y
    }

    /// dx, dweight and dbias from x (B, C, ...) with `sizes` (C, pixels per channel) and the
    /// output gradient `g`, on rayon's pool.
    pub(super) fn backward(
        &self,
        x: &[f32],
        w: &[f32],
        b: &[f32],
        g: &[f32],
        (c, hw): (usize, usize),
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (per_group, len) = (c / self.groups, c / self.groups * hw);
        let group = |gi: usize, dx: &mut [MaybeUninit<f32>]| {
            let (x, g) = (&x[gi * len..][..len], &g[gi * len..][..len]);
            wide! {
                let (mean, inv) = self.stats(x);
                let group = Group { x, mean, inv, ch0: gi % self.groups * per_group, hw };
                match self.silu {
                    true => Self::through_silu(&group, g, w, b, dx),
                    false => dx.iter_mut().zip(g).for_each(|(d, &g)| { d.write(g); }),
                }
                // SAFETY: either arm wrote every value of the group.
                Self::group_backward(&group, w, unsafe { written(dx) })
            }
        };
        // SAFETY: `group` writes every value of its group.
        let (dx, parts) = unsafe { par_written(x.len(), len, group) };
        // The weight and bias gradients: each group's share, summed over the batch in order.
        let (mut dw, mut db) = (vec![0f64; c], vec![0f64; c]);
        for (gi, part) in parts.iter().enumerate() {
            for (k, &(w, b)) in part.iter().enumerate() {
                dw[gi % self.groups * per_group + k] += w;
                db[gi % self.groups * per_group + k] += b;
            }
        }
        let to_f32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect::<Vec<_>>();
        (dx, to_f32(dw), to_f32(db))
    }
}

impl CustomOp3 for GroupNormOp {
    fn name(&self) -> &'static str {
        "ddpm-group-norm"
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
        let (x, w, b) = (values::<f32>(s1, l1)?, values::<f32>(s2, l2)?, values::<f32>(s3, l3)?);
        let y = self.forward(x, w, b, self.sizes(l1.shape())?);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        arg3: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (c, hw) = self.sizes(arg1.shape())?;
        let (dx, dw, db) = with_values(arg1, |x: &[f32]| {
            with_values(arg2, |w: &[f32]| {
                with_values(arg3, |b: &[f32]| with_values(grad, |g: &[f32]| self.backward(x, w, b, g, (c, hw))))
            })
        })????;
        let dev = arg1.device();
        Ok((
            Some(Tensor::from_vec(dx, arg1.shape(), dev)?),
            Some(Tensor::from_vec(dw, c, dev)?),
            Some(Tensor::from_vec(db, c, dev)?),
        ))
    }
}

/// SiLU(GroupNorm(x)) when `then_silu`, else GroupNorm(x), for contiguous f32 `x` (B, C, ...),
/// `weight` and `bias` (C) on the CPU: [`GroupNormOp`]. The same values as candle's
/// `candle_nn::GroupNorm` (then `silu`) up to rounding.
pub(crate) fn group_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    groups: usize,
    eps: f64,
    then_silu: bool,
) -> candle_core::Result<Tensor> {
    let op = GroupNormOp { groups, eps, silu: then_silu };
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}
