//! Shared by the integration tests: assert that every check of a topic holds.

use ddpm::stats::Check;

/// Asserts every check passes, printing the table either way (see it with `--nocapture`).
#[allow(dead_code)]
pub fn assert_checks(checks: Vec<Check>) {
    let table: ddpm::stats::CheckTable = checks.into_iter().collect();
    println!("{table}");
    assert!(!table.0.is_empty(), "no checks were run");
    table.assert_all();
}

/// The matrix-product kernels this machine runs, which decide the exact bits pinned in
/// tests/pinned.rs and tests/nn_bits.rs: candle's matrix product and the crate's convolution use
/// the `gemm` crate, which picks its kernel at run time from the processor's features.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// x86-64 with AVX2 and FMA but no AVX-512: 8 floats a vector.
    Fma,
    /// x86-64 with AVX-512F (the `x86-v4` feature of gemm, Cargo.toml): 16 floats a vector.
    Avx512,
}

/// Which pinned bits apply here: `Some(kernels)` on x86-64 with AVX2 and FMA; `None` elsewhere
/// (e.g. Arm's NEON), where the rounding differs legitimately and the pinned tests say that they
/// were skipped instead of failing.
#[allow(dead_code)]
pub fn kernels_of_the_pins() -> Option<Kernels> {
    #[cfg(target_arch = "x86_64")]
    let kernels = if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        None
    } else if is_x86_feature_detected!("avx512f") {
        Some(Kernels::Avx512)
    } else {
        Some(Kernels::Fma)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let kernels = None;
    match kernels {
        None => {
            eprintln!("skipped: the pinned bits are of x86-64 AVX2/FMA or AVX-512 arithmetic, which this machine lacks")
        }
        Some(k) => eprintln!("pinned bits of the {k:?} kernels"),
    }
    kernels
}
