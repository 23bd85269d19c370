//! Checks of the objective, E14-E18 (notes 003, 004).

use ndarray::Array1;
use rand::Rng as _;

use crate::diffusion::{p_mean, q_posterior_mean};
use crate::forward::q_sample;
use crate::mixture::GaussianMixture;
use crate::objective::{
    bound_along_path, eps_weight, gaussian_kl, l_simple, mean_form_loss, normal_kl, vlb_terms, Decoder,
};
use crate::posterior::ReverseVar;
use crate::rng::{normal_vec, seeded};
use crate::schedule::linspace;
use crate::stats::{mean_var, normal_log_pdf, normal_pdf, trapezoid, Check, DEFAULT_SIGMAS};
use crate::{NoiseSchedule, Result};

/// The data of E14 and E16: one Gaussian N(0.4, 0.3^2) in 1-D. Every q(x_t) is then Gaussian
/// and every reverse conditional q(x_{t-1} | x_t) exactly Gaussian, so a Gaussian model can be exact.
pub fn gaussian_data() -> Result<GaussianMixture> {
    GaussianMixture::new(vec![1.0], vec![vec![0.4]], vec![0.3])
}

/// The exact model: the true reverse step q(x_{t-1} | x_t) of `data` at (x_t, t), as (mean,
/// variance); a Gaussian when `data` is one Gaussian ([`GaussianMixture::reverse`]).
pub fn exact_step(data: &GaussianMixture, s: &NoiseSchedule, xt: &Array1<f64>, t: usize) -> Result<(Array1<f64>, f64)> {
    let r = data.reverse(s, t, xt.as_slice().unwrap_or(&[]))?;
    Ok((Array1::from(r.means()[0].clone()), r.stds()[0].powi(2).max(1e-300)))
}

/// The DDPM model: the reverse step of Algorithm 2 with the exact eps of `data` (the best
/// eps_theta) and sigma_t^2 = beta_t, as (mean, variance). Its variance is not the exact one.
pub fn ddpm_step(data: &GaussianMixture, s: &NoiseSchedule, xt: &Array1<f64>, t: usize) -> Result<(Array1<f64>, f64)> {
    let eps = Array1::from(data.eps_star(s, t, xt.as_slice().unwrap_or(&[]))?);
    Ok((p_mean(s, xt, t, &eps)?, ReverseVar::Beta.sigma_sq(s, t)?))
}

/// p_theta(x_0) = N(mean, var), exactly, for a 1-D model whose reverse steps are linear-Gaussian,
/// mean_t(x) = a_t x + c_t with a variance v_t that does not depend on x (both models above, for
/// [`gaussian_data`]). Reads a_t and c_t off `step` at x = 0 and x = 1, then carries p(x_T) =
/// N(prior) down the chain: m <- a_t m + c_t, v <- a_t^2 v + v_t. The oracle of E14 for -ln p_theta(x_0).
pub fn linear_gaussian_marginal<F>(s: &NoiseSchedule, mut step: F, prior: (f64, f64)) -> Result<(f64, f64)>
where
    F: FnMut(&Array1<f64>, usize) -> Result<(Array1<f64>, f64)>,
{
    let (mut m, mut v) = prior;
    for t in (1..=s.steps()).rev() {
        let mut at = |x: f64| -> Result<(f64, f64)> {
            let (mean, var) = step(&Array1::from(vec![x]), t)?;
            Ok((*mean.first().unwrap_or(&f64::NAN), var))
        };
        let ((c, var), (a1, _), (a2, var2)) = (at(0.0)?, at(1.0)?, at(2.0)?);
        let a = a1 - c;
        if (a2 - (2.0 * a + c)).abs() > 1e-9 * (1.0 + a2.abs()) || (var2 - var).abs() > 1e-12 * var {
            return Err(invalid!(
                "the model's step at t = {t} is not linear-Gaussian (mean not affine in x_t or variance varies)"
            ));
        }
        (m, v) = (a * m + c, a * a * v + var);
    }
    Ok((m, v))
}

/// E14: for Gaussian data, where ln q(x_0) is known exactly, the bound is tight for the exact
/// model (every path gives exactly -ln q(x_0)), and holds for the DDPM model with sigma^2 = beta,
/// whose own -ln p_theta(x_0) is computed exactly by propagating its linear-Gaussian steps.
pub fn e14(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(100)?;
    let data = gaussian_data()?;
    let x0 = 0.55;
    let x0a = Array1::from(vec![x0]);
    let nll = -data.log_density(&[x0])?;
    let mut rng = seeded(seed);
    let prior_exact = data.marginal(&s, s.steps())?;
    let prior = (prior_exact.means()[0][0], prior_exact.stds()[0].powi(2));
    let mut worst = 0.0f64;
    for _ in 0..5 {
        let l = bound_along_path(&s, &x0a, |xt, t| exact_step(&data, &s, xt, t), prior, &mut rng)?;
        worst = worst.max((l - nll).abs());
    }
    // The DDPM model is linear-Gaussian: carry p(x_T) = N(0, 1) down to x_0.
    let (m, v) = linear_gaussian_marginal(&s, |xt, t| ddpm_step(&data, &s, xt, t), (0.0, 1.0))?;
    let model_nll = -normal_log_pdf(x0, m, v);
    let n = 400;
    let bounds: Vec<f64> = (0..n)
        .map(|_| bound_along_path(&s, &x0a, |xt, t| ddpm_step(&data, &s, xt, t), (0.0, 1.0), &mut rng))
        .collect::<Result<_>>()?;
    let (mean, var) = mean_var(&bounds);
    Ok(vec![
        Check::close("E14", "exact model: |bound - (-ln q(x_0))|, max over 5 paths", worst, 0.0, 1e-9).exact(),
        Check::at_least(
            "E14",
            "DDPM model: bound (MC mean) + 5 SE >= its exact -ln p_theta(x_0)",
            mean + DEFAULT_SIGMAS * (var / n as f64).sqrt(),
            model_nll,
        )
        .n_derived(DEFAULT_SIGMAS),
    ])
}

/// E15: the closed-form KL of two Gaussians equals the numerical integral of p ln(p / q).
pub fn e15() -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for (m1, s1, m2, s2) in [(0.3, 0.5, -0.2, 1.3), (0.0, 1.0, 1.0, 1.0), (1.5, 0.2, 0.0, 0.9)] {
        let grid = linspace(m1 - 12.0 * s1, m1 + 12.0 * s1, 20_001);
        let integrand: Vec<f64> = grid
            .iter()
            .map(|&x| normal_pdf(x, m1, s1 * s1) * (normal_log_pdf(x, m1, s1 * s1) - normal_log_pdf(x, m2, s2 * s2)))
            .collect();
        let closed = normal_kl(m1, (s1 * s1).ln(), m2, (s2 * s2).ln());
        checks.push(
            Check::close(
                "E15",
                &format!("KL(N({m1},{s1}^2) || N({m2},{s2}^2)): closed form vs integral"),
                closed,
                trapezoid(&grid, &integrand),
                1e-8,
            )
            .exact(),
        );
    }
    Ok(checks)
}

/// E16: the sum of the terms L_T + sum L_{t-1} + L_0 (closed-form KLs at sampled x_t) equals the
/// bound of E14 computed directly along paths: both are Monte Carlo estimates of the same
/// expectation, compared within five combined standard errors.
pub fn e16(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(100)?;
    let data = gaussian_data()?;
    let x0 = 0.55;
    let mut rng = seeded(seed);
    let n = 400;
    let x0a = Array1::from(vec![x0]);
    let mut terms = Vec::with_capacity(n);
    let mut direct = Vec::with_capacity(n);
    for _ in 0..n {
        let v = vlb_terms(&s, &x0a, |xt, t| ddpm_step(&data, &s, xt, t), (0.0, 1.0), Decoder::Gaussian, &mut rng)?;
        terms.push(v.total());
        direct.push(bound_along_path(&s, &x0a, |xt, t| ddpm_step(&data, &s, xt, t), (0.0, 1.0), &mut rng)?);
    }
    let ((mt, vt), (md, vd)) = (mean_var(&terms), mean_var(&direct));
    let se = ((vt + vd) / n as f64).sqrt();
    Ok(vec![Check::close(
        "E16",
        "DDPM model: sum of the terms vs bound along paths (MC means)",
        mt,
        md,
        DEFAULT_SIGMAS * se,
    )
    .n_derived(DEFAULT_SIGMAS)])
}

/// E17: L_{t-1} - C in the mean form equals the weighted eps form, for any eps_theta.
pub fn e17(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let mut rng = seeded(seed);
    let mut worst = 0.0f64;
    for t in [2, 10, 100, 500, 1000] {
        let x0 = Array1::from_iter((0..8).map(|_| rng.random_range(-1.0..1.0)));
        let eps = Array1::from(normal_vec(&mut rng, 8));
        let eps_theta = &eps + &Array1::from(normal_vec(&mut rng, 8)).mapv(|e| 0.3 * e);
        let xt = q_sample(&s, &x0, t, &eps)?;
        for sigma in [ReverseVar::Beta, ReverseVar::BetaTilde] {
            let sigma_sq = sigma.sigma_sq(&s, t)?;
            let mean_form =
                mean_form_loss(&q_posterior_mean(&s, &x0, &xt, t)?, &p_mean(&s, &xt, t, &eps_theta)?, sigma_sq)?;
            let eps_form = eps_weight(&s, t, sigma_sq)? * (&eps - &eps_theta).mapv(|d| d * d).sum();
            worst = worst.max((mean_form - eps_form).abs() / eps_form.abs().max(1e-300));
        }
    }
    let weights: Vec<f64> = (1..=s.steps()).map(|t| eps_weight(&s, t, s.beta(t))).collect::<Result<_>>()?;
    let (w_min, w_max) = weights.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &w| (lo.min(w), hi.max(w)));
    Ok(vec![
        Check::close("E17", "mean form vs eps form of L_{t-1}, max relative difference", worst, 0.0, 1e-10).exact(),
        Check::holds("E17", "linear, sigma^2 = beta: the eps weight is largest at t = 1", weights[0] == w_max).exact(),
        Check::at_least("E17", "linear, sigma^2 = beta: largest / smallest eps weight", w_max / w_min, 10.0)
            .guard("linear schedule, T = 1000: an order of magnitude"),
        // lambda_1 = beta_1 / (2 alpha_1 beta_1) = 1 / (2 (1 - 1e-4)): the first step weighs most.
        Check::rel_close("E17", "linear, sigma^2 = beta: weight at t = 1", weights[0], 0.5 / (1.0 - 1e-4), 1e-12)
            .exact(),
        Check::close(
            "E17",
            "gaussian_kl of equal Gaussians is 0",
            gaussian_kl(&Array1::from(vec![0.1]), 0.5, &Array1::from(vec![0.1]), 0.5)?,
            0.0,
            1e-15,
        )
        .exact(),
    ])
}

/// E18: a predictor whose last layer is zero outputs eps_pred = 0, and then L_simple = E|eps|^2
/// per element = 1 (standard error sqrt(Var(eps^2) / n) = sqrt(2 / n)).
pub fn e18(n: usize, seed: u64) -> Result<Vec<Check>> {
    let eps = Array1::from(normal_vec(&mut seeded(seed), n));
    let l = l_simple(&eps, &Array1::zeros(n))?;
    Ok(vec![Check::close(
        "E18",
        "L_simple of the zero predictor (the zero-initialised last layer)",
        l,
        1.0,
        DEFAULT_SIGMAS * (2.0 / n as f64).sqrt(),
    )
    .n_derived(DEFAULT_SIGMAS)])
}
