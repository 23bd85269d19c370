//! The objective (E14-E18): KL, the bound and its terms, the eps weight, L_simple.

mod common;

use ddpm::objective::{
    discretised_gaussian_log_likelihood, eps_weight, gaussian_kl, gaussian_kl_diag, l_simple, normal_kl,
};
use ddpm::{verify, NoiseSchedule};
use ndarray::array;
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
