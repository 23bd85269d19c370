//! Checks of the posterior q(x_{t-1} | x_t, x_0), E10-E12 (note 002).

use ndarray::Array1;
use rand::Rng as _;

use crate::diffusion::{p_mean, q_posterior_mean};
use crate::forward::{q_sample, q_step_sample};
use crate::posterior::posterior_density_bayes;
use crate::rng::{normal_vec, seeded};
use crate::schedule::linspace;
use crate::stats::{normal_pdf, trapezoid, Check, DEFAULT_SIGMAS};
use crate::{NoiseSchedule, Result};

/// E10 and E11: Bayes' rule evaluated on a fine grid gives the density N(mu_tilde, beta_tilde)
/// of the closed form, and integrates to 1.
pub fn e10() -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let (x0, xt) = (0.6, -0.2);
    let mut checks = Vec::new();
    for t in [2, 10, 500, 1000] {
        let mean = q_posterior_mean(&s, &Array1::from(vec![x0]), &Array1::from(vec![xt]), t)?[0];
        let std = s.beta_tilde(t).sqrt();
        let grid = linspace(mean - 10.0 * std, mean + 10.0 * std, 4001);
        let bayes = posterior_density_bayes(&s, t, x0, xt, &grid)?;
        let peak = 1.0 / (2.0 * std::f64::consts::PI * s.beta_tilde(t)).sqrt();
        let worst = grid
            .iter()
            .zip(&bayes)
            .map(|(&x, &b)| (b - normal_pdf(x, mean, s.beta_tilde(t))).abs())
            .fold(0.0, f64::max);
        checks.push(
            Check::close(
                "E10",
                &format!("t={t}: grid Bayes vs N(mu_tilde, beta_tilde), max |diff| / peak"),
                worst / peak,
                0.0,
                1e-9,
            )
            .exact(),
        );
        // The trapezoid rule on +-10 std with 4000 intervals is exact to ~1e-10 for a Gaussian.
        checks.push(
            Check::close(
                "E10",
                &format!("t={t}: grid Bayes density integrates to 1"),
                trapezoid(&grid, &bayes),
                1.0,
                1e-8,
            )
            .exact(),
        );
    }
    Ok(checks)
}

/// E11: a Monte Carlo regression of x_{t-1} on (x_0, x_t), over triples drawn from the forward
/// process, recovers the two coefficients of mu_tilde and the residual variance beta_tilde.
/// Tolerances: five standard errors of least squares, sqrt(beta_tilde (X^T X)^{-1}_jj), and of
/// a Gaussian sample variance, beta_tilde sqrt(2 / n).
pub fn e11(n: usize, seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let t = 50;
    let mut rng = seeded(seed);
    let x0 = Array1::from_iter((0..n).map(|_| rng.random_range(-1.0..1.0)));
    let x_prev = q_sample(&s, &x0, t - 1, &Array1::from(normal_vec(&mut rng, n)))?;
    let xt = q_step_sample(&s, &x_prev, t, &Array1::from(normal_vec(&mut rng, n)))?;
    // Normal equations for x_prev ~ a x0 + b xt.
    let (s00, s01, s11) = (x0.dot(&x0), x0.dot(&xt), xt.dot(&xt));
    let (r0, r1) = (x0.dot(&x_prev), xt.dot(&x_prev));
    let det = s00 * s11 - s01 * s01;
    let a = (s11 * r0 - s01 * r1) / det;
    let b = (s00 * r1 - s01 * r0) / det;
    let resid: f64 = (0..n).map(|i| (x_prev[i] - a * x0[i] - b * xt[i]).powi(2)).sum::<f64>() / (n - 2) as f64;
    let bt = s.beta_tilde(t);
    let (se_a, se_b) = ((bt * s11 / det).sqrt(), (bt * s00 / det).sqrt());
    let se_var = bt * (2.0 / n as f64).sqrt();
    Ok(vec![
        Check::close(
            "E11",
            "t=50: regression coefficient of x_0 = mu_tilde_coef_x0",
            a,
            s.mu_tilde_coef_x0(t),
            DEFAULT_SIGMAS * se_a,
        )
        .n_derived(DEFAULT_SIGMAS),
        Check::close(
            "E11",
            "t=50: regression coefficient of x_t = mu_tilde_coef_xt",
            b,
            s.mu_tilde_coef_xt(t),
            DEFAULT_SIGMAS * se_b,
        )
        .n_derived(DEFAULT_SIGMAS),
        Check::close("E11", "t=50: residual variance = beta_tilde", resid, bt, DEFAULT_SIGMAS * se_var)
            .n_derived(DEFAULT_SIGMAS),
    ])
}

/// E12: the x_0 form and the eps form of mu_tilde agree to 1e-12 on random inputs for every t.
pub fn e12(seed: u64) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for s in [NoiseSchedule::linear(1000)?, NoiseSchedule::cosine(1000)?] {
        let mut rng = seeded(seed);
        let mut worst = 0.0f64;
        for t in 1..=s.steps() {
            let x0 = Array1::from_iter((0..16).map(|_| rng.random_range(-1.0..1.0)));
            let eps = Array1::from(normal_vec(&mut rng, 16));
            let xt = q_sample(&s, &x0, t, &eps)?;
            let a = q_posterior_mean(&s, &x0, &xt, t)?;
            let b = p_mean(&s, &xt, t, &eps)?;
            worst = worst.max((&a - &b).iter().fold(0.0, |m, d| m.max(d.abs())));
        }
        checks.push(
            Check::close(
                "E12",
                &format!("{}: mu_tilde x_0 form - eps form, max over all t", s.schedule().name()),
                worst,
                0.0,
                1e-12,
            )
            .exact(),
        );
    }
    Ok(checks)
}
