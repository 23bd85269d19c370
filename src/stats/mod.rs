//! The numeric checks: Gaussian densities, moment tests whose tolerances come from the sample
//! size, Kolmogorov-Smirnov tests, and the [`Check`] record every notebook ends with.

mod basis;
mod check;
mod check_table;
mod ks;
mod moments;

pub use basis::Basis;
pub use check::{fmt_num, Check, Relation};
pub use check_table::CheckTable;
pub use ks::{kolmogorov_sf, ks_critical, ks_one_sample, ks_two_sample, KsResult};
pub use moments::{correlation, mean_check, mean_var, moving_average, var_check, DEFAULT_SIGMAS};

/// ln N(x; mean, var) for a scalar: -(x - mean)^2 / (2 var) - ln(2 pi var) / 2.
///
/// ```
/// let lp = ddpm::stats::normal_log_pdf(0.0, 0.0, 1.0);
/// assert!((lp + 0.5 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-15);
/// ```
pub fn normal_log_pdf(x: f64, mean: f64, var: f64) -> f64 {
    let d = x - mean;
    -0.5 * (d * d / var + (2.0 * std::f64::consts::PI * var).ln())
}

/// N(x; mean, var) for a scalar.
pub fn normal_pdf(x: f64, mean: f64, var: f64) -> f64 {
    normal_log_pdf(x, mean, var).exp()
}

/// Points (x, N(x; mean, var)) of the density curve over mean ± 5 standard deviations, 201 of
/// them: the curve a histogram of draws is compared with.
///
/// ```
/// let (xs, ys) = ddpm::stats::normal_density_curve(0.0, 1.0);
/// assert_eq!((xs.len(), xs[100], ys[100]), (201, 0.0, ddpm::stats::normal_pdf(0.0, 0.0, 1.0)));
/// ```
pub fn normal_density_curve(mean: f64, var: f64) -> (Vec<f64>, Vec<f64>) {
    let sd = var.sqrt();
    let xs: Vec<f64> = (0..=200).map(|i| mean - 5.0 * sd + i as f64 * 10.0 * sd / 200.0).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| normal_pdf(x, mean, var)).collect();
    (xs, ys)
}

/// The standard normal CDF Phi(z) = (1 + erf(z / sqrt 2)) / 2, through erfc for accuracy in the tails.
///
/// ```
/// assert!((ddpm::stats::normal_cdf(1.96) - 0.9750021048517795).abs() < 1e-12); // scipy.stats.norm.cdf(1.96)
/// ```
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// ln(e^a_1 + ... + e^a_n) without overflow; -inf for an empty slice.
pub fn log_sum_exp(a: &[f64]) -> f64 {
    let m = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + a.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// The trapezoid rule: the integral of the samples `ys` at the points `xs`.
pub fn trapezoid(xs: &[f64], ys: &[f64]) -> f64 {
    xs.windows(2).zip(ys.windows(2)).map(|(x, y)| 0.5 * (x[1] - x[0]) * (y[0] + y[1])).sum()
}
