//! Hand-written CPU kernels, with their backward passes written out, for group norm and SiLU,
//! two of the operations that dominate a U-Net training step (the convolution is in `conv_op.rs`).
//!
//! candle 0.11.1 differentiates group norm and SiLU through the chain of small operations they are
//! built from (about ten passes over the activations, many of them broadcast reductions). Here:
//!
//! - group norm: one pass forward, two backward, with the textbook gradient
//!   dx = (w / sigma) (g - mean(g) - x_hat mean(g x_hat)) over each group (per channel for g w);
//! - SiLU: y = x s(x), dy/dx = s(x) (1 + x (1 - s(x))), s the logistic function.
//!
//! They run only for contiguous f32 tensors on the CPU; elsewhere (a GPU, another dtype) the
//! callers use candle's own operations, which give the same numbers (checked in `tests/nn.rs`).

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Tensor};

/// Whether the hand-written kernels apply to `x`: f32 on the CPU, not empty.
pub(crate) fn on_cpu_f32(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && x.elem_count() > 0
}

/// The f32 values of a contiguous CPU storage.
fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&s.as_slice::<f32>()?[start..end]),
        None => candle_core::bail!("the ddpm CPU kernels need contiguous input"),
    }
}

/// The values of a tensor as a Vec<f32> (a copy).
fn to_vec(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// SiLU, x s(x), on the CPU with a one-pass backward.
pub(crate) struct Silu;

impl CustomOp1 for Silu {
    fn name(&self) -> &'static str {
        "ddpm-silu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = slice(s, l)?.iter().map(|&x| x / (1.0 + (-x).exp())).collect();
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (x, g) = (to_vec(arg)?, to_vec(grad)?);
        let dx: Vec<f32> = x
            .iter()
            .zip(&g)
            .map(|(&x, &g)| {
                let s = 1.0 / (1.0 + (-x).exp());
                g * s * (1.0 + x * (1.0 - s))
            })
            .collect();
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// Group norm with a per-channel scale and shift: (x, weight, bias) -> y, x of shape (B, C, ...).
pub(crate) struct GroupNormOp {
    pub groups: usize,
    pub eps: f64,
}

impl GroupNormOp {
    /// (batch, channels, pixels per channel) of `shape`.
    fn sizes(&self, shape: &Shape) -> candle_core::Result<(usize, usize, usize)> {
        let dims = shape.dims();
        if dims.len() < 3 || dims[1] % self.groups != 0 {
            candle_core::bail!("group norm: expected (B, C, ...) with C divisible by {}, got {dims:?}", self.groups)
        }
        Ok((dims[0], dims[1], dims[2..].iter().product()))
    }

    /// Mean and 1/sqrt(var + eps) of each of the B G groups (values of `x` contiguous).
    fn stats(&self, x: &[f32], len: usize) -> Vec<(f32, f32)> {
        x.chunks(len)
            .map(|group| {
                let mean = group.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
                let var = group.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / len as f64;
                (mean as f32, (1.0 / (var + self.eps).sqrt()) as f32)
            })
            .collect()
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
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (_, c, hw) = self.sizes(l1.shape())?;
        let len = c / self.groups * hw;
        let stats = self.stats(x, len);
        let mut y = vec![0f32; x.len()];
        for (i, (ys, xs)) in y.chunks_mut(hw).zip(x.chunks(hw)).enumerate() {
            let (mean, inv) = stats[i * hw / len];
            let (scale, shift) = (inv * w[i % c], b[i % c]);
            for (y, &x) in ys.iter_mut().zip(xs) {
                *y = (x - mean) * scale + shift;
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        _arg3: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x, w, g) = (to_vec(arg1)?, to_vec(arg2)?, to_vec(grad)?);
        let (_, c, hw) = self.sizes(arg1.shape())?;
        let len = c / self.groups * hw;
        let stats = self.stats(&x, len);
        let (mut dx, mut dw, mut db) = (vec![0f32; x.len()], vec![0f64; c], vec![0f64; c]);
        for (gi, &(mean, inv)) in stats.iter().enumerate() {
            let range = gi * len..(gi + 1) * len;
            // Sums over the group of g w and of g w x_hat, and per channel of g and g x_hat.
            let (mut sum_gw, mut sum_gw_xhat) = (0f64, 0f64);
            for (j, (&x, &g)) in x[range.clone()].iter().zip(&g[range.clone()]).enumerate() {
                let ch = (gi * len + j) / hw % c;
                let x_hat = ((x - mean) * inv) as f64;
                let gw = (g * w[ch]) as f64;
                sum_gw += gw;
                sum_gw_xhat += gw * x_hat;
                dw[ch] += g as f64 * x_hat;
                db[ch] += g as f64;
            }
            let (mean_gw, mean_gw_xhat) = ((sum_gw / len as f64) as f32, (sum_gw_xhat / len as f64) as f32);
            for (j, (d, (&x, &g))) in
                dx[range.clone()].iter_mut().zip(x[range.clone()].iter().zip(&g[range])).enumerate()
            {
                let ch = (gi * len + j) / hw % c;
                let x_hat = (x - mean) * inv;
                *d = inv * (g * w[ch] - mean_gw - x_hat * mean_gw_xhat);
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
