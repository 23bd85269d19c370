//! Checks of sampling and of the parameterisations: E20, E21, errata 1 and 4 (notes 000-003).

use ndarray::Array1;
use rand::Rng as _;

use crate::posterior::{Parameterisation, ReverseVar};
use crate::rng::{normal_vec, seeded};
use crate::sample::{p_sample_loop, MeanScale};
use crate::stats::{ks_critical, ks_one_sample, normal_cdf, Basis, Check};
use crate::{NoiseSchedule, Result};

use super::reverse::bimodal;
use super::KS_ALPHA;

/// Runs Algorithm 2 with the exact eps of the bimodal data on `n` independent 1-D chains.
fn sample_bimodal(n: usize, sigma: ReverseVar, scale: MeanScale, seed: u64) -> Result<Vec<f64>> {
    let s = NoiseSchedule::linear(1000)?;
    let data = bimodal()?;
    let mut rng = seeded(seed);
    let x_big_t = Array1::from(normal_vec(&mut rng, n));
    let eps_theta = |x: &Array1<f64>, t: usize| -> Result<Array1<f64>> {
        x.iter().map(|&v| Ok(data.eps_star(&s, t, &[v])?[0])).collect::<Result<Vec<f64>>>().map(Array1::from)
    };
    Ok(p_sample_loop(&s, x_big_t, eps_theta, sigma, scale, &mut rng)?.to_vec())
}

fn data_cdf(x: f64) -> f64 {
    0.5 * normal_cdf((x + 0.6) / 0.1) + 0.5 * normal_cdf((x - 0.6) / 0.1)
}

/// E20: Algorithm 2 with the exact eps of a Gaussian mixture reproduces the mixture, with
/// sigma_t^2 = beta_t and with sigma_t^2 = beta_tilde_t (KS test against the data's CDF).
pub fn e20(seed: u64) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for (sigma, name) in [(ReverseVar::Beta, "beta"), (ReverseVar::BetaTilde, "beta_tilde")] {
        let x = sample_bimodal(2000, sigma, MeanScale::SqrtAlpha, seed)?;
        checks.push(ks_one_sample(&x, data_cdf).check(
            "E20",
            &format!("Algorithm 2, exact eps, sigma^2 = {name}: samples vs data (KS D)"),
            KS_ALPHA,
        ));
    }
    Ok(checks)
}

/// Erratum 1 of note 000: dividing by alpha_t instead of sqrt(alpha_t) in Algorithm 2 makes the
/// samples drift away from the data: with the exact eps the KS test rejects them (a trained
/// network, which cannot correct the drift as well, drifts further).
pub fn erratum1(seed: u64) -> Result<Vec<Check>> {
    let x = sample_bimodal(2000, ReverseVar::Beta, MeanScale::AlphaErratum, seed)?;
    let ks = ks_one_sample(&x, data_cdf);
    Ok(vec![Check::at_least(
        "err1",
        "Algorithm 2 with 1/alpha_t: KS D against the data, above its critical value",
        ks.d,
        ks_critical(ks.n_eff, KS_ALPHA),
    )
    .with_basis(Basis::NDerived(format!("KS, alpha = {KS_ALPHA}")))])
}

/// E21: eps, x_0, v and the posterior mean convert into each other exactly, at every t.
pub fn e21(seed: u64) -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let mut rng = seeded(seed);
    let mut worst = 0.0f64;
    for t in 1..=s.steps() {
        let xt = Array1::from(normal_vec(&mut rng, 4));
        let eps = Array1::from(normal_vec(&mut rng, 4));
        for p in Parameterisation::ALL {
            let value = p.from_eps(&s, &xt, &eps, t)?;
            for q in Parameterisation::ALL {
                let there = p.convert(q, &s, &xt, &value, t)?;
                let back = q.to_eps(&s, &xt, &there, t)?;
                worst = worst.max((&back - &eps).iter().fold(0.0, |m, d| m.max(d.abs())));
            }
        }
    }
    Ok(vec![
        Check::close("E21", "eps -> x0 / v / mean -> eps round trips, max |diff| over all t", worst, 0.0, 1e-9).exact()
    ])
}

/// Erratum 4 of note 000 ("predicting x_0 won't work"): the optimal x_0-predictor E[x_0 | x_t]
/// of the mixture, converted to eps, is exactly the optimal eps-predictor: x_0-prediction
/// carries the same information. (Ho et al. report that eps-prediction trained better.)
pub fn erratum4() -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    let data = bimodal()?;
    let mut rng = seeded(4);
    let mut worst = 0.0f64;
    for t in [1, 50, 300, 1000] {
        for _ in 0..20 {
            let xt = Array1::from(vec![rng.random_range(-2.0..2.0)]);
            let x0 = Array1::from(data.x0_mean(&s, t, xt.as_slice().unwrap_or(&[]))?);
            let eps = Parameterisation::X0.to_eps(&s, &xt, &x0, t)?;
            worst = worst.max((eps[0] - data.eps_star(&s, t, &[xt[0]])?[0]).abs());
        }
    }
    Ok(vec![Check::close("err4", "E[x_0|x_t] converted to eps = E[eps|x_t], max |diff|", worst, 0.0, 1e-9).exact()])
}
