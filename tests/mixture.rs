//! The Gaussian-mixture data distribution, for which q(x_t), the score, eps* and q(x_{t-1} | x_t)
//! are exact (E8, E9, E13, E24; notes 003, 004). Every oracle below is computed independently of
//! the code under test: hand formulas written out here, numerical integration on fine grids, or
//! Monte Carlo of the forward process with tolerances derived from the sample size.

use ddpm::mixture::GaussianMixture;
use ddpm::rng::{normal_vec, seeded};
use ddpm::{BetaSchedule, NoiseSchedule};

const TAU: f64 = 2.0 * std::f64::consts::PI;

/// N(x; mean, var) in 1-D, written out by hand (the oracle for every 1-D density below).
fn normal_pdf(x: f64, mean: f64, var: f64) -> f64 {
    (-(x - mean) * (x - mean) / (2.0 * var)).exp() / (TAU * var).sqrt()
}

/// sum_k w_k N(x; mu_k, s_k^2) by hand, for a 1-D mixture given as (w, mu, s) triples.
fn mixture_pdf(parts: &[(f64, f64, f64)], x: f64) -> f64 {
    parts.iter().map(|&(w, mu, s)| w * normal_pdf(x, mu, s * s)).sum()
}

/// The forward marginal q(x_t) of a 1-D mixture by Ho et al. 2020, Eq. 4, written out by hand:
/// each component N(mu, s^2) becomes N(sqrt(ab) mu, ab s^2 + 1 - ab).
fn diffuse(parts: &[(f64, f64, f64)], alpha_bar: f64) -> Vec<(f64, f64, f64)> {
    parts.iter().map(|&(w, mu, s)| (w, alpha_bar.sqrt() * mu, (alpha_bar * s * s + 1.0 - alpha_bar).sqrt())).collect()
}

/// Trapezoid rule for samples `f` on the grid `x`.
fn trapezoid(x: &[f64], f: &[f64]) -> f64 {
    x.windows(2).zip(f.windows(2)).map(|(x, f)| 0.5 * (x[1] - x[0]) * (f[0] + f[1])).sum()
}

fn grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64).collect()
}

/// The 1-D test mixture 0.3 N(-1, 0.3^2) + 0.7 N(2, 0.5^2), as triples and as the library type.
const PARTS: [(f64, f64, f64); 2] = [(0.3, -1.0, 0.3), (0.7, 2.0, 0.5)];
fn mixture_1d() -> GaussianMixture {
    GaussianMixture::new(vec![3.0, 7.0], vec![vec![-1.0], vec![2.0]], vec![0.3, 0.5]).unwrap()
}

/// A 2-D mixture with unequal weights and stds, including a point mass.
fn mixture_2d() -> GaussianMixture {
    GaussianMixture::new(
        vec![0.2, 0.5, 0.3],
        vec![vec![-1.0, 0.5], vec![0.8, 0.9], vec![0.3, -1.2]],
        vec![0.25, 0.4, 0.0],
    )
    .unwrap()
}

/// The message of an expected error.
fn m<T: std::fmt::Debug>(r: ddpm::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn log_density_matches_hand_formulas() {
    // One Gaussian in 1-D: ln N(1.7; 0.5, 2^2) = -ln(2 pi 4)/2 - 1.2^2 / 8.
    let q = GaussianMixture::gaussian_1d(0.5, 2.0).unwrap();
    let expected = -0.5 * (TAU * 4.0).ln() - 1.2 * 1.2 / 8.0;
    assert!((q.log_density(&[1.7]).unwrap() - expected).abs() < 1e-14);
    // One Gaussian in 2-D: ln N(x; mu, s^2 I) = -ln(2 pi s^2) - |x - mu|^2 / (2 s^2).
    let q = GaussianMixture::new(vec![1.0], vec![vec![1.0, -2.0]], vec![0.5]).unwrap();
    let expected = -(TAU * 0.25).ln() - (0.3f64.powi(2) + 0.4f64.powi(2)) / 0.5;
    assert!((q.log_density(&[1.3, -1.6]).unwrap() - expected).abs() < 1e-14);
    // A two-component mixture against the plain (non log-sum-exp) sum of densities.
    for x in [-2.0, -1.0, 0.3, 2.0, 4.5] {
        let expected = mixture_pdf(&PARTS, x).ln();
        let seen = mixture_1d().log_density(&[x]).unwrap();
        assert!((seen - expected).abs() < 1e-12, "x = {x}: {seen} vs {expected}");
    }
    // Far out in the tail the plain sum underflows, log-sum-exp does not: the far component
    // dominates, so ln q ~ ln 0.7 + ln N(60; 2, 0.25).
    let seen = mixture_1d().log_density(&[60.0]).unwrap();
    let expected = 0.7f64.ln() - 0.5 * (TAU * 0.25).ln() - 58.0 * 58.0 / 0.5;
    assert!(seen.is_finite() && (seen - expected).abs() < 1e-9 * expected.abs());
}

#[test]
fn log_density_integrates_to_one_1d() {
    // Trapezoid on [-10, 12] (> 18 stds beyond every mean: the tails hold < 1e-70) with h = 22 / 20000.
    // Error bound of the trapezoid rule: (b - a) h^2 max|q''| / 12, with
    // max|q''| <= sum_k w_k max|N''| = sum_k w_k / (sqrt(2 pi) s_k^3).
    let q = mixture_1d();
    let x = grid(-10.0, 12.0, 20_001);
    let density = q.density_1d(&x).unwrap();
    let integral = trapezoid(&x, &density);
    let h = 22.0 / 20_000.0;
    let max_second: f64 = PARTS.iter().map(|&(w, _, s)| w / (TAU.sqrt() * s.powi(3))).sum();
    let bound = 22.0 * h * h * max_second / 12.0;
    println!("integral of q = {integral}, |error| bound {bound:.2e}");
    assert!((integral - 1.0).abs() <= bound, "{integral}");
    // density_1d is exp(log_density).
    assert!((density[9000] - q.log_density(&[x[9000]]).unwrap().exp()).abs() < 1e-15);
}

#[test]
fn sample_matches_mixture_moments() {
    // Monte Carlo of q itself, n = 100_000: each sample mean within 5 standard errors sqrt(var / n)
    // of mean(), which is checked against a hand computation first.
    let q = mixture_2d();
    let (mean, var) = (q.mean(), q.variance());
    let hand_mean_0 = -0.2 + 0.5 * 0.8 + 0.3 * 0.3; // 0.2 (-1) + 0.5 (0.8) + 0.3 (0.3)
    let hand_var_0 = 0.2 * (0.0625 + 1.0) + 0.5 * (0.16 + 0.64) + 0.3 * 0.09 - hand_mean_0 * hand_mean_0;
    assert!((mean[0] - hand_mean_0).abs() < 1e-15 && (var[0] - hand_var_0).abs() < 1e-14);
    let n = 100_000;
    let x = q.sample(&mut seeded(1), n);
    assert_eq!(x.dim(), (n, 2));
    for j in 0..2 {
        let seen = x.column(j).mean().unwrap();
        let se = (var[j] / n as f64).sqrt();
        assert!((seen - mean[j]).abs() < 5.0 * se, "dim {j}: {seen} vs {} (se {se})", mean[j]);
    }
    // The point-mass component (third) shows up as exact copies of its mean, about 30% of the time.
    let exact = x.rows().into_iter().filter(|r| r[0] == 0.3 && r[1] == -1.2).count() as f64;
    assert!((exact / n as f64 - 0.3).abs() < 5.0 * (0.3 * 0.7 / n as f64).sqrt());
}

#[test]
fn marginal_matches_monte_carlo_of_forward_process() {
    // x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps (Ho et al. 2020, Eq. 4) over n = 200_000 draws; sample mean
    // within 5 standard errors sqrt(var / n), sample variance within 5 standard errors
    // sqrt((m4 - var^2) / n), m4 the sample's fourth central moment.
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let q = mixture_2d();
    let n = 200_000;
    let mut rng = seeded(2);
    for t in [1, 10, 100, 500, 1000] {
        let ab = schedule.alpha_bar(t);
        let x0 = q.sample(&mut rng, n);
        let eps = normal_vec(&mut rng, 2 * n);
        let q_t = q.marginal(&schedule, t).unwrap();
        // Hand check of one component: N(sqrt(ab) mu, (ab s^2 + 1 - ab) I).
        assert!((q_t.means()[1][0] - ab.sqrt() * 0.8).abs() < 1e-15);
        assert!((q_t.stds()[1].powi(2) - (ab * 0.16 + 1.0 - ab)).abs() < 1e-15);
        for j in 0..2 {
            let xt: Vec<f64> = (0..n).map(|i| ab.sqrt() * x0[[i, j]] + (1.0 - ab).sqrt() * eps[2 * i + j]).collect();
            let m = xt.iter().sum::<f64>() / n as f64;
            let v = xt.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
            let m4 = xt.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n as f64;
            let (se_m, se_v) = ((v / n as f64).sqrt(), ((m4 - v * v) / n as f64).sqrt());
            let (em, ev) = (q_t.mean()[j], q_t.variance()[j]);
            assert!((m - em).abs() < 5.0 * se_m, "t = {t}, dim {j}: mean {m} vs {em} (se {se_m})");
            assert!((v - ev).abs() < 5.0 * se_v, "t = {t}, dim {j}: var {v} vs {ev} (se {se_v})");
        }
    }
    // t = 0 is q itself.
    assert_eq!(q.marginal(&schedule, 0).unwrap(), q);
}

/// Checks score(t, x) against a central difference of ln q_t, h = 1e-5: truncation error
/// h^2 |f'''| / 6 ~ 1e-10 and rounding ~ 1e-16 |ln q| / h ~ 1e-10, so 1e-6 relative (floor 1) is safe.
fn check_score_by_finite_difference(q: &GaussianMixture, schedule: &NoiseSchedule, t: usize, x: &[f64]) {
    let q_t = q.marginal(schedule, t).unwrap();
    let score = q.score(schedule, t, x).unwrap();
    let h = 1e-5;
    for j in 0..x.len() {
        let (mut up, mut down) = (x.to_vec(), x.to_vec());
        up[j] += h;
        down[j] -= h;
        let fd = (q_t.log_density(&up).unwrap() - q_t.log_density(&down).unwrap()) / (2.0 * h);
        assert!(
            (fd - score[j]).abs() < 1e-6 * score[j].abs().max(1.0),
            "t = {t}, x = {x:?}, dim {j}: {fd} vs {}",
            score[j]
        );
    }
}

#[test]
fn score_matches_finite_difference_of_marginal_log_density() {
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let q1 = mixture_1d();
    for t in [0, 1, 5, 50, 300, 1000] {
        for x in [-1.5, -0.2, 0.4, 1.9, 3.0] {
            check_score_by_finite_difference(&q1, &schedule, t, &[x]);
        }
    }
    // 2-D, with a point mass (so t >= 1: q_0 has no density there).
    let q2 = mixture_2d();
    for t in [1, 5, 50, 300, 1000] {
        for x in [[-0.9, 0.4], [0.0, 0.0], [0.35, -1.1], [1.5, 1.2]] {
            check_score_by_finite_difference(&q2, &schedule, t, &x);
        }
    }
}

#[test]
fn e24_score_is_minus_eps_star_over_sigma() {
    // Song et al. 2021 (note 003): grad log q(x_t) = -eps*(x_t) / sqrt(1 - ab_t), eps* computed from the
    // component conditionals, the score from the marginal's gradient. Also Eq. 4 in expectation:
    // x_t = sqrt(ab) E[x_0 | x_t] + sqrt(1 - ab) eps*, with E[x_0 | x_t] from the posterior mixture.
    // Both to 1e-10 relative (floor 1): only rounding separates the paths.
    let data = GaussianMixture::from_points(&[vec![0.2, -0.4], vec![-0.9, 0.7], vec![0.6, 0.6]]).unwrap();
    for schedule in [NoiseSchedule::linear(1000).unwrap(), NoiseSchedule::cosine(100).unwrap()] {
        let steps = schedule.steps();
        let cases: Vec<(GaussianMixture, Vec<Vec<f64>>)> = vec![
            (mixture_1d(), vec![vec![-1.2], vec![0.5], vec![2.2], vec![7.0]]),
            (mixture_2d(), vec![vec![-0.9, 0.4], vec![0.0, 0.0], vec![0.31, -1.19], vec![3.0, -2.0]]),
            (data.clone(), vec![vec![0.21, -0.41], vec![-0.2, 0.1], vec![1.0, 1.0]]),
        ];
        for (q, points) in &cases {
            for t in [1, 2, steps / 10, steps / 2, steps] {
                let ab = schedule.alpha_bar(t);
                for x in points {
                    let score = q.score(&schedule, t, x).unwrap();
                    let eps = q.eps_star(&schedule, t, x).unwrap();
                    let x0 = q.x0_mean(&schedule, t, x).unwrap();
                    for j in 0..x.len() {
                        let from_eps = -eps[j] / (1.0 - ab).sqrt();
                        let tol = 1e-10 * score[j].abs().max(1.0);
                        assert!((score[j] - from_eps).abs() < tol, "t = {t}, x = {x:?}: {} vs {from_eps}", score[j]);
                        let rebuilt = ab.sqrt() * x0[j] + (1.0 - ab).sqrt() * eps[j];
                        assert!((rebuilt - x[j]).abs() < 1e-10 * x[j].abs().max(1.0), "t = {t}: {rebuilt} vs {}", x[j]);
                    }
                }
            }
        }
    }
}

#[test]
fn eps_star_and_x0_mean_match_numerical_integration_1d() {
    // E[eps | x_t] = int eps(x0) q(x0) q(x_t | x0) dx0 / int q(x0) q(x_t | x0) dx0 with
    // eps(x0) = (x_t - sqrt(ab) x0) / sqrt(1 - ab), and E[x0 | x_t] likewise, by the trapezoid rule
    // on [-4, 6] with h = 1e-4 (the narrowest integrand, q(x_t | x0) at t = 1, has std
    // sqrt((1 - ab) / ab) ~ 0.01 = 100 h, so the rule is accurate far below the 1e-7 tolerance).
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let q = mixture_1d();
    let x0 = grid(-4.0, 6.0, 100_001);
    let prior: Vec<f64> = x0.iter().map(|&x| mixture_pdf(&PARTS, x)).collect();
    for t in [1, 20, 200, 1000] {
        let ab = schedule.alpha_bar(t);
        for xt in [-1.0, 0.3, 1.0, 2.5] {
            let joint: Vec<f64> =
                x0.iter().zip(&prior).map(|(&x, p)| p * normal_pdf(xt, ab.sqrt() * x, 1.0 - ab)).collect();
            let z = trapezoid(&x0, &joint);
            let eps_w: Vec<f64> =
                x0.iter().zip(&joint).map(|(&x, j)| j * (xt - ab.sqrt() * x) / (1.0 - ab).sqrt()).collect();
            let x0_w: Vec<f64> = x0.iter().zip(&joint).map(|(&x, j)| j * x).collect();
            let (eps_expected, x0_expected) = (trapezoid(&x0, &eps_w) / z, trapezoid(&x0, &x0_w) / z);
            let eps_seen = q.eps_star(&schedule, t, &[xt]).unwrap()[0];
            let x0_seen = q.x0_mean(&schedule, t, &[xt]).unwrap()[0];
            println!("t = {t:4}, x_t = {xt:4}: eps* {eps_seen:.9} vs {eps_expected:.9}, E[x0|x_t] {x0_seen:.9} vs {x0_expected:.9}");
            assert!((eps_seen - eps_expected).abs() < 1e-7 * eps_expected.abs().max(1.0));
            assert!((x0_seen - x0_expected).abs() < 1e-7 * x0_expected.abs().max(1.0));
            // The marginal density q_t(x_t) is that same integral z (E13: the integral that note 003 calls intractable).
            let q_t = q.marginal(&schedule, t).unwrap().log_density(&[xt]).unwrap().exp();
            assert!((q_t - z).abs() < 1e-7 * z);
        }
    }
}

/// Grid Bayes in 1-D: q(x_{t-1} | x_t) = q(x_t | x_{t-1}) q_{t-1}(x_{t-1}) / q_t(x_t) on `x`, with
/// q_{t-1} from the hand formula [`diffuse`] and q_t(x_t) the trapezoid integral of the numerator.
fn reverse_by_grid_bayes(schedule: &NoiseSchedule, t: usize, xt: f64, x: &[f64]) -> Vec<f64> {
    let prev = diffuse(&PARTS, schedule.alpha_bar(t - 1));
    let (alpha, beta) = (schedule.alpha(t), schedule.beta(t));
    let joint: Vec<f64> =
        x.iter().map(|&xp| normal_pdf(xt, alpha.sqrt() * xp, beta) * mixture_pdf(&prev, xp)).collect();
    let z = trapezoid(x, &joint);
    joint.iter().map(|j| j / z).collect()
}

#[test]
fn reverse_matches_grid_bayes_1d() {
    // Grid [-8, 8], h = 1e-4 (the widest reverse conditional, T = 2, has std < 0.7, so < 1e-15 of it
    // lies outside): the narrowest reverse component (std sqrt(beta_1) = 0.01 at t = 1)
    // spans 100 grid steps, where the trapezoid rule for a Gaussian is accurate to far below 1e-8.
    // Compared pointwise to 1e-8 of the peak; the reverse density must also integrate to 1 within 1e-8.
    let x = grid(-8.0, 8.0, 160_001);
    let schedules =
        [NoiseSchedule::linear(1000).unwrap(), NoiseSchedule::new(BetaSchedule::Custom(vec![0.5, 0.5]), 2).unwrap()];
    for schedule in &schedules {
        let steps = schedule.steps();
        for t in [1, 2, steps / 2, steps] {
            for xt in [-0.8, 0.5, 1.9] {
                let expected = reverse_by_grid_bayes(schedule, t, xt, &x);
                let reverse = mixture_1d().reverse(schedule, t, &[xt]).unwrap();
                let seen = reverse.density_1d(&x).unwrap();
                let peak = expected.iter().cloned().fold(0.0, f64::max);
                let worst = seen.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(worst < 1e-8 * peak, "T = {steps}, t = {t}, x_t = {xt}: max gap {worst:e}, peak {peak}");
                assert!((trapezoid(&x, &seen) - 1.0).abs() < 1e-8);
                assert!((reverse.weights().iter().sum::<f64>() - 1.0).abs() < 1e-14);
            }
        }
    }
}

#[test]
fn reverse_of_one_point_is_the_posterior_of_eq7() {
    // For a one-point data set {x0}, q(x_{t-1} | x_t) = q(x_{t-1} | x_t, x0) = N(mu_tilde, beta_tilde I)
    // (Ho et al. 2020, Eq. 6-7), from the schedule's own tables: an oracle in any dimension.
    let schedule = NoiseSchedule::cosine(50).unwrap();
    let point = vec![0.4, -0.7, 0.1];
    let q = GaussianMixture::from_points(std::slice::from_ref(&point)).unwrap();
    let xt = [1.1, 0.2, -0.5];
    for t in [1, 2, 25, 50] {
        let r = q.reverse(&schedule, t, &xt).unwrap();
        let var = r.stds()[0].powi(2);
        assert!((var - schedule.beta_tilde(t)).abs() < 1e-12 * schedule.beta_tilde(t).max(1e-300), "t = {t}");
        for j in 0..3 {
            let mu_tilde = schedule.mu_tilde_coef_x0(t) * point[j] + schedule.mu_tilde_coef_xt(t) * xt[j];
            assert!((r.means()[0][j] - mu_tilde).abs() < 1e-12, "t = {t}, dim {j}");
        }
    }
    // At t = 1 the posterior is the point itself, exactly.
    let r = q.reverse(&schedule, 1, &xt).unwrap();
    assert_eq!((r.means()[0].clone(), r.stds()[0]), (point, 0.0));
}

#[test]
fn e8_exact_chain_returns_a_one_point_data_set() {
    // E8: with the exact reverse conditionals, a one-point data set comes back exactly (q(x_0 | x_1) is
    // the point mass itself: variance 0 at t = 1).
    let point = vec![0.3, -0.7];
    let q = GaussianMixture::from_points(std::slice::from_ref(&point)).unwrap();
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let x = q.ancestral_sample_exact(&schedule, &mut seeded(3), 20).unwrap();
    for row in x.rows() {
        assert_eq!(row.to_vec(), point);
    }
    // Two points: every sample is one of them exactly, each about half the time (5 binomial standard errors).
    let q = GaussianMixture::from_points(&[vec![-0.5], vec![0.5]]).unwrap();
    let n = 2000;
    let x = q.ancestral_sample_exact(&NoiseSchedule::cosine(100).unwrap(), &mut seeded(4), n).unwrap();
    assert!(x.iter().all(|&v| v == -0.5 || v == 0.5));
    let ones = x.iter().filter(|&&v| v == 0.5).count() as f64;
    assert!((ones - n as f64 / 2.0).abs() < 5.0 * (n as f64 * 0.25).sqrt(), "{ones}");
}

#[test]
fn e9_reverse_is_gaussian_for_small_steps_only() {
    // E9 (notes 000, 003): the exact q(x_{t-1} | x_t) for a bimodal 1-D data set, at x_t = 0 between the
    // modes, against its moment-matched Gaussian (total-variation distance on a 20_001-point grid).
    let q = GaussianMixture::bimodal_1d();
    let tv = |schedule: &NoiseSchedule, t: usize| {
        let r = q.reverse(schedule, t, &[0.0]).unwrap();
        r.non_gaussianity_1d(&r.grid_1d(20_001).unwrap()).unwrap()
    };
    let small = NoiseSchedule::linear(1000).unwrap();
    let large = NoiseSchedule::new(BetaSchedule::Custom(vec![0.5, 0.5]), 2).unwrap();
    let mut worst_small: f64 = 0.0;
    for t in [1, 2, 10, 100, 300, 500, 1000] {
        let d = tv(&small, t);
        println!("linear T = 1000, t = {t:4}, beta_t = {:.5}: TV to Gaussian = {d:.2e}", small.beta(t));
        worst_small = worst_small.max(d);
    }
    let large_tv = tv(&large, 1);
    println!("T = 2, betas 0.5: t = 2: TV = {:.3}, t = 1: TV = {large_tv:.3}", tv(&large, 2));
    assert!(worst_small < 0.01, "{worst_small}");
    assert!(large_tv > 0.1, "{large_tv}");
    // A single Gaussian has TV 0 (up to the trapezoid rule).
    let g = GaussianMixture::gaussian_1d(0.3, 0.7).unwrap();
    assert!(g.non_gaussianity_1d(&g.grid_1d(20_001).unwrap()).unwrap() < 1e-9);
}

#[test]
fn exact_chain_reproduces_a_2d_ring() {
    // ring(8, 1, 0.05) through the exact chain, for a long (linear, T = 1000) and a short schedule
    // (T = 3, large betas): exact either way. n = 4000, each sample assigned to its nearest mode
    // (modes 0.77 apart, 15 stds). Per mode: count within 5 binomial standard errors
    // sqrt(n p (1 - p)) of n / 8; mean within 5 standard errors 0.05 / sqrt(count) per coordinate;
    // variance within 5 standard errors s^2 sqrt(2 / (count - 1)).
    let q = GaussianMixture::ring(8, 1.0, 0.05).unwrap();
    let schedules = [
        NoiseSchedule::linear(1000).unwrap(),
        NoiseSchedule::new(BetaSchedule::Custom(vec![0.3, 0.6, 0.9]), 3).unwrap(),
    ];
    let n = 4000;
    for (i, schedule) in schedules.iter().enumerate() {
        let x = q.ancestral_sample_exact(schedule, &mut seeded(10 + i as u64), n).unwrap();
        let mut groups: Vec<Vec<[f64; 2]>> = vec![Vec::new(); 8];
        for row in x.rows() {
            let nearest = (0..8)
                .min_by(|&a, &b| {
                    let d = |k: usize| (row[0] - q.means()[k][0]).powi(2) + (row[1] - q.means()[k][1]).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            groups[nearest].push([row[0], row[1]]);
        }
        let p = 1.0 / 8.0;
        for (k, g) in groups.iter().enumerate() {
            let c = g.len() as f64;
            assert!(
                (c - n as f64 * p).abs() < 5.0 * (n as f64 * p * (1.0 - p)).sqrt(),
                "T = {}, mode {k}: {c}",
                schedule.steps()
            );
            for j in 0..2 {
                let m = g.iter().map(|v| v[j]).sum::<f64>() / c;
                let v = g.iter().map(|v| (v[j] - m).powi(2)).sum::<f64>() / (c - 1.0);
                assert!((m - q.means()[k][j]).abs() < 5.0 * 0.05 / c.sqrt(), "mode {k}, dim {j}: mean {m}");
                assert!((v - 0.0025).abs() < 5.0 * 0.0025 * (2.0 / (c - 1.0)).sqrt(), "mode {k}, dim {j}: var {v}");
            }
        }
    }
}

#[test]
fn far_points_do_not_give_nan() {
    // Far from the data every component's weight underflows in a plain sum; log-sum-exp keeps the nearest.
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let q = GaussianMixture::bimodal_1d();
    for t in [1, 2] {
        let score = q.score(&schedule, t, &[40.0]).unwrap()[0];
        let eps = q.eps_star(&schedule, t, &[40.0]).unwrap()[0];
        let r = q.reverse(&schedule, t, &[40.0]).unwrap();
        assert!(score.is_finite() && eps.is_finite() && score < 0.0);
        assert!(r.weights()[0] == 0.0 && r.weights()[1] == 1.0, "{:?}", r.weights());
        assert!(r.means()[1][0].is_finite());
    }
}

#[test]
fn constructors() {
    let ring = GaussianMixture::ring(4, 2.0, 0.1).unwrap();
    assert_eq!((ring.dim(), ring.n_components()), (2, 4));
    assert!((ring.means()[1][0]).abs() < 1e-15 && (ring.means()[1][1] - 2.0).abs() < 1e-15);
    assert!(ring.weights().iter().all(|&w| w == 0.25));
    let b = GaussianMixture::bimodal_1d();
    assert_eq!((b.dim(), b.weights(), b.means()), (1, &[0.5, 0.5][..], &[vec![-1.0], vec![1.0]][..]));
    // Huge weights are normalised without overflow.
    let q = GaussianMixture::new(vec![1e308, 1e308], vec![vec![0.0], vec![1.0]], vec![1.0, 1.0]).unwrap();
    assert_eq!(q.weights(), &[0.5, 0.5]);
}

#[test]
fn bad_inputs_are_errors_that_say_why() {
    let one = || vec![vec![0.0]];
    assert!(m(GaussianMixture::new(vec![], vec![], vec![])).contains("at least one component"));
    assert!(m(GaussianMixture::new(vec![1.0, 1.0], one(), vec![1.0])).contains("one entry per component"));
    assert!(m(GaussianMixture::new(vec![1.0, 1.0], vec![vec![0.0], vec![0.0, 1.0]], vec![1.0, 1.0]))
        .contains("means[1] has 2 coordinates but means[0] has 1"));
    assert!(m(GaussianMixture::new(vec![1.0], vec![vec![]], vec![1.0])).contains("dimension d must be >= 1"));
    assert!(m(GaussianMixture::new(vec![1.0], one(), vec![-0.5])).contains("stds[0] must be finite and >= 0, got -0.5"));
    assert!(m(GaussianMixture::new(vec![1.0], one(), vec![f64::NAN])).contains("stds[0]"));
    assert!(m(GaussianMixture::new(vec![1.0], vec![vec![f64::NAN]], vec![1.0]))
        .contains("means[0][0] must be finite, got NaN"));
    assert!(m(GaussianMixture::new(vec![0.0], one(), vec![1.0])).contains("weights[0] must be finite and > 0, got 0"));
    assert!(m(GaussianMixture::new(vec![f64::INFINITY], one(), vec![1.0])).contains("weights[0]"));
    assert!(m(GaussianMixture::from_points(&[])).contains("at least one component"));
    assert!(m(GaussianMixture::ring(0, 1.0, 0.1)).contains("modes >= 1, got 0"));
    assert!(m(GaussianMixture::ring(3, f64::NAN, 0.1)).contains("radius"));

    let s = NoiseSchedule::linear(10).unwrap();
    let q = mixture_1d();
    assert!(m(q.marginal(&s, 11)).contains("t must be in 0..=10, got 11"));
    assert!(m(q.score(&s, 11, &[0.0])).contains("t must be in 0..=10, got 11"));
    assert!(m(q.eps_star(&s, 0, &[0.0])).contains("t must be in 1..=10, got 0"));
    assert!(m(q.reverse(&s, 0, &[0.0])).contains("t must be in 1..=10, got 0"));
    assert!(m(q.x0_mean(&s, 11, &[0.0])).contains("t must be in 1..=10, got 11"));
    assert!(m(q.reverse(&s, 3, &[0.0, 1.0])).contains("x_t has 2 coordinates but the mixture has dimension 1"));
    assert!(m(q.eps_star(&s, 3, &[f64::NAN])).contains("x_t[0] must be finite, got NaN"));
    assert!(m(q.log_density(&[])).contains("x has 0 coordinates"));
    let points = GaussianMixture::from_points(&[vec![0.0], vec![1.0]]).unwrap();
    assert!(m(points.log_density(&[0.0])).contains("point mass (stds[0] = 0)"));
    assert!(m(points.score(&s, 0, &[0.0])).contains("point mass"));
    assert!(points.score(&s, 1, &[0.0]).is_ok());
    assert!(m(points.density_1d(&[0.0])).contains("point mass"));
    assert!(m(mixture_2d().density_1d(&[0.0])).contains("needs a 1-D mixture, got dimension 2"));
    assert!(m(q.non_gaussianity_1d(&[0.0])).contains("at least 2 points"));
    assert!(m(q.non_gaussianity_1d(&[0.0, 1.0, 1.0])).contains("strictly increasing"));
    assert!(m(q.non_gaussianity_1d(&[0.0, f64::INFINITY])).contains("grid[1] must be finite"));
    assert!(m(q.grid_1d(1)).contains("n >= 2"));
}
