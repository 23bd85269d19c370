//! Network benchmarks (`make bench`): milliseconds per training step (forward, backward, AdamW,
//! EMA) and per sampling step (one forward pass and the update) of the U-Net, on the CPU, on
//! 28x28: the default U-Net at batch 64, and `ddpm train --data mnist`'s (`mnist_fast`) at
//! batch 32 as it trains and at 64 to compare with the default.
//!
//! The PyTorch reference (`benches/torch_reference.py`) times the same architecture on the same
//! machine. Where torch is installed (`make bench-torch` once: `target/torch-venv`, or any Python
//! named by `DDPM_TORCH_PYTHON`), each row is followed by PyTorch's times for the same config,
//! batch and thread count (candle's, `RAYON_NUM_THREADS` or every core), measured right after in the same run, and the ratios.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{median_time, ms};

use candle_core::{Device, Tensor};
use ddpm::nn::{parameter_count, UNet, UNetConfig};
use ddpm::posterior::Parameterisation;
use ddpm::rng::seeded;
use ddpm::sample::network::normal_tensor;
use ddpm::sample::Prediction;
use ddpm::train::{NoisedBatch, TrainConfig, Trainer};
use ddpm::NoiseSchedule;

/// The `ddpm` binary's allocator: mimalloc, keeping the memory it frees.
#[path = "../src/bin/ddpm/alloc.rs"]
mod alloc;
/// The `ddpm` binary's threads: candle's element-wise operations on the calling thread.
#[path = "../src/bin/ddpm/threads.rs"]
mod threads;

/// Milliseconds of one training step and one sampling step.
struct StepTimes {
    train: f64,
    sample: f64,
}

fn bench(name: &str, config: &UNetConfig, batch: usize, runs: usize) -> StepTimes {
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
    StepTimes { train: ms(step), sample: ms(sample_step) }
}

/// The Python that has torch: `DDPM_TORCH_PYTHON`, else `make bench-torch`'s virtual environment.
fn torch_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/torch-venv/bin/python");
    std::env::var_os("DDPM_TORCH_PYTHON").map(PathBuf::from).or(Some(venv)).filter(|p| p.exists())
}

/// PyTorch's times for the same U-Net (`torch_reference.py --config NAME --batch B --threads N`),
/// read from its `--machine` line "TRAIN_MS SAMPLE_MS". An error is printed, not fatal.
fn torch_times(python: &Path, config: &str, batch: usize, runs: usize) -> Option<StepTimes> {
    let threads = candle_core::utils::get_num_threads().to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/torch_reference.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--config", config, "--threads", &threads, "--machine"])
        .args(["--batch", &batch.to_string(), "--runs", &runs.to_string()])
        .output();
    let parsed = out.as_ref().ok().filter(|o| o.status.success()).and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout);
        let mut numbers = text.lines().last()?.split_whitespace().map(|v| v.parse::<f64>().ok());
        Some(StepTimes { train: numbers.next()??, sample: numbers.next()?? })
    });
    if parsed.is_none() {
        let why = match &out {
            Ok(o) => String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("no output").to_string(),
            Err(e) => e.to_string(),
        };
        println!("{:<34} PyTorch reference failed: {why}", "");
    }
    parsed
}

/// Times `config` here, then in PyTorch when it is installed, and prints both with the ratios.
fn compare(name: &str, config: &UNetConfig, torch_config: &str, batch: usize, python: Option<&Path>) {
    const RUNS: usize = 5;
    let ours = bench(name, config, batch, RUNS);
    let Some(theirs) = python.and_then(|p| torch_times(p, torch_config, batch, RUNS)) else { return };
    println!(
        "{:<34} PyTorch   train step {:>8.1} ms  sampling step {:>7.1} ms  ratio (ddpm / PyTorch) {:.2}x train, {:.2}x sampling",
        "",
        theirs.train,
        theirs.sample,
        ours.train / theirs.train,
        ours.sample / theirs.sample
    );
}

fn main() {
    alloc::keep_freed_memory();
    threads::one_candle_thread();
    let python = torch_python();
    let threads = candle_core::utils::get_num_threads();
    println!("U-Net on the CPU, 28x28, {threads} threads (median of 5 after a warm-up)");
    if python.is_none() {
        println!("(PyTorch reference not installed: `make bench-torch` once, then the ratios appear here)");
    }
    compare("default, batch 64", &UNetConfig::default(), "default", 64, python.as_deref());
    compare("mnist-fast, batch 64", &UNetConfig::mnist_fast(), "mnist-fast", 64, python.as_deref());
    compare("mnist-fast, batch 32 (ddpm train)", &UNetConfig::mnist_fast(), "mnist-fast", 32, python.as_deref());
}
