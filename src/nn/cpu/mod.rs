//! The CPU engine behind the layers: hand-written operations, each with its backward pass written
//! out, for the few that dominate a U-Net training step on the CPU. The layers ([`super::Conv`],
//! [`super::Conv1x1`], [`super::GroupNorm`], [`super::NormAct`], [`super::silu`],
//! [`super::upsample_nearest`], [`super::dropout::Dropout`], [`super::AttentionBlock`],
//! [`super::ResBlock`]) call them
//! for f32 tensors on the CPU (`on_cpu_f32`) and candle's own operations elsewhere (a GPU, f64), which give the same values up to rounding (checked in
//! `tests/nn.rs` and `tests/conv_op.rs`; `tests/nn_bits.rs` pins their exact bits).
//!
//! Why: differentiated as candle composes them, these operations are chains of small passes over
//! the activations, many of them broadcast reductions or strided sums, and candle's input gradient
//! of a convolution is `conv_transpose2d`, a direct loop on the CPU. Here:
//!
//! - `conv_op`: convolution (any stride and padding) through im2col (`conv_cols`) and one
//!   matrix product (`matmul`, the `gemm` crate) forward, both gradients as matrix products
//!   (`conv_grads`); its bias may be one per image and channel, which is how a residual block
//!   adds its time embedding;
//! - `group_norm`: group norm, optionally followed by SiLU in the same operation (the norm's
//!   output is then never stored);
//! - `silu`: SiLU with a one-pass backward;
//! - `mask`: the product with dropout's mask, both ways on the pool;
//! - `softmax`: the attention's scaled softmax over the keys, row by row, one pass each way;
//! - `attend`: the attention itself, from the stacked queries, keys and values to its output,
//!   each image a task on the pool (candle's batched products run on one thread here);
//! - `res_block`: a residual block in training (norm, convolution, norm, dropout, convolution,
//!   the skip path and the residual addition) as one operation made of the ones above, so that
//!   candle's backward pass does not start and add a gradient for each of its inner activations
//!   on one thread;
//! - `channels`: the up path's concatenation along the channels and its inverse, for `res_block`;
//! - `upsample`: nearest-neighbour up-sampling by 2, whose backward pass sums each 2x2 square;
//! - `scratch`: each thread's reusable buffer for the column matrices;
//! - `vector_math`: the sums and the exp written so that their loops compile to vector
//!   instructions.
//!
//! Every operation spreads its work over rayon's global pool (the one candle uses) and sums in a
//! fixed order: the same numbers whatever the number of threads.

mod attend;
mod channels;
mod conv_cols;
mod conv_grads;
mod conv_op;
mod group_norm;
mod mask;
mod matmul;
mod res_block;
mod scratch;
mod silu;
mod softmax;
mod upsample;
mod vector_math;

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, DType, Layout, Storage, Tensor, WithDType};
use rayon::prelude::*;

pub use attend::attend;
pub use conv_op::conv2d_im2col;
pub(crate) use group_norm::group_norm;
pub(crate) use mask::mask_mul;
pub(crate) use res_block::{res_block, BlockLayers};
pub(crate) use silu::silu;
pub(crate) use upsample::upsample2x;

/// Values one rayon task of an element-wise kernel handles.
pub(super) const CHUNK: usize = 16 * 1024;

/// Whether the hand-written kernels apply to `x`: f32 on the CPU, not empty.
pub(crate) fn on_cpu_f32(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && x.elem_count() > 0
}

/// The values of a contiguous CPU storage.
pub(super) fn values<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&T::cpu_storage_as_slice(s)?[start..end]),
        None => candle_core::bail!("the ddpm CPU kernels need contiguous input"),
    }
}

/// Runs `f` on the values of a CPU tensor (copied only if not contiguous).
pub(super) fn with_values<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => Ok(f(values(s, layout)?)),
        _ => candle_core::bail!("the ddpm CPU kernels run on the CPU only"),
    }
}

/// `len` values written on rayon's pool, chunk `i` (values `i chunk..`, the last chunk shorter) by
/// `write(i, values)`, into memory that is not zeroed first: for a kernel's output, which it
/// writes whole (`vec![0; len]` would write every value twice). Also returns what `write`
/// returned for each chunk, in order. (A kernel that needs scratch memory takes the thread's,
/// `scratch::with_scratch`.)
///
/// # Safety
/// `write` must set every value of the chunk it is given (with `MaybeUninit::write`, or through
/// [`written`] once it has).
pub(super) unsafe fn par_written<T: Send, R: Send>(
    len: usize,
    chunk: usize,
    write: impl Fn(usize, &mut [MaybeUninit<T>]) -> R + Sync + Send,
) -> (Vec<T>, Vec<R>) {
    let mut values = Vec::with_capacity(len);
    let results =
        values.spare_capacity_mut()[..len].par_chunks_mut(chunk.max(1)).enumerate().map(|(i, c)| write(i, c)).collect();
    // SAFETY: the chunks cover the first `len` values, and `write` set each of them (the
    // caller's promise).
    unsafe { values.set_len(len) };
    (values, results)
}

/// f(a_i, b_i) for every i, on rayon's pool (`b` at least as long as `a`).
pub(super) fn zip_with(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert!(b.len() >= a.len(), "zip_with: {} values against {}", b.len(), a.len());
    let chunk = |i: usize, ys: &mut [MaybeUninit<f32>]| {
        for (y, (&a, &b)) in ys.iter_mut().zip(a[i * CHUNK..].iter().zip(&b[i * CHUNK..])) {
            y.write(f(a, b));
        }
    };
    // SAFETY: `chunk` writes each of its values (`a` and `b` are at least as long as the output).
    unsafe { par_written(a.len(), CHUNK, chunk).0 }
}

/// Column `j` of `m` (a row-major matrix of `cols` columns) written into `column`, one value per
/// row of `m`: row j of the transpose.
pub(super) fn write_column<T: Copy>(m: &[T], cols: usize, j: usize, column: &mut [MaybeUninit<T>]) {
    for (v, &x) in column.iter_mut().zip(m[j..].iter().step_by(cols)) {
        v.write(x);
    }
}

/// The transpose of `m`, a row-major (rows, cols) matrix, as a row-major (cols, rows) one, its
/// rows written on rayon's pool.
pub(super) fn transpose<T: Copy + Send + Sync>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    // SAFETY: each row of the transpose is a column of `m`, `rows` values, all written.
    unsafe { par_written(rows * cols, rows, |j, row| write_column(m, cols, j, row)).0 }
}

/// `values` set to 0, as initialised values: for a kernel that adds into its output, or whose
/// products do not read their destination but need it initialised.
pub(super) fn zeroed<T: WithDType>(values: &mut [MaybeUninit<T>]) -> &mut [T] {
    values.fill(MaybeUninit::new(T::from_f64(0.0)));
    // SAFETY: every value was just set.
    unsafe { written(values) }
}

/// A chunk of [`par_written`] as initialised values.
///
/// # Safety
/// Every value of `values` must have been set.
pub(super) unsafe fn written<T>(values: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: MaybeUninit<T> has T's layout, and every value is initialised (the caller's promise).
    unsafe { &mut *(values as *mut [MaybeUninit<T>] as *mut [T]) }
}
