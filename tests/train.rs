//! Algorithm 1 (E19): the loss falls, on toy data and on real MNIST; runs are reproducible; bad
//! input and a diverging run give errors, not panics; the EMA follows its formula.

use std::time::Instant;

use ddpm::candle_core::{DType, Device, Tensor};
use ddpm::data::{Mnist, Split, ToyData};
use ddpm::nn::{Mlp, MlpConfig, UNet, UNetConfig};
use ddpm::posterior::Parameterisation;
use ddpm::rng::seeded;
use ddpm::train::{
    weighted_loss, Control, DataSource, Ema, LossWeighting, NoisedBatch, ProgressStyle, TrainConfig, Trainer,
};
use ddpm::NoiseSchedule;

fn small_mlp() -> MlpConfig {
    MlpConfig { dim: 2, hidden: 64, layers: 2, time_dim: 16 }
}

/// A U-Net small enough for debug-profile tests: 2 levels, 8 and 16 channels, no attention.
fn tiny_unet(image_size: usize, num_classes: Option<usize>) -> UNetConfig {
    UNetConfig { num_classes, ..UNetConfig::tiny(image_size) }
}

fn quiet(steps: usize, batch_size: usize, lr: f64) -> TrainConfig {
    TrainConfig { steps, batch_size, lr, warmup_steps: 0, log_every: 0, ..Default::default() }
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64
}

fn message<T>(r: ddpm::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn invalid_configs_say_what_is_wrong() {
    let base = TrainConfig::default();
    base.validate().unwrap();
    let cases: Vec<(TrainConfig, &str)> = vec![
        (TrainConfig { steps: 0, ..base.clone() }, "steps must be at least 1, got 0"),
        (TrainConfig { batch_size: 0, ..base.clone() }, "batch_size must be at least 1, got 0"),
        (TrainConfig { lr: f64::NAN, ..base.clone() }, "lr must be a finite number > 0, got NaN"),
        (TrainConfig { lr: 0.0, ..base.clone() }, "lr must be a finite number > 0, got 0"),
        (
            TrainConfig { grad_clip: Some(-1.0), ..base.clone() },
            "grad_clip (the largest global gradient norm) must be a finite number > 0, got -1",
        ),
        (TrainConfig { ema_decay: 1.5, ..base.clone() }, "ema_decay must be in [0, 1], got 1.5"),
        (TrainConfig { label_dropout: 1.0, ..base.clone() }, "label_dropout must be in [0, 1), got 1"),
        (TrainConfig { weight_decay: -0.1, ..base.clone() }, "weight_decay must be a finite number >= 0, got -0.1"),
        (TrainConfig { target: Parameterisation::Mean, ..base.clone() }, "target must be eps, x0 or v"),
    ];
    // A value out of its range is an Error::OutOfRange that names it.
    for (config, name) in [
        (TrainConfig { steps: 0, ..base.clone() }, "steps"),
        (TrainConfig { lr: f64::NAN, ..base.clone() }, "lr"),
        (TrainConfig { ema_decay: 1.5, ..base.clone() }, "ema_decay"),
        (TrainConfig { label_dropout: 1.0, ..base.clone() }, "label_dropout"),
    ] {
        match config.validate() {
            Err(ddpm::Error::OutOfRange { name: got, .. }) => assert_eq!(got, name),
            other => panic!("expected Error::OutOfRange for {name}, got {other:?}"),
        }
    }
    for (config, fragment) in cases {
        let m = message(config.validate());
        assert!(m.contains(fragment), "{m:?} should contain {fragment:?}");
        // The trainer refuses it too.
        let (mlp, varmap) = Mlp::new_seeded(&small_mlp(), &Device::Cpu, 0).unwrap();
        let m = message(Trainer::new(mlp, varmap, NoiseSchedule::linear(100).unwrap(), config));
        assert!(m.contains(fragment), "{m:?} should contain {fragment:?}");
    }
}

#[test]
fn config_round_trips_through_json_and_warms_up_linearly() {
    let config =
        TrainConfig { target: Parameterisation::V, grad_clip: None, lr: 1e-3, warmup_steps: 10, ..Default::default() };
    let json = serde_json::to_string(&config).unwrap();
    assert!(json.contains("\"target\":\"v\""), "{json}");
    assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), config);
    // Missing fields take their defaults.
    let partial: TrainConfig = serde_json::from_str(r#"{"steps": 7, "target": "x0"}"#).unwrap();
    assert_eq!((partial.steps, partial.target, partial.batch_size), (7, Parameterisation::X0, 64));
    // lr_k = lr min(1, k / warmup): 1e-4, 5e-4 and then 1e-3 for good.
    assert!((config.lr_at(1) - 1e-4).abs() < 1e-18);
    assert!((config.lr_at(5) - 5e-4).abs() < 1e-18);
    assert_eq!(config.lr_at(10), 1e-3);
    assert_eq!(config.lr_at(1000), 1e-3);
}

#[test]
fn cosine_decay_falls_from_the_peak_to_zero_and_never_rises() {
    let config = TrainConfig { steps: 450, warmup_steps: 50, lr: 2e-3, lr_decay_end: Some(450), ..Default::default() };
    config.validate().unwrap();
    assert_eq!(config.lr_at(50), 2e-3);
    assert_eq!(config.lr_at(450), 0.0);
    assert_eq!(config.lr_at(600), 0.0);
    // A run trained in stages follows the same schedule: `steps` is where a stage stops.
    assert_eq!(TrainConfig { steps: 200, ..config.clone() }.lr_at(150), config.lr_at(150));
    // Making the run shorter (the notebooks' size knob, `ddpm train --steps`) moves the end.
    let mut shorter = config.clone();
    shorter.set_length(250);
    assert_eq!((shorter.steps, shorter.lr_at(150), shorter.lr_at(250)), (250, 1e-3, 0.0));
    // Training past the end of the decay is refused, with the way out.
    let past = TrainConfig { steps: 451, ..config.clone() }.validate().unwrap_err().to_string();
    assert!(past.contains("steps (451) go past lr_decay_end (450)"), "{past}");
    // A decay that would end within the warm-up has no room: the rate only warms up.
    let short = TrainConfig { steps: 40, lr_decay_end: Some(40), ..config.clone() };
    short.validate().unwrap();
    assert!((short.lr_at(40) - 2e-3 * 40.0 / 50.0).abs() < 1e-18);
    // Half-way through the decay the half cosine is at its middle, lr / 2; at a quarter,
    // lr (1 + cos(pi / 4)) / 2.
    assert!((config.lr_at(250) - 1e-3).abs() < 1e-15);
    let quarter = 2e-3 * (1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0;
    assert!((config.lr_at(150) - quarter).abs() < 1e-15, "{}", config.lr_at(150));
    let rates: Vec<f64> = (50..=450).map(|k| config.lr_at(k)).collect();
    assert!(rates.windows(2).all(|w| w[1] <= w[0]), "not monotone");
    // Symmetric about the middle: lr_(mid + d) = lr - lr_(mid - d).
    for d in [10, 100, 200] {
        assert!((config.lr_at(250 + d) + config.lr_at(250 - d) - 2e-3).abs() < 1e-15);
    }
    // Without the decay the same config keeps the peak.
    assert_eq!(TrainConfig { lr_decay_end: None, ..config.clone() }.lr_at(449), 2e-3);
    // The warm-up is unchanged by it.
    assert!((config.lr_at(25) - 1e-3).abs() < 1e-18);
}

#[test]
fn one_step_lowers_the_loss_on_a_fixed_batch_for_every_target_and_weighting() {
    let device = Device::Cpu;
    let schedule = NoiseSchedule::linear(1000).unwrap();
    for weighting in [LossWeighting::Uniform, LossWeighting::MIN_SNR_5] {
        for target in [Parameterisation::Eps, Parameterisation::X0, Parameterisation::V] {
            let (unet, varmap) = UNet::new_seeded(&tiny_unet(8, None), &device, 1).unwrap();
            let config = TrainConfig { target, loss_weighting: weighting, ..quiet(1, 8, 1e-3) };
            let mut trainer = Trainer::new(unet, varmap, schedule.clone(), config).unwrap();
            let mut rng = seeded(3);
            // x_0: seeded N(0, 1) pixels clipped to [-1, 1] (candle's own generator cannot be seeded).
            let pixels: Vec<f32> =
                ddpm::rng::normal_vec(&mut rng, 8 * 64).iter().map(|&p| p.clamp(-1.0, 1.0) as f32).collect();
            let x0 = Tensor::from_vec(pixels, (8, 1, 8, 8), &device).unwrap();
            let batch = NoisedBatch::draw(&mut rng, &schedule, x0, None).unwrap();
            let eval = |t: &Trainer<UNet>| {
                let l = weighted_loss(t.model(), &schedule, target, weighting, &batch, false).unwrap();
                l.to_scalar::<f32>().unwrap()
            };
            let before = eval(&trainer);
            let stats = trainer.step_on(&batch).unwrap();
            let after = eval(&trainer);
            println!(
                "{target}, {weighting}: loss on the fixed batch {before:.5} -> {after:.5} (grad norm {:.3})",
                stats.grad_norm
            );
            // Without dropout, the loss inside the step is the same function of the same weights:
            // the trainer optimises the weighted loss.
            assert_eq!(stats.loss, before);
            assert!(after < before, "{target}, {weighting}: {before} -> {after}");
        }
    }
}

#[test]
fn mlp_on_the_ring_learns() {
    let device = Device::Cpu;
    let (mlp, varmap) = Mlp::new_seeded(&small_mlp(), &device, 0).unwrap();
    let config = TrainConfig { warmup_steps: 20, log_every: 100, ..quiet(400, 128, 2e-3) };
    let mut trainer = Trainer::new(mlp, varmap, NoiseSchedule::linear(1000).unwrap(), config).unwrap();
    let start = Instant::now();
    let losses = trainer.train(&DataSource::Toy(ToyData::Ring), &device, None).unwrap();
    let (first, last) = (mean(&losses[..50]), mean(&losses[350..]));
    println!("MLP ring: first 50 {first:.4}, last 50 {last:.4}, {:.1} s", start.elapsed().as_secs_f64());
    // The untrained MLP predicts eps_pred = 0 (zero output layer), so the very first losses are
    // E eps^2 = 1. Measured (seed 0): mean of the first 50 steps 0.569 (the fall starts at once),
    // of the last 50 0.191, a ratio of 0.34. The curve is flat from step ~150 on (0.194, 0.195,
    // 0.194 over steps 101-200, 201-300, 301-400), so the steps-to-step noise of a 50-step mean is
    // about 0.01: "last < 0.7 first" holds with a margin of ~0.2, twenty times that noise.
    assert!(last < 0.7 * first, "first {first}, last {last}");
    assert_eq!(trainer.ema().tensors().len(), 2 * (3 + 2));
}

#[test]
fn tiny_unet_on_mnist_learns() {
    let device = Device::Cpu;
    let mnist = Mnist::load_default(Split::Train).unwrap();
    let (unet, varmap) = UNet::new_seeded(&tiny_unet(28, None), &device, 0).unwrap();
    let steps = 100;
    let config = TrainConfig { warmup_steps: 10, log_every: 25, ..quiet(steps, 8, 2e-3) };
    let mut trainer = Trainer::new(unet, varmap, NoiseSchedule::linear(1000).unwrap(), config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("run/loss.csv");
    let start = Instant::now();
    let losses = trainer.train(&DataSource::Mnist { data: &mnist, labels: false }, &device, Some(&csv)).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let (first, last) = (mean(&losses[..30]), mean(&losses[steps - 30..]));
    println!("tiny U-Net MNIST: first 30 {first:.4}, last 30 {last:.4}, {:.1} steps/s", steps as f64 / secs);
    // eps_pred = 0 at the start (zero-initialised output conv): the loss starts at E eps^2 = 1.
    // Measured (seed 0, 100 steps, batch 8): first 30 0.68, last 30 about 0.09, a ratio near
    // 0.13; "last < 0.6 first" allows for the large noise of batch-8 losses.
    assert!(last < 0.6 * first, "first {first}, last {last}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "step,loss,lr");
    assert_eq!(rows.len(), steps + 1);
    assert!(rows[1].starts_with("1,") && rows[1].ends_with(",0.0002"), "{}", rows[1]);
    assert_eq!(rows[1].split(',').nth(1).unwrap().parse::<f32>().unwrap(), losses[0]);
}

fn ring_curve(seed: u64, steps: usize) -> Vec<f32> {
    let device = Device::Cpu;
    let (mlp, varmap) = Mlp::new_seeded(&small_mlp(), &device, 0).unwrap();
    let config = TrainConfig { seed, ..quiet(steps, 32, 1e-3) };
    let mut trainer = Trainer::new(mlp, varmap, NoiseSchedule::linear(1000).unwrap(), config).unwrap();
    trainer.train(&DataSource::Toy(ToyData::Ring), &device, None).unwrap()
}

#[test]
fn same_seed_same_curve_bit_for_bit() {
    let (a, b, c) = (ring_curve(5, 20), ring_curve(5, 20), ring_curve(6, 20));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(bits(&a), bits(&c));
    // And for a class-conditional U-Net with label dropout on MNIST.
    let mnist = Mnist::load_default(Split::Test).unwrap();
    let run = |seed: u64| {
        let device = Device::Cpu;
        let (unet, varmap) = UNet::new_seeded(&tiny_unet(28, Some(10)), &device, 0).unwrap();
        let null = unet.null_class();
        let config = TrainConfig { seed, label_dropout: 0.2, ..quiet(4, 4, 1e-3) };
        let mut trainer =
            Trainer::new(unet, varmap, NoiseSchedule::linear(1000).unwrap(), config).unwrap().with_null_class(null);
        bits(&trainer.train(&DataSource::Mnist { data: &mnist, labels: true }, &device, None).unwrap())
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn label_dropout_needs_the_null_class() {
    let device = Device::Cpu;
    let mnist = Mnist::load_default(Split::Test).unwrap();
    let (unet, varmap) = UNet::new_seeded(&tiny_unet(28, Some(10)), &device, 0).unwrap();
    let config = TrainConfig { label_dropout: 0.1, ..quiet(1, 2, 1e-3) };
    let mut trainer = Trainer::new(unet, varmap, NoiseSchedule::linear(1000).unwrap(), config).unwrap();
    let m = message(trainer.train(&DataSource::Mnist { data: &mnist, labels: true }, &device, None));
    assert!(m.contains("label_dropout = 0.1 needs the \"no class\" label"), "{m}");
}

#[test]
fn a_diverging_run_stops_with_an_error_naming_the_step() {
    let device = Device::Cpu;
    let (mlp, varmap) = Mlp::new_seeded(&small_mlp(), &device, 0).unwrap();
    let config = TrainConfig { grad_clip: None, ..quiet(10, 16, 1e30) };
    let mut trainer = Trainer::new(mlp, varmap, NoiseSchedule::linear(1000).unwrap(), config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("loss.csv");
    let m = message(trainer.train(&DataSource::Toy(ToyData::Ring), &device, Some(&csv)));
    println!("{m}");
    assert!(m.contains("NaN/inf") && m.contains("training stopped at step "), "{m}");
    // The steps before the bad one are kept, in the trainer and in the CSV.
    let good = trainer.step();
    let e = trainer.train(&DataSource::Toy(ToyData::Ring), &device, None).unwrap_err();
    assert!(matches!(e, ddpm::Error::Diverged { step, kept: None, .. } if step == good + 1), "{e:?}");
    assert!(m.contains(&format!("step {}", good + 1)), "{m}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), good + 1);
}

#[test]
fn the_loss_history_reaches_the_disk_when_the_caller_records_it() {
    // A process killed between checkpoints must keep the history of the steps its last
    // checkpoint holds: the CSV is written on Control::Record, not only at the end.
    let device = Device::Cpu;
    let (mlp, varmap) = Mlp::new_seeded(&small_mlp(), &device, 0).unwrap();
    let mut trainer = Trainer::new(mlp, varmap, NoiseSchedule::linear(1000).unwrap(), quiet(30, 16, 1e-3)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("loss.csv");
    let rows = |path: &std::path::Path| ddpm::train::read_loss_csv(path).map(|h| h.len()).unwrap_or(0);
    let mut seen = Vec::new();
    let losses = trainer
        .train_with(&DataSource::Toy(ToyData::Ring), &device, Some(&csv), ProgressStyle::Silent, |_, stats| {
            seen.push((stats.step, rows(&csv)));
            Ok(match stats.step {
                10 => Control::Record,
                15 => Control::Stop,
                _ => Control::Continue,
            })
        })
        .unwrap();
    // Nothing on disk before step 10; steps 1..=10 from then on; all 15 at the end.
    assert_eq!(seen[..10].iter().map(|&(_, n)| n).max(), Some(0));
    assert!(seen[10..].iter().all(|&(_, n)| n == 10), "{seen:?}");
    assert_eq!(losses.len(), 15);
    let history = ddpm::train::read_loss_csv(&csv).unwrap();
    assert_eq!(history.iter().map(|&(s, _)| s).collect::<Vec<_>>(), (1..=15).collect::<Vec<_>>());
    assert_eq!(history[9].1 as f32, losses[9]);
}

#[test]
fn nan_data_is_refused_and_the_weights_stay() {
    let device = Device::Cpu;
    let schedule = NoiseSchedule::linear(100).unwrap();
    let (mlp, varmap) = Mlp::new_seeded(&small_mlp(), &device, 0).unwrap();
    let mut trainer = Trainer::new(mlp, varmap, schedule.clone(), quiet(1, 4, 1e-3)).unwrap();
    let weight = |t: &Trainer<Mlp>| t.varmap().data().lock().unwrap()["input.weight"].as_tensor().copy().unwrap();
    let w0 = weight(&trainer).flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let x0 = Tensor::new(&[[0.5f32, f32::NAN], [0.1, 0.2], [0.3, 0.4], [0.0, 0.0]], &device).unwrap();
    let m = message(trainer.training_step(&x0, None));
    assert!(m.contains("training stopped at step 1") && m.contains("NaN/inf"), "{m}");
    assert_eq!(trainer.step(), 0);
    assert_eq!(weight(&trainer).flatten_all().unwrap().to_vec1::<f32>().unwrap(), w0);
    // Shapes are checked too.
    let bad_eps = Tensor::zeros((4, 3), DType::F32, &device).unwrap();
    let m = message(NoisedBatch::new(&schedule, x0.clone(), vec![1; 4], bad_eps, None));
    assert!(m.contains("eps must have the shape of x0 [4, 2], got [4, 3]"), "{m}");
    let m = message(NoisedBatch::new(
        &schedule,
        x0,
        vec![1, 2, 3],
        Tensor::zeros((4, 2), DType::F32, &device).unwrap(),
        None,
    ));
    assert!(m.contains("t must hold one step per batch element (4), got 3"), "{m}");
}

#[test]
fn ema_follows_its_formula() {
    let device = Device::Cpu;
    let (mlp, varmap) = Mlp::new_seeded(&small_mlp(), &device, 0).unwrap();
    let initial = Ema::new(&varmap, 1.0).unwrap().tensors();
    let run = |decay: f64| {
        let (mlp, varmap) = Mlp::new_seeded(&small_mlp(), &device, 0).unwrap();
        // Without warm-up, so that decay 1 keeps the initial weights (warm-up: `ema_warms_up`).
        let config = TrainConfig { ema_decay: decay, ema_warmup: false, ..quiet(3, 16, 1e-2) };
        let mut trainer = Trainer::new(mlp, varmap, NoiseSchedule::linear(100).unwrap(), config).unwrap();
        trainer.train(&DataSource::Toy(ToyData::Moons), &device, None).unwrap();
        trainer.into_parts()
    };
    let vec = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let weights = |vm: &ddpm::candle_nn::VarMap| -> Vec<(String, Vec<f32>)> {
        let mut v: Vec<_> = vm.data().lock().unwrap().iter().map(|(k, x)| (k.clone(), vec(x.as_tensor()))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    // Decay 0: the average is the weights.
    let (_, vm, ema) = run(0.0);
    for (name, w) in weights(&vm) {
        assert_eq!(vec(ema.get(&name).unwrap()), w, "{name}");
    }
    // Decay 1: the average never moves from the initial weights, while the weights do.
    let (_, vm, ema) = run(1.0);
    let mut moved = false;
    for (name, w) in weights(&vm) {
        let w0 = vec(&initial[&name]);
        assert_eq!(vec(ema.get(&name).unwrap()), w0, "{name}");
        moved |= w != w0;
    }
    assert!(moved);
    // One update by hand: ema = 0.9 ema + 0.1 w, with ema = initial and w = initial + 1.
    let mut ema = Ema::new(&varmap, 0.9).unwrap();
    for var in varmap.all_vars() {
        var.set(&(var.as_tensor() + 1.0).unwrap()).unwrap();
    }
    ema.update(&varmap).unwrap();
    for (name, w0) in &initial {
        let expected: Vec<f32> = vec(w0).iter().map(|&x| 0.9 * x + 0.1 * (x + 1.0)).collect();
        for (a, b) in vec(ema.get(name).unwrap()).iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{name}: {a} vs {b}");
        }
    }
    // Loading the average into a fresh model's variables.
    let (_, fresh) = Mlp::new_seeded(&small_mlp(), &device, 9).unwrap();
    ema.load_into(&fresh).unwrap();
    for (name, w) in weights(&fresh) {
        assert_eq!(w, vec(ema.get(&name).unwrap()), "{name}");
    }
    assert!(message(Ema::new(&varmap, 1.5)).contains("ema decay must be in [0, 1], got 1.5"));
    drop(mlp);
}

#[test]
fn ema_warms_up_its_decay() {
    // TensorFlow's ExponentialMovingAverage(num_updates=n): decay min(d, (1 + n) / (10 + n)).
    let (_, varmap) = Mlp::new_seeded(&small_mlp(), &Device::Cpu, 0).unwrap();
    let mut ema = Ema::new(&varmap, 0.999).unwrap().with_warmup(true);
    assert_eq!(ema.current_decay(), 0.1);
    ema.update(&varmap).unwrap();
    assert_eq!(ema.current_decay(), 2.0 / 11.0);
    assert_eq!(ema.clone().with_updates(990).current_decay(), 991.0 / 1000.0);
    assert_eq!(ema.with_updates(100_000).current_decay(), 0.999);
}
