//! The attention's softmax over the keys, with its scale, row by row, with its backward pass
//! written out (for `attend.rs`): for each row x of n scores and a scale s > 0,
//!
//! ```text
//! y = softmax(s x),  y_i = e^(s (x_i - max x)) / sum_j e^(s (x_j - max x))
//! dx_i = s y_i (g_i - sum_j g_j y_j)
//! ```
//!
//! with g the gradient of y. Differentiated as candle composes it (`candle_nn::ops::softmax`: a
//! maximum, a subtraction, exp, a sum and a division, each broadcast over the rows) and after a
//! division by sqrt(d), a softmax is six passes forward and more backward; here one each way.

use std::mem::MaybeUninit;

use super::vector_math::{exp, lane_sum, sum, wide};
use super::written;

/// y = softmax(scale x) for each row of `n` values of `xs`, written into `ys` (as many values).
pub(super) fn softmax_rows(xs: &[f32], ys: &mut [MaybeUninit<f32>], n: usize, scale: f32) {
    wide! {
        for (ys, xs) in ys.chunks_exact_mut(n).zip(xs.chunks_exact(n)) {
            let max = xs.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            for (y, &v) in ys.iter_mut().zip(xs) {
                y.write(exp(scale * (v - max)));
            }
            // SAFETY: the loop above wrote every value of the row.
            let ys = unsafe { written(ys) };
            let total = sum(ys);
            for y in ys.iter_mut() {
                *y /= total;
            }
        }
    }
}

/// dx = scale y (g - sum_j g_j y_j) for each row of `n` values of the softmax `ys` and its
/// gradient `gs`, written into `ds` (as many values).
pub(super) fn softmax_rows_backward(ys: &[f32], gs: &[f32], ds: &mut [MaybeUninit<f32>], n: usize, scale: f32) {
    wide! {
        for (ds, (ys, gs)) in ds.chunks_exact_mut(n).zip(ys.chunks_exact(n).zip(gs.chunks_exact(n))) {
            let dot = lane_sum(ys, gs, |y, g| y * g) as f32;
            for (d, (&y, &g)) in ds.iter_mut().zip(ys.iter().zip(gs)) {
                d.write(scale * y * (g - dot));
            }
        }
    }
}
