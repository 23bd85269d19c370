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

/// Whether this machine computes with the kernels the exact-bit pins (tests/pinned.rs,
/// tests/nn_bits.rs) were taken with: x86-64 with AVX2 and FMA, where candle's matrix product
/// (gemm) and the crate's CPU engine pick the same instructions. Elsewhere (e.g. Arm's NEON) the
/// rounding differs legitimately, and those tests say that they were skipped instead of failing.
#[allow(dead_code)]
pub fn arithmetic_of_the_pins() -> bool {
    #[cfg(target_arch = "x86_64")]
    let same = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let same = false;
    if !same {
        eprintln!("skipped: the pinned bits are of x86-64 AVX2/FMA arithmetic, which this machine lacks");
    }
    same
}
