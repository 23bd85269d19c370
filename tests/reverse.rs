//! The reverse process on a Gaussian mixture (E8, E9, E13, E20, E24, erratum 1).

mod common;

use ddpm::posterior::ReverseVar;
use ddpm::rng::seeded;
use ddpm::sample::{p_sample_loop, p_sample_step, MeanScale};
use ddpm::{verify, NoiseSchedule};
use ndarray::array;

const SEED: u64 = verify::DEFAULT_SEED;

#[test]
fn e8_exact_reverse_chain_returns_the_one_point() {
    common::assert_checks(verify::reverse::e8(SEED).unwrap());
}

#[test]
fn e9_reverse_conditional_gaussian_only_for_small_steps() {
    common::assert_checks(verify::reverse::e9().unwrap());
}

#[test]
fn e13_finite_data_set_marginal_is_a_mixture() {
    common::assert_checks(verify::reverse::e13(SEED).unwrap());
}

#[test]
fn e20_algorithm_2_with_exact_eps_reproduces_the_mixture() {
    common::assert_checks(verify::sampling::e20(SEED).unwrap());
}

#[test]
fn e24_score_is_minus_eps_over_sigma() {
    common::assert_checks(verify::reverse::e24(SEED).unwrap());
}

#[test]
fn erratum1_dividing_by_alpha_drifts() {
    common::assert_checks(verify::sampling::erratum1(SEED).unwrap());
}

#[test]
fn one_step_by_hand() {
    let s = NoiseSchedule::new(ddpm::BetaSchedule::Custom(vec![0.1, 0.2]), 2).unwrap();
    // (x - (1 - alpha) / sqrt(1 - alpha_bar) eps) / sqrt(alpha) + sigma z, alpha = 0.8, alpha_bar = 0.72.
    let x =
        p_sample_step(&s, &array![1.0], 2, &array![0.5], &array![1.0], ReverseVar::Beta, MeanScale::SqrtAlpha).unwrap();
    let expected = (1.0 - 0.2 / 0.28f64.sqrt() * 0.5) / 0.8f64.sqrt() + 0.2f64.sqrt();
    assert!((x[0] - expected).abs() < 1e-15);
    let wrong =
        p_sample_step(&s, &array![1.0], 2, &array![0.5], &array![0.0], ReverseVar::Beta, MeanScale::AlphaErratum)
            .unwrap();
    assert!((wrong[0] - (1.0 - 0.2 / 0.28f64.sqrt() * 0.5) / 0.8).abs() < 1e-15);
}

#[test]
fn sampling_is_seeded_and_checks_shapes() {
    let s = NoiseSchedule::linear(50).unwrap();
    let run = || {
        p_sample_loop(
            &s,
            array![0.3, -0.2],
            |x, _| Ok(x * 0.5),
            ReverseVar::BetaTilde,
            MeanScale::SqrtAlpha,
            &mut seeded(3),
        )
        .unwrap()
    };
    assert_eq!(run(), run());
    let e = p_sample_step(&s, &array![1.0], 2, &array![0.5, 1.0], &array![0.0], ReverseVar::Beta, MeanScale::SqrtAlpha)
        .unwrap_err();
    assert!(e.to_string().contains("same shape"));
}
