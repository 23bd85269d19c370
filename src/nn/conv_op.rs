//! The CPU convolution behind [`super::Conv`]: im2col and a matrix product forward, and both
//! gradients as matrix products, for any stride and padding (f32 or f64, contiguous inputs),
//! one image at a time.
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
//! - forward: Y_b = K X_b, written straight into image b of the (B, O, Ho, Wo) output;
//! - kernel gradient: dK = sum over b of G_b X_b^T;
//! - input gradient: dX_b = K^T G_b, and dx_b = col2im(dX_b), each entry added back to the pixel
//!   it was copied from (col2im is the adjoint of im2col).
//!
//! candle 0.11.1 computes the input gradient of its `conv2d` with `conv_transpose2d`, a direct
//! loop on the CPU; here all three are products through the `gemm` crate, candle's own. Images
//! are spread over rayon's global pool (the one candle uses); each task reuses one column matrix
//! (C k k x Ho Wo values, small enough to stay in cache) for all its images, so no temporary the
//! size of the batch is allocated, zeroed by the kernel page by page, or transposed. The kernel
//! gradient is summed over a fixed number of groups of images, then over the groups in order:
//! the same numbers whatever the number of threads.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor, WithDType};
use gemm::Parallelism;
use rayon::prelude::*;

use super::conv_cols::{col2im, im2col, Geometry};
use super::kernels::{values, with_values};

/// The kernel gradient is summed over this many groups of images (fewer for smaller batches).
const GROUPS: usize = 16;

/// A row-major matrix inside a slice: entry (i, j) at `data[i * rs + j * cs]`.
struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A contiguous (rows, cols) matrix.
    fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transpose of a contiguous (cols, rows) matrix, as a (rows, cols) view.
    fn transposed(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: 1, cs: rows }
    }

    /// Whether every entry lies inside `data`.
    fn fits(&self) -> bool {
        self.rows * self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst` (a.rows, b.cols), contiguous = a b, or `dst + a b` if `accumulate`.
fn matmul<T: WithDType>(dst: &mut [T], a: &Mat<T>, b: &Mat<T>, accumulate: bool, par: Parallelism) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert!(b.rows == k && dst.len() >= m * n && a.fits() && b.fits(), "ddpm-conv2d: matrix sizes");
    let one = T::from_f64(1.0);
    // SAFETY: the assertion above keeps every entry gemm reads or writes inside its slice, and
    // `dst` is borrowed mutably, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            one,
            one,
            false,
            false,
            false,
            par,
        )
    }
}

/// Parallelism inside one product: none when the images already keep every thread busy.
fn inner_parallelism(images: usize) -> Parallelism {
    match rayon::current_num_threads() {
        n if n > 1 && images < n => Parallelism::Rayon(n),
        _ => Parallelism::None,
    }
}

/// y = conv(x, kernel): the values of a (B, O, Ho, Wo) tensor.
fn forward<T: WithDType>(x: &[T], kernel: &[T], g: &Geometry) -> Vec<T> {
    let (rows, cols, zero) = (g.rows(), g.plane_out(), T::from_f64(0.0));
    let (x_len, y_len, par) = (g.image_in(), g.o * cols, inner_parallelism(g.b));
    let kernel = Mat::new(kernel, g.o, rows);
    let mut y = vec![zero; g.b * y_len];
    y.par_chunks_mut(y_len).enumerate().for_each_init(
        || vec![zero; rows * cols],
        |x_cols, (b, y_b)| {
            im2col(&x[b * x_len..][..x_len], g, x_cols);
            matmul(y_b, &kernel, &Mat::new(x_cols, rows, cols), false, par);
        },
    );
    y
}

/// (dL/dx if `need_dx`, dL/dK) from x, the kernel and the output gradient `grad` (B, O, Ho, Wo).
fn backward<T: WithDType>(x: &[T], kernel: &[T], grad: &[T], g: &Geometry, need_dx: bool) -> (Vec<T>, Vec<T>) {
    let (rows, cols, zero) = (g.rows(), g.plane_out(), T::from_f64(0.0));
    let (x_len, y_len, par) = (g.image_in(), g.o * cols, inner_parallelism(g.b));
    let kernel_t = Mat::transposed(kernel, rows, g.o); // K^T: (C k k, O)
    let per_group = g.b.div_ceil(GROUPS.min(g.b));
    let groups = g.b.div_ceil(per_group);
    let mut grad_x = vec![zero; if need_dx { g.b * x_len } else { 0 }];
    // Each group's share of dx (None when not needed).
    let shares: Vec<Option<&mut [T]>> = match need_dx {
        true => grad_x.chunks_mut(per_group * x_len).map(Some).collect(),
        false => (0..groups).map(|_| None).collect(),
    };
    let partial: Vec<Vec<T>> = shares
        .into_par_iter()
        .enumerate()
        .map(|(group, mut dx_group)| {
            let (mut x_cols, mut dx_cols) =
                (vec![zero; rows * cols], vec![zero; if need_dx { rows * cols } else { 0 }]);
            let mut grad_k = vec![zero; g.o * rows];
            for b in group * per_group..((group + 1) * per_group).min(g.b) {
                let g_b = Mat::new(&grad[b * y_len..][..y_len], g.o, cols);
                im2col(&x[b * x_len..][..x_len], g, &mut x_cols);
                matmul(&mut grad_k, &g_b, &Mat::transposed(&x_cols, cols, rows), true, par);
                if let Some(dx) = dx_group.as_deref_mut() {
                    matmul(&mut dx_cols, &kernel_t, &g_b, false, par);
                    col2im(&dx_cols, g, &mut dx[(b - group * per_group) * x_len..][..x_len]);
                }
            }
            grad_k
        })
        .collect();
    let mut grad_k = vec![zero; g.o * rows];
    for part in &partial {
        for (sum, &v) in grad_k.iter_mut().zip(part) {
            *sum += v;
        }
    }
    (grad_x, grad_k)
}

/// (dL/dx, dL/dK) as tensors, for values of type `T`; no dL/dx when x needs no gradient (the
/// network's input).
fn backward_tensors<T: WithDType>(
    x: &Tensor,
    kernel: &Tensor,
    grad: &Tensor,
    g: &Geometry,
) -> candle_core::Result<(Option<Tensor>, Tensor)> {
    let need_dx = x.track_op();
    let backward = |x: &[T], k: &[T], d: &[T]| backward(x, k, d, g, need_dx);
    let (grad_x, grad_k) =
        with_values(x, |x: &[T]| with_values(kernel, |k: &[T]| with_values(grad, |d: &[T]| backward(x, k, d))))???;
    let dev = x.device();
    let grad_x = if need_dx { Some(Tensor::from_vec(grad_x, x.shape(), dev)?) } else { None };
    Ok((grad_x, Tensor::from_vec(grad_k, kernel.shape(), dev)?))
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
                CpuStorage::F32(forward::<f32>(values(s1, l1)?, values(s2, l2)?, &g))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                CpuStorage::F64(forward::<f64>(values(s1, l1)?, values(s2, l2)?, &g))
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
            candle_core::DType::F32 => backward_tensors::<f32>(x, kernel, grad, &g)?,
            candle_core::DType::F64 => backward_tensors::<f64>(x, kernel, grad, &g)?,
            dtype => candle_core::bail!("ddpm-conv2d: expected f32 or f64, got {dtype:?}"),
        };
        Ok((grad_x, Some(grad_k)))
    }
}
