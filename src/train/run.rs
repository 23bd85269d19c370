//! The loop of Algorithm 1 (Ho et al. 2020): "repeat ... until converged", here for a fixed
//! number of steps, over MNIST or toy 2-D data, with a progress line every `log_every` steps and
//! the loss history as CSV.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::Rng as _;

use super::trainer::Trainer;
use crate::data::{Mnist, ToyData};
use crate::nn::EpsModel;
use crate::{Error, Result};

/// Where x_0 ~ q(x_0) comes from (Algorithm 1, line 2).
#[derive(Debug, Clone, Copy)]
pub enum DataSource<'a> {
    /// MNIST images (B, 1, 28, 28) in [-1, 1], drawn uniformly with replacement; with their
    /// labels when `labels` is true (for a class-conditional U-Net).
    Mnist { data: &'a Mnist, labels: bool },
    /// Fresh points (B, 2) of a toy data set at every step.
    Toy(ToyData),
}

impl DataSource<'_> {
    /// A batch of `n` samples drawn with `rng`, as an f32 tensor on `device`, and its labels.
    pub fn draw(&self, rng: &mut crate::rng::Rng, n: usize, device: &Device) -> Result<(Tensor, Option<Vec<u32>>)> {
        match *self {
            DataSource::Mnist { data, labels } => {
                if data.is_empty() {
                    invalid!("the MNIST data set is empty");
                }
                let indices: Vec<usize> = (0..n).map(|_| rng.random_range(0..data.len())).collect();
                let x = data.batch(&indices)?;
                let shape = x.shape().to_vec();
                let v: Vec<f32> = x.iter().map(|&p| p as f32).collect();
                let labels = labels.then(|| indices.iter().map(|&i| data.labels()[i] as u32).collect());
                Ok((Tensor::from_vec(v, shape, device)?, labels))
            }
            DataSource::Toy(toy) => {
                let x = toy.sample(rng, n)?;
                let shape = x.shape().to_vec();
                let v: Vec<f32> = x.iter().map(|&p| p as f32).collect();
                Ok((Tensor::from_vec(v, shape, device)?, None))
            }
        }
    }
}

impl<M: EpsModel> Trainer<M> {
    /// Runs `config.steps` steps of Algorithm 1 on `data` and returns the loss of each step.
    ///
    /// Every `log_every` steps a line goes to stdout with the step, the mean loss of the last
    /// `log_every` steps, steps per second and the time left. With `csv`, the history is written
    /// there as `step,loss,lr` (also when a non-finite loss stops the run: then up to the last
    /// good step, and the error is returned).
    pub fn train(&mut self, data: &DataSource, device: &Device, csv: Option<&Path>) -> Result<Vec<f32>> {
        let config = self.config().clone();
        let first = self.step() + 1;
        let mut history = Vec::with_capacity(config.steps);
        let start = Instant::now();
        let mut outcome = Ok(());
        // Algorithm 1, line 1: repeat (for `steps` steps) ... line 6: until converged.
        for k in 0..config.steps {
            // Line 2: x_0 ~ q(x_0); lines 3-5 in `training_step`.
            let step = self.draw_and_step(data, device);
            match step {
                Ok(stats) => history.push(stats.loss),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
            let done = k + 1;
            if config.log_every > 0 && (done % config.log_every == 0 || done == config.steps) {
                println!(
                    "{}",
                    progress_line(
                        &history,
                        config.log_every,
                        first + k,
                        start.elapsed().as_secs_f64(),
                        done,
                        config.steps
                    )
                );
            }
        }
        if let Some(path) = csv {
            write_csv(path, first, &history, |s| config.lr_at(s))?;
        }
        outcome.map(|()| history)
    }

    fn draw_and_step(&mut self, data: &DataSource, device: &Device) -> Result<super::StepStats> {
        let batch_size = self.config().batch_size;
        let (x0, labels) = data.draw(self.rng(), batch_size, device)?;
        self.training_step(&x0, labels.as_deref())
    }
}

/// "step 200/1000  loss 0.0812  12.3 steps/s  ETA 65 s": the loss is the mean of the last
/// `window` steps.
fn progress_line(history: &[f32], window: usize, step: usize, elapsed: f64, done: usize, total: usize) -> String {
    let recent = &history[history.len().saturating_sub(window)..];
    let mean = recent.iter().map(|&l| l as f64).sum::<f64>() / recent.len().max(1) as f64;
    let rate = done as f64 / elapsed.max(1e-9);
    let eta = (total - done) as f64 / rate;
    format!("step {step} ({done}/{total})  loss {mean:.5}  {rate:.2} steps/s  ETA {eta:.0} s")
}

/// Writes `step,loss,lr`, one row per step from `first`.
fn write_csv(path: &Path, first: usize, history: &[f32], lr_at: impl Fn(usize) -> f64) -> Result<()> {
    let io = |e| Error::io(path, e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    writeln!(out, "step,loss,lr").map_err(io)?;
    for (i, loss) in history.iter().enumerate() {
        writeln!(out, "{},{},{}", first + i, loss, lr_at(first + i)).map_err(io)?;
    }
    out.flush().map_err(io)
}
