//! How good is a DDPM on the 2-D ring (`ToyData::Ring`; notebook 06, E19 and E20)? The ring is
//! the Gaussian mixture `GaussianMixture::ring(8, 0.8, 0.05)`, so everything a model should get
//! is known exactly:
//!
//! - [`ring_stats`]: samples per mode, the fraction within k standard deviations of a mode, and
//!   the mean and spread of the radius |x|, against [`ring_radius_moments`] and
//!   [`within_probability_2d`], the exact values;
//! - [`eps_theta_at`], [`eps_star_at`], [`eps_relative_error`]: a network's eps_theta(x_t, t)
//!   against the optimal eps*(x_t, t) = E[eps | x_t] of the mixture;
//! - [`l_simple_floor`]: the smallest L_simple any network can reach on a mixture, the floor
//!   under a training loss curve.

use candle_core::{Device, Tensor};
use ndarray::{Array1, Array2};
use rand::Rng as _;

use crate::diffusion::q_sample;
use crate::mixture::GaussianMixture;
use crate::nn::EpsModel;
use crate::rng::{normal_vec, Rng};
use crate::{NoiseSchedule, Result};

/// What [`ring_stats`] measures on a set of 2-D samples.
#[derive(Debug, Clone, PartialEq)]
pub struct RingStats {
    /// Samples measured.
    pub n: usize,
    /// For each centre, the samples nearer to it than to any other centre.
    pub counts: Vec<usize>,
    /// The fraction of samples within `k` standard deviations of their nearest centre.
    pub near_fraction: f64,
    /// Mean of the radius |x| over the samples.
    pub radius_mean: f64,
    /// Standard deviation of the radius (divisor n - 1).
    pub radius_std: f64,
}

impl RingStats {
    /// Pearson's chi-square statistic of the counts against equal weights 1/K:
    /// sum_k (c_k - n/K)^2 / (n/K). For samples of the ring it follows chi^2 with K - 1 degrees
    /// of freedom (compare with [`chi_square_critical`]).
    pub fn chi_square(&self) -> f64 {
        let expected = self.n as f64 / self.counts.len() as f64;
        self.counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
    }

    /// The largest |c_k - n/K| in binomial standard errors sqrt(n (1/K)(1 - 1/K)): each count of
    /// a correct sampler is Binomial(n, 1/K), so this stays below about 4.
    pub fn max_count_z(&self) -> f64 {
        let k = self.counts.len() as f64;
        let (n, p) = (self.n as f64, 1.0 / k);
        let se = (n * p * (1.0 - p)).sqrt();
        self.counts.iter().map(|&c| (c as f64 - n * p).abs() / se).fold(0.0, f64::max)
    }
}

/// Per-mode counts, the fraction of samples near a mode and the radius statistics of `points`
/// (n, 2) against the ring's `centres` (K, 2) (e.g. `data::ring_centres(8, 0.8)`): a sample
/// belongs to its nearest centre, and is "near" when within `k * std` of it.
///
/// ```
/// use ddpm::{data::ring_centres, eval::toy::ring_stats, ndarray::array};
/// let centres = ring_centres(4, 1.0)?;
/// let stats = ring_stats(&array![[1.0, 0.0], [0.0, 1.2], [0.6, 0.3]], &centres, 0.1, 3.0)?;
/// assert_eq!(stats.counts, vec![2, 1, 0, 0]); // (0.6, 0.3) is nearest to (1, 0), but 0.5 away
/// assert!((stats.near_fraction - 2.0 / 3.0).abs() < 1e-12);
/// # Ok::<(), ddpm::Error>(())
/// ```
pub fn ring_stats(points: &Array2<f64>, centres: &Array2<f64>, std: f64, k: f64) -> Result<RingStats> {
    let n = points.nrows();
    if n < 2 || points.ncols() != 2 {
        return Err(invalid!("points must be (n, 2) with n >= 2, got shape {:?}", points.shape()));
    }
    if centres.nrows() == 0 || centres.ncols() != 2 {
        return Err(invalid!("centres must be (K, 2) with K >= 1, got shape {:?}", centres.shape()));
    }
    if !(std > 0.0 && std.is_finite() && k > 0.0 && k.is_finite()) {
        return Err(invalid!("std and k must be finite numbers > 0, got std = {std} and k = {k}"));
    }
    if points.iter().any(|v| !v.is_finite()) {
        return Err(invalid!("points must be finite: a sampler that diverged gives NaN or infinity"));
    }
    let mut counts = vec![0usize; centres.nrows()];
    let mut near = 0usize;
    let mut radii = Vec::with_capacity(n);
    for p in points.rows() {
        let (best, d2) = centres
            .rows()
            .into_iter()
            .map(|c| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2))
            .enumerate()
            .fold((0, f64::INFINITY), |acc, (i, d2)| if d2 < acc.1 { (i, d2) } else { acc });
        counts[best] += 1;
        near += usize::from(d2.sqrt() <= k * std);
        radii.push(p[0].hypot(p[1]));
    }
    let (radius_mean, var) = crate::stats::mean_var(&radii);
    Ok(RingStats { n, counts, near_fraction: near as f64 / n as f64, radius_mean, radius_std: var.sqrt() })
}

/// The probability that x ~ N(mu, std^2 I) in 2-D lies within `k` standard deviations of mu:
/// |x - mu|^2 / std^2 is chi-square with 2 degrees of freedom, so P = 1 - exp(-k^2 / 2)
/// (0.98889 for k = 3).
pub fn within_probability_2d(k: f64) -> f64 {
    1.0 - (-0.5 * k * k).exp()
}

/// The exact mean and standard deviation of the radius |x| for x ~ N(mu, std^2 I) in 2-D with
/// |mu| = `radius` (a Rice distribution; for the ring, every mode gives the same), by quadrature
/// in polar coordinates around mu, x = mu + std rho (cos theta, sin theta):
///
/// $$\mathrm E|x| = \int_0^\infty \rho\, e^{-\rho^2/2} \frac{1}{2\pi}\int_0^{2\pi}
///   \big|\mu + \sigma\rho(\cos\theta, \sin\theta)\big|\, d\theta\, d\rho,
///   \qquad \mathrm E|x|^2 = r^2 + 2\sigma^2$$
///
/// (midpoint rule, rho up to 12). For radius >> std, E|x| is close to r + std^2 / (2 r) and the
/// standard deviation close to std.
pub fn ring_radius_moments(radius: f64, std: f64) -> Result<(f64, f64)> {
    if !(radius >= 0.0 && radius.is_finite() && std > 0.0 && std.is_finite()) {
        return Err(invalid!(
            "radius must be finite and >= 0 and std finite and > 0, got radius = {radius}, std = {std}"
        ));
    }
    let (n_rho, n_theta, rho_max) = (4000usize, 256usize, 12.0);
    let (h_rho, h_theta) = (rho_max / n_rho as f64, 2.0 * std::f64::consts::PI / n_theta as f64);
    let angles: Vec<(f64, f64)> = (0..n_theta).map(|j| ((j as f64 + 0.5) * h_theta).sin_cos()).collect();
    let mut mean = 0.0;
    for i in 0..n_rho {
        let rho = (i as f64 + 0.5) * h_rho;
        let ring_avg =
            angles.iter().map(|&(s, c)| (radius + std * rho * c).hypot(std * rho * s)).sum::<f64>() / n_theta as f64;
        mean += rho * (-0.5 * rho * rho).exp() * ring_avg * h_rho;
    }
    let second = radius * radius + 2.0 * std * std;
    Ok((mean, (second - mean * mean).max(0.0).sqrt()))
}

/// The chi-square value that a chi^2 variable with `df` degrees of freedom exceeds with the
/// probability that N(0, 1) exceeds `z` (Wilson and Hilferty 1931):
/// df (1 - 2/(9 df) + z sqrt(2/(9 df)))^3. For df = 7 and z = 3.090 (level 0.001) it gives
/// 24.5 (tables: 24.32).
pub fn chi_square_critical(df: usize, z: f64) -> f64 {
    let k = df.max(1) as f64;
    let c = 2.0 / (9.0 * k);
    k * (1.0 - c + z * c.sqrt()).powi(3)
}

/// The network's eps_theta(x_t, t) at every row of `points` (n, d), the same t for all, as f64
/// (the network runs in f32 on `device`, in evaluation mode, without a graph for gradients).
pub fn eps_theta_at<M: EpsModel>(model: &M, points: &Array2<f64>, t: usize, device: &Device) -> Result<Array2<f64>> {
    let (n, d) = points.dim();
    if n == 0 || t == 0 {
        return Err(invalid!("need at least one point and t >= 1, got {n} points and t = {t}"));
    }
    let x = Tensor::from_vec(points.iter().map(|&v| v as f32).collect::<Vec<f32>>(), (n, d), device)?;
    let t = Tensor::full(t as u32, n, device)?;
    let eps = model.eps_theta(&x, &t, None, false)?.detach();
    crate::sample::output::to_array(&eps)
}

/// The optimal eps*(x_t, t) = E[eps | x_t] of `mixture` ([`GaussianMixture::eps_star`]) at every
/// row of `points` (n, d).
pub fn eps_star_at(
    mixture: &GaussianMixture,
    schedule: &NoiseSchedule,
    t: usize,
    points: &Array2<f64>,
) -> Result<Array2<f64>> {
    let mut out = Array2::zeros(points.raw_dim());
    for (p, mut row) in points.rows().into_iter().zip(out.rows_mut()) {
        let eps = mixture.eps_star(schedule, t, &p.to_vec())?;
        row.iter_mut().zip(eps).for_each(|(o, e)| *o = e);
    }
    Ok(out)
}

/// The relative error of `pred` against `exact` (both (n, d)), over all rows together:
///
/// $$\sqrt{\frac{\sum_i \lVert \hat\epsilon_i - \epsilon^*_i \rVert^2}{\sum_i \lVert \epsilon^*_i \rVert^2}}$$
///
/// With rows drawn from q(x_t), the numerator is n times the excess of the loss over its minimum
/// at this t: L_simple(theta) = L_simple(eps*) + E||eps_theta - eps*||^2.
pub fn eps_relative_error(pred: &Array2<f64>, exact: &Array2<f64>) -> Result<f64> {
    if pred.dim() != exact.dim() || pred.is_empty() {
        return Err(invalid!(
            "pred and exact must have the same non-empty shape, got {:?} and {:?}",
            pred.dim(),
            exact.dim()
        ));
    }
    let diff: f64 = pred.iter().zip(exact).map(|(p, e)| (p - e).powi(2)).sum();
    let norm: f64 = exact.iter().map(|e| e * e).sum();
    if !(norm > 0.0) {
        return Err(invalid!("the exact eps is zero everywhere: the relative error is undefined"));
    }
    Ok((diff / norm).sqrt())
}

/// The smallest value of L_simple (Ho et al. 2020, Eq. 14; E18), reached by the optimal
/// eps*(x_t, t) = E[eps | x_t], by Monte Carlo over `n` draws of Algorithm 1's lines 2-4 from `rng`
/// (x_0 from `mixture`, t uniform in 1..=T, eps ~ N(0, I)):
///
/// $$L^* = \mathbb E_{t, x_0, \epsilon}\, \frac1d \big\lVert \epsilon - \epsilon^*(\sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon, t) \big\rVert^2$$
///
/// Returns (the estimate, its standard error). A trained network's loss approaches L* from above:
/// L(theta) = L* + E||eps_theta - eps*||^2 / d. L* > 0 because x_t alone does not tell which noise
/// was added.
pub fn l_simple_floor(
    mixture: &GaussianMixture,
    schedule: &NoiseSchedule,
    n: usize,
    rng: &mut Rng,
) -> Result<(f64, f64)> {
    if n < 2 {
        return Err(invalid!("n (the number of draws) must be at least 2, got {n}"));
    }
    let d = mixture.dim();
    let x0 = mixture.sample(rng, n);
    let mut values = Vec::with_capacity(n);
    for row in x0.rows() {
        let t = rng.random_range(1..=schedule.steps());
        let eps = Array1::from(normal_vec(rng, d));
        let xt = q_sample(schedule, &row.to_owned(), t, &eps)?;
        let best = mixture.eps_star(schedule, t, &xt.to_vec())?;
        values.push(eps.iter().zip(&best).map(|(e, b)| (e - b).powi(2)).sum::<f64>() / d as f64);
    }
    let (mean, var) = crate::stats::mean_var(&values);
    Ok((mean, (var / n as f64).sqrt()))
}
