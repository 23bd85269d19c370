//! Checks of the forward process, E1-E5 (notes 000-004).

use ndarray::Array1;
use rand::Rng as _;

use crate::forward::{q_coef_var, q_iterate, q_path, q_path_log_density, q_sample, q_step_coef_var, q_step_sample};
use crate::rng::{normal_like, normal_vec, seeded};
use crate::stats::{ks_one_sample, ks_two_sample, mean_check, normal_cdf, var_check, Check, DEFAULT_SIGMAS};
use crate::{NoiseSchedule, Result};

use super::{cholesky_log_density, KS_ALPHA};

/// E1: one step of q(x_t | x_{t-1}) has mean sqrt(1 - beta_t) x_{t-1} and variance beta_t.
pub fn e1(n: usize, seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let (t, x_prev) = (500, 0.7);
    let eps = Array1::from(normal_vec(&mut seeded(seed), n));
    let xt = q_step_sample(&s, &Array1::from_elem(n, x_prev), t, &eps)?;
    let (coef, var) = q_step_coef_var(&s, t)?;
    let xs = xt.to_vec();
    Ok(vec![
        mean_check("E1", "one step, t=500: mean = sqrt(1-beta_t) x_{t-1}", &xs, coef * x_prev, var, DEFAULT_SIGMAS),
        var_check("E1", "one step, t=500: variance = beta_t", &xs, var, DEFAULT_SIGMAS),
    ])
}

/// E2: the log-density of a sampled path, summed step by step (Markov factorisation), equals the
/// log-density of the path under the joint Gaussian of (x_1, ..., x_T) given x_0, computed
/// independently by a Cholesky factorisation of its covariance
/// Cov(x_s, x_t) = sqrt(alpha_bar_t / alpha_bar_s) (1 - alpha_bar_s) for s <= t.
pub fn e2(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(40)?;
    let x0 = Array1::from(vec![0.3]);
    let path = q_path(&s, &x0, &mut seeded(seed))?;
    let markov = q_path_log_density(&s, &path)?;
    let big_t = s.steps();
    let mean: Vec<f64> = (1..=big_t).map(|t| s.sqrt_alpha_bar(t) * x0[0]).collect();
    let cov = |i: usize, j: usize| {
        let (a, b) = (i.min(j), i.max(j));
        (s.alpha_bar(b) / s.alpha_bar(a)).sqrt() * (1.0 - s.alpha_bar(a))
    };
    let xs: Vec<f64> = (1..=big_t).map(|t| path[t][0]).collect();
    let joint = cholesky_log_density(&xs, &mean, |i, j| cov(i + 1, j + 1))?;
    Ok(vec![Check::close(
        "E2",
        "ln q(x_{1:T}|x_0): sum of steps vs joint Gaussian (T=40)",
        markov,
        joint,
        1e-9 * joint.abs().max(1.0),
    )
    .exact()])
}

/// E3: sampling one step through eps (reparameterisation) and sampling N(mean, var) directly
/// (here by Box-Muller from uniforms, an independent generator) give the same distribution.
pub fn e3(n: usize, seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let (t, x_prev) = (300, -0.4);
    let eps = Array1::from(normal_vec(&mut seeded(seed), n));
    let via_eps = q_step_sample(&s, &Array1::from_elem(n, x_prev), t, &eps)?.to_vec();
    let (coef, var) = q_step_coef_var(&s, t)?;
    let mut rng = seeded(seed + 1);
    let direct: Vec<f64> = (0..n)
        .map(|_| {
            let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            coef * x_prev + var.sqrt() * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect();
    Ok(vec![ks_two_sample(&via_eps, &direct).check(
        "E3",
        "x_t via eps vs direct N(.) draws (two-sample KS D)",
        KS_ALPHA,
    )])
}

/// E4: N(0, s1^2) + N(0, s2^2) is N(0, s1^2 + s2^2): the sum of independent draws passes a
/// one-sample KS test against the merged Gaussian.
pub fn e4(n: usize, seed: u64) -> Result<Vec<Check>> {
    let (s1, s2) = (0.6, 1.3);
    let mut rng = seeded(seed);
    let a = normal_vec(&mut rng, n);
    let b = normal_vec(&mut rng, n);
    let sum: Vec<f64> = a.iter().zip(&b).map(|(a, b)| s1 * a + s2 * b).collect();
    let merged_std = (s1 * s1 + s2 * s2).sqrt();
    Ok(vec![ks_one_sample(&sum, |x| normal_cdf(x / merged_std)).check(
        "E4",
        "s1 e1 + s2 e2 vs N(0, s1^2+s2^2) (KS D)",
        KS_ALPHA,
    )])
}

/// E5: iterating E1 t times matches the closed form q(x_t | x_0), for linear and cosine
/// schedules and several t including T: mean, variance and a KS test on `n` chains; and the
/// deterministic recursions (product of alphas, mean coefficient, variance) agree in f64.
pub fn e5(n: usize, seed: u64) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let x0_value = 0.8;
    for s in [NoiseSchedule::linear(1000)?, NoiseSchedule::cosine(1000)?] {
        let name = s.schedule().name();
        let big_t = s.steps();
        // Exact f64 agreement of the product recursion: the table is the running product.
        let mut prod = 1.0;
        let (mut coef, mut var) = (1.0f64, 0.0f64);
        let (mut worst_prod, mut worst_coef, mut worst_var) = (0.0f64, 0.0f64, 0.0f64);
        for t in 1..=big_t {
            prod *= 1.0 - s.beta(t);
            coef *= (1.0 - s.beta(t)).sqrt();
            var = (1.0 - s.beta(t)) * var + s.beta(t);
            worst_prod = worst_prod.max((prod - s.alpha_bar(t)).abs());
            worst_coef = worst_coef.max((coef - s.sqrt_alpha_bar(t)).abs());
            worst_var = worst_var.max((var - (1.0 - s.alpha_bar(t))).abs());
        }
        checks.push(
            Check::close("E5", &format!("{name}: prod(1-beta_s) == alpha_bar_t, all t"), worst_prod, 0.0, 0.0).exact(),
        );
        checks.push(
            Check::close("E5", &format!("{name}: prod sqrt(alpha_s) - sqrt(alpha_bar_t), max"), worst_coef, 0.0, 1e-12)
                .exact(),
        );
        checks.push(
            Check::close("E5", &format!("{name}: variance recursion - (1-alpha_bar_t), max"), worst_var, 0.0, 1e-12)
                .exact(),
        );
        let mut rng = seeded(seed);
        let x0 = Array1::from_elem(n, x0_value);
        for t in [1, 10, 100, 500, big_t] {
            let xt = q_iterate(&s, &x0, t, &mut rng)?.to_vec();
            let (c, v) = q_coef_var(&s, t)?;
            checks.push(mean_check(
                "E5",
                &format!("{name} t={t}: iterated mean = sqrt(alpha_bar) x0"),
                &xt,
                c * x0_value,
                v,
                DEFAULT_SIGMAS,
            ));
            checks.push(var_check(
                "E5",
                &format!("{name} t={t}: iterated variance = 1-alpha_bar"),
                &xt,
                v,
                DEFAULT_SIGMAS,
            ));
            let ks = ks_one_sample(&xt, |x| normal_cdf((x - c * x0_value) / v.sqrt()));
            checks.push(ks.check("E5", &format!("{name} t={t}: iterated vs closed form (KS D)"), KS_ALPHA));
        }
    }
    Ok(checks)
}

/// Erratum 2 of note 000: "sqrt(alpha_t) x_{t-1} + sqrt(1-alpha_t) eps = sqrt(alpha_bar_t) x_0 +
/// sqrt(1-alpha_bar_t) eps" holds in distribution, not for the same eps: with the same eps at
/// every step the two sides differ.
pub fn erratum2(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let t = 100;
    let x0 = Array1::from_elem(1000, 0.8);
    let eps = normal_like(&mut seeded(seed), &x0);
    let mut x = x0.clone();
    for step in 1..=t {
        x = q_step_sample(&s, &x, step, &eps)?;
    }
    let closed = q_sample(&s, &x0, t, &eps)?;
    let max_diff = (&x - &closed).iter().fold(0.0f64, |m, d| m.max(d.abs()));
    // 0.5: far below the difference of seed 0 (about 9.5), far above rounding.
    Ok(vec![Check::at_least("err2", "same eps at every step vs closed form: max |difference| (t=100)", max_diff, 0.5)
        .guard("verify::forward::erratum2, seed 0")])
}
