//! The objective (E14-E18): KL, the bound and its terms, the eps weight, L_simple.

mod common;

use ddpm::objective::{
    bound_along_path, discretised_gaussian_log_likelihood, eps_weight, gaussian_kl, gaussian_kl_diag, l_simple,
    normal_kl,
};
use ddpm::stats::normal_log_pdf;
use ddpm::verify::objective;
use ddpm::{verify, NoiseSchedule};
use ndarray::{array, Array1};
use proptest::prelude::*;

const SEED: u64 = verify::DEFAULT_SEED;

#[test]
fn e14_bound_holds_and_is_tight_for_the_exact_model() {
    common::assert_checks(verify::objective::e14(SEED).unwrap());
}

#[test]
fn e15_kl_closed_form_equals_integral() {
    common::assert_checks(verify::objective::e15().unwrap());
}

#[test]
fn e16_terms_sum_to_the_bound() {
    common::assert_checks(verify::objective::e16(SEED).unwrap());
}

#[test]
fn e17_mean_form_equals_eps_form() {
    common::assert_checks(verify::objective::e17(SEED).unwrap());
}

#[test]
fn e18_zero_predictor_gives_l_simple_one() {
    common::assert_checks(verify::objective::e18(100_000, SEED).unwrap());
}

#[test]
fn discretised_likelihood_sums_to_one_over_the_256_levels() {
    // Ho et al.'s decoder puts all mass on the 256 bins (outer bins extend to +-inf).
    for (mean, log_scale) in [(0.0, -2.0), (0.7, -4.0), (-0.99, -1.0), (0.3, 1.0)] {
        let total: f64 =
            (0..256).map(|k| discretised_gaussian_log_likelihood(k as f64 / 127.5 - 1.0, mean, log_scale).exp()).sum();
        assert!((total - 1.0).abs() < 1e-9, "mean {mean}, log_scale {log_scale}: total {total}");
    }
}

#[test]
fn eps_weight_by_hand() {
    let s = NoiseSchedule::new(ddpm::BetaSchedule::Custom(vec![0.1, 0.2]), 2).unwrap();
    // beta^2 / (2 sigma^2 alpha (1 - alpha_bar)) with beta = 0.2, sigma^2 = 0.2, alpha = 0.8, alpha_bar = 0.72.
    let w = eps_weight(&s, 2, 0.2).unwrap();
    assert!((w - 0.04 / (2.0 * 0.2 * 0.8 * 0.28)).abs() < 1e-15);
    assert!(eps_weight(&s, 2, 0.0).unwrap_err().to_string().contains("sigma_sq must be > 0"));
}

#[test]
fn diagonal_kl_is_the_sum_of_scalar_kls() {
    let (m1, v1, m2, v2) = (array![0.1, -0.3], array![0.5, 2.0], array![0.0, 0.4], array![1.0, 0.7]);
    let by_hand = normal_kl(0.1, 0.5f64.ln(), 0.0, 0.0) + normal_kl(-0.3, 2.0f64.ln(), 0.4, 0.7f64.ln());
    assert!((gaussian_kl_diag(&m1, &v1, &m2, &v2).unwrap() - by_hand).abs() < 1e-15);
    // With equal variances everywhere it is the isotropic KL.
    let iso = gaussian_kl(&m1, 0.5, &m2, 0.8).unwrap();
    assert!((gaussian_kl_diag(&m1, &array![0.5, 0.5], &m2, &array![0.8, 0.8]).unwrap() - iso).abs() < 1e-15);
    assert!(gaussian_kl_diag(&m1, &array![0.5, 0.0], &m2, &v2)
        .unwrap_err()
        .to_string()
        .contains("variances must be > 0"));
    assert!(gaussian_kl_diag(&m1, &array![0.5], &m2, &v2).unwrap_err().to_string().contains("same shape"));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(gaussian_kl(&array![0.0], 1.0, &array![0.0, 1.0], 1.0).unwrap_err().to_string().contains("same shape"));
    assert!(gaussian_kl(&array![0.0], -1.0, &array![0.0], 1.0)
        .unwrap_err()
        .to_string()
        .contains("variances must be > 0"));
    assert!(l_simple(&ndarray::Array1::<f64>::zeros(0), &ndarray::Array1::<f64>::zeros(0)).is_err());
}

proptest! {
    #[test]
    fn kl_is_non_negative_and_zero_only_at_equality(m1 in -3.0f64..3.0, lv1 in -5.0f64..2.0, m2 in -3.0f64..3.0, lv2 in -5.0f64..2.0) {
        let kl = normal_kl(m1, lv1, m2, lv2);
        prop_assert!(kl >= -1e-12);
        prop_assert!(normal_kl(m1, lv1, m1, lv1).abs() < 1e-12);
    }
}

#[test]
fn bound_along_one_path_by_hand_for_t_equals_1() {
    // T = 1, beta_1 = 0.3: the path is x_1 = sqrt(0.7) x_0 + sqrt(0.3) z, with z the first N(0, 1)
    // draw of the generator. By hand: ln q(x_1|x_0) - ln p(x_1) - ln p(x_0|x_1), for the model
    // p(x_0|x_1) = N(0.5 x_1, 0.2) and the prior p(x_1) = N(0, 1).
    let s = NoiseSchedule::new(ddpm::BetaSchedule::Custom(vec![0.3]), 1).unwrap();
    let x0 = 0.55;
    let z = ddpm::rng::normal_vec(&mut ddpm::rng::seeded(9), 1)[0];
    let x1 = 0.7f64.sqrt() * x0 + 0.3f64.sqrt() * z;
    let by_hand =
        normal_log_pdf(x1, 0.7f64.sqrt() * x0, 0.3) - normal_log_pdf(x1, 0.0, 1.0) - normal_log_pdf(x0, 0.5 * x1, 0.2);
    let step = |xt: &Array1<f64>, _t: usize| Ok((xt.mapv(|x| 0.5 * x), 0.2));
    let lib = bound_along_path(&s, &array![x0], step, (0.0, 1.0), &mut ddpm::rng::seeded(9)).unwrap();
    assert!((lib - by_hand).abs() < 1e-12, "library {lib}, by hand {by_hand}");
    let bad = |_: &Array1<f64>, _t: usize| Ok((array![0.0, 0.0], 0.2));
    let err = bound_along_path(&s, &array![x0], bad, (0.0, 1.0), &mut ddpm::rng::seeded(9)).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
}

#[test]
fn the_two_models_of_e14_match_their_closed_forms() {
    // Data N(mu, s^2): q(x_{t-1}) = N(m, v) with m = sqrt(ab_{t-1}) mu, v = ab_{t-1} s^2 + 1 - ab_{t-1};
    // Bayes with x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) z gives the exact reverse step
    // N(w (m / v + sqrt(alpha_t) x_t / beta_t), w) with w = 1 / (1 / v + alpha_t / beta_t), and
    // eps*(x_t) = sqrt(1 - ab_t) (x_t - sqrt(ab_t) mu) / (ab_t s^2 + 1 - ab_t).
    let (s, data) = (NoiseSchedule::linear(100).unwrap(), objective::gaussian_data().unwrap());
    let (mu, sd2) = (0.4, 0.09);
    for (t, xt) in [(1, 0.3), (2, -0.7), (50, 1.2), (100, 0.0)] {
        let (ab, ab_prev) = (s.alpha_bar(t), s.alpha_bar_prev(t));
        let (m, v) = (ab_prev.sqrt() * mu, ab_prev * sd2 + 1.0 - ab_prev);
        let w = 1.0 / (1.0 / v + s.alpha(t) / s.beta(t));
        let (mean, var) = objective::exact_step(&data, &s, &array![xt], t).unwrap();
        assert!((mean[0] - w * (m / v + s.alpha(t).sqrt() * xt / s.beta(t))).abs() < 1e-12, "t = {t}");
        assert!((var - w).abs() < 1e-12 * w.max(1e-3), "t = {t}: {var} vs {w}");
        let eps = (1.0 - ab).sqrt() * (xt - ab.sqrt() * mu) / (ab * sd2 + 1.0 - ab);
        let ddpm_mean = (xt - s.beta(t) / (1.0 - ab).sqrt() * eps) / s.alpha(t).sqrt();
        let (mean, var) = objective::ddpm_step(&data, &s, &array![xt], t).unwrap();
        assert!((mean[0] - ddpm_mean).abs() < 1e-12 && var == s.beta(t), "t = {t}");
    }
}

#[test]
fn linear_gaussian_marginal_by_hand_and_for_the_exact_model() {
    // T = 2, steps N(0.5 x + 0.1, 0.2) from N(0, 1): (m, v) = (0.1, 0.45), then (0.15, 0.3125).
    let s = NoiseSchedule::new(ddpm::BetaSchedule::Custom(vec![0.1, 0.2]), 2).unwrap();
    let step = |x: &Array1<f64>, _t: usize| Ok((x.mapv(|x| 0.5 * x + 0.1), 0.2));
    let (m, v) = objective::linear_gaussian_marginal(&s, step, (0.0, 1.0)).unwrap();
    assert!((m - 0.15).abs() < 1e-15 && (v - 0.3125).abs() < 1e-15, "({m}, {v})");
    // The exact reverse chain started from q(x_T) gives back the data, N(0.4, 0.3^2), for any T.
    let (s, data) = (NoiseSchedule::linear(100).unwrap(), objective::gaussian_data().unwrap());
    let q_t = data.marginal(&s, 100).unwrap();
    let prior = (q_t.means()[0][0], q_t.stds()[0].powi(2));
    let (m, v) = objective::linear_gaussian_marginal(&s, |x, t| objective::exact_step(&data, &s, x, t), prior).unwrap();
    assert!((m - 0.4).abs() < 1e-12 && (v - 0.09).abs() < 1e-12, "({m}, {v})");
    let square = |x: &Array1<f64>, _t: usize| Ok((x.mapv(|x| x * x), 0.2));
    assert!(objective::linear_gaussian_marginal(&s, square, (0.0, 1.0))
        .unwrap_err()
        .to_string()
        .contains("not linear"));
}
