//! The loop of Algorithm 1 (Ho et al. 2020): "repeat ... until converged", here for a fixed
//! number of steps, over MNIST or toy 2-D data, with progress (a bar in a terminal, a line every
//! `log_every` steps elsewhere) and the loss history as CSV.

use std::fmt::Write as _;
use std::path::Path;

use candle_core::{Device, Tensor};
use rand::Rng as _;

use super::progress::{Progress, ProgressStyle};
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
                    return Err(invalid!("the MNIST data set is empty"));
                }
                let indices: Vec<usize> = (0..n).map(|_| rng.random_range(0..data.len())).collect();
                let labels = labels.then(|| data.labels_u32(&indices));
                Ok((data.batch_tensor(&indices, device)?, labels))
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

/// What the caller of [`Trainer::train_with`] says after each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop after this step (e.g. Ctrl-C); `train_with` returns the losses so far.
    Stop,
    /// Continue, and write the loss history to the CSV now: say it after saving a checkpoint, so
    /// that a process killed later (power cut, a second Ctrl-C) keeps the history of every step
    /// its checkpoint holds.
    Record,
}

impl<M: EpsModel> Trainer<M> {
    /// Runs Algorithm 1 on `data` from the current step up to step `config.steps` and returns the
    /// loss of each step taken. See [`Trainer::train_with`].
    pub fn train(&mut self, data: &DataSource, device: &Device, csv: Option<&Path>) -> Result<Vec<f32>> {
        self.train_with(data, device, csv, ProgressStyle::auto(self.config().log_every), |_, _| Ok(Control::Continue))
    }

    /// Runs Algorithm 1 on `data` from step `self.step() + 1` up to step `config.steps` (a new
    /// trainer starts at 0; a resumed one where its checkpoint was), calling `after_step` after
    /// every step (to save checkpoints, or to stop early).
    ///
    /// Progress is shown in `style` (a bar in a terminal, a line every `log_every` steps in a
    /// notebook). With `csv`, the history is written there as `step,loss,lr`: rows of earlier
    /// steps already in the file are kept (a resumed run appends), later ones replaced. The
    /// CSV is written also when a non-finite loss stops the run (up to the last good step), and
    /// the error is returned. It is written at the end, and after every step for which
    /// `after_step` says [`Control::Record`].
    pub fn train_with(
        &mut self,
        data: &DataSource,
        device: &Device,
        csv: Option<&Path>,
        style: ProgressStyle,
        mut after_step: impl FnMut(&Self, &super::StepStats) -> Result<Control>,
    ) -> Result<Vec<f32>> {
        let config = self.config().clone();
        let first = self.step() + 1;
        let mut history = Vec::with_capacity(config.steps.saturating_sub(self.step()));
        let mut progress = Progress::new(style, config.log_every, first, config.steps);
        let mut outcome = Ok(());
        // The history on disk: written on Control::Record and at the end, once per state.
        let record = |history: &[f32]| csv.map_or(Ok(()), |path| write_csv(path, first, history, |s| config.lr_at(s)));
        let mut recorded = 0;
        // Algorithm 1, line 1: repeat ... line 6: until converged (here: until step `steps`).
        while self.step() < config.steps {
            // Line 2: x_0 ~ q(x_0); lines 3-5 in `training_step`.
            let stats = match self.draw_and_step(data, device) {
                Ok(stats) => stats,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            history.push(stats.loss);
            progress.update(stats.step, &history);
            match after_step(self, &stats) {
                Ok(Control::Continue) => {}
                Ok(Control::Record) => {
                    if let Err(e) = record(&history) {
                        outcome = Err(e);
                        break;
                    }
                    recorded = history.len();
                }
                Ok(Control::Stop) => break,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        if self.step() < config.steps {
            progress.finish();
        }
        if recorded < history.len() || history.is_empty() {
            record(&history)?;
        }
        outcome.map(|()| history)
    }

    fn draw_and_step(&mut self, data: &DataSource, device: &Device) -> Result<super::StepStats> {
        let batch_size = self.config().batch_size;
        let (x0, labels) = data.draw(self.rng(), batch_size, device)?;
        self.training_step(&x0, labels.as_deref())
    }
}

/// Writes `step,loss,lr`, one row per step from `first`, after the rows of steps before `first`
/// already in the file; atomically, so the old history is never lost.
fn write_csv(path: &Path, first: usize, history: &[f32], lr_at: impl Fn(usize) -> f64) -> Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut text = String::from("step,loss,lr\n");
    for row in old.lines().skip(1) {
        if row.split(',').next().and_then(|s| s.parse::<usize>().ok()).is_some_and(|s| s < first) {
            text.push_str(row);
            text.push('\n');
        }
    }
    for (i, loss) in history.iter().enumerate() {
        let _ = writeln!(text, "{},{},{}", first + i, loss, lr_at(first + i));
    }
    crate::atomic::write(path, text.as_bytes())
}

/// Reads a loss history written during training (`step,loss,lr` rows, e.g. a run's loss.csv)
/// as (step, loss) pairs, in file order.
pub fn read_loss_csv(path: &Path) -> Result<Vec<(usize, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    if lines.next() != Some("step,loss,lr") {
        return Err(Error::format(path, "expected the header \"step,loss,lr\""));
    }
    lines
        .enumerate()
        .map(|(i, row)| {
            let mut fields = row.split(',');
            let step = fields.next().and_then(|s| s.parse::<usize>().ok());
            let loss = fields.next().and_then(|s| s.parse::<f64>().ok());
            match (step, loss) {
                (Some(step), Some(loss)) => Ok((step, loss)),
                _ => Err(Error::format(path, format!("line {}: expected step,loss,lr, got {row:?}", i + 2))),
            }
        })
        .collect()
}
