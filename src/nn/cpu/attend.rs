//! The attention of [`crate::nn::AttentionBlock`] between its two 1x1 convolutions, as one CPU
//! operation. From the queries, keys and values of every image and head, as the block's qkv
//! convolution stacks them, (B, 3, heads, d, n) for n pixels, each head computes
//!
//! ```text
//! S = Q^T K (n queries x n keys),  P = softmax(S / sqrt(d)) over the keys,  O = V P^T (d x n)
//! ```
//!
//! and its backward pass, with P computed again from Q and K (it is small, and not kept):
//!
//! ```text
//! dV = dO P,  dP = dO^T V,  dS = softmax's backward of (P, dP),  dQ = K dS^T,  dK = Q dS.
//! ```
//!
//! Each image is a rayon task, its heads one after the other, the products through `gemm`
//! (`matmul`) with the same sums as candle's batched matmul (which runs on one thread here and
//! needs Q^T, V and P^T copied out contiguous first); the softmax is `softmax.rs`'s.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use gemm::Parallelism;

use super::matmul::{matmul, Mat};
use super::scratch::with_scratch;
use super::softmax::{softmax_rows, softmax_rows_backward};
use super::{par_written, values, with_values, write_column, zeroed};

/// Self-attention over the pixels of each image, `heads` heads, from a (B, 3 C, H, W) qkv tensor
/// to a (B, C, H, W) one.
pub(super) struct Attend {
    pub heads: usize,
}

/// The sizes of one attention: channels C, head width d = C / heads, pixels n; and the scale of
/// the scores, 1 / sqrt(d) (computed in f64 and rounded once, as candle's path scales them).
struct Sizes {
    c: usize,
    d: usize,
    n: usize,
    scale: f32,
}

impl Attend {
    fn sizes(&self, qkv: &Shape) -> candle_core::Result<Sizes> {
        let (_, c3, h, w) = qkv.dims4()?;
        if self.heads == 0 || !c3.is_multiple_of(3 * self.heads) || h * w == 0 {
            candle_core::bail!("ddpm-attend: qkv of shape {qkv:?} for {} heads", self.heads)
        }
        let d = c3 / 3 / self.heads;
        Ok(Sizes { c: c3 / 3, d, n: h * w, scale: (1.0 / (d as f64).sqrt()) as f32 })
    }
}

/// Initialised values handed to a kernel that writes each of them.
fn for_writing(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: MaybeUninit<f32> has f32's layout, and the kernels given the slice (`softmax.rs`'s
    // row functions, `write_column`) write only initialised values into it.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// `m`, a row-major (rows, cols) matrix, transposed into `dst` (cols, rows).
fn transpose_into(m: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    for (j, column) in for_writing(dst).chunks_exact_mut(rows).take(cols).enumerate() {
        write_column(m, cols, j, column);
    }
}

/// One head's Q^T (n, d) into `q_t`, and P = softmax(Q^T K / sqrt(d)) (n queries, n keys) into
/// `probs` and its transpose into `p_t`, with `scores` as room: the factors as candle's batched
/// products have them (contiguous), so that `gemm` sums in the same order.
struct Head<'a> {
    q_t: &'a mut [f32],
    scores: &'a mut [f32],
    probs: &'a mut [f32],
    p_t: &'a mut [f32],
}

impl<'a> Head<'a> {
    /// Room for a head of `s`'s sizes at the start of `room` ([`Head::len`] values), and the rest.
    fn new(room: &'a mut [f32], s: &Sizes) -> (Self, &'a mut [f32]) {
        let (q_t, room) = room.split_at_mut(s.n * s.d);
        let (scores, room) = room.split_at_mut(s.n * s.n);
        let (probs, room) = room.split_at_mut(s.n * s.n);
        let (p_t, room) = room.split_at_mut(s.n * s.n);
        (Self { q_t, scores, probs, p_t }, room)
    }

    /// Values of room [`Head::new`] takes.
    fn len(s: &Sizes) -> usize {
        s.n * s.d + 3 * s.n * s.n
    }

    /// P and P^T from Q and K (each (d, n)).
    fn attend(&mut self, q: &[f32], k: &[f32], s: &Sizes) {
        let (n, d) = (s.n, s.d);
        transpose_into(q, d, n, self.q_t);
        matmul(self.scores, &Mat::new(self.q_t, n, d), &Mat::new(k, d, n), false, Parallelism::None);
        softmax_rows(self.scores, for_writing(self.probs), n, s.scale);
        transpose_into(self.probs, n, n, self.p_t);
    }
}

impl CustomOp1 for Attend {
    fn name(&self) -> &'static str {
        "ddpm-attend"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (qkv, s) = (values::<f32>(st, l)?, self.sizes(l.shape())?);
        let (c, d, n, none) = (s.c, s.d, s.n, Parallelism::None);
        let image = |b: usize, out: &mut [MaybeUninit<f32>]| {
            let (x, out) = (&qkv[b * 3 * c * n..][..3 * c * n], zeroed(out));
            with_scratch(Head::len(&s), |room: &mut [f32]| {
                let (mut head, _) = Head::new(room, &s);
                for h in 0..self.heads {
                    let part = |p: usize| &x[(p * c + h * d) * n..][..d * n];
                    head.attend(part(0), part(1), &s);
                    // O = V P^T, (d, n queries)
                    matmul(
                        &mut out[h * d * n..][..d * n],
                        &Mat::new(part(2), d, n),
                        &Mat::new(head.p_t, n, n),
                        false,
                        none,
                    );
                }
            })
        };
        let (b, _, h, w) = l.shape().dims4()?;
        // SAFETY: `image` sets all of its image's C n values (to 0, then the products).
        let (y, _) = unsafe { par_written(b * c * n, c * n, image) };
        Ok((CpuStorage::F32(y), Shape::from((b, c, h, w))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let s = self.sizes(arg.shape())?;
        let (c, d, n, none) = (s.c, s.d, s.n, Parallelism::None);
        let dqkv = with_values(arg, |qkv: &[f32]| {
            with_values(grad, |g: &[f32]| {
                let image = |b: usize, dx: &mut [MaybeUninit<f32>]| {
                    let (x, g, dx) = (&qkv[b * 3 * c * n..][..3 * c * n], &g[b * c * n..][..c * n], zeroed(dx));
                    with_scratch(Head::len(&s) + 2 * n * n + n * d, |room: &mut [f32]| {
                        let (mut head, room) = Head::new(room, &s);
                        let (grad_t, room) = room.split_at_mut(n * n);
                        let (d_scores, dq_t) = room.split_at_mut(n * n);
                        for h in 0..self.heads {
                            let at = |p: usize| (p * c + h * d) * n;
                            let (q, k, v) = (&x[at(0)..][..d * n], &x[at(1)..][..d * n], &x[at(2)..][..d * n]);
                            let d_out = &g[h * d * n..][..d * n];
                            head.attend(q, k, &s);
                            let (dq, rest) = dx.split_at_mut(at(1));
                            let (dk, dv) = rest.split_at_mut(at(2) - at(1));
                            let (dq, dk, dv) = (&mut dq[at(0)..][..d * n], &mut dk[..d * n], &mut dv[..d * n]);
                            // dV = dO (P^T)^T
                            matmul(dv, &Mat::new(d_out, d, n), &Mat::transposed(head.p_t, n, n), false, none);
                            // d(P^T) = V^T dO, then dP its transpose (into `scores`, no longer needed)
                            matmul(grad_t, &Mat::transposed(v, n, d), &Mat::new(d_out, d, n), false, none);
                            transpose_into(grad_t, n, n, head.scores);
                            softmax_rows_backward(head.probs, head.scores, for_writing(d_scores), n, s.scale);
                            // d(Q^T) = dS K^T, then dQ its transpose; dK = (Q^T)^T dS
                            matmul(dq_t, &Mat::new(d_scores, n, n), &Mat::transposed(k, n, d), false, none);
                            transpose_into(dq_t, n, d, dq);
                            matmul(dk, &Mat::transposed(head.q_t, d, n), &Mat::new(d_scores, n, n), false, none);
                        }
                    })
                };
                // SAFETY: `image` sets all of its image's 3 C n values (to 0, then the products).
                unsafe { par_written(qkv.len(), 3 * c * n, image).0 }
            })
        })??;
        Ok(Some(Tensor::from_vec(dqkv, arg.shape(), arg.device())?))
    }
}

/// The attention of `heads` heads from `qkv` (B, 3 C, H, W), f32 on the CPU, whose channels are
/// the queries, then the keys, then the values, each (heads, d, H, W) with d = C / heads: for each
/// image and head, O = V softmax(Q^T K / sqrt(d))^T over the H W pixels, as (B, C, H, W)
/// ([`crate::nn::AttentionBlock`] without its norm and its two 1x1 convolutions). The same values
/// as candle's batched products and `candle_nn::ops::softmax`, up to rounding.
///
/// ```
/// use ddpm::candle_core::{DType, Device, Tensor};
///
/// // One head of one channel over two pixels; the keys are equal, so each query sees the mean
/// // of the values.
/// let qkv = Tensor::new(&[1f32, 2.0, 0.5, 0.5, 3.0, 5.0], &Device::Cpu).unwrap().reshape((1, 3, 1, 2)).unwrap();
/// let out = ddpm::nn::cpu::attend(&qkv, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
/// assert_eq!(out, [4.0, 4.0]);
/// ```
/// A shape that does not fit `heads` is refused by the operation ([`Attend`]).
pub fn attend(qkv: &Tensor, heads: usize) -> crate::Result<Tensor> {
    if !super::on_cpu_f32(qkv) {
        return Err(invalid!("attend: expected f32 values on the CPU, got {:?} on {:?}", qkv.dtype(), qkv.device()));
    }
    Ok(qkv.contiguous()?.apply_op1(Attend { heads })?)
}
