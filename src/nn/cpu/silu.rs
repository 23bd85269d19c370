//! SiLU, x s(x) with s the logistic function, as one CPU operation with a one-pass backward
//! (behind [`crate::nn::silu`]): dy/dx = s(x) (1 + x (1 - s(x))), where candle differentiates
//! `Tensor::silu` through the small operations it is built from.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::vector_math::{sigmoid, wide};
use super::{values, with_values, CHUNK};

/// SiLU, x s(x), on the CPU with a one-pass backward, both spread over rayon's pool.
pub(super) struct Silu;

impl CustomOp1 for Silu {
    fn name(&self) -> &'static str {
        "ddpm-silu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = values::<f32>(s, l)?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(ys, xs)| {
            wide(
                #[inline(always)]
                || {
                    for (y, &x) in ys.iter_mut().zip(xs) {
                        *y = x * sigmoid(x);
                    }
                },
            )
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dx = with_values(arg, |x: &[f32]| {
            with_values(grad, |g: &[f32]| {
                let mut dx = vec![0f32; x.len()];
                dx.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK))).for_each(
                    |(ds, (xs, gs))| {
                        wide(
                            #[inline(always)]
                            || {
                                for (d, (&x, &g)) in ds.iter_mut().zip(xs.iter().zip(gs)) {
                                    let s = sigmoid(x);
                                    *d = g * s * (1.0 + x * (1.0 - s));
                                }
                            },
                        )
                    },
                );
                dx
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// SiLU of a non-empty f32 `x` on the CPU: [`Silu`]. The same values as `x.silu()` up to rounding.
pub(crate) fn silu(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(Silu)
}
