//! Network benchmarks (`make bench`): milliseconds per training step (forward, backward, AdamW,
//! EMA) and per sampling step (one forward pass and the update) of the U-Net, on the CPU, on
//! 28x28: the default U-Net at batch 64, and `ddpm train --data mnist`'s (`mnist_fast`) at
//! batch 32 as it trains and at 64 to compare with the default.
//!
//! The PyTorch reference (`benches/torch_reference.py`) times the same architecture on the same
//! machine. Where torch is installed (`make bench-torch` once: `target/torch-venv`, or any Python
//! named by `DDPM_TORCH_PYTHON`), each row is followed by PyTorch's times for the same config,
//! batch and thread count (candle's, `RAYON_NUM_THREADS` or every core), measured right after in the same run, and the ratios.
//! A second line then times the two alternately, a few steps of each in turn from one
//! PyTorch process (`torch_reference.py --serve`), so that both see the machine in the same
//! state: on a shared machine whose speed drifts from minute to minute, the sequential ratio
//! moves with the drift; the alternating one much less (docs/performance.md).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{median, median_time, ms, time};

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

/// A fresh seeded U-Net of `config` in a trainer, a noised batch to train on, and the generator
/// that drew it (for the sampling step's x_t).
struct Setup {
    trainer: Trainer<UNet>,
    batch_data: NoisedBatch,
    schedule: NoiseSchedule,
    rng: ddpm::rng::Rng,
    shape: [usize; 4],
    params: usize,
}

fn setup(config: &UNetConfig, batch: usize) -> Setup {
    let device = Device::Cpu;
    let schedule = NoiseSchedule::linear(1000).expect("valid schedule");
    let (unet, varmap) = UNet::new_seeded(config, &device, 0).expect("valid config");
    let params = parameter_count(&varmap);
    let train = TrainConfig { steps: usize::MAX, batch_size: batch, log_every: 0, ..Default::default() };
    let trainer = Trainer::new(unet, varmap, schedule.clone(), train).expect("valid config");
    let mut rng = seeded(0);
    let shape = [batch, config.in_channels, config.image_size, config.image_size];
    let x0 = normal_tensor(&mut rng, &shape, &device).expect("shape");
    let batch_data = NoisedBatch::draw(&mut rng, &schedule, x0, None).expect("batch");
    Setup { trainer, batch_data, schedule, rng, shape, params }
}

/// One sampling step of `unet` at t = 500 from `xt`.
fn sampling_step(unet: &UNet, schedule: &NoiseSchedule, xt: &Tensor) {
    let prediction = Prediction { model: unet, parameterisation: Parameterisation::Eps };
    std::hint::black_box(prediction.denoise(schedule, xt, 500, None, true).expect("denoise"));
}

fn bench(name: &str, config: &UNetConfig, batch: usize, runs: usize) -> StepTimes {
    let Setup { mut trainer, batch_data, schedule, mut rng, shape, params } = setup(config, batch);
    let step = median_time(runs, || {
        std::hint::black_box(trainer.step_on(&batch_data).expect("step"));
    });
    let (unet, _, _) = trainer.into_parts();
    let xt: Tensor = normal_tensor(&mut rng, &shape, &Device::Cpu).expect("shape");
    let sample_step = median_time(runs, || sampling_step(&unet, &schedule, &xt));
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

/// Rounds of the alternating comparison, and steps of each side per round.
const ROUNDS: usize = 4;
const PER_ROUND: usize = 3;
/// Rest between the two sides' turns, so that neither starts while the other's idle threads still spin.
const PAUSE: Duration = Duration::from_millis(300);

/// PyTorch's reference timing steps on request (`torch_reference.py --serve`).
struct TorchServer {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl TorchServer {
    fn start(python: &Path, config: &str, batch: usize) -> Option<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/torch_reference.py");
        let threads = candle_core::utils::get_num_threads().to_string();
        let mut child = Command::new(python)
            .arg(script)
            .args(["--config", config, "--threads", &threads, "--batch", &batch.to_string(), "--serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let (input, output) = (child.stdin.take()?, BufReader::new(child.stdout.take()?));
        Some(Self { child, input, output })
    }

    /// The times in ms of `n` steps of `what` ("train" or "sample").
    fn times(&mut self, what: &str, n: usize) -> Option<Vec<f64>> {
        writeln!(self.input, "{what} {n}").ok()?;
        let mut line = String::new();
        self.output.read_line(&mut line).ok()?;
        let times: Vec<f64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        (times.len() == n).then_some(times)
    }
}

impl Drop for TorchServer {
    fn drop(&mut self) {
        let _ = writeln!(self.input, "quit");
        let _ = self.child.wait();
    }
}

/// [`ROUNDS`] rounds of [`PER_ROUND`] steps of ours (each timed by `ours`, in ms), then as many
/// of PyTorch's, after one warm-up step of each: the median of each side's steps, and the
/// lowest and highest ratio of the rounds' medians.
fn alternate(mut ours: impl FnMut() -> f64, mut theirs: impl FnMut(usize) -> Option<Vec<f64>>) -> Option<[f64; 4]> {
    ours();
    theirs(1)?;
    let (mut all_ours, mut all_theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        std::thread::sleep(PAUSE);
        let mine: Vec<f64> = (0..PER_ROUND).map(|_| ours()).collect();
        std::thread::sleep(PAUSE);
        let other = theirs(PER_ROUND)?;
        ratios.push(median(mine.clone()) / median(other.clone()));
        all_ours.extend(mine);
        all_theirs.extend(other);
    }
    let (low, high) = ratios.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    Some([median(all_ours), median(all_theirs), low, high])
}

/// The training and sampling steps of `config` here and in PyTorch, alternately; prints one line.
fn compare_alternately(config: &UNetConfig, torch_config: &str, batch: usize, python: &Path) {
    let Some(mut torch) = TorchServer::start(python, torch_config, batch) else { return };
    let Setup { mut trainer, batch_data, schedule, mut rng, shape, .. } = setup(config, batch);
    let train_step = || {
        ms(time(|| {
            std::hint::black_box(trainer.step_on(&batch_data).expect("step"));
        }))
    };
    let Some(train) = alternate(train_step, |n| torch.times("train", n)) else { return };
    let (unet, _, _) = trainer.into_parts();
    let xt: Tensor = normal_tensor(&mut rng, &shape, &Device::Cpu).expect("shape");
    let sample_step = || ms(time(|| sampling_step(&unet, &schedule, &xt)));
    let Some(sample) = alternate(sample_step, |n| torch.times("sample", n)) else { return };
    println!(
        "{:<34} alternately ({ROUNDS} x {PER_ROUND} steps each)  train step {:.1} / {:.1} ms = {:.2}x (rounds {:.2}-{:.2}x), sampling step {:.1} / {:.1} ms = {:.2}x (rounds {:.2}-{:.2}x)",
        "",
        train[0],
        train[1],
        train[0] / train[1],
        train[2],
        train[3],
        sample[0],
        sample[1],
        sample[0] / sample[1],
        sample[2],
        sample[3]
    );
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
    if let Some(python) = python {
        compare_alternately(config, torch_config, batch, python);
    }
}

fn main() {
    alloc::keep_freed_memory();
    threads::set_thread_counts();
    let python = torch_python();
    let threads = candle_core::utils::get_num_threads();
    println!("U-Net on the CPU, 28x28, {threads} threads (median of 5 after a warm-up; alternately: median of {ROUNDS} x {PER_ROUND})");
    if python.is_none() {
        println!("(PyTorch reference not installed: `make bench-torch` once, then the ratios appear here)");
    }
    compare("default, batch 64", &UNetConfig::default(), "default", 64, python.as_deref());
    compare("mnist-fast, batch 64", &UNetConfig::mnist_fast(), "mnist-fast", 64, python.as_deref());
    compare("mnist-fast, batch 32 (ddpm train)", &UNetConfig::mnist_fast(), "mnist-fast", 32, python.as_deref());
}
