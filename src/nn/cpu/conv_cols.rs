//! The copies behind the CPU convolution of `conv_op.rs`, one image at a time: im2col (an image's
//! pixels under every kernel position, as the columns of a matrix) and its adjoint col2im.
//!
//! For an image x of shape (C, H, W), a k x k kernel, stride s and padding p, the output has
//! Ho = (H + 2p - k) / s + 1 rows (Wo likewise). The column matrix X of the image has shape
//! (C k k, Ho Wo): its row (c, u, v) and column (i, j) hold x[c, s i + u - p, s j + v - p], read as
//! 0 outside the image.

use std::ops::Range;

use candle_core::{Shape, WithDType};

use super::vector_math::wide;

/// A kernel offset's input offset and the range [lo, hi) of output positions it reads inside
/// the image, along one axis ([`Geometry::valid`]).
type Valid = (isize, usize, usize);

/// The sizes of one convolution over a batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub b: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
    pub ho: usize,
    pub wo: usize,
}

impl Geometry {
    /// For x (B, C, H, W) and a kernel (O, C, k, k); an error if the kernel does not fit.
    pub fn new(x: &Shape, kernel: &Shape, stride: usize, padding: usize) -> candle_core::Result<Self> {
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

    /// Rows of an image's column matrix: C k k.
    pub fn rows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Values of one input image: C H W.
    pub fn image_in(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Whether an image is its own column matrix: a 1x1 kernel, stride 1, no padding.
    pub fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.padding == 0
    }

    /// Values of the room [`column_matrix`] needs for one image's column matrix: C k k Ho Wo (0
    /// when the image is its own).
    pub fn column_len(&self) -> usize {
        if self.is_pointwise() {
            0
        } else {
            self.rows() * self.plane_out()
        }
    }

    /// Pixels of one output plane, the columns of an image's column matrix: Ho Wo.
    pub fn plane_out(&self) -> usize {
        self.ho * self.wo
    }

    /// For kernel offset `u` along an axis of `len` input and `out` output positions: the input
    /// offset u - p, and the output positions i in [lo, hi) whose input s i + u - p is inside.
    fn valid(&self, u: usize, len: usize, out: usize) -> Valid {
        let (off, s) = (u as isize - self.padding as isize, self.stride as isize);
        let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
        let room = len as isize - off;
        let hi = if room <= 0 { 0 } else { ((room + s - 1) / s).min(out as isize) };
        (off, lo.min(hi) as usize, hi as usize)
    }

    /// [`Self::valid`] for every kernel offset, down the rows and across the columns: computed
    /// once per image, not once per row of its column matrix (each holds divisions).
    fn valid_offsets(&self) -> (Vec<Valid>, Vec<Valid>) {
        let down = (0..self.k).map(|u| self.valid(u, self.h, self.ho)).collect();
        let across = (0..self.k).map(|v| self.valid(v, self.w, self.wo)).collect();
        (down, across)
    }

    /// With stride 1 and rows as long as the image's (Wo = W), output pixel q = i Wo + j reads
    /// input pixel q + oy W + ox of its plane: for the valid rows [i0, i1) and columns [j0, j1),
    /// the span of output pixels from (i0, j0) to (i1 - 1, j1 - 1) and the input pixels they read
    /// (None for other geometries, or nothing valid). Inside the span, the columns outside
    /// [j0, j1) wrap around to the neighbouring row and must not be read as this pixel's.
    fn shifted_span(
        &self,
        i0: usize,
        i1: usize,
        j0: usize,
        j1: usize,
        oy: isize,
        ox: isize,
    ) -> Option<(Range<usize>, Range<usize>)> {
        if self.stride != 1 || self.wo != self.w || i0 >= i1 || j0 >= j1 {
            return None;
        }
        let (start, end) = (i0 * self.wo + j0, (i1 - 1) * self.wo + j1);
        // Pixel (i0, j0) reads inside the image, so its input position is not negative.
        let from = (start as isize + oy * self.w as isize + ox) as usize;
        Some((start..end, from..from + (end - start)))
    }

    /// The input position s i + off of output position i (inside the image by [`Self::valid`]).
    fn at(&self, i: usize, off: isize) -> usize {
        (self.stride as isize * i as isize + off) as usize
    }
}

/// The (C k k, Ho Wo) column matrix of the image `x` (C, H, W): `x` itself for a pointwise
/// convolution, else [`im2col`] written into `buffer` ([`Geometry::column_len`] values, whatever
/// they held before).
pub(super) fn column_matrix<'a, T: WithDType>(x: &'a [T], g: &Geometry, buffer: &'a mut [T]) -> &'a [T] {
    if g.is_pointwise() {
        return x;
    }
    im2col(x, g, buffer);
    buffer
}

/// im2col: writes the (C k k, Ho Wo) column matrix of the image `x` (C, H, W) into `cols`,
/// every entry (those outside the image as 0), so that `cols` can be reused between images.
fn im2col<T: WithDType>(x: &[T], g: &Geometry, cols: &mut [T]) {
    let (hw, howo, zero) = (g.h * g.w, g.plane_out(), T::from_f64(0.0));
    let (down, across) = g.valid_offsets();
    let (down, across) = (&down, &across);
    // Row (c, u, v) of the column matrix: plane c under kernel offset (u, v).
    let offsets = |plane| down.iter().flat_map(move |dy| across.iter().map(move |dx| (plane, dy, dx)));
    let rows = x.chunks_exact(hw).take(g.c).flat_map(offsets);
    for (row, (plane, &(oy, i0, i1), &(ox, j0, j1))) in cols.chunks_exact_mut(howo).zip(rows) {
        row[..i0 * g.wo].fill(zero);
        row[i1 * g.wo..].fill(zero);
        if let Some((span, from)) = g.shifted_span(i0, i1, j0, j1, oy, ox) {
            // The row is the plane moved: one copy, then the columns that wrapped around from
            // the neighbouring image row are set to 0.
            row[span].copy_from_slice(&plane[from]);
            zero_edges(&mut row[i0 * g.wo..i1 * g.wo], g.wo, j0, j1);
            continue;
        }
        for i in i0..i1 {
            let src = &plane[g.at(i, oy) * g.w..][..g.w];
            let dst = &mut row[i * g.wo..][..g.wo];
            dst[..j0].fill(zero);
            dst[j1.max(j0)..].fill(zero);
            for (j, d) in dst.iter_mut().enumerate().take(j1).skip(j0) {
                *d = src[g.at(j, ox)];
            }
        }
    }
}

/// col2im, the adjoint of [`im2col`]: adds every entry of the column matrix `cols` (C k k, Ho Wo)
/// to the pixel of the image `dx` (C, H, W) it was copied from. The entries of `cols` that
/// belong to no pixel (the padding) are set to 0 on the way: `cols` is scratch. The sums run
/// on the processor's wider vectors where it has them (`wide!`).
pub(super) fn col2im<T: WithDType>(cols: &mut [T], g: &Geometry, dx: &mut [T]) {
    wide! {
        let (hw, howo) = (g.h * g.w, g.plane_out());
        let (down, across) = g.valid_offsets();
        for (ci, plane) in dx.chunks_exact_mut(hw).take(g.c).enumerate() {
            for (u, &(oy, i0, i1)) in down.iter().enumerate() {
                for (v, &(ox, j0, j1)) in across.iter().enumerate() {
                    let src = &mut cols[((ci * g.k + u) * g.k + v) * howo..][..howo];
                    if let Some((span, to)) = g.shifted_span(i0, i1, j0, j1, oy, ox) {
                        // One pass over the moved rows, the wrapped-around columns zeroed
                        // first: adding +0 leaves a pixel as it is (a -0 becomes +0), so each
                        // pixel still receives its own entries, in the same order.
                        zero_edges(&mut src[i0 * g.wo..i1 * g.wo], g.wo, j0, j1);
                        for (d, &val) in plane[to].iter_mut().zip(&src[span]) {
                            *d += val;
                        }
                        continue;
                    }
                    for i in i0..i1 {
                        let dst = &mut plane[g.at(i, oy) * g.w..][..g.w];
                        let row = &src[i * g.wo..][..g.wo];
                        for (j, &val) in row.iter().enumerate().take(j1).skip(j0) {
                            dst[g.at(j, ox)] += val;
                        }
                    }
                }
            }
        }
    }
}

/// Sets columns [0, j0) and [j1, wo) of every line (wo values) of `rows` to 0: the edges a kernel
/// offset moves outside the image, one or two columns for a 3x3 kernel. One strided pass per
/// column (a `fill` per line would call memset for one or two values).
fn zero_edges<T: WithDType>(rows: &mut [T], wo: usize, j0: usize, j1: usize) {
    let zero = T::from_f64(0.0);
    for j in (0..j0).chain(j1..wo) {
        for z in rows[j..].iter_mut().step_by(wo) {
            *z = zero;
        }
    }
}
