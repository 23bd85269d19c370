//! eval::toy: statistics of 2-D ring samples against the exact mixture, and a network's eps
//! against the exact eps* (notebook 06; E19, E20).

use ddpm::candle_core::{Device, Tensor};
use ddpm::data::{ring_centres, ToyData};
use ddpm::eval::toy::{
    chi_square_critical, eps_relative_error, eps_star_at, eps_theta_at, l_simple_floor, ring_radius_moments,
    ring_stats, within_probability_2d,
};
use ddpm::mixture::GaussianMixture;
use ddpm::ndarray::{array, Array2};
use ddpm::nn::{Mlp, MlpConfig};
use ddpm::posterior::ReverseVar;
use ddpm::rng::seeded;
use ddpm::sample::output::to_array;
use ddpm::sample::{p_sample_loop, MeanScale};
use ddpm::train::{DataSource, TrainConfig, Trainer};
use ddpm::NoiseSchedule;

#[test]
fn radius_moments_of_a_centred_gaussian_are_rayleigh() {
    // Oracle: |x| for x ~ N(0, s^2 I) in 2-D is Rayleigh(s): mean s sqrt(pi/2), std s sqrt((4 - pi)/2).
    let s = 0.3;
    let (mean, std) = ring_radius_moments(0.0, s).unwrap();
    let pi = std::f64::consts::PI;
    assert!((mean - s * (pi / 2.0).sqrt()).abs() < 1e-6 * s, "mean {mean}");
    assert!((std - s * ((4.0 - pi) / 2.0).sqrt()).abs() < 1e-6 * s, "std {std}");
}

#[test]
fn radius_moments_far_from_the_origin_follow_the_rice_asymptote() {
    // Oracle: for r >> s the Rice mean is r + s^2 / (2 r) + O(s^4 / r^3) (here 1.2e-5), the std s.
    let (r, s) = (0.8, 0.05);
    let (mean, std) = ring_radius_moments(r, s).unwrap();
    assert!((mean - (r + s * s / (2.0 * r))).abs() < 1e-4, "mean {mean}");
    assert!((std - s).abs() < 1e-3, "std {std}");
    assert!(ring_radius_moments(-1.0, s).is_err());
    assert!(ring_radius_moments(r, 0.0).unwrap_err().to_string().contains("std finite and > 0"));
}

#[test]
fn ring_samples_match_every_exact_statistic() {
    // Oracle: 200 000 draws of GaussianMixture::ring(8, 0.8, 0.05); each statistic within 5 standard
    // errors of its exact value (radius: quadrature; near: 1 - exp(-9/2); counts: Binomial(n, 1/8)).
    let ring = GaussianMixture::ring(8, 0.8, 0.05).unwrap();
    let n = 200_000;
    let x = ring.sample(&mut seeded(5), n);
    let stats = ring_stats(&x, &ring_centres(8, 0.8).unwrap(), 0.05, 3.0).unwrap();
    let (mean, std) = ring_radius_moments(0.8, 0.05).unwrap();
    let nf = n as f64;
    assert_eq!(stats.n, n);
    assert_eq!(stats.counts.iter().sum::<usize>(), n);
    assert!((stats.radius_mean - mean).abs() < 5.0 * std / nf.sqrt(), "{stats:?} vs {mean}");
    assert!((stats.radius_std - std).abs() < 5.0 * std / (2.0 * nf).sqrt(), "{stats:?} vs {std}");
    let p = within_probability_2d(3.0);
    assert!((p - 0.988_891).abs() < 1e-6);
    assert!((stats.near_fraction - p).abs() < 5.0 * (p * (1.0 - p) / nf).sqrt(), "{stats:?}");
    assert!(stats.max_count_z() < 5.0, "{stats:?}");
    assert!(stats.chi_square() < chi_square_critical(7, 3.090), "{}", stats.chi_square());
}

#[test]
fn ring_stats_sees_a_missing_mode_and_a_wrong_radius() {
    let ring = GaussianMixture::ring(8, 0.8, 0.05).unwrap();
    let centres = ring_centres(8, 0.8).unwrap();
    // Drop every point of mode 0: the counts test must fail loudly.
    let x = ring.sample(&mut seeded(6), 4000);
    let kept: Vec<f64> = x.rows().into_iter().filter(|p| p[0] < 0.6).flat_map(|p| p.to_vec()).collect();
    let dropped = Array2::from_shape_vec((kept.len() / 2, 2), kept).unwrap();
    let stats = ring_stats(&dropped, &centres, 0.05, 3.0).unwrap();
    assert_eq!(stats.counts[0], 0);
    assert!(stats.max_count_z() > 10.0 && stats.chi_square() > 5.0 * chi_square_critical(7, 3.090));
    // Shrink the ring by 10 %: the radius moves 0.08, 100 standard errors of 0.0008, and the points sit
    // 1.6 std off their centres, so fewer than 0.95 (instead of 0.989 +- 0.008) are within 3 std.
    let small = ring.sample(&mut seeded(7), 4000) * 0.9;
    let stats = ring_stats(&small, &centres, 0.05, 3.0).unwrap();
    assert!((stats.radius_mean - 0.72).abs() < 0.01 && stats.near_fraction < 0.95, "{stats:?}");
}

#[test]
fn ring_stats_rejects_bad_input() {
    let centres = ring_centres(8, 0.8).unwrap();
    let err = |r: ddpm::Result<_>| r.unwrap_err().to_string();
    assert!(err(ring_stats(&array![[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], &centres, 0.05, 3.0)).contains("(n, 2)"));
    assert!(err(ring_stats(&array![[0.0, f64::NAN], [1.0, 1.0]], &centres, 0.05, 3.0)).contains("finite"));
    assert!(err(ring_stats(&array![[0.0, 0.0], [1.0, 1.0]], &centres, 0.0, 3.0)).contains("std and k"));
}

#[test]
fn chi_square_critical_matches_the_tables() {
    // Oracle: scipy.stats.chi2.ppf(0.999, 7) = 24.322, chi2.ppf(0.99, 10) = 23.209.
    assert!((chi_square_critical(7, 3.0902) - 24.322).abs() < 0.3);
    assert!((chi_square_critical(10, 2.3263) - 23.209).abs() < 0.1);
}

#[test]
fn relative_error_is_zero_for_exact_and_one_for_zero_or_double() {
    let e = array![[1.0, -2.0], [0.5, 3.0]];
    assert_eq!(eps_relative_error(&e, &e).unwrap(), 0.0);
    assert!((eps_relative_error(&Array2::zeros((2, 2)), &e).unwrap() - 1.0).abs() < 1e-15);
    assert!((eps_relative_error(&(&e * 2.0), &e).unwrap() - 1.0).abs() < 1e-15);
    assert!(eps_relative_error(&e, &Array2::zeros((2, 2))).is_err());
    assert!(eps_relative_error(&Array2::zeros((3, 2)), &e).is_err());
}

#[test]
fn eps_star_at_is_the_mixture_eps_row_by_row_and_minus_the_scaled_score() {
    // Oracle: E24, score = -eps* / sqrt(1 - alpha_bar_t), computed independently by the mixture.
    let s = NoiseSchedule::linear(1000).unwrap();
    let ring = GaussianMixture::ring(8, 0.8, 0.05).unwrap();
    let x = ring.marginal(&s, 100).unwrap().sample(&mut seeded(8), 50);
    let eps = eps_star_at(&ring, &s, 100, &x).unwrap();
    for (p, e) in x.rows().into_iter().zip(eps.rows()) {
        let score = ring.score(&s, 100, &p.to_vec()).unwrap();
        for j in 0..2 {
            assert!((e[j] + s.sqrt_one_minus_alpha_bar(100) * score[j]).abs() < 1e-9);
        }
    }
}

#[test]
fn an_untrained_mlp_predicts_zero_and_to_array_keeps_rows() {
    // Oracle: the MLP's output layer starts at zero (E18), so eps_theta = 0 everywhere.
    let device = Device::Cpu;
    let (mlp, _) = Mlp::new_seeded(&MlpConfig::default(), &device, 0).unwrap();
    let x = array![[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]];
    let eps = eps_theta_at(&mlp, &x, 10, &device).unwrap();
    assert_eq!(eps, Array2::<f64>::zeros((3, 2)));
    assert!(eps_theta_at(&mlp, &x, 0, &device).is_err());
    let t = Tensor::from_vec(vec![1f32, 2.0, 3.0, 4.0, 5.0, 6.0], (3, 2), &device).unwrap();
    assert_eq!(to_array(&t).unwrap(), array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    assert!(to_array(&Tensor::zeros((2, 1, 2), ddpm::candle_core::DType::F32, &device).unwrap()).is_err());
}

#[test]
fn training_on_the_ring_brings_eps_theta_towards_eps_star() {
    // Algorithm 1 on the ring with notebook 06's quick settings (the default MLP, 800 steps of 256 at
    // lr 1e-3): before training eps_theta = 0, a relative error of exactly 1; after, measured 0.29 at
    // t = 100 (last weights), asserted below 0.45.
    let device = Device::Cpu;
    let s = NoiseSchedule::linear(1000).unwrap();
    let (mlp, varmap) = Mlp::new_seeded(&MlpConfig::default(), &device, 0).unwrap();
    let train = TrainConfig { steps: 800, batch_size: 256, lr: 1e-3, log_every: 0, ..Default::default() };
    let mut trainer = Trainer::new(mlp, varmap, s.clone(), train).unwrap();
    let ring = GaussianMixture::ring(8, 0.8, 0.05).unwrap();
    let x = ring.marginal(&s, 100).unwrap().sample(&mut seeded(9), 2000);
    let exact = eps_star_at(&ring, &s, 100, &x).unwrap();
    let before = eps_relative_error(&eps_theta_at(trainer.model(), &x, 100, &device).unwrap(), &exact).unwrap();
    trainer.train(&DataSource::Toy(ToyData::Ring), &device, None).unwrap();
    let after = eps_relative_error(&eps_theta_at(trainer.model(), &x, 100, &device).unwrap(), &exact).unwrap();
    assert_eq!(before, 1.0);
    assert!(after < 0.45, "relative error after training {after}");
}

#[test]
fn the_loss_floor_is_mean_alpha_bar_for_standard_normal_data_and_zero_for_a_point() {
    // Oracle: for x_0 ~ N(0, 1), eps*(x_t) = sqrt(1 - alpha_bar_t) x_t, and E(eps - eps*)^2 = alpha_bar_t,
    // so L* = (1/T) sum_t alpha_bar_t. For a point mass eps is determined by x_t: L* = 0.
    let s = NoiseSchedule::linear(1000).unwrap();
    let expected: f64 = (1..=1000).map(|t| s.alpha_bar(t)).sum::<f64>() / 1000.0;
    let normal = GaussianMixture::gaussian_1d(0.0, 1.0).unwrap();
    let (floor, se) = l_simple_floor(&normal, &s, 100_000, &mut seeded(10)).unwrap();
    assert!((floor - expected).abs() < 5.0 * se, "{floor} +- {se} vs {expected}");
    let point = GaussianMixture::gaussian_1d(0.3, 0.0).unwrap();
    let (floor, _) = l_simple_floor(&point, &s, 1000, &mut seeded(11)).unwrap();
    assert!(floor < 1e-20, "{floor}");
    assert!(l_simple_floor(&point, &s, 1, &mut seeded(0)).is_err());
}

#[test]
fn with_the_exact_eps_sigma_beta_keeps_the_spread_and_beta_tilde_narrows_it() {
    // Algorithm 2 with the exact eps* of the ring (notebook 06, §5). The mean of each step is exact; the
    // true reverse variance is beta_tilde_t + c_t^2 Var[x_0 | x_t], between beta_tilde_t and beta_t. With
    // sigma^2 = beta the radius std is the data's within 5 standard errors; with beta_tilde it is more than
    // 5 standard errors below (measured 0.0448 against 0.0499 at n = 2000, about 6.6).
    let s = NoiseSchedule::linear(1000).unwrap();
    let ring = GaussianMixture::ring(8, 0.8, 0.05).unwrap();
    let centres = ring_centres(8, 0.8).unwrap();
    let (_, r_std) = ring_radius_moments(0.8, 0.05).unwrap();
    let n = 2000;
    let se = r_std / (2.0 * n as f64).sqrt();
    let mut spread = Vec::new();
    for sigma in [ReverseVar::Beta, ReverseVar::BetaTilde] {
        let mut rng = seeded(8);
        let x_big_t = ddpm::rng::normal_like(&mut rng, &Array2::<f64>::zeros((n, 2)));
        let eps = |x: &Array2<f64>, t: usize| eps_star_at(&ring, &s, t, x);
        let x = p_sample_loop(&s, x_big_t, eps, sigma, MeanScale::SqrtAlpha, &mut rng).unwrap();
        spread.push(ring_stats(&x, &centres, 0.05, 3.0).unwrap().radius_std);
    }
    assert!((spread[0] - r_std).abs() < 5.0 * se, "beta: {} vs {r_std}", spread[0]);
    assert!(spread[1] < r_std - 5.0 * se, "beta_tilde: {} vs {r_std}", spread[1]);
}
