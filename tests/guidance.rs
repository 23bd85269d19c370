//! Classifier guidance (Dhariwal and Nichol 2021): the gradient of log p(y | x_t, t) that
//! candle's back-propagation gives against central finite differences, s = 0 is the unguided
//! sampler bit for bit, and bad requests are refused with a message.

use candle_core::{DType, Device, Tensor};
use ddpm::guidance::{log_prob_grad, Guided, NoisyClassifier, NoisyClassifierConfig, NoisyClassify};
use ddpm::nn::{seeded_var_builder, EpsModel, UNet, UNetConfig};
use ddpm::sample::{sample, Prediction, SampleConfig};
use ddpm::NoiseSchedule;

fn classifier(size: usize, seed: u64) -> NoisyClassifier {
    let config = NoisyClassifierConfig { in_channels: 1, image_size: size, channels: 8, classes: 3 };
    let varmap = candle_nn::VarMap::new();
    NoisyClassifier::new(&config, seeded_var_builder(&varmap, seed, &Device::Cpu)).unwrap()
}

fn log_p(c: &NoisyClassifier, x: &Tensor, t: &Tensor, y: &[u32]) -> Vec<f64> {
    let lp = candle_nn::ops::log_softmax(&c.logits(x, t).unwrap(), 1).unwrap();
    let rows: Vec<Vec<f32>> = lp.to_vec2().unwrap();
    rows.iter().zip(y).map(|(r, &k)| r[k as usize] as f64).collect()
}

fn values(x: &Tensor) -> Vec<f32> {
    x.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn the_gradient_matches_central_finite_differences() {
    let c = classifier(8, 5);
    let x = Tensor::randn(0f32, 1f32, (2, 1, 8, 8), &Device::Cpu).unwrap();
    let t = Tensor::new(&[40u32, 400], &Device::Cpu).unwrap();
    let y = [2u32, 0];
    let g = values(&log_prob_grad(&c, &x, &t, &Tensor::new(&y, &Device::Cpu).unwrap()).unwrap());
    let base = values(&x);
    let h = 1e-2f32;
    for pixel in [0, 9, 27, 63, 64 + 5, 64 + 40] {
        let shifted = |d: f32| {
            let mut v = base.clone();
            v[pixel] += d;
            Tensor::from_vec(v, (2, 1, 8, 8), &Device::Cpu).unwrap()
        };
        let b = pixel / 64;
        let fd = (log_p(&c, &shifted(h), &t, &y)[b] - log_p(&c, &shifted(-h), &t, &y)[b]) / (2.0 * h as f64);
        // Only sample b depends on its own pixel: the other sample's log p must not move.
        let other = 1 - b;
        assert_eq!(log_p(&c, &shifted(h), &t, &y)[other], log_p(&c, &x, &t, &y)[other]);
        let got = g[pixel] as f64;
        assert!(
            (fd - got).abs() <= 2e-3 + 0.02 * got.abs(),
            "pixel {pixel}: back-propagation {got}, finite difference {fd}"
        );
    }
    assert!(g.iter().any(|&v| v != 0.0));
}

#[test]
fn scale_zero_is_the_unguided_sampler_bit_for_bit_and_scale_above_zero_moves_it() {
    let (net, _) = UNet::new_seeded(&UNetConfig::tiny(16), &Device::Cpu, 2).unwrap();
    let schedule = NoiseSchedule::linear(10).unwrap();
    let guide = classifier(16, 1);
    let class = Tensor::new(&[0u32, 1, 2], &Device::Cpu).unwrap();
    for config in [SampleConfig::ddpm().with_seed(3), SampleConfig::ddim(4).with_seed(3)] {
        let draw = |scale: f64| {
            let guided = Guided {
                prediction: Prediction::eps(&net),
                classifier: &guide,
                schedule: &schedule,
                class: class.clone(),
                scale,
            };
            let p = Prediction::eps(guided);
            values(&sample(&p, &schedule, &[3, 1, 16, 16], None, &config, &Device::Cpu, |_, _| {}).unwrap().0)
        };
        let plain = values(
            &sample(&Prediction::eps(&net), &schedule, &[3, 1, 16, 16], None, &config, &Device::Cpu, |_, _| {})
                .unwrap()
                .0,
        );
        assert_eq!(draw(0.0), plain, "{:?}", config.sampler);
        assert_ne!(draw(5.0), plain, "{:?}", config.sampler);
    }
}

#[test]
fn the_guided_eps_is_eps_minus_s_sqrt_one_minus_alpha_bar_times_the_gradient() {
    let (net, _) = UNet::new_seeded(&UNetConfig::tiny(16), &Device::Cpu, 2).unwrap();
    let schedule = NoiseSchedule::linear(100).unwrap();
    let guide = classifier(16, 1);
    let class = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
    let x = Tensor::randn(0f32, 1f32, (2, 1, 16, 16), &Device::Cpu).unwrap();
    let t = Tensor::new(&[30u32, 30], &Device::Cpu).unwrap();
    let guided = Guided {
        prediction: Prediction::eps(&net),
        classifier: &guide,
        schedule: &schedule,
        class: class.clone(),
        scale: 3.0,
    };
    let got = values(&guided.eps_theta(&x, &t, None, false).unwrap());
    let eps = values(&net.eps_theta(&x, &t, None, false).unwrap());
    let g = values(&log_prob_grad(&guide, &x, &t, &class).unwrap());
    let coef = 3.0 * schedule.sqrt_one_minus_alpha_bar(30);
    for i in 0..got.len() {
        assert_eq!(got[i], eps[i] - (g[i] * coef as f32), "element {i}");
    }
}

#[test]
fn bad_guidance_requests_are_refused_with_a_message() {
    let (net, _) = UNet::new_seeded(&UNetConfig::tiny(16), &Device::Cpu, 2).unwrap();
    let schedule = NoiseSchedule::linear(100).unwrap();
    let guide = classifier(16, 1);
    let x = Tensor::zeros((2, 1, 16, 16), DType::F32, &Device::Cpu).unwrap();
    let class = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
    let make = |scale| Guided {
        prediction: Prediction::eps(&net),
        classifier: &guide,
        schedule: &schedule,
        class: class.clone(),
        scale,
    };
    let same_t = Tensor::new(&[5u32, 5], &Device::Cpu).unwrap();
    let msg = make(-1.0).eps_theta(&x, &same_t, None, false).unwrap_err().to_string();
    assert_eq!(msg, "the classifier guidance scale s must be a finite number >= 0, got -1");
    let mixed = Tensor::new(&[5u32, 6], &Device::Cpu).unwrap();
    let msg = make(1.0).eps_theta(&x, &mixed, None, false).unwrap_err().to_string();
    assert!(msg.contains("one step t for the whole batch, got [5, 6]"), "{msg}");
    let msg = make(1.0).eps_theta(&x, &same_t, Some(&class), false).unwrap_err().to_string();
    assert!(msg.contains("pass class = None"), "{msg}");
    let msg = log_prob_grad(&guide, &x, &same_t, &Tensor::new(&[1u32], &Device::Cpu).unwrap()).unwrap_err().to_string();
    assert!(msg.contains("one class and one t per sample (2), got shapes [1] and [2]"), "{msg}");
    let bad = NoisyClassifierConfig { channels: 12, ..Default::default() };
    let varmap = candle_nn::VarMap::new();
    let msg = NoisyClassifier::new(&bad, seeded_var_builder(&varmap, 0, &Device::Cpu)).unwrap_err().to_string();
    assert!(msg.contains("channels a multiple of 8"), "{msg}");
}

#[test]
fn the_mnist_sized_classifier_gives_a_gradient_of_the_input_shape() {
    let varmap = candle_nn::VarMap::new();
    let c =
        NoisyClassifier::new(&NoisyClassifierConfig::default(), seeded_var_builder(&varmap, 0, &Device::Cpu)).unwrap();
    let x = Tensor::randn(0f32, 1f32, (2, 1, 28, 28), &Device::Cpu).unwrap();
    let t = Tensor::new(&[500u32, 500], &Device::Cpu).unwrap();
    let g = log_prob_grad(&c, &x, &t, &Tensor::new(&[3u32, 3], &Device::Cpu).unwrap()).unwrap();
    assert_eq!(g.dims(), x.dims());
}
