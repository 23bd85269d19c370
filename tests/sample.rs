//! Sampling on candle tensors (Algorithm 2, DDIM, guidance, trajectories), tested apart from any
//! network: the "model" is the exact eps of a Gaussian mixture (E20), so every error would be
//! the sampler's.

use candle_core::{Device, Tensor};
use ddpm::mixture::GaussianMixture;
use ddpm::nn::EpsModel;
use ddpm::posterior::{Parameterisation, ReverseVar};
use ddpm::sample::{sample, Guidance, MeanScale, Prediction, SampleConfig, Sampler};
use ddpm::stats::{ks_critical, ks_one_sample, normal_cdf};
use ddpm::{NoiseSchedule, Result};

/// The two-mode 1-D data of the checks: 0.5 N(-0.6, 0.1^2) + 0.5 N(0.6, 0.1^2).
fn bimodal() -> GaussianMixture {
    GaussianMixture::new(vec![0.5, 0.5], vec![vec![-0.6], vec![0.6]], vec![0.1, 0.1]).unwrap()
}

fn bimodal_cdf(x: f64) -> f64 {
    0.5 * normal_cdf((x + 0.6) / 0.1) + 0.5 * normal_cdf((x - 0.6) / 0.1)
}

/// The exact eps*(x_t, t) of a mixture (or its x_0 = E[x_0 | x_t]), as a network would give it:
/// on (B, 1) tensors, one t for the batch.
struct Exact {
    data: GaussianMixture,
    schedule: NoiseSchedule,
    output: Parameterisation,
}

impl EpsModel for Exact {
    fn eps_theta(&self, xt: &Tensor, t: &Tensor, _class: Option<&Tensor>, _train: bool) -> Result<Tensor> {
        let ts: Vec<u32> = t.to_vec1()?;
        let rows: Vec<Vec<f32>> = xt.to_vec2()?;
        let mut out = Vec::with_capacity(rows.len());
        for (row, &t) in rows.iter().zip(&ts) {
            let x: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            let y = match self.output {
                Parameterisation::X0 => self.data.x0_mean(&self.schedule, t as usize, &x)?,
                _ => self.data.eps_star(&self.schedule, t as usize, &x)?,
            };
            out.extend(y.into_iter().map(|v| v as f32));
        }
        Ok(Tensor::from_vec(out, xt.dims(), xt.device())?)
    }
}

fn exact(output: Parameterisation) -> Exact {
    Exact { data: bimodal(), schedule: NoiseSchedule::linear(1000).unwrap(), output }
}

fn draw(model: &Exact, config: &SampleConfig, n: usize) -> Vec<f64> {
    let prediction = Prediction { model, parameterisation: model.output };
    let (x, _) = sample(&prediction, &model.schedule, &[n, 1], None, config, &Device::Cpu, |_, _| {}).unwrap();
    x.flatten_all().unwrap().to_vec1::<f32>().unwrap().into_iter().map(f64::from).collect()
}

/// KS at level 1e-3, as every statistical check of the crate.
fn assert_matches_data(xs: &[f64], what: &str) {
    let ks = ks_one_sample(xs, bimodal_cdf);
    let critical = ks_critical(ks.n_eff, 1e-3);
    println!("{what}: KS D = {:.4}, critical {critical:.4}", ks.d);
    assert!(ks.d <= critical, "{what}: KS D = {} > {critical}", ks.d);
}

#[test]
fn e20_ancestral_sampling_with_the_exact_eps_reproduces_the_data() {
    let model = exact(Parameterisation::Eps);
    for sigma in [ReverseVar::Beta, ReverseVar::BetaTilde] {
        let config = SampleConfig {
            sampler: Sampler::Ancestral { sigma },
            clip_x0: false,
            seed: 1,
            record_at: vec![],
            ..Default::default()
        };
        assert_matches_data(&draw(&model, &config, 2000), &format!("ancestral, {sigma:?}"));
    }
}

#[test]
fn erratum_1_dividing_by_alpha_t_on_tensors_makes_the_samples_drift() {
    // Note 000 writes Algorithm 2 with 1/alpha_t; with the exact eps the samples then fail the
    // KS test against the data that the paper's 1/sqrt(alpha_t) passes (test above).
    let model = exact(Parameterisation::Eps);
    let config = SampleConfig {
        sampler: Sampler::Ancestral { sigma: ReverseVar::Beta },
        clip_x0: false,
        seed: 1,
        mean_scale: MeanScale::AlphaErratum,
        ..Default::default()
    };
    let x = draw(&model, &config, 2000);
    let ks = ks_one_sample(&x, bimodal_cdf);
    let critical = ks_critical(ks.n_eff, 1e-3);
    assert!(ks.d > critical, "1/alpha_t: KS D = {} should exceed {critical}", ks.d);
}

#[test]
fn ddim_with_the_exact_eps_reproduces_the_data_in_fewer_steps() {
    let model = exact(Parameterisation::Eps);
    for eta in [0.0, 1.0] {
        let config = SampleConfig {
            sampler: Sampler::Ddim { steps: 100, eta },
            clip_x0: false,
            seed: 2,
            record_at: vec![],
            ..Default::default()
        };
        assert_matches_data(&draw(&model, &config, 2000), &format!("DDIM, 100 steps, eta {eta}"));
    }
}

#[test]
fn ddim_with_eta_1_and_every_step_is_ancestral_sampling_with_beta_tilde() {
    // Song et al. 2021, Sec. 4.1: eta = 1 gives sigma^2 = beta_tilde_t and the DDPM posterior
    // mean; with the same generator both draw the same x_T and z, so the samples agree.
    let model = exact(Parameterisation::Eps);
    let ancestral = SampleConfig {
        sampler: Sampler::Ancestral { sigma: ReverseVar::BetaTilde },
        clip_x0: false,
        seed: 3,
        record_at: vec![],
        mean_scale: MeanScale::SqrtAlpha,
    };
    let ddim = SampleConfig { sampler: Sampler::Ddim { steps: 1000, eta: 1.0 }, ..ancestral.clone() };
    let (a, b) = (draw(&model, &ancestral, 64), draw(&model, &ddim, 64));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    // f32 arithmetic over 1000 steps of values near 1: agreement to about 1e-5.
    assert!(worst < 1e-4, "largest difference {worst}");
}

#[test]
fn an_x0_predicting_model_gives_the_same_samples_as_its_eps() {
    // E21: the parameterisations are affine in each other; the sampler converts x0 to eps.
    let config = SampleConfig {
        sampler: Sampler::Ddim { steps: 50, eta: 0.0 },
        clip_x0: false,
        seed: 4,
        record_at: vec![],
        ..Default::default()
    };
    let (a, b) = (draw(&exact(Parameterisation::Eps), &config, 64), draw(&exact(Parameterisation::X0), &config, 64));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-3, "largest difference {worst}");
}

#[test]
fn the_same_seed_gives_the_same_samples() {
    let model = exact(Parameterisation::Eps);
    let config = SampleConfig { sampler: Sampler::Ddim { steps: 20, eta: 0.5 }, seed: 5, ..Default::default() };
    assert_eq!(draw(&model, &config, 32), draw(&model, &config, 32));
    let other = SampleConfig { seed: 6, ..config.clone() };
    assert_ne!(draw(&model, &config, 32), draw(&model, &other, 32));
}

#[test]
fn the_trajectory_records_x_t_and_the_predicted_x0_at_the_asked_steps() {
    let model = exact(Parameterisation::Eps);
    let config = SampleConfig {
        sampler: Sampler::Ddim { steps: 10, eta: 0.0 },
        record_at: vec![1000, 450, 1, 999],
        ..Default::default()
    };
    // DDIM visits 1000, 889, 778, 667, 556, 445, 334, 223, 112, 1 (linspace(1, 1000, 10)
    // rounded): 450 is recorded at 445 and 999 at 889.
    assert_eq!(config.recorded_steps(&model.schedule).unwrap(), vec![1000, 889, 445, 1]);
    let prediction = Prediction { model: &model, parameterisation: Parameterisation::Eps };
    let (_, trajectory) =
        sample(&prediction, &model.schedule, &[8, 1], None, &config, &Device::Cpu, |_, _| {}).unwrap();
    assert_eq!(trajectory.t, vec![1000, 889, 445, 1]);
    assert_eq!(trajectory.xt.len(), 4);
    // x_T ~ N(0, 1) is recorded as drawn; the predicted x_0 is clipped to [-1, 1].
    for x0 in &trajectory.x0_pred {
        assert_eq!(x0.dims(), &[8, 1]);
        let v: Vec<f32> = x0.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|p| (-1.0..=1.0).contains(p)));
    }
}

/// A "network" whose eps is the class label plus the step divided by 1000, so that guidance can
/// be checked by arithmetic; the "no class" label is 10.
struct ByClass;

impl EpsModel for ByClass {
    fn eps_theta(&self, xt: &Tensor, _t: &Tensor, class: Option<&Tensor>, _train: bool) -> Result<Tensor> {
        let c: Vec<u32> = class.expect("a class").to_vec1()?;
        let v: Vec<f32> = c.iter().map(|&k| k as f32).collect();
        Ok(Tensor::from_vec(v, xt.dims(), xt.device())?)
    }
}

#[test]
fn guidance_mixes_the_conditional_and_unconditional_eps() {
    // Ho and Salimans 2022, Eq. 6: eps = (1 + w) eps(c) - w eps(no class).
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let prediction = Prediction { model: &ByClass, parameterisation: Parameterisation::Eps };
    let xt = Tensor::zeros((2, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
    let class = Tensor::new(&[3u32, 7], &Device::Cpu).unwrap();
    for w in [0.0, 0.5, 2.0] {
        let g = Guidance { class: class.clone(), scale: w, null_class: Some(10) };
        let d = prediction.denoise(&schedule, &xt, 500, Some(&g), false).unwrap();
        let eps: Vec<f32> = d.eps.flatten_all().unwrap().to_vec1().unwrap();
        let expected = [(1.0 + w) * 3.0 - w * 10.0, (1.0 + w) * 7.0 - w * 10.0];
        for (e, x) in eps.iter().zip(expected) {
            assert!((*e as f64 - x).abs() < 1e-5, "w = {w}: {e} vs {x}");
        }
    }
    let no_null = Guidance { class, scale: 1.0, null_class: None };
    let m = prediction.denoise(&schedule, &xt, 500, Some(&no_null), false).unwrap_err().to_string();
    assert!(m.contains("needs the \"no class\" label"), "{m}");
}

#[test]
fn bad_sampler_settings_are_refused_with_the_value_and_what_is_allowed() {
    let schedule = NoiseSchedule::linear(100).unwrap();
    let cases = [
        (Sampler::Ddim { steps: 0, eta: 0.0 }, vec![], "DDIM steps must be in 1..=100"),
        (Sampler::Ddim { steps: 101, eta: 0.0 }, vec![], "got 101"),
        (Sampler::Ddim { steps: 10, eta: -1.0 }, vec![], "eta must be a finite number >= 0"),
        (Sampler::default(), vec![0], "record_at steps must be in 1..=100, got 0"),
    ];
    for (sampler, record_at, expected) in cases {
        let config = SampleConfig { sampler, record_at, ..Default::default() };
        let m = config.validate(&schedule).unwrap_err().to_string();
        assert!(m.contains(expected), "{m}");
    }
    let model = exact(Parameterisation::Eps);
    let mean = Prediction { model: &model, parameterisation: Parameterisation::Mean };
    let m = sample(&mean, &model.schedule, &[2, 1], None, &SampleConfig::default(), &Device::Cpu, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(m.contains("allowed: eps, x0, v"), "{m}");
    let prediction = Prediction { model: &model, parameterisation: Parameterisation::Eps };
    let m = sample(&prediction, &model.schedule, &[0, 1], None, &SampleConfig::default(), &Device::Cpu, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(m.contains("got [0, 1]"), "{m}");
}

#[test]
fn full_noise_removal_predicts_x0_well_for_small_t_and_the_mean_for_large_t() {
    // The exact model predicts E[x_0 | x_t]: nearly x_0 itself at t = 1, the data mean (0) at
    // t = T, so its error grows with t from ~0 to about Var(x_0) = 0.6^2 + 0.1^2 = 0.37.
    let model = exact(Parameterisation::Eps);
    let x0_values: Vec<f32> = bimodal().sample(&mut ddpm::rng::seeded(9), 256).iter().map(|&v| v as f32).collect();
    let x0 = Tensor::from_vec(x0_values, (256, 1), &Device::Cpu).unwrap();
    let prediction = Prediction { model: &model, parameterisation: Parameterisation::Eps };
    let ts = [1, 100, 300, 1000];
    let rows = ddpm::sample::full_noise_removal(&prediction, &model.schedule, &x0, &ts, 10, false).unwrap();
    let errors: Vec<f64> = rows.iter().map(|r| r.x0_mse(&x0).unwrap()).collect();
    assert_eq!(rows.iter().map(|r| r.t).collect::<Vec<_>>(), ts);
    assert!(errors[0] < 1e-3, "t = 1: x0 error {}", errors[0]);
    assert!(errors.windows(2).all(|w| w[0] < w[1]), "x0 errors should grow with t: {errors:?}");
    // At T, E[x_0 | x_T] is nearly 0: error near Var(x_0) = 0.37 (256 samples: within 0.1).
    assert!((errors[3] - 0.37).abs() < 0.1, "t = T: x0 error {}", errors[3]);
    // The same noise at every t, and x_t by the closed form.
    let s = &model.schedule;
    let expected_xt = (x0.affine(s.sqrt_alpha_bar(300), 0.0).unwrap()
        + rows[2].eps.affine(s.sqrt_one_minus_alpha_bar(300), 0.0).unwrap())
    .unwrap();
    let diff: f32 = (&rows[2].xt - expected_xt).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    assert_eq!(diff, 0.0);
    assert!(ddpm::sample::full_noise_removal(&prediction, s, &x0, &[], 10, false).is_err());
    assert!(ddpm::sample::full_noise_removal(&prediction, s, &x0, &[1001], 10, false).is_err());
}

impl ddpm::sample::SampleShape for Exact {
    fn sample_shape(&self) -> Vec<usize> {
        vec![1]
    }
}

#[test]
fn the_short_form_gives_the_samples_of_the_long_form() {
    let model = exact(Parameterisation::Eps);
    let prediction = Prediction::eps(&model);
    for config in [SampleConfig::ddpm().with_seed(4), SampleConfig::ddim(20).with_seed(5)] {
        let short = config.sample(&prediction, &model.schedule, 6, &Device::Cpu).unwrap();
        let (long, _) = sample(&prediction, &model.schedule, &[6, 1], None, &config, &Device::Cpu, |_, _| {}).unwrap();
        assert_eq!(short.to_vec2::<f32>().unwrap(), long.to_vec2::<f32>().unwrap());
    }
    // The trajectory only when asked for.
    let traced = SampleConfig { record_at: vec![500, 1], ..SampleConfig::ddim(10) };
    let (_, trajectory) = traced.sample_with_trajectory(&prediction, &model.schedule, 3, &Device::Cpu).unwrap();
    assert_eq!(trajectory.t, vec![445, 1]); // the visited steps at or below 500 and 1
    let err = SampleConfig::ddpm().sample(&prediction, &model.schedule, 0, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("n must be at least 1, got 0"));
}

/// `Run::sample_with` is the one-line sampler over the run's own network, target and schedule:
/// the same numbers as building the prediction by hand, in the training data's shape.
#[test]
fn a_run_samples_in_one_line_what_its_prediction_gives() -> Result<()> {
    use ddpm::run::{DataSpec, Run, RunOptions, RunSpec};
    let dir = tempfile::tempdir().unwrap();
    let (mut spec, model) = RunSpec::default_for(DataSpec::Toy(ddpm::data::ToyData::Ring), false)?;
    (spec.train.steps, spec.train.batch_size, spec.train.log_every) = (5, 16, 0);
    Run::train(dir.path(), &spec, &model, &Device::Cpu, &RunOptions::default())?;
    let run = Run::open(dir.path())?;
    let config = SampleConfig::ddim(10).with_seed(3);
    let short = run.sample_with(&config, 7, &Device::Cpu)?;
    let by_hand = config.sample(&run.prediction(&Device::Cpu)?, &spec.schedule.build()?, 7, &Device::Cpu)?;
    assert_eq!(short.dims(), &[7, 2]);
    assert_eq!(short.flatten_all()?.to_vec1::<f32>()?, by_hand.flatten_all()?.to_vec1::<f32>()?);
    Ok(())
}
