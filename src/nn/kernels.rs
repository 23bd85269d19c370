//! Hand-written CPU kernels, with their backward passes written out, for group norm and SiLU,
//! two of the operations that dominate a U-Net training step (the convolution is in `conv_op.rs`).
//!
//! candle 0.11.1 differentiates group norm and SiLU through the chain of small operations they are
//! built from (about ten passes over the activations, many of them broadcast reductions). Here:
//!
//! - group norm: one pass forward, two backward, with the textbook gradient
//!   dx = (w / sigma) (g - mean(g) - x_hat mean(g x_hat)) over each group (per channel for g w);
//! - SiLU: y = x s(x), dy/dx = s(x) (1 + x (1 - s(x))), s the logistic function;
//! - group norm followed by SiLU, as every residual block has it, in one operation: the group
//!   norm's output z is never stored; the backward pass recomputes it from x and the group's
//!   statistics, turns g into g s(z) (1 + z (1 - s(z))), and goes on as the group norm's.
//!
//! They run only for contiguous f32 tensors on the CPU; elsewhere (a GPU, another dtype) the
//! callers use candle's own operations, which give the same numbers (checked in `tests/nn.rs`).

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Storage, Tensor, WithDType};
use rayon::prelude::*;

use super::vector_math::{lane_sum, sigmoid};

/// Values one rayon task of an element-wise kernel handles.
pub(super) const CHUNK: usize = 16 * 1024;

/// Whether the hand-written kernels apply to `x`: f32 on the CPU, not empty.
pub(crate) fn on_cpu_f32(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && x.elem_count() > 0
}

/// The values of a contiguous CPU storage.
pub(super) fn values<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&T::cpu_storage_as_slice(s)?[start..end]),
        None => candle_core::bail!("the ddpm CPU kernels need contiguous input"),
    }
}

/// Runs `f` on the values of a CPU tensor (copied only if not contiguous).
pub(super) fn with_values<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => Ok(f(values(s, layout)?)),
        _ => candle_core::bail!("the ddpm CPU kernels run on the CPU only"),
    }
}

/// SiLU, x s(x), on the CPU with a one-pass backward, both spread over rayon's pool.
pub(crate) struct Silu;

impl CustomOp1 for Silu {
    fn name(&self) -> &'static str {
        "ddpm-silu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = values::<f32>(s, l)?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(ys, xs)| {
            for (y, &x) in ys.iter_mut().zip(xs) {
                *y = x * sigmoid(x);
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dx = with_values(arg, |x: &[f32]| {
            with_values(grad, |g: &[f32]| {
                let mut dx = vec![0f32; x.len()];
                dx.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK))).for_each(
                    |(ds, (xs, gs))| {
                        for (d, (&x, &g)) in ds.iter_mut().zip(xs.iter().zip(gs)) {
                            let s = sigmoid(x);
                            *d = g * s * (1.0 + x * (1.0 - s));
                        }
                    },
                );
                dx
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

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
pub(crate) struct GroupNormOp {
    pub groups: usize,
    pub eps: f64,
    pub silu: bool,
}

impl GroupNormOp {
    /// (channels, pixels per channel) of `shape`.
    fn sizes(&self, shape: &Shape) -> candle_core::Result<(usize, usize)> {
        let dims = shape.dims();
        if dims.len() < 3 || dims[1] % self.groups != 0 {
            candle_core::bail!("group norm: expected (B, C, ...) with C divisible by {}, got {dims:?}", self.groups)
        }
        Ok((dims[1], dims[2..].iter().product()))
    }

    /// Mean and 1/sqrt(var + eps) of the values of one group (two passes: the mean, then the
    /// mean square deviation from it).
    fn stats(&self, group: &[f32]) -> (f32, f32) {
        let len = group.len() as f64;
        let mean = lane_sum(group, group, |v, _| v) / len;
        let m = mean as f32;
        let var = lane_sum(group, group, |v, _| (v - m) * (v - m)) / len;
        (m, (1.0 / (var + self.eps).sqrt()) as f32)
    }

    /// The gradient with respect to the group norm's output z = x_hat w + b of one group, from
    /// the gradient `g` of SiLU(z): g s(z) (1 + z (1 - s(z))).
    fn through_silu(group: &Group, g: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let &Group { x, mean, inv, ch0, hw } = group;
        let mut dz = vec![0f32; x.len()];
        for (k, (ds, (xs, gs))) in dz.chunks_exact_mut(hw).zip(x.chunks_exact(hw).zip(g.chunks_exact(hw))).enumerate() {
            let (scale, shift) = (inv * w[ch0 + k], b[ch0 + k]);
            for (d, (&x, &g)) in ds.iter_mut().zip(xs.iter().zip(gs)) {
                let z = (x - mean) * scale + shift;
                let s = sigmoid(z);
                *d = g * s * (1.0 + z * (1.0 - s));
            }
        }
        dz
    }

    /// dx of one group from its output gradient `g`, and the group's share of the weight and bias
    /// gradients, per channel of the group.
    fn group_backward(group: &Group, g: &[f32], w: &[f32], dx: &mut [f32]) -> Vec<(f64, f64)> {
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
        for (k, (ds, (xs, gs))) in dx.chunks_exact_mut(hw).zip(x.chunks_exact(hw).zip(g.chunks_exact(hw))).enumerate() {
            let w = w[ch0 + k];
            for (d, (&x, &g)) in ds.iter_mut().zip(xs.iter().zip(gs)) {
                *d = inv * (g * w - mean_gw - (x - mean) * inv * mean_gw_xhat);
            }
        }
        dw_db
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
        let (c, hw) = self.sizes(l1.shape())?;
        let (per_group, len) = (c / self.groups, c / self.groups * hw);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(len).zip(x.par_chunks(len)).enumerate().for_each(|(gi, (ys, xs))| {
            let (mean, inv) = self.stats(xs);
            let ch0 = gi % self.groups * per_group;
            for (k, (ys, xs)) in ys.chunks_exact_mut(hw).zip(xs.chunks_exact(hw)).enumerate() {
                let (scale, shift) = (inv * w[ch0 + k], b[ch0 + k]);
                for (y, &x) in ys.iter_mut().zip(xs) {
                    let z = (x - mean) * scale + shift;
                    *y = if self.silu { z * sigmoid(z) } else { z };
                }
            }
        });
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
        let (per_group, len) = (c / self.groups, c / self.groups * hw);
        let (dx, parts) = with_values(arg1, |x: &[f32]| {
            with_values(arg2, |w: &[f32]| {
                with_values(arg3, |b: &[f32]| {
                    with_values(grad, |g: &[f32]| {
                        let mut dx = vec![0f32; x.len()];
                        let parts: Vec<Vec<(f64, f64)>> = dx
                            .par_chunks_mut(len)
                            .zip(x.par_chunks(len).zip(g.par_chunks(len)))
                            .enumerate()
                            .map(|(gi, (dx, (x, g)))| {
                                let (mean, inv) = self.stats(x);
                                let group = Group { x, mean, inv, ch0: gi % self.groups * per_group, hw };
                                match self.silu {
                                    true => Self::group_backward(&group, &Self::through_silu(&group, g, w, b), w, dx),
                                    false => Self::group_backward(&group, g, w, dx),
                                }
                            })
                            .collect();
                        (dx, parts)
                    })
                })
            })
        })????;
        // The weight and bias gradients: each group's share, summed over the batch in order.
        let (mut dw, mut db) = (vec![0f64; c], vec![0f64; c]);
        for (gi, part) in parts.iter().enumerate() {
            for (k, &(w, b)) in part.iter().enumerate() {
                dw[gi % self.groups * per_group + k] += w;
                db[gi % self.groups * per_group + k] += b;
            }
        }
        let dev = arg1.device();
        let to_f32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect::<Vec<_>>();
        Ok((
            Some(Tensor::from_vec(dx, arg1.shape(), dev)?),
            Some(Tensor::from_vec(to_f32(dw), c, dev)?),
            Some(Tensor::from_vec(to_f32(db), c, dev)?),
        ))
    }
}
