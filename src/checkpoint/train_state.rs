//! What a run needs, besides its weights and EMA, to continue exactly where it stopped: the
//! optimizer's tensors (AdamW's moment estimates) and counters (its update count, the position
//! of the run's random generator), in `train_state.safetensors` beside the checkpoint.
//!
//! The file is written atomically (temporary file, then rename) before each checkpoint and
//! carries the step it belongs to in its metadata (`ddpm_step`). [`load_train_state`] returns it
//! only when that step is the checkpoint's: after a crash between the two writes, or with a
//! checkpoint written by an older ddpm, there is none, and a resumed run starts its optimizer
//! afresh (as it did before this file existed).

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::manifest::Manifest;
use super::tensor_file::{self, Values};
use crate::{Error, Result};

/// The file's name in a run folder.
pub const TRAIN_STATE_FILE: &str = "train_state.safetensors";
/// The metadata key of the step the state belongs to.
const STEP_KEY: &str = "ddpm_step";

/// The optimizer's state at a step.
#[derive(Debug, Clone)]
pub struct TrainState {
    /// The training step this state belongs to (the checkpoint's).
    pub step: u64,
    /// Counters by name (e.g. AdamW's update count, the generator's position), as text so that
    /// any integer fits (the generator's position is a u128).
    pub counters: BTreeMap<String, String>,
    /// Tensors by name (e.g. `adam_m.NAME`, `adam_v.NAME`).
    pub tensors: BTreeMap<String, Tensor>,
}

impl TrainState {
    /// Writes the state to the file `path` atomically (a temporary file, then a rename), its step
    /// in the metadata: for a folder other than a checkpoint's (e.g. the noisy classifier's).
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(bad) = self.counters.keys().find(|k| k.as_str() == STEP_KEY) {
            return Err(invalid!("a train state counter cannot be named {bad:?}: the step has its own field"));
        }
        let mut metadata = self.counters.clone();
        metadata.insert(STEP_KEY.into(), self.step.to_string());
        let bytes = tensor_file::encode(&self.tensors, &metadata)?;
        crate::atomic::write(path, &bytes)
    }

    /// The state of step `step` in the file `path` (from [`TrainState::write`]), its tensors on
    /// `device`; None when there is no such file, or it belongs to another step (its tensors are
    /// then not read). A file that cannot be read, has no step, or whose tensors hold NaN or
    /// infinity is an error naming it.
    pub fn read(path: &Path, step: u64, device: &Device) -> Result<Option<TrainState>> {
        if !path.exists() {
            return Ok(None);
        }
        let (header, bytes) = tensor_file::read(path)?;
        let mut counters = header.metadata;
        let saved = counters.remove(STEP_KEY).and_then(|s| s.parse::<u64>().ok());
        let Some(saved) = saved else {
            return Err(Error::format(path, format!("no valid {STEP_KEY} in its metadata: not a ddpm train state")));
        };
        if saved != step {
            return Ok(None);
        }
        let tensors = tensor_file::tensors(path, &bytes, device, Values::Finite)?.into_iter().collect();
        Ok(Some(TrainState { step, counters, tensors }))
    }
}

/// Writes `state` into `dir` atomically, replacing the one there.
pub fn save_train_state(dir: impl AsRef<Path>, state: &TrainState) -> Result<()> {
    state.write(&dir.as_ref().join(TRAIN_STATE_FILE))
}

/// The train state of the checkpoint in `dir`, its tensors on `device`; None when there is no
/// checkpoint, no state file, or the state belongs to another step than the checkpoint. A state
/// file that cannot be read, or whose tensors hold NaN or infinity, is an error naming it.
pub fn load_train_state(dir: impl AsRef<Path>, device: &Device) -> Result<Option<TrainState>> {
    let dir = dir.as_ref();
    let Some(manifest) = Manifest::read(dir)? else { return Ok(None) };
    read_train_state(dir, &manifest, device)
}

/// As [`load_train_state`], for the checkpoint whose checkpoint.json `manifest` was read from
/// `dir` (not read again).
pub fn read_train_state(dir: impl AsRef<Path>, manifest: &Manifest, device: &Device) -> Result<Option<TrainState>> {
    TrainState::read(&dir.as_ref().join(TRAIN_STATE_FILE), manifest.step(), device)
}
