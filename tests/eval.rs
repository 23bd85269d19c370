//! Evaluation: the Fréchet distance against scipy, the bound against its closed form for an
//! exact model, and the classifier on real digits and on noise.

use candle_core::{Device, Tensor};
use ddpm::data::{Mnist, Split};
use ddpm::eval::classifier::RECIPE;
use ddpm::eval::frechet::{frechet_distance, mean_cov, sqrt_psd, symmetric_eigen};
use ddpm::eval::{sample_quality, variational_bound, Classifier, ClassifierInfo};
use ddpm::nn::EpsModel;
use ddpm::objective::{discretised_gaussian_log_likelihood, normal_kl};
use ddpm::posterior::Parameterisation;
use ddpm::sample::Prediction;
use ddpm::{NoiseSchedule, Result};

fn s1() -> Vec<Vec<f64>> {
    vec![vec![2.0, 0.5, 0.1], vec![0.5, 1.0, 0.2], vec![0.1, 0.2, 0.5]]
}

fn s2() -> Vec<Vec<f64>> {
    vec![vec![1.0, 0.3, 0.0], vec![0.3, 2.0, 0.4], vec![0.0, 0.4, 1.5]]
}

#[test]
fn frechet_distance_matches_scipy() {
    // scipy 1.17: m1, m2 = [0, 1, 2], [0.5, 0.5, 2.5];
    // ((m1 - m2)**2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    // = 1.3810463431999824 (pytorch-fid's formula).
    let d = frechet_distance(&[0.0, 1.0, 2.0], &s1(), &[0.5, 0.5, 2.5], &s2()).unwrap();
    assert!((d - 1.3810463431999824).abs() < 1e-10, "{d}");
    // The distance of a Gaussian to itself is 0.
    assert!(frechet_distance(&[1.0, 2.0, 3.0], &s1(), &[1.0, 2.0, 3.0], &s1()).unwrap().abs() < 1e-10);
}

#[test]
fn jacobi_finds_the_eigenvalues_and_the_square_root() {
    // numpy: np.linalg.eigvalsh(s1) = [0.425551, 0.8506431, 2.22380589].
    let (mut eig, v) = symmetric_eigen(&s1()).unwrap();
    let vectors = v.clone();
    eig.sort_by(f64::total_cmp);
    for (a, b) in eig.iter().zip([0.425551, 0.8506431, 2.22380589]) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // A v_k = lambda_k v_k for the unsorted pairs.
    let (eig, _) = symmetric_eigen(&s1()).unwrap();
    for k in 0..3 {
        for i in 0..3 {
            let av: f64 = (0..3).map(|j| s1()[i][j] * vectors[j][k]).sum();
            assert!((av - eig[k] * vectors[i][k]).abs() < 1e-12);
        }
    }
    // sqrt(S)^2 = S.
    let r = sqrt_psd(&s1()).unwrap();
    for i in 0..3 {
        for j in 0..3 {
            let rr: f64 = (0..3).map(|k| r[i][k] * r[k][j]).sum();
            assert!((rr - s1()[i][j]).abs() < 1e-12);
        }
    }
    assert!(symmetric_eigen(&[vec![1.0, 2.0]]).unwrap_err().to_string().contains("must be square"));
}

#[test]
fn mean_cov_is_numpys() {
    // np.cov([[1, 2], [3, 5], [4, 4]], rowvar=False) = [[7/3, 11/6], [11/6, 7/3]].
    let (m, c) = mean_cov(&[vec![1.0, 2.0], vec![3.0, 5.0], vec![4.0, 4.0]]).unwrap();
    assert!((m[0] - 8.0 / 3.0).abs() < 1e-12 && (m[1] - 11.0 / 3.0).abs() < 1e-12, "{m:?}");
    assert!(
        (c[0][0] - 7.0 / 3.0).abs() < 1e-12
            && (c[0][1] - 11.0 / 6.0).abs() < 1e-12
            && (c[1][1] - 7.0 / 3.0).abs() < 1e-12
    );
    assert!(mean_cov(&[vec![1.0]]).unwrap_err().to_string().contains("at least 2 samples"));
}

/// The exact eps of a data set with one point x_0: eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t).
struct OnePoint {
    x0: Tensor,
    schedule: NoiseSchedule,
}

impl EpsModel for OnePoint {
    fn eps_theta(&self, xt: &Tensor, t: &Tensor, _class: Option<&Tensor>, _train: bool) -> Result<Tensor> {
        let t = t.to_vec1::<u32>()?[0] as usize;
        let (a, s) = (self.schedule.sqrt_alpha_bar(t), self.schedule.sqrt_one_minus_alpha_bar(t));
        Ok(((xt - self.x0.broadcast_as(xt.dims())?.affine(a, 0.0)?)? * (1.0 / s))?)
    }
}

#[test]
fn the_bound_of_the_exact_model_has_only_the_variance_terms() {
    // With the exact eps, mu_theta = mu_tilde, so L_{t-1} is the KL between N(., beta_tilde_t)
    // and N(., beta_t) with equal means, per pixel: 0.5 (r - 1 - ln r), r = beta_tilde_t / beta_t.
    let schedule = NoiseSchedule::linear(100).unwrap();
    let pixels = [-1.0f32, -0.5, 0.0, 0.25, 1.0, 0.75];
    let x0 = Tensor::from_vec(pixels.to_vec(), (1, 1, 2, 3), &Device::Cpu).unwrap();
    let model = OnePoint { x0: x0.clone(), schedule: schedule.clone() };
    let prediction = Prediction { model: &model, parameterisation: Parameterisation::Eps };
    let batch = Tensor::cat(&[&x0, &x0], 0).unwrap();
    let report = variational_bound(&prediction, &schedule, &batch, 99, 0).unwrap();
    let expected_steps: f64 = (2..=100)
        .map(|t| {
            let r = schedule.beta_tilde(t) / schedule.beta(t);
            6.0 * 0.5 * (r - 1.0 - r.ln())
        })
        .sum();
    assert!(
        (report.steps_sum - expected_steps).abs() < 1e-6 * expected_steps,
        "{} vs {expected_steps}",
        report.steps_sum
    );
    let ab = schedule.alpha_bar(100);
    let prior: f64 = pixels.iter().map(|&x| normal_kl(ab.sqrt() * x as f64, (1.0 - ab).ln(), 0.0, 0.0)).sum();
    assert!((report.prior - prior).abs() < 1e-9);
    // At t = 1 the mean is x_0 itself (mu_tilde's x_0 coefficient is 1): the decoder term is the
    // discretised likelihood of x_0 under N(x_0, beta_tilde_2).
    let log_scale = 0.5 * schedule.beta_tilde(2).ln();
    let decoder: f64 =
        pixels.iter().map(|&x| -discretised_gaussian_log_likelihood(x as f64, x as f64, log_scale)).sum();
    assert!((report.decoder - decoder).abs() < 1e-3 * decoder.abs(), "{} vs {decoder}", report.decoder);
    assert!((report.bits_per_dim() - report.total() / (6.0 * std::f64::consts::LN_2)).abs() < 1e-12);
    let m = variational_bound(&prediction, &schedule, &batch, 100, 0).unwrap_err().to_string();
    assert!(m.contains("strata must be in 1..=99"), "{m}");
}

#[test]
fn the_classifier_learns_digits_and_calls_noise_no_digit() {
    let device = Device::Cpu;
    let train = Mnist::load_default(Split::Train).unwrap();
    let test = Mnist::load_default(Split::Test).unwrap();
    // A quick version of the cached classifier: the first 8000 training images, two epochs.
    let subset = train.take(8000);
    let (classifier, _) = Classifier::train(&subset, 2, 64, 0, &device).unwrap();
    let idx: Vec<usize> = (0..500).collect();
    let x = test.batch(&idx).unwrap();
    let digits =
        Tensor::from_vec(x.iter().map(|&p| p as f32).collect::<Vec<f32>>(), x.shape().to_vec(), &device).unwrap();
    let (probs, reference) = classifier.predict(&digits).unwrap();
    let correct = probs.iter().zip(&test.labels()[..500]).filter(|(p, &y)| ddpm::eval::argmax(p) == y as usize).count();
    println!("500 test digits: {correct} correct");
    // Measured (seed 0): 476 of 500 (95.2 %; 467 with recipe 1). The bar, 400 (80 %), lies 15
    // standard errors of a 500-image accuracy (sqrt(0.95 x 0.05 / 500) = 1.0 %) below it.
    assert!(correct >= 400, "{correct} of 500");
    // Pure noise is "no digit" almost always.
    let mut rng = ddpm::rng::seeded(3);
    let noise =
        ddpm::sample::network::normal_tensor(&mut rng, &[200, 1, 28, 28], &device).unwrap().clamp(-1f32, 1f32).unwrap();
    let q = sample_quality(&classifier, &noise, &reference, None).unwrap();
    println!("noise: {} no digit, confident {}", q.no_digit, q.confident_fraction);
    assert!(q.no_digit >= 190 && q.confident_fraction <= 0.05, "{q:?}");
    let real = sample_quality(
        &classifier,
        &digits,
        &reference,
        Some(&test.labels()[..500].iter().map(|&y| y as u32).collect::<Vec<_>>()),
    )
    .unwrap();
    assert!(real.all_classes_present() && real.class_accuracy.unwrap() >= 0.8, "{real:?}");
    // Real digits are far closer to the reference features than noise is.
    assert!(real.frechet < 0.2 * q.frechet, "{} vs {}", real.frechet, q.frechet);
}

#[test]
fn the_cached_classifier_is_used_only_if_trained_by_the_current_recipe() {
    let device = Device::Cpu;
    let train = Mnist::load_default(Split::Train).unwrap().take(300);
    let (classifier, varmap) = Classifier::train(&train, 1, 100, 0, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(Classifier::cached(dir.path(), &device).unwrap().is_none(), "an empty folder holds no classifier");
    let info = ClassifierInfo { recipe: RECIPE, epochs: 1, batch_size: 100, seed: 0, test_accuracy: 0.5 };
    Classifier::save(dir.path(), &varmap, &info).unwrap();
    let (cached, cached_info) = Classifier::cached(dir.path(), &device).unwrap().expect("the current recipe is used");
    assert_eq!(cached_info, info);
    let x = train.batch_tensor(&(0..20).collect::<Vec<_>>(), &device).unwrap();
    assert_eq!(classifier.predict(&x).unwrap(), cached.predict(&x).unwrap(), "the same outputs after the round trip");
    // A classifier of an older recipe, and one saved before the recipe was recorded (recipe 1),
    // are not used: load_or_train trains the current one in their place.
    Classifier::save(dir.path(), &varmap, &ClassifierInfo { recipe: RECIPE - 1, ..info.clone() }).unwrap();
    assert!(Classifier::cached(dir.path(), &device).unwrap().is_none());
    let old: ClassifierInfo =
        serde_json::from_str(r#"{"epochs": 5, "batch_size": 128, "seed": 0, "test_accuracy": 0.9858}"#).unwrap();
    assert_eq!(old.recipe, 1);
}
