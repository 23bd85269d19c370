//! A noisy classifier's folder, as [`NoisyClassifierRun::train`] writes it:
//!
//! ```text
//! runs/mnist-noisy-classifier/
//!   noisy_classifier.json                the network's shape, the schedule, the training settings,
//!                                        the accuracy against t (once training is finished)
//!   noisy_classifier.safetensors         the weights; their step in the metadata (`ddpm_step`)
//!   noisy_classifier_state.safetensors   AdamW's moments, the generator's position and the order
//!                                        of the digits at that step: what resumes it exactly
//!   train.lock                           held while a process trains the folder
//! ```
//!
//! A checkpoint writes the state, then the weights, then the description, each atomically (a
//! temporary file, then a rename). The weights carry the step: a resume continues from them, and
//! exactly when the state is of the same step (after a crash between the first two writes it is
//! not: AdamW starts again from zero moments and the generator is re-seeded, as for a diffusion
//! run). The description and
//! the weights alone (a shipped copy, or a folder of an older ddpm, whose weights have no step:
//! they count as finished, at `train.steps`) open for sampling.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::classifier::{NoisyClassifier, NoisyClassifierConfig};
use super::train::TrainNoisy;
use crate::checkpoint::{self, TensorMap, TrainState};
use crate::run::ScheduleSpec;
use crate::{Error, Result};

/// The description in a noisy classifier's folder.
pub const INFO_FILE: &str = "noisy_classifier.json";
/// The weights in a noisy classifier's folder.
pub const WEIGHTS_FILE: &str = "noisy_classifier.safetensors";
/// What resumes the training exactly (optional: sampling needs only the two files above).
pub const STATE_FILE: &str = "noisy_classifier_state.safetensors";
/// The metadata key of the weights' step.
const STEP_KEY: &str = "ddpm_step";

/// A noisy classifier's folder: what [`NoisyClassifierRun::train`] writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoisyClassifierRun {
    pub config: NoisyClassifierConfig,
    /// The schedule of the noise it was trained on (the diffusion run's).
    pub schedule: ScheduleSpec,
    /// How it is trained; its training ends at step `train.steps`.
    pub train: TrainNoisy,
    /// Accuracy on test digits noised to each t, (t, accuracy), from [`super::accuracy_by_t`],
    /// measured when the training reaches `train.steps`; empty before.
    #[serde(default)]
    pub accuracy_by_t: Vec<(usize, f64)>,
    /// The step its weights reached (kept with the weights, not in the JSON).
    #[serde(skip)]
    pub step: usize,
}

impl NoisyClassifierRun {
    /// Whether the training is complete: it reached its last step, `train.steps`, and its
    /// accuracy against t was measured.
    pub fn is_finished(&self) -> bool {
        self.step >= self.train.steps && !self.accuracy_by_t.is_empty()
    }

    /// The classifier in `dir` on `device`, with its description. An error names the file if
    /// one is missing or damaged, and a tensor holding NaN or infinity ([`Error::NotFinite`]).
    pub fn open(dir: impl AsRef<Path>, device: &Device) -> Result<(NoisyClassifier, NoisyClassifierRun)> {
        let dir = dir.as_ref();
        Self::open_if_any(dir, device)?
            .ok_or_else(|| Error::format(dir.join(INFO_FILE), "missing: this folder holds no noisy classifier"))
    }

    /// As [`NoisyClassifierRun::open`], None where the folder, or its description, does not exist.
    pub fn open_if_any(
        dir: impl AsRef<Path>,
        device: &Device,
    ) -> Result<Option<(NoisyClassifier, NoisyClassifierRun)>> {
        let dir = dir.as_ref();
        let Some((run, weights)) = Self::read(dir, device)? else { return Ok(None) };
        let net =
            NoisyClassifier::new(&run.config, VarBuilder::from_tensors(weights, DType::F32, device)).map_err(|e| {
                Error::format(dir.join(WEIGHTS_FILE), format!("the weights do not fit the classifier: {e}"))
            })?;
        Ok(Some((net, run)))
    }

    /// The description and the weights (on `device`, every one finite) in `dir`; None where there
    /// is no description.
    pub(super) fn read(dir: &Path, device: &Device) -> Result<Option<(NoisyClassifierRun, TensorMap)>> {
        let info = dir.join(INFO_FILE);
        let text = match std::fs::read_to_string(&info) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&info, e)),
        };
        let mut run: NoisyClassifierRun =
            serde_json::from_str(&text).map_err(|e| Error::format(&info, e.to_string()))?;
        let path = dir.join(WEIGHTS_FILE);
        let (weights, metadata) = checkpoint::read_tensors(&path, device)?;
        run.step = match metadata.get(STEP_KEY) {
            None => run.train.steps,
            Some(text) => {
                text.parse().map_err(|_| Error::format(&path, format!("its {STEP_KEY} is {text:?}, not a step")))?
            }
        };
        Ok(Some((run, weights)))
    }

    /// A checkpoint of the training at `self.step`, into `dir`: `state`, then the weights of
    /// `varmap`, then the description (see the [module docs](self)).
    pub(super) fn save(&self, dir: &Path, varmap: &VarMap, state: &TrainState) -> Result<()> {
        state.write(&dir.join(STATE_FILE))?;
        let metadata = BTreeMap::from([(STEP_KEY.to_string(), self.step.to_string())]);
        checkpoint::write_tensors(&dir.join(WEIGHTS_FILE), varmap, &metadata)?;
        self.write_info(dir)
    }

    /// Writes the description into `dir`, atomically.
    pub(super) fn write_info(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        crate::atomic::write(&dir.join(INFO_FILE), json.as_bytes())
    }

    /// The training state saved with the weights of `self.step` in `dir`, on `device`; None
    /// where there is none of that step.
    pub(super) fn train_state(&self, dir: &Path, device: &Device) -> Result<Option<TrainState>> {
        TrainState::read(&dir.join(STATE_FILE), self.step as u64, device)
    }

    /// An error naming every setting of `how` and `schedule` that differs from this classifier's
    /// own, in `dir`: a resume continues a training with its settings (only `steps` and
    /// `checkpoint_every` may change).
    pub(super) fn check_same(&self, dir: &Path, schedule: &ScheduleSpec, how: &TrainNoisy) -> Result<()> {
        let own = &self.train;
        let mut changed = Vec::new();
        if &self.schedule != schedule {
            changed.push(format!("schedule {schedule:?} (the classifier's: {:?})", self.schedule));
        }
        if how.seed != own.seed {
            changed.push(format!("seed {} (the classifier's: {})", how.seed, own.seed));
        }
        if how.batch != own.batch {
            changed.push(format!("batch {} (the classifier's: {})", how.batch, own.batch));
        }
        if how.lr != own.lr {
            changed.push(format!("learning rate {} (the classifier's: {})", how.lr, own.lr));
        }
        if how.steps < self.step {
            changed.push(format!("steps {} (it has reached step {} already)", how.steps, self.step));
        }
        if changed.is_empty() {
            return Ok(());
        }
        Err(invalid!(
            "a resume continues the noisy classifier in {} with its own settings; these differ: {}",
            dir.display(),
            changed.join(", ")
        ))
    }
}
