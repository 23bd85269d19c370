//! SiLU, x s(x) with s the logistic function, as one CPU operation with a one-pass backward
//! (behind [`crate::nn::silu`]): dy/dx = s(x) (1 + x (1 - s(x))), where candle differentiates
//! `Tensor::silu` through the small operations it is built from.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::vector_math::{sigmoid, wide};
use super::{par_written, values, with_values, CHUNK};

/// SiLU, x s(x), on the CPU with a one-pass backward, both spread over rayon's pool.
pub(super) struct Silu;

impl CustomOp1 for Silu {
    fn name(&self) -> &'static str {
        "ddpm-silu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = values::<f32>(s, l)?;
        let chunk = |i: usize, ys: &mut [MaybeUninit<f32>]| {
            let xs = &x[i * CHUNK..][..ys.len()];
            wide! {
                for (y, &x) in ys.iter_mut().zip(xs) {
                    y.write(x * sigmoid(x));
                }
            }
        };
        // SAFETY: `chunk` writes each of its values.
        let (y, _) = unsafe { par_written(x.len(), CHUNK, chunk) };
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dx = with_values(arg, |x: &[f32]| {
            with_values(grad, |g: &[f32]| {
                let chunk = |i: usize, ds: &mut [MaybeUninit<f32>]| {
                    let (xs, gs) = (&x[i * CHUNK..][..ds.len()], &g[i * CHUNK..][..ds.len()]);
                    wide! {
                        for (d, (&x, &g)) in ds.iter_mut().zip(xs.iter().zip(gs)) {
                            let s = sigmoid(x);
                            d.write(g * s * (1.0 + x * (1.0 - s)));
                        }
                    }
                };
                // SAFETY: `chunk` writes each of its values.
                unsafe { par_written(x.len(), CHUNK, chunk).0 }
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// SiLU of a non-empty f32 `x` on the CPU: [`Silu`]. The same values as `x.silu()` up to rounding.
pub(crate) fn silu(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(Silu)
}
