//! Network benchmarks (`make bench`): milliseconds per training step (forward, backward, AdamW,
//! EMA) and per sampling step (one forward pass and the update) of the U-Net, on the CPU, on
//! 28x28: the default U-Net at batch 64, and `ddpm train --data mnist`'s (`mnist_fast`) at
//! batch 32 as it trains and at 64 to compare with the default.
//!
//! The PyTorch reference (`benches/torch_reference.py`) times the same architecture on the same
//! machine; run it with `make bench-torch` and read the ratio from the two outputs.

mod common;

use common::{median_time, ms};

use candle_core::{Device, Tensor};
use ddpm::nn::{parameter_count, UNet, UNetConfig};
use ddpm::posterior::Parameterisation;
use ddpm::rng::seeded;
use ddpm::sample::network::normal_tensor;
use ddpm::sample::Prediction;
use ddpm::train::{NoisedBatch, TrainConfig, Trainer};
use ddpm::NoiseSchedule;

/// As in the `ddpm` binary, which also keeps freed memory (src/alloc.rs).
#[global_allocator]
static GLOBAL: ddpm::alloc::MiMalloc = ddpm::alloc::MiMalloc;

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
    println!(
        "{name:<34} {params:>9} params  train step {:>8.1} ms  sampling step {:>7.1} ms",
        ms(step),
        ms(sample_step)
    );
}

fn main() {
    ddpm::alloc::keep_freed_memory();
    println!("U-Net on the CPU, 28x28 (median of 5 after a warm-up)");
    bench("default, batch 64", &UNetConfig::default(), 64, 5);
    bench("mnist-fast, batch 64", &UNetConfig::mnist_fast(), 64, 5);
    bench("mnist-fast, batch 32 (ddpm train)", &UNetConfig::mnist_fast(), 32, 5);
}
