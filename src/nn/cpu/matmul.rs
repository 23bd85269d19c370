//! Matrix products on slices through the `gemm` crate (candle's own), for the CPU kernels: no
//! tensor is allocated, and the destination can be any slice, an image of a batch say.

use candle_core::WithDType;
use gemm::Parallelism;

/// A row-major matrix inside a slice: entry (i, j) at `data[i * rs + j * cs]`.
pub(super) struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A contiguous (rows, cols) matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transpose of a contiguous (cols, rows) matrix, as a (rows, cols) view.
    pub fn transposed(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: 1, cs: rows }
    }

    /// Whether every entry lies inside `data`.
    fn fits(&self) -> bool {
        self.rows * self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst` (a.rows, b.cols), contiguous = a b, or `dst + a b` if `accumulate`.
pub(super) fn matmul<T: WithDType>(dst: &mut [T], a: &Mat<T>, b: &Mat<T>, accumulate: bool, par: Parallelism) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert!(b.rows == k && dst.len() >= m * n && a.fits() && b.fits(), "matmul: matrix sizes");
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
pub(super) fn inner_parallelism(images: usize) -> Parallelism {
    match rayon::current_num_threads() {
        n if n > 1 && images < n => Parallelism::Rayon(n),
        _ => Parallelism::None,
    }
}
