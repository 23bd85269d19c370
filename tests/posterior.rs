//! The posterior q(x_{t-1} | x_t, x_0) and the parameterisations (E10-E12, E21, erratum 4).

mod common;

use ddpm::diffusion::{p_mean, predict_x0_from_eps, q_posterior_mean};
use ddpm::posterior::{posterior_density_bayes, Parameterisation, ReverseVar};
use ddpm::{verify, NoiseSchedule};
use ndarray::array;
use proptest::prelude::*;

const SEED: u64 = verify::DEFAULT_SEED;

#[test]
fn e10_grid_bayes_is_the_closed_form() {
    common::assert_checks(verify::posterior::e10().unwrap());
}

#[test]
fn e11_monte_carlo_regression_recovers_mu_tilde_and_beta_tilde() {
    common::assert_checks(verify::posterior::e11(200_000, SEED).unwrap());
}

#[test]
fn e12_x0_form_equals_eps_form() {
    common::assert_checks(verify::posterior::e12(SEED).unwrap());
}

#[test]
fn e21_parameterisations_convert_exactly() {
    common::assert_checks(verify::sampling::e21(SEED).unwrap());
}

#[test]
fn erratum4_x0_prediction_carries_the_same_information() {
    common::assert_checks(verify::sampling::erratum4().unwrap());
}

#[test]
fn hand_computed_posterior_at_t_2() {
    // Custom betas 0.1, 0.2: alpha_bar_1 = 0.9, alpha_bar_2 = 0.72.
    // beta_tilde_2 = (1 - 0.9) / (1 - 0.72) * 0.2 = 0.0714285714...
    // mu_tilde = sqrt(0.9) 0.2 / 0.28 x0 + sqrt(0.8) 0.1 / 0.28 xt.
    let s = NoiseSchedule::new(ddpm::BetaSchedule::Custom(vec![0.1, 0.2]), 2).unwrap();
    assert!((s.beta_tilde(2) - 0.1 / 0.28 * 0.2).abs() < 1e-15);
    let mu = q_posterior_mean(&s, &array![1.0], &array![2.0], 2).unwrap();
    let expected = 0.9f64.sqrt() * 0.2 / 0.28 + 0.8f64.sqrt() * 0.1 / 0.28 * 2.0;
    assert!((mu[0] - expected).abs() < 1e-14);
    assert_eq!(ReverseVar::BetaTilde.sigma_sq(&s, 2).unwrap(), s.beta_tilde(2));
    assert_eq!(ReverseVar::Beta.sigma_sq(&s, 2).unwrap(), 0.2);
}

#[test]
fn names_parse() {
    assert_eq!("x0".parse::<Parameterisation>().unwrap(), Parameterisation::X0);
    assert_eq!("beta_tilde".parse::<ReverseVar>().unwrap(), ReverseVar::BetaTilde);
    assert!("score".parse::<Parameterisation>().unwrap_err().to_string().contains("allowed: eps, x0, v, mean"));
    assert!("sigma".parse::<ReverseVar>().is_err());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let s = NoiseSchedule::linear(10).unwrap();
    assert!(q_posterior_mean(&s, &array![1.0], &array![1.0, 2.0], 2).unwrap_err().to_string().contains("same shape"));
    assert!(p_mean(&s, &array![1.0], 0, &array![1.0]).unwrap_err().to_string().contains("t must be in 1..=10"));
    assert!(predict_x0_from_eps(&s, &array![1.0], 11, &array![1.0]).is_err());
    assert!(posterior_density_bayes(&s, 1, 0.0, 0.0, &[0.0]).unwrap_err().to_string().contains("point mass"));
}

proptest! {
    #[test]
    fn predict_x0_from_eps_inverts_q_sample(x0 in -1.0f64..1.0, eps in -4.0f64..4.0, t in 1usize..=1000) {
        let s = NoiseSchedule::linear(1000).unwrap();
        let xt = ddpm::forward::q_sample(&s, &array![x0], t, &array![eps]).unwrap();
        let back = predict_x0_from_eps(&s, &xt, t, &array![eps]).unwrap();
        // Dividing by sqrt(alpha_bar_t) >= 6.4e-3 amplifies rounding by at most ~160.
        prop_assert!((back[0] - x0).abs() < 1e-12);
    }
}
