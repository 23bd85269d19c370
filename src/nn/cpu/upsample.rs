//! Nearest-neighbour up-sampling by 2 as one CPU operation with its backward pass written out
//! (behind [`crate::nn::upsample_nearest`], the U-Net's up-sampling before its convolution).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{values, with_values, CHUNK};

/// Nearest-neighbour up-sampling by 2, (B, C, H, W) -> (B, C, 2H, 2W): each pixel repeated in a
/// 2x2 square; the backward pass sums each square. (candle's gradient of the equivalent broadcast
/// is a strided sum with a division per element.)
pub(super) struct Upsample2x;

impl Upsample2x {
    /// (planes B C, H, W) of `shape`.
    fn sizes(shape: &Shape) -> candle_core::Result<(usize, usize, usize)> {
        let (b, c, h, w) = shape.dims4()?;
        Ok((b * c, h, w))
    }
}

impl CustomOp1 for Upsample2x {
    fn name(&self) -> &'static str {
        "ddpm-upsample2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, (_, h, w)) = (values::<f32>(s, l)?, Self::sizes(l.shape())?);
        let mut y = vec![0f32; 4 * x.len()];
        let planes = (CHUNK / (4 * h * w)).max(1);
        y.par_chunks_mut(4 * h * w * planes).zip(x.par_chunks(h * w * planes)).for_each(|(ys, xs)| {
            for (row, src) in ys.chunks_exact_mut(4 * w).zip(xs.chunks_exact(w)) {
                let (top, bottom) = row.split_at_mut(2 * w);
                for (pair, &v) in top.chunks_exact_mut(2).zip(src) {
                    pair.fill(v);
                }
                bottom.copy_from_slice(top);
            }
        });
        let (b, c, _, _) = l.shape().dims4()?;
        Ok((CpuStorage::F32(y), Shape::from((b, c, 2 * h, 2 * w))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (_, h, w) = Self::sizes(arg.shape())?;
        let planes = (CHUNK / (4 * h * w)).max(1);
        let dx = with_values(grad, |g: &[f32]| {
            let mut dx = vec![0f32; g.len() / 4];
            dx.par_chunks_mut(h * w * planes).zip(g.par_chunks(4 * h * w * planes)).for_each(|(ds, gs)| {
                for (d_row, g_rows) in ds.chunks_exact_mut(w).zip(gs.chunks_exact(4 * w)) {
                    let (top, bottom) = g_rows.split_at(2 * w);
                    for (j, d) in d_row.iter_mut().enumerate() {
                        *d = top[2 * j] + top[2 * j + 1] + bottom[2 * j] + bottom[2 * j + 1];
                    }
                }
            });
            dx
        })?;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// Each pixel of a non-empty f32 `x` (B, C, H, W) on the CPU repeated in a 2x2 square:
/// [`Upsample2x`], (B, C, 2H, 2W).
pub(crate) fn upsample2x(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(Upsample2x)
}
