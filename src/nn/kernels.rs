//! Hand-written CPU kernels, with their backward passes written out, for the three operations
//! that dominate a U-Net training step: group norm, SiLU and the stride-1 convolution.
//!
//! candle 0.11.1 differentiates group norm and SiLU through the chain of small operations they are
//! built from (about ten passes over the activations, many of them broadcast reductions), and the
//! input gradient of a convolution through `conv_transpose2d`, a direct loop on the CPU. Here:
//!
//! - group norm: one pass forward, two backward, with the textbook gradient
//!   dx = (w / sigma) (g - mean(g) - x_hat mean(g x_hat)) over each group (per channel for g w);
//! - SiLU: y = x s(x), dy/dx = s(x) (1 + x (1 - s(x))), s the logistic function;
//! - stride-1 convolution: im2col and one large matrix product, forward and backward (candle's
//!   tiled convolution is about twice as slow here), and the input gradient as a convolution with
//!   the flipped, transposed kernel.
//!
//! They run only for contiguous f32 tensors on the CPU; elsewhere (a GPU, another dtype) the
//! callers use candle's own operations, which give the same numbers (checked in `tests/nn.rs`).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Storage, Tensor};

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

/// The columns of a stride-1 convolution ("im2col"): for x of shape (B, C, H, W), a matrix of
/// shape (C k k, B H W) whose row (c, ky, kx) and column (b, y, x) hold
/// x[b, c, y + ky - padding, x + kx - padding], or 0 outside the image. Rows are filled in
/// parallel on all cores.
fn im2col(x: &[f32], dims: (usize, usize, usize, usize), k: usize, padding: usize) -> Vec<f32> {
    let (b, c, h, w) = dims;
    let (hw, n) = (h * w, b * h * w);
    let mut cols = vec![0f32; c * k * k * n];
    let fill = |r: usize, row: &mut [f32]| {
        let (ci, ky, kx) = (r / (k * k), r / k % k, r % k);
        let (dy, dx) = (ky as isize - padding as isize, kx as isize - padding as isize);
        // Output columns x with 0 <= x + dx < w.
        let (x0, x1) = ((-dx).max(0) as usize, (w as isize - dx).min(w as isize).max(0) as usize);
        for bi in 0..b {
            let plane = &x[(bi * c + ci) * hw..][..hw];
            for y in 0..h {
                let sy = y as isize + dy;
                if sy < 0 || sy >= h as isize || x0 >= x1 {
                    continue;
                }
                let src = &plane[sy as usize * w..][..w];
                let dst = &mut row[bi * hw + y * w..][..w];
                dst[x0..x1].copy_from_slice(&src[(x0 as isize + dx) as usize..(x1 as isize + dx) as usize]);
            }
        }
    };
    let rows = c * k * k;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).clamp(1, rows.max(1));
    let per_thread = rows.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (t, chunk) in cols.chunks_mut(per_thread * n).enumerate() {
            let fill = &fill;
            scope.spawn(move || {
                for (j, row) in chunk.chunks_mut(n).enumerate() {
                    fill(t * per_thread + j, row);
                }
            });
        }
    });
    cols
}

/// A stride-1 convolution of `x` (values of a (B, C, H, W) tensor) with `kernel` (O, C, k, k)
/// through im2col and one matrix product: (B H W, C k k) x (C k k, O), then back to (B, O, H, W).
fn conv_im2col(
    x: &[f32],
    dims: (usize, usize, usize, usize),
    kernel: &Tensor,
    padding: usize,
) -> candle_core::Result<Tensor> {
    let (b, c, h, w) = dims;
    let (o, c_k, k, _) = kernel.dims4()?;
    if c_k != c || 2 * padding + 1 != k {
        candle_core::bail!("ddpm-conv2d: kernel {:?} does not fit input {dims:?} with padding {padding}", kernel.dims())
    }
    let cols = Tensor::from_vec(im2col(x, dims, k, padding), (c * k * k, b * h * w), kernel.device())?;
    let y = cols.t()?.matmul(&kernel.reshape((o, c * k * k))?.t()?)?; // (B H W, O)
    y.reshape((b, h * w, o))?.transpose(1, 2)?.contiguous()?.reshape((b, o, h, w))
}

/// A stride-1, size-preserving convolution (padding (k - 1) / 2, no bias) on the CPU, through
/// im2col and a matrix product, forward and backward.
pub(crate) struct Conv2dOp {
    pub padding: usize,
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "ddpm-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let kernel = Tensor::from_slice(slice(s2, l2)?, l2.shape(), &candle_core::Device::Cpu)?;
        let y = conv_im2col(slice(s1, l1)?, l1.shape().dims4()?, &kernel, self.padding)?;
        let (storage, layout) = y.storage_and_layout();
        match &*storage {
            Storage::Cpu(s) => Ok((CpuStorage::F32(slice(s, layout)?.to_vec()), y.shape().clone())),
            _ => candle_core::bail!("ddpm-conv2d: expected a CPU result"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (o, c, k, _) = kernel.dims4()?;
        let (b, _, h, w) = x.dims4()?;
        // dL/dx: the "full" convolution of the gradient with the flipped, transposed kernel; with
        // padding (k - 1) / 2 on both sides it is again a size-preserving convolution.
        let flipped = kernel.flip(&[2, 3])?.transpose(0, 1)?.contiguous()?; // (C, O, k, k)
        let grad_x = conv_im2col(&to_vec(grad)?, grad.dims4()?, &flipped, self.padding)?;
        // dL/dK = cols(x) (C k k, B H W) x grad (B H W, O), transposed to (O, C, k, k).
        let cols =
            Tensor::from_vec(im2col(&to_vec(x)?, (b, c, h, w), k, self.padding), (c * k * k, b * h * w), x.device())?;
        let g = grad.reshape((b, o, h * w))?.transpose(1, 2)?.contiguous()?.reshape((b * h * w, o))?;
        let grad_k = cols.matmul(&g)?.t()?.contiguous()?.reshape((o, c, k, k))?;
        Ok((Some(grad_x), Some(grad_k)))
    }
}
