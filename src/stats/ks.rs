//! Kolmogorov-Smirnov tests: is a sample drawn from a given distribution (one sample), or are
//! two samples drawn from the same one (two samples)?
//!
//! The p-value uses the asymptotic Kolmogorov distribution with Stephens' small-sample
//! correction, lambda = (sqrt(n) + 0.12 + 0.11 / sqrt(n)) D (Stephens 1970; Press et al.,
//! Numerical Recipes, 3rd ed., Sec. 14.3.3).

use super::{Basis, Check, Relation};

/// The outcome of a KS test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KsResult {
    /// The statistic D: the largest distance between the two CDFs.
    pub d: f64,
    /// The effective sample size (n, or n m / (n + m) for two samples).
    pub n_eff: f64,
    /// The probability of a D at least this large if the hypothesis holds.
    pub p_value: f64,
}

impl KsResult {
    fn from_d(d: f64, n_eff: f64) -> Self {
        let sqrt_n = n_eff.sqrt();
        let lambda = (sqrt_n + 0.12 + 0.11 / sqrt_n) * d;
        KsResult { d, n_eff, p_value: kolmogorov_sf(lambda) }
    }

    /// A [`Check`]: D against the critical value at level `alpha` for this sample size.
    pub fn check(&self, id: &str, what: &str, alpha: f64) -> Check {
        Check::new(id, what, self.d, ks_critical(self.n_eff, alpha), Relation::AtMost)
            .with_basis(Basis::NDerived(format!("KS, alpha = {alpha}")))
    }
}

/// The Kolmogorov survival function Q(lambda) = 2 sum_{k>=1} (-1)^{k-1} exp(-2 k^2 lambda^2),
/// with the equivalent theta-function series 1 - sqrt(2 pi)/lambda sum exp(-(2k-1)^2 pi^2 / (8 lambda^2))
/// for small lambda, where the first converges slowly.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda.is_nan() {
        return f64::NAN;
    }
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        let pi2 = std::f64::consts::PI.powi(2);
        let s: f64 = (1..=8).map(|k| (-((2 * k - 1) as f64).powi(2) * pi2 / (8.0 * lambda * lambda)).exp()).sum();
        (1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * s).clamp(0.0, 1.0)
    } else {
        let s: f64 = (1..=100)
            .map(|k| if k % 2 == 1 { 1.0 } else { -1.0 } * (-2.0 * (k * k) as f64 * lambda * lambda).exp())
            .sum();
        (2.0 * s).clamp(0.0, 1.0)
    }
}

/// The critical D at level `alpha` for effective sample size `n_eff`: the D whose p-value is
/// `alpha` (found by bisection on Q). Larger samples give smaller critical values, ~ 1/sqrt(n).
pub fn ks_critical(n_eff: f64, alpha: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 10.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if kolmogorov_sf(mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let sqrt_n = n_eff.sqrt();
    0.5 * (lo + hi) / (sqrt_n + 0.12 + 0.11 / sqrt_n)
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// One-sample test of `xs` against the CDF `cdf`.
///
/// ```
/// use ddpm::stats::{ks_one_sample, normal_cdf};
/// let xs: Vec<f64> = (1..1000).map(|i| i as f64 / 1000.0).collect();
/// assert!(ks_one_sample(&xs, |x| x.clamp(0.0, 1.0)).d < 0.002); // uniform points against U(0, 1)
/// assert!(ks_one_sample(&xs, normal_cdf).p_value < 1e-6);
/// ```
pub fn ks_one_sample(xs: &[f64], cdf: impl Fn(f64) -> f64) -> KsResult {
    let v = sorted(xs);
    let n = v.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in v.iter().enumerate() {
        let f = cdf(x);
        d = d.max((i + 1) as f64 / n - f).max(f - i as f64 / n);
    }
    if v.iter().any(|x| x.is_nan()) {
        d = f64::NAN;
    }
    KsResult::from_d(d, n)
}

/// Two-sample test: are `xs` and `ys` drawn from the same distribution?
pub fn ks_two_sample(xs: &[f64], ys: &[f64]) -> KsResult {
    let (a, b) = (sorted(xs), sorted(ys));
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    if a.iter().chain(b.iter()).any(|x| x.is_nan()) {
        d = f64::NAN;
    }
    KsResult::from_d(d, n * m / (n + m))
}
