//! The attention's softmax over the keys, with its scale, as one CPU operation with its backward
//! pass written out (behind [`crate::nn::AttentionBlock`]): for each row x of the last dimension
//! and a scale s > 0,
//!
//! ```text
//! y = softmax(s x),  y_i = e^(s (x_i - max x)) / sum_j e^(s (x_j - max x))
//! dx_i = s y_i (g_i - sum_j g_j y_j)
//! ```
//!
//! with g the gradient of y. Differentiated as candle composes it (`candle_nn::ops::softmax`: a
//! maximum, a subtraction, exp, a sum and a division, each broadcast over the rows) and after a
//! division by sqrt(d), a softmax is six passes forward and more backward; here one each way.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::vector_math::{exp, lane_sum, sum, wide};
use super::{par_written, values, with_values, written, CHUNK};

/// y = softmax(scale x) for each row of `n` values of `xs`, written into `ys` (as many values).
pub(super) fn softmax_rows(xs: &[f32], ys: &mut [MaybeUninit<f32>], n: usize, scale: f32) {
    wide! {
        for (ys, xs) in ys.chunks_exact_mut(n).zip(xs.chunks_exact(n)) {
            let max = xs.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            for (y, &v) in ys.iter_mut().zip(xs) {
                y.write(exp(scale * (v - max)));
            }
            // SAFETY: the loop above wrote every value of the row.
            let ys = unsafe { written(ys) };
            let total = sum(ys);
            for y in ys.iter_mut() {
                *y /= total;
            }
        }
    }
}

/// dx = scale y (g - sum_j g_j y_j) for each row of `n` values of the softmax `ys` and its
/// gradient `gs`, written into `ds` (as many values).
pub(super) fn softmax_rows_backward(ys: &[f32], gs: &[f32], ds: &mut [MaybeUninit<f32>], n: usize, scale: f32) {
    wide! {
        for (ds, (ys, gs)) in ds.chunks_exact_mut(n).zip(ys.chunks_exact(n).zip(gs.chunks_exact(n))) {
            let dot = lane_sum(ys, gs, |y, g| y * g) as f32;
            for (d, (&y, &g)) in ds.iter_mut().zip(ys.iter().zip(gs)) {
                d.write(scale * y * (g - dot));
            }
        }
    }
}

/// softmax(scale x) over the last dimension, on the CPU.
struct ScaledSoftmax {
    scale: f32,
}

impl ScaledSoftmax {
    /// The values of the rows one rayon task handles, for rows of `n` values.
    fn task_len(n: usize) -> usize {
        (CHUNK / n).max(1) * n
    }
}

impl CustomOp1 for ScaledSoftmax {
    fn name(&self) -> &'static str {
        "ddpm-scaled-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, n) = (values::<f32>(s, l)?, l.shape().dims().last().copied().unwrap_or(1));
        let task_len = Self::task_len(n);
        let rows = |i: usize, ys: &mut [MaybeUninit<f32>]| {
            softmax_rows(&x[i * task_len..][..ys.len()], ys, n, self.scale);
        };
        // SAFETY: `rows` writes every value of its rows.
        let (y, _) = unsafe { par_written(x.len(), task_len, rows) };
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let n = arg.dims().last().copied().unwrap_or(1);
        let task_len = Self::task_len(n);
        let dx = with_values(res, |y: &[f32]| {
            with_values(grad, |g: &[f32]| {
                let rows = |i: usize, ds: &mut [MaybeUninit<f32>]| {
                    let (ys, gs) = (&y[i * task_len..][..ds.len()], &g[i * task_len..][..ds.len()]);
                    softmax_rows_backward(ys, gs, ds, n, self.scale);
                };
                // SAFETY: `rows` writes every value of its rows.
                unsafe { par_written(y.len(), task_len, rows).0 }
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// softmax(scale x) over the last dimension of an f32 `x` on the CPU, for a scale > 0: the same
/// values as `candle_nn::ops::softmax(&(x * scale)?, D::Minus1)` up to rounding. An empty `x` is
/// returned as it is; another number format or device is an error.
///
/// ```
/// use ddpm::candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[[0f32, 0.0], [1.0, 3.0]], &Device::Cpu).unwrap();
/// let y = ddpm::nn::cpu::scaled_softmax(&x, 0.5).unwrap().to_vec2::<f32>().unwrap();
/// assert_eq!(y[0], [0.5, 0.5]);
/// assert!((y[1][1] - 1.0 / (1.0 + (-1f32).exp())).abs() < 1e-6); // e^1.5 / (e^0.5 + e^1.5)
/// ```
pub fn scaled_softmax(x: &Tensor, scale: f64) -> crate::Result<Tensor> {
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(invalid!("softmax: the scale must be positive and finite, got {scale}"));
    }
    if x.elem_count() == 0 {
        return Ok(x.clone());
    }
    if !super::on_cpu_f32(x) {
        return Err(invalid!("softmax: expected f32 values on the CPU, got {:?} on {:?}", x.dtype(), x.device()));
    }
    Ok(x.contiguous()?.apply_op1(ScaledSoftmax { scale: scale as f32 })?)
}
