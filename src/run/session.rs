//! A training run on disk (`ddpm train`): Algorithm 1 with a checkpoint every N steps, at the
//! end and on Ctrl-C, `--resume` from the last checkpoint, and the loss history as CSV.
//!
//! ```text
//! runs/NAME/
//!   checkpoint.json, weights.safetensors, ema.safetensors   (see `checkpoint`)
//!   train_state.safetensors                                  AdamW's moments, the generator's position
//!   loss.csv                                                 step,loss,lr, one row per step
//! ```
//!
//! A resumed run whose train state belongs to its checkpoint continues exactly: the same
//! weights and losses, bit for bit on the CPU, as if it had never stopped. Without one (a folder
//! from an older ddpm), AdamW starts again from zero moments and the generator is re-seeded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device};

use super::model::Model;
use super::spec::{DataSpec, ModelSpec, RunSpec};
use crate::checkpoint::{self, Checkpoint};
use crate::data::{Mnist, Split};
use crate::nn::EpsModel;
use crate::train::{Control, DataSource, Ema, ProgressStyle, Trainer};
use crate::{Error, Result};

/// The loss history's file name in a run folder.
pub const LOSS_FILE: &str = "loss.csv";

/// How a run is carried out (not saved with it).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Continue from the checkpoint in the folder. Without it, a folder that already holds a
    /// checkpoint is an error (nothing is overwritten).
    pub resume: bool,
    /// The folder holding mnist/ (default: [`crate::data::default_data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// Set (e.g. by a Ctrl-C handler) to stop after the current step with a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// How progress is shown.
    pub progress: ProgressStyle,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { resume: false, data_dir: None, stop: None, progress: ProgressStyle::Silent }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// It reached its last step.
    Finished,
    /// It was stopped (Ctrl-C) and saved a checkpoint.
    Interrupted,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The first step taken in this call (1 for a new run).
    pub first_step: usize,
    /// The step of the last checkpoint written.
    pub last_step: usize,
    /// The losses of the steps taken in this call.
    pub losses: Vec<f32>,
    pub end: RunEnd,
    /// For a resumed run: whether it continued exactly (its train state was there), or
    /// restarted AdamW's moments; None for a new run.
    pub resumed_exactly: Option<bool>,
    /// Wall time of this call.
    pub seconds: f64,
}

/// Reads what a run folder says about its run (checkpoint.json only): the checkpoint's
/// metadata, the run and the network.
pub fn load_run_spec(dir: &Path) -> Result<(Checkpoint, RunSpec, ModelSpec)> {
    let Some(meta) = checkpoint::read_meta(dir)? else {
        return Err(Error::format(dir.join(checkpoint::META_FILE), "missing: this folder holds no checkpoint"));
    };
    specs_of(meta)
}

/// The run and the network a checkpoint's metadata describes.
fn specs_of(meta: Checkpoint) -> Result<(Checkpoint, RunSpec, ModelSpec)> {
    let spec: RunSpec = meta.training_config()?;
    let model: ModelSpec = meta.model_config()?;
    Ok((meta, spec, model))
}

/// Trains `model` as `spec` says, into the folder `out`: see the [module docs](self).
///
/// With `options.resume` and a checkpoint in `out`, the weights, the EMA and the step come from
/// it (its network must be `model`) and training goes on up to `spec.train.steps`. A loss that
/// becomes NaN or infinite stops the run with an error; the last checkpoint stays as it was.
pub fn train_run(
    out: &Path,
    spec: &RunSpec,
    model: &ModelSpec,
    device: &Device,
    options: &RunOptions,
) -> Result<RunReport> {
    let start = Instant::now();
    let schedule = spec.schedule.build()?;
    let existing = checkpoint::latest_step(out)?;
    if existing.is_some() && !options.resume {
        invalid!(
            "{} already holds a checkpoint (step {}): pass --resume to continue it, or choose another --out",
            out.display(),
            existing.unwrap_or_default()
        );
    }
    let (net, varmap) = Model::new_seeded(model, device, spec.train.seed)?;
    let null_class = net.null_class();
    let mut resumed_exactly = None;
    let mut trainer = Trainer::new(net, varmap, schedule, spec.train.clone())?.with_null_class(null_class);
    if let (true, Some(_)) = (options.resume, existing) {
        let (meta, saved_spec, saved_model) = load_run_spec(out)?;
        if &saved_model != model {
            invalid!(
                "the run in {} has a different network than the one asked for; resume it with its own settings",
                out.display()
            );
        }
        if saved_spec.data != spec.data || saved_spec.schedule != spec.schedule {
            invalid!(
                "the run in {} was trained on {} with another schedule or data; resume it with its own settings",
                out.display(),
                saved_spec.data
            );
        }
        checkpoint::load_into(out, trainer.varmap())?;
        let (_, ema) = checkpoint::load_ema(out, device)?;
        trainer.resume_at(meta.step as usize, Ema::from_tensors(spec.train.ema_decay, ema)?)?;
        let state = checkpoint::load_train_state(out, device)?;
        if let Some(state) = &state {
            trainer.restore_state(state)?;
        }
        resumed_exactly = Some(state.is_some());
    }
    let first_step = trainer.step() + 1;
    let mnist;
    let data = match spec.data_spec()? {
        DataSpec::Mnist => {
            let dir = match &options.data_dir {
                Some(d) => d.clone(),
                None => crate::data::default_data_dir()?,
            };
            mnist = Mnist::load(dir.join("mnist"), Split::Train)?;
            DataSource::Mnist { data: &mnist, labels: spec.class_conditional }
        }
        DataSpec::Toy(toy) => DataSource::Toy(toy),
    };
    let save = |trainer: &Trainer<Model>| save_checkpoint(out, spec, model, trainer);
    let mut interrupted = false;
    let mut last_saved = existing.unwrap_or(0) as usize;
    let csv = out.join(LOSS_FILE);
    let result = trainer.train_with(&data, device, Some(&csv), options.progress, |trainer, stats| {
        let stop = options.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        let due = spec.checkpoint_every > 0 && stats.step % spec.checkpoint_every == 0;
        let saving = stop || due || stats.step == spec.train.steps;
        if saving {
            save(trainer)?;
            last_saved = stats.step;
        }
        interrupted = stop;
        // The loss history goes to disk with each checkpoint (and at the end).
        Ok(match (stop, saving) {
            (true, _) => Control::Stop,
            (false, true) => Control::Record,
            (false, false) => Control::Continue,
        })
    });
    let losses = result.map_err(|e| match e {
        Error::Invalid(m) if last_saved > 0 => {
            Error::Invalid(format!("{m}; the last checkpoint (step {last_saved}) in {} is kept", out.display()))
        }
        e => e,
    })?;
    if last_saved < trainer.step() {
        save(&trainer)?;
        last_saved = trainer.step();
    }
    let end = if interrupted { RunEnd::Interrupted } else { RunEnd::Finished };
    let seconds = start.elapsed().as_secs_f64();
    Ok(RunReport { first_step, last_step: last_saved, losses, end, resumed_exactly, seconds })
}

/// Saves the trainer's state, then its weights and EMA with the run's spec, each atomically
/// (the state is used on resume only if it has the checkpoint's step).
fn save_checkpoint<M: EpsModel>(out: &Path, spec: &RunSpec, model: &ModelSpec, trainer: &Trainer<M>) -> Result<()> {
    checkpoint::save_train_state(out, &trainer.state())?; // creates `out` if missing
    let meta = Checkpoint::new(trainer.step() as u64, spec.train.seed, model, spec)?;
    checkpoint::save(out, &meta, trainer.varmap(), Some(&trainer.ema().tensors()))
}

/// The network of the run in `dir` with its EMA weights (what one samples from), on `device`,
/// as plain tensors (no graph for back-propagation is built), and the run's spec.
pub fn load_model(dir: &Path, device: &Device) -> Result<(Model, RunSpec, Checkpoint)> {
    load_model_as(dir, device, DType::F32)
}

/// As [`load_model`], the weights in `dtype`: f32, or bf16 or f16 on a GPU (see
/// [`crate::device::Precision`]; candle's CPU has f16 but no bf16 matmul). The network still
/// takes and returns f32 (x_t is cast in, eps_pred back), so every sampler works unchanged.
pub fn load_model_as(dir: &Path, device: &Device, dtype: DType) -> Result<(Model, RunSpec, Checkpoint)> {
    if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
        invalid!("a network can be loaded in f32, bf16 or f16, not {}", dtype.as_str());
    }
    let (meta, ema) = checkpoint::load_ema(dir, device)?;
    let (meta, spec, model_spec) = specs_of(meta)?;
    let vb = candle_nn::VarBuilder::from_tensors(ema, dtype, device);
    let model = Model::new(&model_spec, vb)
        .map_err(|e| Error::Invalid(format!("{}: the EMA weights do not fit the network: {e}", dir.display())))?;
    Ok((model, spec, meta))
}

/// The run in `dir` as `spec` describes it, trained first where it is missing or shorter than
/// `spec.train.steps` (resuming from its last checkpoint), then loaded with its EMA weights:
/// what a notebook that needs a trained network calls. A finished run is only loaded.
pub fn ensure_trained(
    dir: &Path,
    spec: &RunSpec,
    model: &ModelSpec,
    device: &Device,
    progress: ProgressStyle,
) -> Result<(Model, RunSpec, Checkpoint)> {
    train_run(dir, spec, model, device, &RunOptions { resume: true, progress, ..Default::default() })?;
    load_model(dir, device)
}
