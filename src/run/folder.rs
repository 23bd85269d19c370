//! A run folder as a value: [`Run::open`] reads its checkpoint.json once, and every method reads
//! the files of that save (weights, EMA, train state, loss history) without reading it again.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::model::Model;
use super::spec::{ModelSpec, RunSpec};
use crate::checkpoint::{self, Checkpoint, Manifest, TensorMap, TrainState, EMA_FILE, META_FILE};
use crate::sample::{Prediction, SampleConfig};
use crate::{Error, Result};

/// The loss history's file name in a run folder.
pub const LOSS_FILE: &str = "loss.csv";

/// A training run on disk, as `ddpm train` leaves it: the run's spec, its network and the
/// checkpoint of one save (see [`crate::checkpoint`] for the files).
///
/// ```no_run
/// use ddpm::run::Run;
/// let run = Run::open("runs/mnist")?;
/// println!("{} at step {}", run.spec().data, run.step());
/// let model = run.model(&ddpm::device::best())?; // the EMA weights, what one samples from
/// # Ok::<(), ddpm::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Run {
    dir: PathBuf,
    manifest: Manifest,
    checkpoint: Checkpoint,
    spec: RunSpec,
    model: ModelSpec,
}

impl Run {
    /// The run in the folder `dir`: reads checkpoint.json (and nothing else). An error names
    /// the file if the folder holds no checkpoint, or one this ddpm cannot read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Run> {
        let dir = dir.as_ref();
        Run::open_if_any(dir)?.ok_or_else(|| {
            Error::format(
                dir.join(META_FILE),
                "missing: this folder holds no checkpoint (trained runs ship in data/pretrained/: mnist, mnist-cond)",
            )
        })
    }

    /// As [`Run::open`], None where the folder, or its checkpoint.json, does not exist yet.
    pub fn open_if_any(dir: impl AsRef<Path>) -> Result<Option<Run>> {
        let dir = dir.as_ref();
        let Some(manifest) = Manifest::read(dir)? else { return Ok(None) };
        Run::of(dir, manifest).map(Some)
    }

    /// The run in `dir` whose checkpoint.json is `manifest` (already read, or just written).
    pub(super) fn of(dir: &Path, manifest: Manifest) -> Result<Run> {
        let checkpoint = manifest.checkpoint();
        let spec: RunSpec = checkpoint.training_config()?;
        let model: ModelSpec = checkpoint.model_config()?;
        Ok(Run { dir: dir.to_path_buf(), manifest, checkpoint, spec, model })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Training steps done (the checkpoint's step).
    pub fn step(&self) -> u64 {
        self.checkpoint.step
    }

    /// What checkpoint.json says: step, seed, and the configs as JSON.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The run: data, schedule, Algorithm 1's settings.
    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// The network's configuration.
    pub fn model_spec(&self) -> &ModelSpec {
        &self.model
    }

    /// The weights on `device`, by variable name; an error names a tensor holding NaN or
    /// infinity ([`Error::NotFinite`]).
    pub fn weights(&self, device: &Device) -> Result<TensorMap> {
        checkpoint::read_weights(&self.dir, &self.manifest, device)
    }

    /// The exponential moving average of the weights on `device`, by variable name (what one
    /// samples from); an error if the run has none, or names a tensor that is not finite.
    pub fn ema(&self, device: &Device) -> Result<TensorMap> {
        checkpoint::read_ema(&self.dir, &self.manifest, device)
    }

    /// AdamW's moments and the counters that let a resumed run continue exactly; None when
    /// the folder has no train state of this checkpoint's step.
    pub fn train_state(&self, device: &Device) -> Result<Option<TrainState>> {
        checkpoint::read_train_state(&self.dir, &self.manifest, device)
    }

    /// The loss of every step trained, as (step, loss), from the folder's loss.csv.
    pub fn loss_history(&self) -> Result<Vec<(usize, f64)>> {
        crate::train::read_loss_csv(&self.dir.join(LOSS_FILE))
    }

    /// The network with its EMA weights (what one samples from), on `device`, as plain tensors
    /// (no graph for back-propagation is built).
    pub fn model(&self, device: &Device) -> Result<Model> {
        self.model_as(device, DType::F32)
    }

    /// As [`Run::model`], the weights in `dtype`: f32, or bf16 or f16 on a GPU (see
    /// [`crate::device::Precision`]; candle's CPU has f16 but no bf16 matmul). The network still
    /// takes and returns f32 (x_t is cast in, eps_pred back), so every sampler works unchanged.
    pub fn model_as(&self, device: &Device, dtype: DType) -> Result<Model> {
        if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
            return Err(invalid!("a network can be loaded in f32, bf16 or f16, not {}", dtype.as_str()));
        }
        let vb = candle_nn::VarBuilder::from_tensors(self.ema(device)?, dtype, device);
        Model::new(&self.model, vb)
            .map_err(|e| Error::format(self.dir.join(EMA_FILE), format!("the EMA weights do not fit the network: {e}")))
    }

    /// The network with its EMA weights and what its output means (the run's training target):
    /// what a sampler takes.
    pub fn prediction(&self, device: &Device) -> Result<Prediction<Model>> {
        Ok(Prediction { model: self.model(device)?, parameterisation: self.spec.train.target })
    }

    /// `n` samples (Algorithm 2 of Ho et al. 2020, the sampler's defaults: [`SampleConfig::ddpm`])
    /// from the run's EMA weights on the best device, under the run's own noise schedule: a batch
    /// shaped like the training data, in [-1, 1] for images.
    ///
    /// ```no_run
    /// let images = ddpm::run::Run::open("runs/mnist")?.sample(64)?; // (64, 1, 28, 28)
    /// # Ok::<(), ddpm::Error>(())
    /// ```
    pub fn sample(&self, n: usize) -> Result<Tensor> {
        self.sample_with(&SampleConfig::ddpm(), n, &crate::device::best())
    }

    /// As [`Run::sample`], with a chosen sampler (e.g. `SampleConfig::ddim(50).with_seed(1)`) and device.
    pub fn sample_with(&self, config: &SampleConfig, n: usize, device: &Device) -> Result<Tensor> {
        config.sample(&self.prediction(device)?, &self.spec.schedule.build()?, n, device)
    }

    /// Checks that this run is the one `spec` and `model` describe, as far as resuming needs:
    /// the same network, data and schedule (the number of steps and the rest may differ).
    pub(super) fn check_same(&self, spec: &RunSpec, model: &ModelSpec) -> Result<()> {
        if &self.model != model {
            return Err(invalid!(
                "the run in {} has a different network than the one asked for; resume it with its own settings",
                self.dir.display()
            ));
        }
        if self.spec.data != spec.data || self.spec.schedule != spec.schedule {
            return Err(invalid!(
                "the run in {} was trained on {} with another schedule or data; resume it with its own settings",
                self.dir.display(),
                self.spec.data
            ));
        }
        Ok(())
    }
}
