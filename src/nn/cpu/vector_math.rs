//! Element-wise arithmetic written so that loops over it compile to vector instructions, for the
//! CPU kernels (`group_norm.rs`, `silu.rs`, `softmax.rs`, `conv_op.rs`, `conv_cols.rs`): sums in
//! interleaved partial sums instead of one chain of dependent additions, and an exp (so a
//! logistic function) without a library call per value; and [`on_wide_vectors`] (`wide!`), which
//! runs such loops on the processor's wider vectors where it has them.

use candle_core::WithDType;

/// Runs `f` compiled for AVX-512 where the processor has it, else for AVX2 where it has that
/// (checked at run time, once per call; the check is a cached flag), else as built for the
/// baseline x86-64 the crate targets (SSE2): the same operations on 16 or 8 values at a time
/// instead of 4. Rust neither fuses nor reorders floating-point operations, whatever the target
/// features, so the numbers are the same every way; `tests/nn_bits.rs` pins those of the kernels
/// as this processor runs them, and `make check-dispatch` runs it again on an emulated processor
/// without AVX-512. `f`, called once from one place, is inlined into the AVX-512 and AVX2
/// functions, and with it the loops it contains; they must not be behind a further call that is
/// not inlined (a rayon task): call it inside the task.
#[inline(always)]
pub(super) fn on_wide_vectors<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has AVX-512, checked just above.
        return unsafe { with_avx512(f) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe { with_avx2(f) };
    }
    f()
}

/// `wide! { statements }`: [`on_wide_vectors`] of a closure running the statements, marked
/// `#[inline(always)]` so that it is compiled into the AVX-512 and AVX2 functions (a closure is
/// not always inlined otherwise).
macro_rules! wide {
    ($($body:tt)*) => {
        $crate::nn::cpu::vector_math::on_wide_vectors(#[inline(always)] || { $($body)* })
    };
}
pub(super) use wide;

/// `f()` with AVX2 enabled for everything inlined into it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `f()` with AVX-512 enabled for everything inlined into it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The sum of f(a_i, b_i) over i (`b` at least as long as `a`), in f64 across blocks of
/// [`BLOCK`] terms and in eight f32 lanes within a block: a loop the compiler turns into vector
/// instructions (a single f64 accumulator is a chain of dependent additions), and with each f32
/// lane adding at most BLOCK / 8 terms before the f64 sum takes them.
#[inline(always)]
pub(super) fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    const LANES: usize = 8;
    let mut total = 0f64;
    for (a, b) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let mut acc = [0f32; LANES];
        let (a8, b8) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let (a_rest, b_rest) = (a8.remainder(), &b[a.len() - a.len() % LANES..]);
        for (a, b) in a8.zip(b8) {
            for i in 0..LANES {
                acc[i] += f(a[i], b[i]);
            }
        }
        let rest: f32 = a_rest.iter().zip(b_rest).map(|(&a, &b)| f(a, b)).sum();
        total += (acc.iter().sum::<f32>() + rest) as f64;
    }
    total
}

/// Terms per f64 partial sum in [`lane_sum`].
const BLOCK: usize = 256;

/// The logistic function 1 / (1 + e^-x).
#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// e^x for x in [-87, 88] (clamped there), within 6e-7 relative: x = n ln 2 + f with n the
/// integer nearest x / ln 2 and |f| <= ln(2) / 2, f computed with ln 2 split in two parts (Cody
/// and Waite 1980) so that it keeps its precision; then e^f from its Taylor series to degree 6
/// (the remainder is at most (ln(2) / 2)^7 / 7! < 1.3e-7) and 2^n written into the exponent bits.
/// Unlike the C library's `expf`, a function call per value, a loop over it compiles to vector
/// instructions.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer (|t| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with few significant bits, so that n LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + ROUND; // ROUND + n
    let n = t - ROUND;
    let f = (x - n * LN2_HI) - n * LN2_LO; // e^x = 2^n e^f
    let p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // 2^n: t has ROUND's exponent, so n is the difference of their bits, integer arithmetic that
    // vectorises (`n as i32`, a saturating conversion, is done one value at a time).
    p * f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23)
}

/// The sum of `values` in eight interleaved partial sums, added at the end: a loop that compiles
/// to vector instructions, where one running sum is a chain of dependent additions.
pub(super) fn sum<T: WithDType>(values: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut lanes = [zero; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder().iter().fold(zero, |acc, &v| acc + v);
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().fold(rest, |acc, &v| acc + v)
}

#[cfg(test)]
mod tests {
    use super::{exp, lane_sum, sigmoid, sum};

    #[test]
    fn exp_is_within_its_error_bound_over_its_whole_range() {
        // Bound: the Taylor remainder (< 1.3e-7) plus the rounding of about eight f32 operations
        // (8 x 2^-24 = 4.8e-7; LN2_LO's own rounding adds n 2^-37 < 1e-9). Every 1e-4 of
        // [-87, 88], against f64's exp.
        let mut worst = 0f64;
        for i in 0..=1_750_000 {
            let x = -87.0 + i as f32 * 1e-4;
            let exact = (x as f64).exp();
            worst = worst.max(((exp(x) as f64) - exact).abs() / exact);
        }
        assert!(worst < 1.3e-7 + 4.8e-7, "relative error up to {worst:e}");
        // Outside the range it saturates instead of overflowing to infinity or NaN.
        assert_eq!(exp(1000.0), exp(88.0));
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) == exp(-87.0));
        assert!(sigmoid(-1000.0) >= 0.0 && sigmoid(1000.0) == 1.0 && sigmoid(0.0) == 0.5);
    }

    #[test]
    fn the_lane_sums_equal_plain_sums() {
        // Lengths around the 8 lanes and the 256-term blocks; values whose f64 sum is exact.
        for len in [0, 1, 7, 8, 9, 255, 256, 257, 1000] {
            let a: Vec<f32> = (0..len).map(|i| (i % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..len).map(|i| (i % 5) as f32 * 0.5).collect();
            let exact: f64 = a.iter().zip(&b).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert_eq!(lane_sum(&a, &b, |a, b| a * b), exact, "length {len}");
            let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
            assert_eq!(sum(&a64), a64.iter().sum::<f64>(), "length {len}");
        }
    }
}
