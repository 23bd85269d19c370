//! Moment tests: is a sample mean (or variance) where theory says, within a tolerance that
//! comes from the sample size?

use super::{Basis, Check};

/// How many standard errors a moment test allows. At 5 standard errors a correct
/// implementation fails about once in 1.7 million checks (two-sided normal tail), while a wrong
/// formula with a large sample is caught.
pub const DEFAULT_SIGMAS: f64 = 5.0;

/// Sample mean and unbiased sample variance (divisor n - 1) of `xs`, by Welford's method.
pub fn mean_var(xs: &[f64]) -> (f64, f64) {
    let (mut mean, mut m2) = (0.0, 0.0);
    for (i, &x) in xs.iter().enumerate() {
        let d = x - mean;
        mean += d / (i + 1) as f64;
        m2 += d * (x - mean);
    }
    let var = if xs.len() > 1 { m2 / (xs.len() - 1) as f64 } else { f64::NAN };
    (mean, var)
}

/// Pearson's sample correlation of two equally long samples (numpy's `corrcoef(a, b)[0, 1]`):
/// their sample covariance over the product of their sample standard deviations.
///
/// ```
/// let a = [1.0, 2.0, 3.0, 4.0];
/// assert!((ddpm::stats::correlation(&a, &[2.0, 4.0, 6.0, 8.0]) - 1.0).abs() < 1e-12);
/// assert!((ddpm::stats::correlation(&a, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
/// ```
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let ((ma, va), (mb, vb)) = (mean_var(a), mean_var(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / (a.len() as f64 - 1.0);
    cov / (va * vb).sqrt()
}

/// Checks that the mean of `xs` is `expected_mean`, for draws of a distribution with variance
/// `true_var`: the standard error of the mean is sqrt(true_var / n), and the tolerance is
/// `sigmas` of them.
pub fn mean_check(id: &str, what: &str, xs: &[f64], expected_mean: f64, true_var: f64, sigmas: f64) -> Check {
    let (mean, _) = mean_var(xs);
    let se = (true_var / xs.len() as f64).sqrt();
    Check::close(id, what, mean, expected_mean, sigmas * se).with_basis(Basis::sigmas(sigmas))
}

/// Checks that the sample variance of Gaussian draws `xs` is `expected_var`: for Gaussian data
/// the standard error of the sample variance is var * sqrt(2 / (n - 1)), and the tolerance is
/// `sigmas` of them.
pub fn var_check(id: &str, what: &str, xs: &[f64], expected_var: f64, sigmas: f64) -> Check {
    let (_, var) = mean_var(xs);
    let se = expected_var * (2.0 / (xs.len() as f64 - 1.0)).sqrt();
    Check::close(id, what, var, expected_var, sigmas * se).with_basis(Basis::sigmas(sigmas))
}

/// The trailing moving average of `xs` over `window` values (fewer at the start): element i is
/// the mean of xs[i + 1 - window ..= i]. For loss curves, which are noisy step to step.
pub fn moving_average(xs: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut sum = 0.0;
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            sum += x;
            if i >= window {
                sum -= xs[i - window];
            }
            sum / (i + 1).min(window) as f64
        })
        .collect()
}
