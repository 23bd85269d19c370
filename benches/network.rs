//! Network benchmarks (`make bench`): milliseconds per training step (forward, backward, AdamW,
//! EMA) and per sampling step (one forward pass and the update) of the U-Net, on the CPU, at
//! batch 64 on 28x28. `DDPM_BENCH_CONFIGS=all` adds the smaller configurations.
//!
//! The PyTorch reference (`benches/torch_reference.py`) times the same architecture on the same
//! machine; run it with `make bench-torch` and read the ratio from the two outputs.

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use ddpm::nn::{parameter_count, UNet, UNetConfig};
use ddpm::posterior::Parameterisation;
use ddpm::rng::seeded;
use ddpm::sample::network::normal_tensor;
use ddpm::sample::{Prediction, SampleConfig};
use ddpm::train::{NoisedBatch, TrainConfig, Trainer};
use ddpm::NoiseSchedule;

fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn bench(name: &str, config: &UNetConfig, batch: usize, runs: usize) {
    let device = Device::Cpu;
    let schedule = NoiseSchedule::linear(1000).expect("valid schedule");
    let (unet, varmap) = UNet::new_seeded(config, &device, 0).expect("valid config");
    let params = parameter_count(&varmap);
    let train = TrainConfig { steps: usize::MAX, batch_size: batch, log_every: 0, ..Default::default() };
    let mut trainer = Trainer::new(unet, varmap, schedule.clone(), train).expect("valid config");
    let mut rng = seeded(0);
    let shape = [batch, config.in_channels, config.image_size, config.image_size];
    let x0 = normal_tensor(&mut rng, &shape, &device).expect("shape");
    let batch_data = NoisedBatch::draw(&mut rng, &schedule, x0.clone(), None).expect("batch");
    let step = median_time(runs, || {
        std::hint::black_box(trainer.step_on(&batch_data).expect("step"));
    });
    let (unet, _, _) = trainer.into_parts();
    let prediction = Prediction { model: &unet, parameterisation: Parameterisation::Eps };
    let xt: Tensor = normal_tensor(&mut rng, &shape, &device).expect("shape");
    let sample_step = median_time(runs, || {
        let d = prediction.denoise(&schedule, &xt, 500, None, true).expect("denoise");
        std::hint::black_box(d);
    });
    let _ = SampleConfig::default();
    println!(
        "{name:<34} {params:>9} params  train step {:>8.1} ms  sampling step {:>7.1} ms",
        ms(step),
        ms(sample_step)
    );
}

fn main() {
    println!("U-Net on the CPU, batch 64, 28x28 (median of 5 after a warm-up)");
    bench("default (32; 1,2,2; 2 blocks; attn 7)", &UNetConfig::default(), 64, 5);
    if std::env::var("DDPM_BENCH_CONFIGS").as_deref() == Ok("all") {
        bench("mnist-fast (ddpm train's default)", &UNetConfig::mnist_fast(), 64, 5);
        bench("tiny (8; 1,2; 1 block)", &UNetConfig::tiny(28), 64, 5);
    }
}
