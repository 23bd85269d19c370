//! Training the noisy classifier p_phi(y | x_t, t) on MNIST digits noised by the closed form
//! q(x_t | x_0) at a uniform t (Ho et al. 2020, Eq. 4; the schedule of the diffusion run it
//! guides), resumable like a diffusion run, and its accuracy against t.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use super::classifier::{NoisyClassifier, NoisyClassifierConfig, NoisyClassify};
use super::folder::NoisyClassifierRun;
use super::trainer::NoisyTrainer;
use crate::checkpoint;
use crate::data::Mnist;
use crate::diffusion::q_sample;
use crate::eval::argmax;
use crate::nn::seeded_var_builder;
use crate::rng::seeded;
use crate::run::ScheduleSpec;
use crate::sample::normal_tensor;
use crate::{Error, NoiseSchedule, Result};

/// How to train: AdamW steps (learning rate `lr`, no weight decay) of `batch` digits, each at its
/// own t uniform in 1..=T, with a checkpoint every `checkpoint_every` steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainNoisy {
    /// The step the training ends at.
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    /// Seeds the weights, the order of the digits, t and the noise.
    pub seed: u64,
    /// A checkpoint every this many steps (0: none but the last, and one on a stop).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
}

fn default_checkpoint_every() -> usize {
    500
}

impl Default for TrainNoisy {
    /// 1500 steps of 64 digits at learning rate 2e-3, seed 0, a checkpoint every 500 steps.
    fn default() -> Self {
        Self { steps: 1500, batch: 64, lr: 2e-3, seed: 0, checkpoint_every: default_checkpoint_every() }
    }
}

/// How a training call is carried out (not saved with the classifier).
#[derive(Clone, Debug, Default)]
pub struct NoisyOptions {
    /// Continue the classifier in the folder from its last checkpoint, with its own settings (a
    /// larger `steps` extends it). Without it, a folder that holds a classifier is an error.
    pub resume: bool,
    /// Set (e.g. by a Ctrl-C handler) to stop after the current step with a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
}

impl NoisyClassifierRun {
    /// Trains a classifier on `data` (digits in [-1, 1]) under `schedule` up to step
    /// `how.steps`, with a checkpoint into `dir` every `how.checkpoint_every` steps, at the last
    /// step and when `options.stop` is set (see [`super::folder`] for the files). At the last
    /// step it measures the accuracy at `eval_ts` on `test` and returns the classifier with its
    /// description; when stopped, as the stop's checkpoint left them (no accuracy yet).
    ///
    /// With `options.resume` and a classifier in `dir`, it continues that one: bit for bit as an
    /// uninterrupted training with the same settings would, when its saved state is there (the
    /// data must be the same); a setting other than `steps` and `checkpoint_every` that differs
    /// from its own is an error naming it. A finished classifier asked for no more steps is only
    /// opened. `on_step(step, loss)` reports progress; a NaN or infinite loss stops with
    /// [`Error::Diverged`], the last checkpoint kept. The folder is locked while it trains
    /// (another process training into it gets [`Error::Busy`]).
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        dir: impl AsRef<Path>,
        data: &Mnist,
        test: &Mnist,
        schedule: &ScheduleSpec,
        how: &TrainNoisy,
        eval_ts: &[usize],
        device: &Device,
        options: &NoisyOptions,
        mut on_step: impl FnMut(usize, f64),
    ) -> Result<(NoisyClassifier, NoisyClassifierRun)> {
        if how.steps == 0 || how.batch == 0 || !(how.lr > 0.0 && how.lr.is_finite()) {
            return Err(invalid!("training needs steps and batch >= 1 and a learning rate > 0, got {how:?}"));
        }
        if data.is_empty() || test.is_empty() {
            return Err(invalid!(
                "training needs digits to learn from and to test on, got {} and {}",
                data.len(),
                test.len()
            ));
        }
        let noise = schedule.build()?;
        // Checked now rather than after the training, where the accuracy is measured.
        eval_ts.iter().try_for_each(|&t| noise.check_t(t))?;
        let dir = dir.as_ref();
        // One process at a time per folder, as for a diffusion run (train.lock; Error::Busy).
        let _lock = crate::run::lock::lock(dir)?;
        let existing = NoisyClassifierRun::read(dir, device)?;
        if let (Some((old, _)), false) = (&existing, options.resume) {
            return Err(invalid!(
                "{} already holds a noisy classifier (step {}): resume it (--resume), or choose another folder (--out)",
                dir.display(),
                old.step
            ));
        }
        let config = existing.as_ref().map_or_else(NoisyClassifierConfig::default, |(old, _)| old.config.clone());
        let varmap = VarMap::new();
        let net = NoisyClassifier::new(&config, seeded_var_builder(&varmap, how.seed, device))?;
        let mut trainer = NoisyTrainer::new(&varmap, data.len(), how.lr, how.seed)?;
        if let Some((old, weights)) = &existing {
            old.check_same(dir, schedule, how)?;
            checkpoint::assign(&varmap, weights, &dir.join(super::folder::WEIGHTS_FILE))?;
            if old.is_finished() && old.step == how.steps {
                return Ok((net, old.clone()));
            }
            trainer.resume_at(old.step, old.train_state(dir, device)?.as_ref(), how.seed)?;
        }
        let mut run = NoisyClassifierRun {
            config,
            schedule: schedule.clone(),
            train: how.clone(),
            accuracy_by_t: Vec::new(),
            step: trainer.step,
        };
        let mut stopped = false;
        while trainer.step < how.steps && !stopped {
            let loss = trainer.training_step(&net, &noise, data, how.batch, device).map_err(|e| match e {
                Error::Diverged { step, quantity, value, lr, kept: None } if run.step > 0 => {
                    Error::Diverged { step, quantity, value, lr, kept: Some((dir.to_path_buf(), run.step)) }
                }
                e => e,
            })?;
            on_step(trainer.step, loss);
            stopped = options.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
            let due = how.checkpoint_every > 0 && trainer.step % how.checkpoint_every == 0;
            if stopped || due || trainer.step == how.steps {
                run.step = trainer.step;
                run.save(dir, &varmap, &trainer.state()?)?;
            }
        }
        if run.step == how.steps && !stopped {
            run.accuracy_by_t = accuracy_by_t(&net, &noise, test, eval_ts, 1000, how.seed, device)?;
            run.write_info(dir)?;
        }
        Ok((net, run))
    }
}

/// The accuracy of `classifier` on the first `n` test digits noised to each step of `ts` (one
/// noise draw, seeded by `seed`, shared by every t): near chance at t = T, where x_t is almost
/// pure noise, near a clean classifier's at small t.
pub fn accuracy_by_t<C: NoisyClassify>(
    classifier: &C,
    schedule: &NoiseSchedule,
    test: &Mnist,
    ts: &[usize],
    n: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<(usize, f64)>> {
    let n = n.min(test.len());
    if n == 0 {
        return Err(invalid!("the accuracy needs at least one test digit, got 0"));
    }
    let idx: Vec<usize> = (0..n).collect();
    let x0 = test.batch_tensor(&idx, device)?;
    let labels = test.labels_u32(&idx);
    let eps = normal_tensor(&mut seeded(seed), x0.dims(), device)?;
    ts.iter()
        .map(|&t| {
            schedule.check_t(t)?;
            let xt = q_sample(schedule, &x0, t, &eps)?;
            let mut hits = 0;
            for start in (0..n).step_by(250) {
                let len = 250.min(n - start);
                let tb = Tensor::full(t as u32, len, device)?;
                let logits: Vec<Vec<f32>> = classifier.logits(&xt.narrow(0, start, len)?, &tb)?.to_vec2()?;
                hits += logits
                    .iter()
                    .zip(&labels[start..start + len])
                    .filter(|(row, &y)| argmax(&row.iter().map(|&v| v as f64).collect::<Vec<_>>()) == y as usize)
                    .count();
            }
            Ok((t, hits as f64 / n as f64))
        })
        .collect()
}
