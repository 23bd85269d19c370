//! Checks of the reverse process on a Gaussian mixture, where everything is exact:
//! E8, E9, E13, E24 (notes 001, 003).

use ndarray::Array1;

use crate::forward::q_sample;
use crate::mixture::GaussianMixture;
use crate::rng::{normal_vec, seeded};
use crate::schedule::linspace;
use crate::stats::{ks_one_sample, normal_cdf, Check};
use crate::{BetaSchedule, NoiseSchedule, Result};

use super::KS_ALPHA;

/// The two-mode 1-D data set used throughout: modes at -0.6 and 0.6 with std 0.1.
pub fn bimodal() -> Result<GaussianMixture> {
    GaussianMixture::new(vec![0.5, 0.5], vec![vec![-0.6], vec![0.6]], vec![0.1, 0.1])
}

/// E8: the reverse chain p(x_T) prod p(x_{t-1} | x_t), run with the exact reverse conditionals of
/// a one-point data set, returns that point.
pub fn e8(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let data = GaussianMixture::from_points(&[vec![0.37]])?;
    let x = data.ancestral_sample_exact(&s, &mut seeded(seed), 20)?;
    let worst = x.iter().fold(0.0f64, |m, v| m.max((v - 0.37).abs()));
    Ok(vec![
        Check::close("E8", "exact reverse chain of a one-point data set: max |x_0 - point|", worst, 0.0, 1e-9).exact()
    ])
}

/// E9: the true reverse conditional q(x_{t-1} | x_t) of the bimodal data, computed exactly, is
/// nearly Gaussian for a small beta_t and far from Gaussian for a large one (why many small steps).
/// The measure is the total-variation distance to the Gaussian with the same mean and variance.
pub fn e9() -> Result<Vec<Check>> {
    let data = bimodal()?;
    let grid = linspace(-3.0, 3.0, 6001);
    let small = NoiseSchedule::linear(1000)?;
    let large = NoiseSchedule::new(BetaSchedule::Custom(vec![0.5, 0.5]), 2)?;
    let xt = [0.0];
    let ng_small = data.reverse(&small, 200, &xt)?.non_gaussianity_1d(&grid)?;
    let ng_large = data.reverse(&large, 1, &xt)?.non_gaussianity_1d(&grid)?;
    Ok(vec![
        Check::at_most("E9", "TV distance to a Gaussian, beta_t = 0.004 (linear, t=200)", ng_small, 0.02)
            .guard("x_t = 0 on a grid: 'close to Gaussian' means TV <= 0.02"),
        Check::at_least("E9", "TV distance to a Gaussian, beta_t = 0.5 (T=2, t=1)", ng_large, 0.1)
            .guard("x_t = 0 on a grid: 'visibly not Gaussian' means TV >= 0.1"),
    ])
}

/// E13: for a finite data set of N points, q(x_t) is a mixture of N Gaussians: computable, at a
/// cost that grows with N. Its CDF matches forward-process samples (KS), for N = 10, 100, 1000.
pub fn e13(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let t = 100;
    let mut checks = Vec::new();
    let mut rng = seeded(seed);
    for n_points in [10, 100, 1000] {
        let points: Vec<Vec<f64>> =
            normal_vec(&mut rng, n_points).into_iter().map(|z| vec![(0.5 * z).tanh()]).collect();
        let data = GaussianMixture::from_points(&points)?;
        let q_t = data.marginal(&s, t)?;
        checks.push(
            Check::close(
                "E13",
                &format!("N={n_points}: components of q(x_t) = N"),
                q_t.n_components() as f64,
                n_points as f64,
                0.0,
            )
            .exact(),
        );
        let n = 5000;
        let x0 = Array1::from_iter((0..n).map(|i| points[i % n_points][0]));
        let xt = q_sample(&s, &x0, t, &Array1::from(normal_vec(&mut rng, n)))?;
        let cdf = |x: f64| {
            q_t.weights()
                .iter()
                .zip(q_t.means())
                .zip(q_t.stds())
                .map(|((w, m), sd)| w * normal_cdf((x - m[0]) / sd))
                .sum::<f64>()
        };
        checks.push(ks_one_sample(xt.as_slice().unwrap_or(&[]), cdf).check(
            "E13",
            &format!("N={n_points}: forward samples vs mixture q(x_t) (KS D)"),
            KS_ALPHA,
        ));
    }
    Ok(checks)
}

/// E24: the score of q(x_t) equals -eps* / sqrt(1 - alpha_bar_t), where eps* = E[eps | x_t] is
/// the optimal noise predictor (Song et al. 2021; note 003), for a 2-D ring at several t.
pub fn e24(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let data = GaussianMixture::ring(8, 0.8, 0.05)?;
    let mut rng = seeded(seed);
    let mut worst = 0.0f64;
    for t in [1, 10, 100, 500, 1000] {
        for _ in 0..20 {
            let x = normal_vec(&mut rng, 2);
            let score = data.score(&s, t, &x)?;
            let eps = data.eps_star(&s, t, &x)?;
            let k = s.sqrt_one_minus_alpha_bar(t);
            for (a, e) in score.iter().zip(&eps) {
                worst = worst.max((a + e / k).abs() / a.abs().max(1.0));
            }
        }
    }
    Ok(vec![Check::close("E24", "ring: score + eps*/sqrt(1-alpha_bar), max relative", worst, 0.0, 1e-10).exact()])
}
