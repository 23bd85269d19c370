//! The forward process (E1-E5, erratum 2): the same checks as `ddpm verify`, plus bad input.

mod common;

use ddpm::forward::{q_iterate, q_log_density, q_path_log_density, q_sample, q_step_sample};
use ddpm::rng::seeded;
use ddpm::{verify, NoiseSchedule};
use ndarray::{array, Array1};

const SEED: u64 = verify::DEFAULT_SEED;

#[test]
fn e1_one_step_moments() {
    common::assert_checks(verify::forward::e1(200_000, SEED).unwrap());
}

#[test]
fn e2_markov_chain_log_density() {
    common::assert_checks(verify::forward::e2(SEED).unwrap());
}

#[test]
fn e3_reparameterisation_matches_direct_sampling() {
    common::assert_checks(verify::forward::e3(20_000, SEED).unwrap());
}

#[test]
fn e4_sum_of_gaussians() {
    common::assert_checks(verify::forward::e4(20_000, SEED).unwrap());
}

#[test]
fn e5_iterated_steps_match_the_closed_form() {
    common::assert_checks(verify::forward::e5(4_000, SEED).unwrap());
}

#[test]
fn erratum2_same_eps_is_not_the_same_sample() {
    common::assert_checks(verify::forward::erratum2(SEED).unwrap());
}

#[test]
fn checks_fail_when_the_formula_is_wrong() {
    // A check must be able to fail: feed E5's KS test a closed form with the wrong variance.
    let s = NoiseSchedule::linear(1000).unwrap();
    let x = q_iterate(&s, &Array1::from_elem(4000, 0.8), 500, &mut seeded(1)).unwrap().to_vec();
    let wrong_std = (1.0 - s.alpha_bar(500)).sqrt() * 1.2;
    let ks = ddpm::stats::ks_one_sample(&x, |v| ddpm::stats::normal_cdf((v - s.sqrt_alpha_bar(500) * 0.8) / wrong_std));
    assert!(!ks.check("E5", "wrong variance", verify::KS_ALPHA).pass, "D = {}", ks.d);
}

#[test]
fn same_seed_same_numbers() {
    let s = NoiseSchedule::cosine(100).unwrap();
    let a = q_iterate(&s, &array![0.1, 0.2], 100, &mut seeded(9)).unwrap();
    let b = q_iterate(&s, &array![0.1, 0.2], 100, &mut seeded(9)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn q_sample_is_the_closed_form() {
    let s = NoiseSchedule::linear(1000).unwrap();
    let xt = q_sample(&s, &array![1.0], 1000, &array![0.5]).unwrap();
    // sqrt(4.035829765375676e-05) * 1 + sqrt(1 - 4.035829765375676e-05) * 0.5 (numpy values of E6)
    let expected = 4.035829765375676e-05f64.sqrt() + (1.0 - 4.035829765375676e-05f64).sqrt() * 0.5;
    assert!((xt[0] - expected).abs() < 1e-15);
    let lp = q_log_density(&s, &xt, &array![1.0], 1000).unwrap();
    assert!(
        (lp - ddpm::stats::normal_log_pdf(xt[0], 4.035829765375676e-05f64.sqrt(), 1.0 - 4.035829765375676e-05)).abs()
            < 1e-12
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let s = NoiseSchedule::linear(10).unwrap();
    let e = q_sample(&s, &array![1.0, 2.0], 3, &array![0.0]).unwrap_err().to_string();
    assert!(e.contains("x0 and eps must have the same shape"), "{e}");
    assert_eq!(q_sample(&s, &array![1.0], 11, &array![0.0]).unwrap_err().to_string(), "t must be in 0..=10, got 11");
    assert!(q_step_sample(&s, &array![1.0], 0, &array![0.0])
        .unwrap_err()
        .to_string()
        .contains("t must be in 1..=10, got 0"));
    assert!(q_iterate(&s, &array![1.0], 11, &mut seeded(0)).is_err());
    assert!(q_path_log_density(&s, &[array![1.0]]).unwrap_err().to_string().contains("has 11 entries"));
}
