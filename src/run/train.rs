//! Training a run folder (`ddpm train`): Algorithm 1 with a checkpoint every N steps, at the
//! end and on Ctrl-C, `--resume` from the last checkpoint, and the loss history as CSV.
//!
//! ```text
//! runs/NAME/
//!   checkpoint.json, weights.safetensors, ema.safetensors   (see `checkpoint`)
//!   train_state.safetensors                                  AdamW's moments, the generator's position
//!   loss.csv                                                 step,loss,lr, one row per step
//!   train.lock                                               held while a process trains the folder
//! ```
//!
//! A resumed run whose train state belongs to its checkpoint continues exactly: the same
//! weights and losses, bit for bit on the CPU, as if it had never stopped. Without one (a folder
//! from an older ddpm), AdamW starts again from zero moments and the generator is re-seeded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;

use super::folder::{Run, LOSS_FILE};
use super::lock::lock;
use super::model::Model;
use super::spec::{DataSpec, ModelSpec, RunSpec};
use crate::checkpoint::{self, Checkpoint};
use crate::data::{Mnist, Pretrained, Split};
use crate::nn::EpsModel;
use crate::train::{Control, DataSource, Ema, ProgressStyle, Trainer};
use crate::{Error, Result};

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
    /// The run folder as its last checkpoint left it.
    pub run: Run,
}

impl Run {
    /// Trains `model` as `spec` says, into the folder `dir`: see the [module docs](self).
    ///
    /// The folder is locked for the whole training ([`super::LOCK_FILE`]): while another process
    /// trains it, this one refuses at once with [`Error::Busy`], naming that process.
    /// With `options.resume` and a checkpoint in `dir`, the weights, the EMA and the step come
    /// from it (its network must be `model`) and training goes on up to `spec.train.steps`. A
    /// loss that becomes NaN or infinite stops the run with [`Error::Diverged`]; the last
    /// checkpoint stays as it was.
    pub fn train(
        dir: impl AsRef<Path>,
        spec: &RunSpec,
        model: &ModelSpec,
        device: &Device,
        options: &RunOptions,
    ) -> Result<RunReport> {
        let out = dir.as_ref();
        let start = Instant::now();
        let schedule = spec.schedule.build()?;
        spec.train.validate()?;
        // Held until this function returns: no other process saves into `out` meanwhile.
        let _lock = lock(out)?;
        let (net, varmap) = Model::new_seeded(model, device, spec.train.seed)?;
        let null_class = net.null_class();
        let mut trainer = Trainer::new(net, varmap, schedule, spec.train.clone())?.with_null_class(null_class);
        let existing = Run::open_if_any(out)?;
        if let (Some(run), false) = (&existing, options.resume) {
            return Err(invalid!(
                "{} already holds a checkpoint (step {}): pass --resume to continue it, or choose another --out",
                out.display(),
                run.step()
            ));
        }
        let mut resumed_exactly = None;
        if let Some(run) = &existing {
            run.check_same(spec, model)?;
            checkpoint::assign(trainer.varmap(), &run.weights(&Device::Cpu)?, &out.join(checkpoint::WEIGHTS_FILE))?;
            let ema = run.ema(device)?;
            trainer.resume_at(run.step() as usize, Ema::from_tensors(spec.train.ema_decay, ema)?)?;
            let state = run.train_state(device)?;
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
        let mut last_saved = existing.as_ref().map_or(0, |run| run.step() as usize);
        // The run as the last save left it: no need to read checkpoint.json back.
        let mut saved = existing;
        let csv = out.join(LOSS_FILE);
        let result = trainer.train_with(&data, device, Some(&csv), options.progress, |trainer, stats| {
            let stop = options.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
            let due = spec.checkpoint_every > 0 && stats.step % spec.checkpoint_every == 0;
            let saving = stop || due || stats.step == spec.train.steps;
            if saving {
                saved = Some(save(trainer)?);
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
            Error::Diverged { step, quantity, value, lr, kept: None } if last_saved > 0 => {
                Error::Diverged { step, quantity, value, lr, kept: Some((out.to_path_buf(), last_saved)) }
            }
            e => e,
        })?;
        if last_saved < trainer.step() || saved.is_none() {
            saved = Some(save(&trainer)?);
            last_saved = trainer.step();
        }
        let run = saved.ok_or_else(|| Error::Internal("a run ended without a checkpoint".into()))?;
        let end = if interrupted { RunEnd::Interrupted } else { RunEnd::Finished };
        let seconds = start.elapsed().as_secs_f64();
        Ok(RunReport { first_step, last_step: last_saved, losses, end, resumed_exactly, seconds, run })
    }

    /// The run in `dir` as `spec` describes it, trained first where it is missing or shorter
    /// than `spec.train.steps` (resuming from its last checkpoint): what a notebook that needs
    /// a trained network calls. A finished run is only opened (its checkpoint.json read once).
    ///
    /// ```no_run
    /// use ddpm::run::{DataSpec, Run, RunSpec};
    /// use ddpm::train::ProgressStyle;
    /// let device = ddpm::device::best();
    /// let (spec, model) = RunSpec::default_for(DataSpec::Toy(ddpm::data::ToyData::Ring), false)?;
    /// let run = Run::ensure_trained("runs/ring", &spec, &model, &device, ProgressStyle::Lines(500))?;
    /// let net = run.model(&device)?;
    /// # Ok::<(), ddpm::Error>(())
    /// ```
    pub fn ensure_trained(
        dir: impl AsRef<Path>,
        spec: &RunSpec,
        model: &ModelSpec,
        device: &Device,
        progress: ProgressStyle,
    ) -> Result<Run> {
        let dir = dir.as_ref();
        if let Some(run) = Run::open_if_any(dir)? {
            if run.step() >= spec.train.steps as u64 {
                run.check_same(spec, model)?;
                return Ok(run);
            }
        }
        let options = RunOptions { resume: true, progress, ..Default::default() };
        Ok(Run::train(dir, spec, model, device, &options)?.run)
    }

    /// The MNIST run `which` ships in data/pretrained/ ([`Pretrained::Mnist`] or
    /// [`Pretrained::MnistCond`]), or, with `train_into`, the same default recipe
    /// ([`RunSpec::default_for`]) trained there first by [`Run::ensure_trained`] (cut to
    /// `quick_steps` steps when given): what the notebooks' `train_now` knob chooses between.
    pub fn shipped_or_trained(
        which: Pretrained,
        train_into: Option<&Path>,
        quick_steps: Option<usize>,
        device: &Device,
    ) -> Result<Run> {
        let class_conditional = match which {
            Pretrained::Mnist => false,
            Pretrained::MnistCond => true,
            other => return Err(invalid!("{other} is a classifier or a feature network, not a diffusion run")),
        };
        let Some(dir) = train_into else { return Run::open(which.dir()?) };
        let (mut spec, model) = RunSpec::default_for(DataSpec::Mnist, class_conditional)?;
        if let Some(steps) = quick_steps {
            spec = spec.shortened(steps);
        }
        Run::ensure_trained(dir, &spec, &model, device, ProgressStyle::Lines(100))
    }
}

/// Saves the trainer's state, then its weights and EMA with the run's spec, each atomically
/// (the state is used on resume only if it has the checkpoint's step); the run as saved.
fn save_checkpoint<M: EpsModel>(out: &Path, spec: &RunSpec, model: &ModelSpec, trainer: &Trainer<M>) -> Result<Run> {
    checkpoint::save_train_state(out, &trainer.state())?; // creates `out` if missing
    let meta = Checkpoint::new(trainer.step() as u64, spec.train.seed, model, spec)?;
    let manifest = checkpoint::save(out, &meta, trainer.varmap(), Some(&trainer.ema().tensors()))?;
    Run::of(out, manifest)
}
