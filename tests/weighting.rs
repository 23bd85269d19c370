//! The weighting of Algorithm 1's loss over t: uniform (L_simple) and Min-SNR-gamma (Hang et al.
//! 2023). The weights are checked against the conversions between targets, which are computed
//! independently in `posterior`, and the weighted loss against a by-hand evaluation.

use ddpm::candle_core::{Device, Tensor};
use ddpm::ndarray::Array1;
use ddpm::nn::{EpsModel, UNet, UNetConfig};
use ddpm::posterior::Parameterisation;
use ddpm::rng::{normal_vec, seeded};
use ddpm::train::{loss, weighted_loss, LossWeighting, NoisedBatch, TrainConfig};
use ddpm::NoiseSchedule;

const TARGETS: [Parameterisation; 3] = [Parameterisation::Eps, Parameterisation::X0, Parameterisation::V];

/// Hang et al. 2023 weigh the x_0 error by min(SNR, gamma) whatever the network predicts: so the
/// weighted squared error of one and the same prediction, written as eps, x_0 or v, must agree.
#[test]
fn min_snr_weighs_the_same_prediction_alike_in_every_target() {
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let mut rng = seeded(11);
    let n = 50;
    for gamma in [0.5, 5.0, 100.0] {
        let weighting = LossWeighting::MinSnr { gamma };
        for t in [1, 10, 100, 140, 300, 700, 1000] {
            let x0 = Array1::from(normal_vec(&mut rng, n));
            let eps = Array1::from(normal_vec(&mut rng, n));
            let xt =
                x0.mapv(|v| v * schedule.sqrt_alpha_bar(t)) + eps.mapv(|e| e * schedule.sqrt_one_minus_alpha_bar(t));
            // Some wrong prediction of x_0, and the eps and v it implies at (x_t, t).
            let x0_hat = Array1::from(normal_vec(&mut rng, n));
            let mut weighted = Vec::new();
            for target in TARGETS {
                let truth = Parameterisation::X0.convert(target, &schedule, &xt, &x0, t).unwrap();
                let pred = Parameterisation::X0.convert(target, &schedule, &xt, &x0_hat, t).unwrap();
                let square = (&truth - &pred).mapv(|d| d * d).sum();
                weighted.push(weighting.weight(&schedule, target, t).unwrap() * square);
            }
            // The x_0 weight itself: min(SNR, gamma), SNR from alpha_bar.
            let snr = schedule.alpha_bar(t) / (1.0 - schedule.alpha_bar(t));
            assert!(
                (weighting.weight(&schedule, Parameterisation::X0, t).unwrap() - snr.min(gamma)).abs() <= 1e-12 * snr
            );
            for (target, w) in TARGETS.iter().zip(&weighted) {
                let rel = (w - weighted[1]).abs() / weighted[1];
                assert!(rel < 1e-9, "gamma {gamma}, t {t}: {target} gives {w}, x0 gives {}", weighted[1]);
            }
        }
    }
}

#[test]
fn uniform_is_l_simple_and_min_snr_only_caps_the_small_noise_end() {
    let schedule = NoiseSchedule::linear(1000).unwrap();
    for t in 1..=1000 {
        for target in TARGETS {
            assert_eq!(LossWeighting::Uniform.weight(&schedule, target, t).unwrap(), 1.0);
        }
        // For eps: 1 (L_simple) where SNR(t) <= 5, gamma / SNR(t) < 1 where it is above.
        let snr = schedule.snr(t);
        let w = LossWeighting::MIN_SNR_5.weight(&schedule, Parameterisation::Eps, t).unwrap();
        if snr <= 5.0 {
            assert_eq!(w, 1.0, "t = {t}");
        } else {
            assert!(w < 1.0 && (w - 5.0 / snr).abs() < 1e-15, "t = {t}: {w}");
        }
    }
    // On the linear schedule the cap bites below t of about 140 (alpha_bar = 5/6).
    let first_uncapped = (1..=1000).find(|&t| schedule.snr(t) <= 5.0).unwrap();
    assert!((100..200).contains(&first_uncapped), "{first_uncapped}");
}

#[test]
fn the_weighted_loss_is_the_weighted_mean_of_per_image_mean_squares() {
    let device = Device::Cpu;
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let (unet, _varmap) = UNet::new_seeded(&UNetConfig::tiny(8), &device, 2).unwrap();
    let mut rng = seeded(5);
    let pixels: Vec<f32> = normal_vec(&mut rng, 6 * 64).iter().map(|&p| p.clamp(-1.0, 1.0) as f32).collect();
    let x0 = Tensor::from_vec(pixels, (6, 1, 8, 8), &device).unwrap();
    let t = vec![1, 20, 150, 400, 800, 1000];
    let eps = Tensor::from_vec(
        normal_vec(&mut rng, 6 * 64).iter().map(|&e| e as f32).collect::<Vec<_>>(),
        (6, 1, 8, 8),
        &device,
    )
    .unwrap();
    let batch = NoisedBatch::new(&schedule, x0, t.clone(), eps, None).unwrap();
    // By hand: the network's output (the same for every target) and the target, image by image, in f64.
    let xt = batch.xt(&schedule).unwrap();
    let pred = unet.eps_theta(&xt, &batch.t_tensor().unwrap(), None, false).unwrap();
    let pred = pred.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for target in TARGETS {
        let uniform = weighted_loss(&unet, &schedule, target, LossWeighting::Uniform, &batch, false).unwrap();
        let plain = loss(&unet, &schedule, target, &batch, false).unwrap();
        assert_eq!(uniform.to_scalar::<f32>().unwrap(), plain.to_scalar::<f32>().unwrap());

        let y = batch.target(&schedule, target).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut expected = 0.0;
        for (b, &tb) in t.iter().enumerate() {
            let ms: f64 = (0..64).map(|i| (y[b * 64 + i] as f64 - pred[b * 64 + i] as f64).powi(2)).sum::<f64>() / 64.0;
            expected += LossWeighting::MIN_SNR_5.weight(&schedule, target, tb).unwrap() * ms / 6.0;
        }
        let got = weighted_loss(&unet, &schedule, target, LossWeighting::MIN_SNR_5, &batch, false).unwrap();
        let got = got.to_scalar::<f32>().unwrap() as f64;
        assert!((got - expected).abs() < 1e-5 * expected, "{target}: {got} against {expected}");
        // The small-t images weigh less than in the uniform loss (eps: weight < 1 at t = 1, 20).
        if target == Parameterisation::Eps {
            assert!(got < plain.to_scalar::<f32>().unwrap() as f64);
        }
    }
}

#[test]
fn names_parse_and_bad_ones_say_what_is_allowed() {
    assert_eq!("uniform".parse::<LossWeighting>().unwrap(), LossWeighting::Uniform);
    assert_eq!("Min-SNR".parse::<LossWeighting>().unwrap(), LossWeighting::MinSnr { gamma: 5.0 });
    assert_eq!("min-snr-2.5".parse::<LossWeighting>().unwrap(), LossWeighting::MinSnr { gamma: 2.5 });
    for w in [LossWeighting::Uniform, LossWeighting::MinSnr { gamma: 0.25 }] {
        assert_eq!(w.to_string().parse::<LossWeighting>().unwrap(), w);
    }
    let err = "snr".parse::<LossWeighting>().unwrap_err().to_string();
    assert!(err.contains("\"snr\"") && err.contains("allowed: uniform, min-snr"), "{err}");
    let err = "min-snr-0".parse::<LossWeighting>().unwrap_err().to_string();
    assert!(err.contains("gamma") && err.contains("got 0"), "{err}");
    let bad = TrainConfig { loss_weighting: LossWeighting::MinSnr { gamma: f64::NAN }, ..Default::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("gamma"));
    let err =
        LossWeighting::MIN_SNR_5.weight(&NoiseSchedule::linear(10).unwrap(), Parameterisation::Eps, 11).unwrap_err();
    assert!(err.to_string().contains("11"), "{err}");
}

#[test]
fn configs_keep_their_weighting_and_older_ones_read_as_uniform() {
    let config = TrainConfig { loss_weighting: LossWeighting::MIN_SNR_5, ..Default::default() };
    let json = serde_json::to_string(&config).unwrap();
    assert!(json.contains("\"loss_weighting\":\"min-snr-5\""), "{json}");
    assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), config);
    // A config.json written before the field existed.
    let old = json.replace(",\"loss_weighting\":\"min-snr-5\"", "");
    assert!(!old.contains("loss_weighting"));
    assert_eq!(serde_json::from_str::<TrainConfig>(&old).unwrap().loss_weighting, LossWeighting::Uniform);
}
