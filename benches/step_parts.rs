//! Where a training step's time goes (`cargo bench --bench step_parts`): the U-Net's training
//! step on the CPU cut into its parts, milliseconds, median of 5 after a warm-up:
//!
//! - forward: x_t, eps_theta(x_t, t) and L_simple (Algorithm 1, line 5, without the gradient);
//! - backward: the gradient of that loss (forward included, minus the forward's median);
//! - AdamW: one update of every variable from those gradients;
//! - EMA: one update of the moving average.
//!
//! The same networks and batches as `benches/network.rs`, whose whole step is the sum of these
//! (plus clipping: one norm over the gradients).

mod common;

use candle_core::{Device, Var};
use common::{median_time, ms};
use ddpm::nn::{UNet, UNetConfig};
use ddpm::posterior::Parameterisation;
use ddpm::rng::seeded;
use ddpm::sample::network::normal_tensor;
use ddpm::train::{loss, AdamW, Ema, NoisedBatch};
use ddpm::NoiseSchedule;

/// The `ddpm` binary's allocator: mimalloc, keeping the memory it frees.
#[path = "../src/bin/ddpm/alloc.rs"]
mod alloc;
/// The `ddpm` binary's threads: candle's element-wise operations on the calling thread.
#[path = "../src/bin/ddpm/threads.rs"]
mod threads;

fn parts(name: &str, config: &UNetConfig, batch: usize, runs: usize) {
    let device = Device::Cpu;
    let schedule = NoiseSchedule::linear(1000).expect("valid schedule");
    let (unet, varmap) = UNet::new_seeded(config, &device, 0).expect("valid config");
    let mut rng = seeded(0);
    let shape = [batch, config.in_channels, config.image_size, config.image_size];
    let x0 = normal_tensor(&mut rng, &shape, &device).expect("shape");
    let batch_data = NoisedBatch::draw(&mut rng, &schedule, x0, None).expect("batch");
    let eps = Parameterisation::Eps;
    let forward = median_time(runs, || {
        std::hint::black_box(loss(&unet, &schedule, eps, &batch_data, true).expect("forward"));
    });
    let with_backward = median_time(runs, || {
        let l = loss(&unet, &schedule, eps, &batch_data, true).expect("forward");
        std::hint::black_box(l.backward().expect("backward"));
    });
    let grads = loss(&unet, &schedule, eps, &batch_data, true).and_then(|l| Ok(l.backward()?)).expect("gradients");
    let named: Vec<(String, Var)> = {
        let data = varmap.data().lock().expect("varmap");
        data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let mut adamw = AdamW::new(named, 1e-6, 0.0).expect("optimizer");
    let optimizer = median_time(runs, || adamw.step(&grads).expect("AdamW step"));
    let mut ema = Ema::new(&varmap, 0.995).expect("EMA");
    let average = median_time(runs, || ema.update(&varmap).expect("EMA update"));
    println!(
        "{name:<34} forward {:>7.1} ms  backward {:>7.1} ms  AdamW {:>5.1} ms  EMA {:>5.1} ms",
        ms(forward),
        ms(with_backward.saturating_sub(forward)),
        ms(optimizer),
        ms(average)
    );
}

fn main() {
    alloc::keep_freed_memory();
    threads::set_thread_counts();
    println!("U-Net training step by part, CPU, 28x28 (median of 5 after a warm-up)");
    parts("default, batch 64", &UNetConfig::default(), 64, 5);
    parts("mnist-fast, batch 32 (ddpm train)", &UNetConfig::mnist_fast(), 32, 5);
}
