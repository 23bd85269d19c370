//! The numeric check of every equation of the course notes (EQUATIONS.md, E1-E24 and the
//! errata) that needs no trained network. `ddpm verify` prints them; `tests/` asserts them;
//! the notebooks show them topic by topic.
//!
//! Every check uses a fixed seed, so the table is the same on every run, and every statistical
//! tolerance comes from the sample size (see [`crate::stats`]).

pub mod forward;
pub mod network;
pub mod objective;
pub mod posterior;
pub mod reverse;
pub mod sampling;
pub mod schedules;

use crate::stats::{Check, CheckTable};
use crate::Result;

/// The level of the KS tests: a correct implementation fails one in a thousand seeds.
pub const KS_ALPHA: f64 = 1e-3;

/// The seed `ddpm verify` uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 2020;

/// Every check, in the order of EQUATIONS.md. The rows that need training (E19, E23) are listed
/// as skipped here; the training tests and notebooks 06-10 check them.
pub fn all(seed: u64) -> Result<CheckTable> {
    let mut table = CheckTable::new();
    table.extend(forward::e1(200_000, seed)?);
    table.extend(forward::e2(seed)?);
    table.extend(forward::e3(20_000, seed)?);
    table.extend(forward::e4(20_000, seed)?);
    table.extend(forward::e5(4_000, seed)?);
    table.extend(schedules::e6()?);
    table.extend(schedules::e7()?);
    table.extend(reverse::e8(seed)?);
    table.extend(reverse::e9()?);
    table.extend(posterior::e10()?);
    table.extend(posterior::e11(200_000, seed)?);
    table.extend(posterior::e12(seed)?);
    table.extend(reverse::e13(seed)?);
    table.extend(objective::e14(seed)?);
    table.extend(objective::e15()?);
    table.extend(objective::e16(seed)?);
    table.extend(objective::e17(seed)?);
    table.extend(objective::e18(100_000, seed)?);
    table.push(Check::skipped(
        "E19",
        "Algorithm 1: the loss falls on real data",
        "needs training: tests/train.rs, notebook 08",
    ));
    table.extend(sampling::e20(seed)?);
    table.extend(sampling::e21(seed)?);
    table.extend(network::e22(seed)?);
    table.push(Check::skipped(
        "E23",
        "class-conditional sampling gives the requested digit",
        "needs a trained model: notebook 10",
    ));
    table.extend(reverse::e24(seed)?);
    table.extend(sampling::erratum1(seed)?);
    table.extend(forward::erratum2(seed)?);
    table.extend(sampling::erratum4()?);
    Ok(table)
}

/// ln N(x; mean, Sigma) for a small dense covariance given by `cov(i, j)`, through a Cholesky
/// factorisation: an oracle independent of the Markov factorisation of the forward process.
pub fn cholesky_log_density(x: &[f64], mean: &[f64], cov: impl Fn(usize, usize) -> f64) -> Result<f64> {
    let n = x.len();
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = cov(i, j) - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 {
                    return Err(invalid!("covariance is not positive definite at row {i}"));
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    // Solve L z = x - mean; then ln N = -|z|^2/2 - sum ln L_ii - n ln(2 pi)/2.
    let mut z = vec![0.0; n];
    for i in 0..n {
        z[i] = (x[i] - mean[i] - (0..i).map(|k| l[i * n + k] * z[k]).sum::<f64>()) / l[i * n + i];
    }
    let log_det_half: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
    Ok(-0.5 * z.iter().map(|v| v * v).sum::<f64>() - log_det_half - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln())
}
