//! The CPU convolution behind [`crate::nn::Conv`] and [`crate::nn::Conv1x1`]: im2col and a
//! matrix product forward, and both gradients as matrix products, for any stride and padding
//! (f32 or f64, contiguous inputs), one image at a time.
//!
//! For x of shape (B, C, H, W), a kernel K of shape (O, C, k, k), stride s and padding p, the
//! output has Ho = (H + 2p - k) / s + 1 rows (Wo likewise) and
//!
//! ```text
//! y[b, o, i, j] = sum over (c, u, v) of K[o, c, u, v] x[b, c, s i + u - p, s j + v - p]
//! ```
//!
//! with x read as 0 outside the image. With X_b the (C k k, Ho Wo) column matrix of image b
//! (im2col, `conv_cols.rs`), K read as an (O, C k k) matrix and G_b the output gradient of image b
//! as an (O, Ho Wo) one:
//!
//! - forward: Y_b = K X_b + bias, written straight into image b of the (B, O, Ho, Wo) output
//!   (for a small plane, computed as its transpose Y_b^T = X_b^T K^T and then transposed:
//!   `SMALL_PLANE`);
//! - kernel and bias gradients: dK = sum over b of G_b X_b^T (computed as its transpose, the sum
//!   of X_b G_b^T, the faster order for `gemm`), dbias = the sums of G_b's rows
//!   (summed over the images too when the bias is shared by all of them);
//! - input gradient: dX_b = K^T G_b, and dx_b = col2im(dX_b), each entry added back to the pixel
//!   it was copied from (col2im is the adjoint of im2col).
//!
//! candle computes the input gradient of its `conv2d` with `conv_transpose2d`, a direct loop on
//! the CPU; here all three are products through the `gemm` crate, candle's own. Images
//! are spread over rayon's global pool (the one candle uses); each thread builds an image's column
//! matrix (C k k x Ho Wo values, small enough to stay in cache) in its scratch memory
//! (`scratch.rs`), kept from image to image and from call to call, so no temporary the size of
//! the batch is allocated, zeroed, or transposed. The kernel
//! gradient is summed over a fixed number of groups of images, then over the groups in order:
//! the same numbers whatever the number of threads. The bias is part of the operation, since
//! candle's gradient of a broadcast addition is a slow strided sum. The bias is either (O), one
//! per output channel, or (B, O), one per image and output channel: a residual block adds its
//! projected time embedding, which differs from image to image, to its first convolution's bias
//! that way, instead of adding a (B, O, 1, 1) tensor to the whole output. And a 1x1 convolution
//! with stride 1 uses the image itself as its column matrix.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, WithDType};

use super::conv_cols::{column_matrix, Geometry};
use super::conv_grads::backward;
use super::matmul::{inner_parallelism, matmul, Mat};
use super::scratch::with_scratch;
use super::{par_written, transpose, values, with_values, write_column, written};

/// Output planes up to this many pixels are computed as Y_b^T = X_b^T K^T. `gemm` computes 64
/// rows of its (column-major) destination at a time: with the pixels as those rows, as in
/// Y_b = K X_b, a small plane (7x7, 14x14) leaves part of a block idle, and a pixel count that
/// is not a multiple of 16 makes `gemm` copy the whole column matrix first; the output channels
/// (multiples of 16 in the U-Net) fill its blocks.
const SMALL_PLANE: usize = 256;

/// y = conv(x, kernel) + bias: the values of a (B, O, Ho, Wo) tensor. `bias` holds O values
/// (shared by the images) or B O (image b's are `bias[b O..(b + 1) O]`).
pub(super) fn forward<T: WithDType>(x: &[T], kernel: &[T], bias: &[T], g: &Geometry) -> Vec<T> {
    let (rows, cols) = (g.rows(), g.plane_out());
    let (x_len, y_len, par) = (g.image_in(), g.o * cols, inner_parallelism(g.b));
    let by_channel = cols <= SMALL_PLANE;
    // K^T (C k k, O), contiguous, for Y_b^T = X_b^T K^T (`gemm` copies a factor it cannot read
    // down its columns).
    let kernel_t = if by_channel { transpose(kernel, g.o, rows) } else { Vec::new() };
    let image = |b: usize, y_b: &mut [MaybeUninit<T>]| {
        let bias_b = if bias.len() == g.o { bias } else { &bias[b * g.o..][..g.o] };
        let x_b = &x[b * x_len..][..x_len];
        if by_channel {
            return with_scratch(g.column_len() + y_len, |scratch| {
                let (x_cols, y_t) = scratch.split_at_mut(g.column_len());
                for pixel in y_t.chunks_exact_mut(g.o) {
                    pixel.copy_from_slice(bias_b);
                }
                let x_b = column_matrix(x_b, g, x_cols);
                let (x_t, k_t) = (Mat::transposed(x_b, cols, rows), Mat::new(&kernel_t, rows, g.o));
                matmul(y_t, &x_t, &k_t, true, par); // (Ho Wo, O)
                for (o, plane) in y_b.chunks_exact_mut(cols).enumerate() {
                    write_column(y_t, g.o, o, plane);
                }
            });
        }
        for (plane, &beta) in y_b.chunks_exact_mut(cols).zip(bias_b) {
            for v in plane {
                v.write(beta);
            }
        }
        // SAFETY: the O planes of Ho Wo values just written are the whole chunk.
        let y_b = unsafe { written(y_b) };
        with_scratch(g.column_len(), |x_cols| {
            let x_b = column_matrix(x_b, g, x_cols);
            matmul(y_b, &Mat::new(kernel, g.o, rows), &Mat::new(x_b, rows, cols), true, par);
        })
    };
    // SAFETY: `image` writes all of its chunk, the image's O Ho Wo values.
    unsafe { par_written(g.b * y_len, y_len, image).0 }
}

/// The gradients as tensors, for values of type `T`: for x only when it needs one (not the
/// network's input), for the kernel and the bias only when they are variables or depend on one.
fn backward_tensors<T: WithDType>(
    x: &Tensor,
    kernel: &Tensor,
    bias: &Tensor,
    grad: &Tensor,
    g: &Geometry,
) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let (need_dx, per_image) = (x.track_op(), bias.dims().len() == 2);
    let backward = |x: &[T], k: &[T], d: &[T]| backward(x, k, d, g, need_dx, per_image);
    let grads =
        with_values(x, |x: &[T]| with_values(kernel, |k: &[T]| with_values(grad, |d: &[T]| backward(x, k, d))))???;
    let dev = x.device();
    let tensor = |needed: bool, v: Vec<T>, t: &Tensor| match needed {
        true => Tensor::from_vec(v, t.shape(), dev).map(Some),
        false => Ok(None),
    };
    Ok((
        tensor(need_dx, grads.x, x)?,
        tensor(kernel.track_op(), grads.kernel, kernel)?,
        tensor(bias.track_op(), grads.bias, bias)?,
    ))
}

/// A 2-D convolution with bias on the CPU (see the module documentation), differentiable with
/// respect to the input, the kernel and the bias:
/// `x.apply_op3(&kernel, &bias, Conv2dOp { stride, padding })` for x (B, C, H, W), kernel
/// (O, C, k, k) and bias (O) or (B, O), all contiguous.
#[derive(Debug, Clone, Copy)]
pub(super) struct Conv2dOp {
    pub stride: usize,
    pub padding: usize,
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "ddpm-conv2d"
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
        let g = Geometry::new(l1.shape(), l2.shape(), self.stride, self.padding)?;
        if l3.shape().dims() != [g.o] && l3.shape().dims() != [g.b, g.o] {
            candle_core::bail!(
                "ddpm-conv2d: bias of shape {:?} for {} images and {} output channels: expected ({}) or ({}, {})",
                l3.shape(),
                g.b,
                g.o,
                g.o,
                g.b,
                g.o
            )
        }
        let y = match (s1, s2, s3) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => {
                CpuStorage::F32(forward::<f32>(values(s1, l1)?, values(s2, l2)?, values(s3, l3)?, &g))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => {
                CpuStorage::F64(forward::<f64>(values(s1, l1)?, values(s2, l2)?, values(s3, l3)?, &g))
            }
            _ => candle_core::bail!("ddpm-conv2d: expected three f32 or three f64 tensors"),
        };
        Ok((y, Shape::from((g.b, g.o, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = Geometry::new(x.shape(), kernel.shape(), self.stride, self.padding)?;
        match x.dtype() {
            candle_core::DType::F32 => backward_tensors::<f32>(x, kernel, bias, grad, &g),
            candle_core::DType::F64 => backward_tensors::<f64>(x, kernel, bias, grad, &g),
            dtype => candle_core::bail!("ddpm-conv2d: expected f32 or f64, got {dtype:?}"),
        }
    }
}

/// The convolution of `x` (B, C, H, W) with `kernel` (O, C, k, k), plus `bias` if given (O, one
/// per output channel, or (B, O), one per image and output channel), with `stride` and
/// `padding`: (B, O, (H + 2 padding - k) / stride + 1, (W + 2 padding - k) / stride + 1), through
/// im2col and matrix products forward and backward (`Conv2dOp`). CPU only, f32 or f64; the same
/// values as candle's `x.conv2d(kernel, padding, stride, 1, 1)` (plus the bias) up to rounding.
/// [`crate::nn::Conv`] and [`crate::nn::Conv1x1`] use it on the CPU in f32.
///
/// ```
/// use ddpm::candle_core::{Device, Tensor};
///
/// let x = Tensor::ones((1, 2, 4, 4), ddpm::candle_core::DType::F32, &Device::Cpu).unwrap();
/// let kernel = Tensor::ones((3, 2, 3, 3), ddpm::candle_core::DType::F32, &Device::Cpu).unwrap();
/// let y = ddpm::nn::cpu::conv2d_im2col(&x, &kernel, None, 2, 1).unwrap(); // (1, 3, 2, 2)
/// // The top-left output sees a 2x2 corner of each of the 2 channels: 8 ones.
/// assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0], 8.0);
/// ```
pub fn conv2d_im2col(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> crate::Result<Tensor> {
    let bias = match bias {
        Some(bias) => bias.contiguous()?,
        None => Tensor::zeros(kernel.dim(0)?, kernel.dtype(), kernel.device())?,
    };
    Ok(x.contiguous()?.apply_op3(&kernel.contiguous()?, &bias, Conv2dOp { stride, padding })?)
}
