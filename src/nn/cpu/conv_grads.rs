//! The backward pass of the CPU convolution of `conv_op.rs` (see its documentation for the
//! products): for each group of images, the kernel and bias gradients summed over the group and
//! the input gradient of each image (dX_b = K^T G_b, then col2im), then the groups' sums added in
//! order. The groups are spread over rayon's pool; their number does not depend on the number of
//! threads, so neither do the numbers.

use candle_core::WithDType;
use rayon::prelude::*;

use super::conv_cols::{col2im, column_matrix, Geometry};
use super::matmul::{inner_parallelism, matmul, Mat};
use super::scratch::with_scratch;
use super::vector_math::sum;
use super::{par_written, transpose, zeroed, CHUNK};

/// The kernel gradient is summed over this many groups of images (fewer for smaller batches).
const GROUPS: usize = 16;

/// A group of images' dL/dK^T (C k k, O), dL/dbias (O), and each image's dL/dbias (O each, when
/// the bias is per image).
type GroupGrads<T> = (Vec<T>, Vec<T>, Vec<T>);

/// The gradients of a convolution: dL/dx (empty when not asked for), dL/dK and dL/dbias.
pub(super) struct Grads<T> {
    pub x: Vec<T>,
    pub kernel: Vec<T>,
    pub bias: Vec<T>,
}

/// The gradients from x, the kernel and the output gradient `grad` (B, O, Ho, Wo); dL/dx only if
/// `need_dx`. dL/dK and dL/dbias are summed per group of images, then over the groups in order;
/// with `bias_per_image`, dL/dbias is (B, O), each image's own row sums.
pub(super) fn backward<T: WithDType>(
    x: &[T],
    kernel: &[T],
    grad: &[T],
    g: &Geometry,
    need_dx: bool,
    bias_per_image: bool,
) -> Grads<T> {
    let (rows, cols, zero) = (g.rows(), g.plane_out(), T::from_f64(0.0));
    let (x_len, y_len, par) = (g.image_in(), g.o * cols, inner_parallelism(g.b));
    let kernel_t = Mat::transposed(kernel, rows, g.o); // K^T: (C k k, O)
    let per_group = g.b.div_ceil(GROUPS.min(g.b));
    let groups = g.b.div_ceil(per_group);
    // The column matrices of X_b and of dX_b, in the thread's scratch memory.
    let scratch_len = if need_dx { 2 * g.column_len() } else { g.column_len() };
    let group_grads = |scratch: &mut [T], group: usize, mut dx_group: Option<&mut [T]>| {
        let (x_cols, dx_cols) = scratch.split_at_mut(g.column_len());
        // dK^T, (C k k, O): the product with the column matrix as its left factor is about twice
        // as fast in `gemm` as dK = G_b X_b^T, which packs (copies) X_b for every image.
        let (mut grad_kt, mut grad_b) = (vec![zero; rows * g.o], vec![zero; g.o]);
        let mut grad_b_images = Vec::with_capacity(if bias_per_image { per_group * g.o } else { 0 });
        for b in group * per_group..((group + 1) * per_group).min(g.b) {
            let g_b = &grad[b * y_len..][..y_len];
            let x_b = column_matrix(&x[b * x_len..][..x_len], g, x_cols);
            matmul(&mut grad_kt, &Mat::new(x_b, rows, cols), &Mat::transposed(g_b, cols, g.o), true, par);
            for (total, plane) in grad_b.iter_mut().zip(g_b.chunks_exact(cols)) {
                let row_sum = sum(plane);
                *total += row_sum;
                if bias_per_image {
                    grad_b_images.push(row_sum);
                }
            }
            if let Some(dx) = dx_group.as_deref_mut() {
                let dx_b = &mut dx[(b - group * per_group) * x_len..][..x_len];
                if g.is_pointwise() {
                    matmul(dx_b, &kernel_t, &Mat::new(g_b, g.o, cols), false, par);
                } else {
                    matmul(dx_cols, &kernel_t, &Mat::new(g_b, g.o, cols), false, par);
                    col2im(dx_cols, g, dx_b);
                }
            }
        }
        (grad_kt, grad_b, grad_b_images)
    };
    let with_group_scratch =
        |group, dx_group: Option<&mut [T]>| with_scratch(scratch_len, |s| group_grads(s, group, dx_group));
    // dx is zeroed by each group for its own images, on the pool (col2im adds into it).
    let (grad_x, partial): (Vec<T>, Vec<GroupGrads<T>>) = match need_dx {
        // SAFETY: each group sets all of its share of dx (to 0) before reading it.
        true => unsafe {
            par_written(g.b * x_len, per_group * x_len, |group, share| with_group_scratch(group, Some(zeroed(share))))
        },
        false => (Vec::new(), (0..groups).into_par_iter().map(|group| with_group_scratch(group, None)).collect()),
    };
    let grad_kt = sum_in_order(partial.iter().map(|(kt, _, _)| kt.as_slice()).collect(), rows * g.o);
    let grad_b = match bias_per_image {
        true => partial.iter().flat_map(|(_, _, images)| images.iter().copied()).collect(),
        false => sum_in_order(partial.iter().map(|(_, b, _)| b.as_slice()).collect(), g.o),
    };
    let grad_k = transpose(&grad_kt, rows, g.o); // dK, (O, C k k)
    Grads { x: grad_x, kernel: grad_k, bias: grad_b }
}

/// The sum of `parts` (`len` values each), value by value, added in the parts' order starting from
/// 0 (so each value is the same sum whatever the number of threads), spread over rayon's pool.
fn sum_in_order<T: WithDType>(parts: Vec<&[T]>, len: usize) -> Vec<T> {
    let chunk = CHUNK.div_ceil(parts.len().max(1));
    // SAFETY: each chunk is set to 0 before the parts' values are added to it.
    unsafe {
        par_written(len, chunk, |i, sums| {
            let sums = zeroed(sums);
            for part in &parts {
                for (sum, &v) in sums.iter_mut().zip(&part[i * chunk..]) {
                    *sum += v;
                }
            }
        })
        .0
    }
}
