//! Schedules (E6, E7): reference values, invariants (proptest) and every validation.

mod common;

use ddpm::schedule::{linspace, ScheduleKind};
use ddpm::{verify, BetaSchedule, NoiseSchedule};
use proptest::prelude::*;

#[test]
fn e6_linear_schedule_matches_numpy() {
    common::assert_checks(verify::schedules::e6().unwrap());
}

#[test]
fn e7_cosine_schedule_and_the_pure_noise_claim() {
    common::assert_checks(verify::schedules::e7().unwrap());
}

#[test]
fn tables_at_t_zero_and_one() {
    let s = NoiseSchedule::linear(1000).unwrap();
    assert_eq!((s.beta(0), s.alpha_bar(0)), (0.0, 1.0));
    assert_eq!(s.alpha_bar_prev(1), 1.0);
    assert_eq!(s.beta_tilde(1), 0.0, "x_0 is known exactly given x_1 and x_0");
    // Convention at t = 1: the clipped log-variance borrows beta_tilde_2 (Ho et al.'s diffusion_utils).
    assert_eq!(s.posterior_log_var_clipped(1), s.beta_tilde(2).ln());
    assert_eq!(s.posterior_log_var_clipped(7), s.beta_tilde(7).ln());
    // numpy: 1e-4 / (1 - 1e-4) is the SNR at t = 1 of the linear schedule... inverted:
    assert!((s.snr(1) - (1.0 - 1e-4) / 1e-4).abs() < 1e-6);
    assert!((s.log_snr(500) - s.snr(500).ln()).abs() < 1e-12);
}

#[test]
fn linspace_is_numpys() {
    assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(linspace(3.0, 9.0, 1), vec![3.0]);
}

#[test]
fn quadratic_and_sigmoid_endpoints() {
    let q = ScheduleKind::Quadratic.default_schedule().betas(100).unwrap();
    assert!((q[0] - 1e-4).abs() < 1e-18 && (q[99] - 0.02).abs() < 1e-17);
    // sigmoid(-6) = 0.0024726231566347743 (scipy.special.expit(-6)).
    let s = ScheduleKind::Sigmoid.default_schedule().betas(100).unwrap();
    assert!((s[0] - (1e-4 + (0.02 - 1e-4) * 0.0024726231566347743)).abs() < 1e-15);
    assert!(s.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn custom_betas_are_used_as_given() {
    let s = NoiseSchedule::new(BetaSchedule::Custom(vec![0.1, 0.2, 0.3]), 3).unwrap();
    assert_eq!(s.beta(2), 0.2);
    assert!((s.alpha_bar(3) - 0.9 * 0.8 * 0.7).abs() < 1e-15);
}

fn err(schedule: BetaSchedule, steps: usize) -> String {
    NoiseSchedule::new(schedule, steps).unwrap_err().to_string()
}

#[test]
fn invalid_parameters_are_clear_errors() {
    let lin = |b0, b1| BetaSchedule::Linear { beta_start: b0, beta_end: b1 };
    assert_eq!(err(BetaSchedule::linear(), 0), "steps (T) must be in 1..=1000000, got 0");
    assert_eq!(err(lin(1e-4, 1.5), 10), "beta_end must be in (0, 1), got 1.5");
    assert_eq!(err(lin(0.0, 0.02), 10), "beta_start must be in (0, 1), got 0");
    assert_eq!(err(lin(f64::NAN, 0.02), 10), "beta_start must be in (0, 1), got NaN");
    assert!(err(lin(0.03, 0.02), 10).contains("beta_start must be <= beta_end"));
    assert!(err(BetaSchedule::Quadratic { beta_start: -1.0, beta_end: 0.02 }, 10).contains("beta_start"));
    assert!(err(BetaSchedule::Sigmoid { beta_start: 1e-4, beta_end: f64::INFINITY }, 10).contains("beta_end"));
    assert!(err(BetaSchedule::Cosine { s: 0.0, max_beta: 0.999 }, 10).contains("cosine offset s"));
    assert!(err(BetaSchedule::Cosine { s: 0.008, max_beta: 1.0 }, 10).contains("max_beta"));
    assert!(err(BetaSchedule::Custom(vec![0.1, 1.0]), 2).contains("beta_2 must be in (0, 1), got 1"));
    assert!(err(BetaSchedule::Custom(vec![0.1]), 2).contains("custom schedule with 1 betas"));
    assert!(err(lin(0.5, 0.9), 5000).contains("alpha_bar_T underflows"));
    assert!(ScheduleKind::Cosine.with_betas(Some(1e-3), None).unwrap_err().to_string().contains("no beta_start"));
    assert!("cosin".parse::<ScheduleKind>().unwrap_err().to_string().contains("allowed: linear, cosine"));
    let s = NoiseSchedule::linear(10).unwrap();
    assert_eq!(s.check_t(11).unwrap_err().to_string(), "t must be in 1..=10, got 11");
    assert!(s.check_t(0).is_err() && s.row(0).is_err() && s.column("gamma").is_err());
}

fn any_schedule() -> impl Strategy<Value = (BetaSchedule, usize)> {
    let range = (1e-5f64..0.2, 0.0f64..1.0).prop_map(|(b0, f)| (b0, b0 + f * (0.2 - b0)));
    prop_oneof![
        range.clone().prop_map(|(a, b)| BetaSchedule::Linear { beta_start: a, beta_end: b }),
        range.clone().prop_map(|(a, b)| BetaSchedule::Quadratic { beta_start: a, beta_end: b }),
        range.prop_map(|(a, b)| BetaSchedule::Sigmoid { beta_start: a, beta_end: b }),
        (1e-4f64..0.1).prop_map(|s| BetaSchedule::Cosine { s, max_beta: 0.999 }),
    ]
    .prop_flat_map(|s| (Just(s), 1usize..2000))
}

proptest! {
    #[test]
    fn schedule_invariants((schedule, steps) in any_schedule()) {
        let s = NoiseSchedule::new(schedule, steps).unwrap();
        for t in 1..=steps {
            // alpha_bar decreasing and in (0, 1].
            prop_assert!(s.alpha_bar(t) > 0.0 && s.alpha_bar(t) <= 1.0);
            prop_assert!(s.alpha_bar(t) < s.alpha_bar(t - 1));
            // beta_tilde <= beta: the posterior is narrower than one forward step.
            prop_assert!(s.beta_tilde(t) <= s.beta(t) * (1.0 + 1e-12));
            // Without noise, x_t = sqrt(alpha_bar_t) x_0 and the posterior mean is the noiseless
            // x_{t-1} = sqrt(alpha_bar_{t-1}) x_0: coef_x0 + coef_xt sqrt(alpha_bar_t) = sqrt(alpha_bar_{t-1}).
            let lhs = s.mu_tilde_coef_x0(t) + s.mu_tilde_coef_xt(t) * s.sqrt_alpha_bar(t);
            prop_assert!((lhs - s.alpha_bar_prev(t).sqrt()).abs() < 1e-9, "t = {t}: {lhs}");
            // The posterior variance is that of x_{t-1} given x_0, updated by x_t (Bayes):
            // 1 / beta_tilde = 1 / (1 - alpha_bar_{t-1}) + alpha_t / beta_t, for t >= 2.
            if t >= 2 {
                let inv = 1.0 / (1.0 - s.alpha_bar_prev(t)) + s.alpha(t) / s.beta(t);
                prop_assert!((s.beta_tilde(t) * inv - 1.0).abs() < 1e-8, "t = {t}");
            }
        }
    }

    #[test]
    fn snr_falls_and_log_snr_is_its_log((schedule, steps) in any_schedule()) {
        let s = NoiseSchedule::new(schedule, steps).unwrap();
        for t in 2..=steps {
            prop_assert!(s.snr(t) < s.snr(t - 1));
        }
        let t = steps.div_ceil(2);
        prop_assert!((s.log_snr(t) - s.snr(t).ln()).abs() < 1e-9 * s.snr(t).ln().abs().max(1.0));
    }
}

#[test]
fn the_coefficients_of_eq_11_and_15_follow_their_definitions() {
    // Custom betas 0.1, 0.2: alpha_bar_1 = 0.9, alpha_bar_2 = 0.72 (by hand).
    let s = NoiseSchedule::new(BetaSchedule::Custom(vec![0.1, 0.2]), 2).unwrap();
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-15, "{a} vs {b}");
    close(s.sqrt_recip_alpha_bar(2), 1.0 / 0.72f64.sqrt());
    close(s.sqrt_recipm1_alpha_bar(2), (1.0 / 0.72f64 - 1.0).sqrt());
    close(s.sqrt_recip_one_minus_alpha_bar(2), 1.0 / 0.28f64.sqrt());
    close(s.p_mean_coef_xt(2), 1.0 / 0.8f64.sqrt());
    close(s.p_mean_coef_eps(2), 0.2 / 0.28f64.sqrt());
    // sqrt(1/alpha_bar - 1) = sqrt(1 - alpha_bar) / sqrt(alpha_bar), the inverse square root of the SNR.
    close(s.sqrt_recipm1_alpha_bar(2), s.snr(2).powf(-0.5));
    for name in ddpm::schedule::EXTRA_COLUMNS {
        assert_eq!(s.column(name).unwrap().len(), 2, "{name}");
    }
    assert!(s.column("sqrt_recip").unwrap_err().to_string().contains("p_mean_coef_eps"));
}
