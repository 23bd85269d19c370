//! The CPU convolution behind [`super::Conv`]: im2col and one matrix product forward, and both
//! gradients as matrix products, for any stride and padding (f32 or f64, contiguous inputs).
//!
//! For x of shape (B, C, H, W), a kernel K of shape (O, C, k, k), stride s and padding p, the
//! output has Ho = (H + 2p - k) / s + 1 rows (Wo likewise) and
//!
//! ```text
//! y[b, o, i, j] = sum over (c, u, v) of K[o, c, u, v] x[b, c, s i + u - p, s j + v - p]
//! ```
//!
//! with x read as 0 outside the image. The columns X of x ("im2col") form a (C k k, B Ho Wo)
//! matrix whose row (c, u, v) and column (b, i, j) hold x[b, c, s i + u - p, s j + v - p]. Then,
//! with K read as an (O, C k k) matrix and G the output gradient as an (O, B Ho Wo) one:
//!
//! - forward: Y = K X, then (O, B, Ho Wo) -> (B, O, Ho Wo);
//! - weight gradient: dK = G X^T;
//! - input gradient: dX = K^T G, and dx = col2im(dX), each entry of dX added back to the pixel of
//!   x it was copied from (col2im is the adjoint of im2col).
//!
//! candle 0.11.1 computes the input gradient of its `conv2d` with `conv_transpose2d`, a direct
//! loop on the CPU; here all three are products through candle's gemm. The copies (im2col, col2im,
//! the transposes) run on rayon's global pool, the one candle's gemm already uses, so no thread is
//! spawned per call.

use candle_core::{CpuStorage, CustomOp2, Device, Layout, Shape, Storage, Tensor, WithDType};
use rayon::prelude::*;

/// Smallest number of values one rayon task copies: keeps tasks over small planes (7x7) coarse.
const MIN_TASK: usize = 4096;

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    stride: usize,
    padding: usize,
    ho: usize,
    wo: usize,
}

impl Geometry {
    fn new(x: &Shape, kernel: &Shape, stride: usize, padding: usize) -> candle_core::Result<Self> {
        let (b, c, h, w) = x.dims4()?;
        let (o, c_k, k, k2) = kernel.dims4()?;
        let empty = b * c * h * w * o == 0;
        if empty || c_k != c || k != k2 || k == 0 || stride == 0 || h + 2 * padding < k || w + 2 * padding < k {
            candle_core::bail!(
                "ddpm-conv2d: kernel {kernel:?} does not fit input {x:?} with stride {stride} and padding {padding}"
            )
        }
        let (ho, wo) = ((h + 2 * padding - k) / stride + 1, (w + 2 * padding - k) / stride + 1);
        Ok(Self { b, c, h, w, o, k, stride, padding, ho, wo })
    }

    /// Rows of the column matrix: C k k.
    fn rows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Columns of the column matrix: B Ho Wo.
    fn cols(&self) -> usize {
        self.b * self.ho * self.wo
    }

    /// For kernel offset `u` along an axis of `len` input and `out` output positions: the input
    /// offset u - p, and the output positions i in [lo, hi) whose input s i + u - p is inside.
    fn valid(&self, u: usize, len: usize, out: usize) -> (isize, usize, usize) {
        let (off, s) = (u as isize - self.padding as isize, self.stride as isize);
        let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
        let room = len as isize - off;
        let hi = if room <= 0 { 0 } else { ((room + s - 1) / s).min(out as isize) };
        (off, lo.min(hi) as usize, hi as usize)
    }
}

/// im2col: the (C k k, B Ho Wo) column matrix of `x`, one row per rayon task.
fn im2col<T: WithDType>(x: &[T], g: &Geometry) -> Vec<T> {
    let (n, hw, howo, kk) = (g.cols(), g.h * g.w, g.ho * g.wo, g.k * g.k);
    let mut cols = vec![T::from_f64(0.0); g.rows() * n];
    cols.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
        let (ci, u, v) = (r / kk, r / g.k % g.k, r % g.k);
        let (oy, i0, i1) = g.valid(u, g.h, g.ho);
        let (ox, j0, j1) = g.valid(v, g.w, g.wo);
        for bi in 0..g.b {
            let plane = &x[(bi * g.c + ci) * hw..][..hw];
            let out = &mut row[bi * howo..][..howo];
            for i in i0..i1 {
                let src = &plane[(g.stride as isize * i as isize + oy) as usize * g.w..][..g.w];
                let dst = &mut out[i * g.wo..][..g.wo];
                if g.stride == 1 && j0 < j1 {
                    let (a, b) = ((j0 as isize + ox) as usize, (j1 as isize + ox) as usize);
                    dst[j0..j1].copy_from_slice(&src[a..b]);
                } else {
                    for (j, d) in dst.iter_mut().enumerate().take(j1).skip(j0) {
                        *d = src[(g.stride as isize * j as isize + ox) as usize];
                    }
                }
            }
        }
    });
    cols
}

/// col2im, the adjoint of [`im2col`]: the (B, C, H, W) sums of the entries of the column matrix
/// `cols` over the pixels they came from, one image plane (b, c) per rayon task.
fn col2im<T: WithDType>(cols: &[T], g: &Geometry) -> Vec<T> {
    let (n, hw, howo) = (g.cols(), g.h * g.w, g.ho * g.wo);
    let mut dx = vec![T::from_f64(0.0); g.b * g.c * hw];
    let min_planes = (MIN_TASK / hw.max(1)).max(1);
    dx.par_chunks_mut(hw).with_min_len(min_planes).enumerate().for_each(|(p, plane)| {
        let (bi, ci) = (p / g.c, p % g.c);
        for u in 0..g.k {
            let (oy, i0, i1) = g.valid(u, g.h, g.ho);
            for v in 0..g.k {
                let (ox, j0, j1) = g.valid(v, g.w, g.wo);
                let src = &cols[((ci * g.k + u) * g.k + v) * n + bi * howo..][..howo];
                for i in i0..i1 {
                    let dst = &mut plane[(g.stride as isize * i as isize + oy) as usize * g.w..][..g.w];
                    let row = &src[i * g.wo..][..g.wo];
                    if g.stride == 1 && j0 < j1 {
                        let a = (j0 as isize + ox) as usize;
                        for (d, &val) in dst[a..].iter_mut().zip(&row[j0..j1]) {
                            *d += val;
                        }
                    } else {
                        for (j, &val) in row.iter().enumerate().take(j1).skip(j0) {
                            dst[(g.stride as isize * j as isize + ox) as usize] += val;
                        }
                    }
                }
            }
        }
    });
    dx
}

/// `src` of shape (d0, d1, inner) transposed to (d1, d0, inner), one block of `inner` values at a time.
fn swap01<T: WithDType>(src: &[T], d0: usize, d1: usize, inner: usize) -> Vec<T> {
    let mut dst = vec![T::from_f64(0.0); src.len()];
    let min_blocks = (MIN_TASK / inner.max(1)).max(1);
    dst.par_chunks_mut(inner.max(1)).with_min_len(min_blocks).enumerate().for_each(|(idx, block)| {
        let (j, i) = (idx / d0, idx % d0);
        block.copy_from_slice(&src[(i * d1 + j) * inner..][..inner]);
    });
    dst
}

/// The values of a contiguous storage.
fn values<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&T::cpu_storage_as_slice(s)?[start..end]),
        None => candle_core::bail!("ddpm-conv2d needs contiguous inputs"),
    }
}

/// Runs `f` on the values of a CPU tensor (copied only if not contiguous).
fn with_values<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => Ok(f(values(s, layout)?)),
        _ => candle_core::bail!("ddpm-conv2d runs on the CPU only"),
    }
}

/// y = conv(x, kernel): the values of a (B, O, Ho, Wo) tensor.
fn forward<T: WithDType>(x: &[T], kernel: &[T], g: &Geometry) -> candle_core::Result<Vec<T>> {
    let cols = Tensor::from_vec(im2col(x, g), (g.rows(), g.cols()), &Device::Cpu)?;
    let kernel = Tensor::from_slice(kernel, (g.o, g.rows()), &Device::Cpu)?;
    let y = kernel.matmul(&cols)?; // (O, B Ho Wo)
    with_values(&y, |y| swap01(y, g.o, g.b, g.ho * g.wo))
}

/// (dL/dx, dL/dK) from the output gradient `grad`, for values of type `T`.
fn backward<T: WithDType>(
    x: &Tensor,
    kernel: &Tensor,
    grad: &Tensor,
    g: &Geometry,
) -> candle_core::Result<(Tensor, Tensor)> {
    let dev = x.device();
    let grad = with_values(grad, |v: &[T]| swap01(v, g.b, g.o, g.ho * g.wo))?;
    let grad = Tensor::from_vec(grad, (g.o, g.cols()), dev)?; // G: (O, B Ho Wo)
    let cols = Tensor::from_vec(with_values(x, |x| im2col::<T>(x, g))?, (g.rows(), g.cols()), dev)?;
    // dK = G X^T, computed as (X G^T)^T: the faster orientation of candle's gemm here.
    let grad_k = cols.matmul(&grad.t()?)?.t()?.contiguous()?.reshape(kernel.shape())?;
    drop(cols);
    let grad_cols = kernel.reshape((g.o, g.rows()))?.t()?.matmul(&grad)?; // K^T G: (C k k, B Ho Wo)
    let grad_x = with_values(&grad_cols, |d| col2im::<T>(d, g))?;
    Ok((Tensor::from_vec(grad_x, x.shape(), dev)?, grad_k))
}

/// A 2-D convolution without bias on the CPU (see the module documentation), differentiable with
/// respect to both the input and the kernel: `x.apply_op2(&kernel, Conv2dOp { stride, padding })`
/// for x (B, C, H, W) and kernel (O, C, k, k), both contiguous.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv2dOp {
    pub stride: usize,
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
        let g = Geometry::new(l1.shape(), l2.shape(), self.stride, self.padding)?;
        let y = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                CpuStorage::F32(forward::<f32>(values(s1, l1)?, values(s2, l2)?, &g)?)
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                CpuStorage::F64(forward::<f64>(values(s1, l1)?, values(s2, l2)?, &g)?)
            }
            _ => candle_core::bail!("ddpm-conv2d: expected two f32 or two f64 tensors"),
        };
        Ok((y, Shape::from((g.b, g.o, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = Geometry::new(x.shape(), kernel.shape(), self.stride, self.padding)?;
        let (grad_x, grad_k) = match x.dtype() {
            candle_core::DType::F32 => backward::<f32>(x, kernel, grad, &g)?,
            candle_core::DType::F64 => backward::<f64>(x, kernel, grad, &g)?,
            dtype => candle_core::bail!("ddpm-conv2d: expected f32 or f64, got {dtype:?}"),
        };
        Ok((Some(grad_x), Some(grad_k)))
    }
}
