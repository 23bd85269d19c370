//! Shared by the integration tests: assert that every check of a topic holds.

use ddpm::stats::Check;

/// Asserts every check passes, printing the table either way (see it with `--nocapture`).
pub fn assert_checks(checks: Vec<Check>) {
    let table: ddpm::stats::CheckTable = checks.into_iter().collect();
    println!("{table}");
    assert!(!table.0.is_empty(), "no checks were run");
    table.assert_all();
}
