//! Inpainting (RePaint with an unconditional network): the known pixels come back exactly, an
//! empty mask is unconditional sampling bit for bit, and bad masks are refused with a message.

use candle_core::{Device, Tensor};
use ddpm::nn::{UNet, UNetConfig};
use ddpm::sample::{inpaint, sample, Mask, Prediction, Repaint, SampleConfig};
use ddpm::NoiseSchedule;

fn setup() -> (UNet, NoiseSchedule, Tensor) {
    let (net, _) = UNet::new_seeded(&UNetConfig::tiny(16), &Device::Cpu, 3).unwrap();
    let x0 = Tensor::rand(-1f32, 1f32, (2, 1, 16, 16), &Device::Cpu).unwrap();
    (net, NoiseSchedule::linear(12).unwrap(), x0)
}

fn values(x: &Tensor) -> Vec<f32> {
    x.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn the_known_pixels_are_x0_exactly_and_the_unknown_ones_are_drawn() {
    let (net, schedule, x0) = setup();
    let configs = [SampleConfig::ddpm().with_seed(4), SampleConfig::ddim(5).with_seed(4)];
    for mask in [Mask::BottomHalf, Mask::LeftHalf, Mask::Center, Mask::Random(0.3)] {
        let known = mask.known(16, 16, 9, &Device::Cpu).unwrap();
        let kept: Vec<u8> = known.flatten_all().unwrap().to_vec1().unwrap();
        for config in &configs {
            for repaint in [None, Some(Repaint { jump: 3, resamplings: 2 })] {
                let (x, _) = inpaint(&Prediction::eps(&net), &schedule, &x0, &known, config, repaint).unwrap();
                let (got, want) = (values(&x), values(&x0));
                let (mut same, mut differ) = (0, 0);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    if kept[i % 256] == 1 {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{mask:?} {:?} {repaint:?}: known pixel {i}",
                            config.sampler
                        );
                        same += 1;
                    } else if g != w {
                        differ += 1;
                    }
                }
                let hidden = 2 * kept.iter().filter(|&&k| k == 0).count();
                assert!(
                    same > 0 && differ == hidden,
                    "{mask:?}: {same} kept, {differ} of {hidden} hidden pixels drawn"
                );
            }
        }
    }
}

#[test]
fn an_empty_mask_is_unconditional_sampling_with_the_same_seed() {
    let (net, schedule, x0) = setup();
    let empty = Tensor::zeros((1, 1, 16, 16), candle_core::DType::U8, &Device::Cpu).unwrap();
    for config in [SampleConfig::ddpm().with_seed(11), SampleConfig::ddim(4).with_seed(11)] {
        let config = SampleConfig { record_at: vec![12, 6, 1], ..config };
        let (x, traj) = inpaint(&Prediction::eps(&net), &schedule, &x0, &empty, &config, None).unwrap();
        let (y, want) =
            sample(&Prediction::eps(&net), &schedule, x0.dims(), None, &config, &Device::Cpu, |_, _| {}).unwrap();
        assert_eq!(values(&x), values(&y), "{:?}", config.sampler);
        assert_eq!(traj.t, want.t);
        for (a, b) in traj.xt.iter().zip(&want.xt).chain(traj.x0_pred.iter().zip(&want.x0_pred)) {
            assert_eq!(values(a), values(b));
        }
    }
}

#[test]
fn a_full_mask_gives_the_image_back_and_resampling_changes_the_completion() {
    let (net, schedule, x0) = setup();
    let full = Mask::None.known(16, 16, 0, &Device::Cpu).unwrap();
    let (x, _) = inpaint(&Prediction::eps(&net), &schedule, &x0, &full, &SampleConfig::ddpm(), None).unwrap();
    assert_eq!(values(&x), values(&x0));
    let half = Mask::BottomHalf.known(16, 16, 0, &Device::Cpu).unwrap();
    let run = |r| inpaint(&Prediction::eps(&net), &schedule, &x0, &half, &SampleConfig::ddpm(), r).unwrap().0;
    assert_ne!(values(&run(None)), values(&run(Some(Repaint { jump: 4, resamplings: 3 }))));
    // One pass per stretch is no resampling at all.
    assert_eq!(values(&run(None)), values(&run(Some(Repaint { jump: 4, resamplings: 1 }))));
}

#[test]
fn bad_masks_and_settings_are_refused_with_a_message() {
    let (net, schedule, x0) = setup();
    let p = Prediction::eps(&net);
    let config = SampleConfig::ddpm();
    let err = |known: &Tensor, r| inpaint(&p, &schedule, &x0, known, &config, r).unwrap_err().to_string();
    let wrong_shape = Tensor::ones((1, 1, 8, 8), candle_core::DType::U8, &Device::Cpu).unwrap();
    assert!(
        err(&wrong_shape, None).contains("must have the shape of x0 [2, 1, 16, 16]"),
        "{}",
        err(&wrong_shape, None)
    );
    let not_binary = Tensor::full(0.5f32, (1, 1, 16, 16), &Device::Cpu).unwrap();
    assert!(err(&not_binary, None).contains("only 0 (unknown) and 1 (known), got 0.5"));
    let ok = Mask::Center.known(16, 16, 0, &Device::Cpu).unwrap();
    let msg = err(&ok, Some(Repaint { jump: 0, resamplings: 2 }));
    assert!(msg.contains("at least 1, got 0 and 2"), "{msg}");
    let msg = Mask::Random(1.5).known(16, 16, 0, &Device::Cpu).unwrap_err().to_string();
    assert_eq!(msg, "the hidden fraction of a random mask must be in [0, 1], got 1.5");
    let msg = Mask::Center.known(0, 16, 0, &Device::Cpu).unwrap_err().to_string();
    assert!(msg.contains("got 0 x 16"), "{msg}");
}

#[test]
fn the_masks_hide_the_regions_they_name() {
    let rows = |m: Mask| -> Vec<Vec<u8>> {
        m.known(4, 4, 0, &Device::Cpu).unwrap().squeeze(0).unwrap().squeeze(0).unwrap().to_vec2().unwrap()
    };
    assert_eq!(rows(Mask::LeftHalf), vec![vec![0, 0, 1, 1]; 4]);
    let c = rows(Mask::Center);
    assert_eq!(c, vec![vec![1, 1, 1, 1], vec![1, 0, 0, 1], vec![1, 0, 0, 1], vec![1, 1, 1, 1]]);
    let all: Vec<u8> =
        Mask::Random(1.0).known(5, 5, 1, &Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert!(all.iter().all(|&k| k == 0));
    let some: Vec<u8> =
        Mask::Random(0.5).known(28, 28, 1, &Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let hidden = some.iter().filter(|&&k| k == 0).count();
    // 784 pixels at p = 0.5: mean 392, standard deviation 14; 6 standard deviations either side.
    assert!((392 - 84..=392 + 84).contains(&hidden), "{hidden}");
}
