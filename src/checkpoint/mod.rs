//! Checkpoints: a training run's weights, their exponential moving average (EMA) and what is
//! needed to resume or sample from it, in one folder.
//!
//! ```text
//! runs/NAME/
//!   checkpoint.json       format version, step, seed, the model and training configs (any
//!                         JSON), the shape of every tensor, whether there is an EMA, a save id
//!   weights.safetensors   the model's variables, by name ("down.0.conv1.weight")
//!   ema.safetensors       the EMA of those variables, same names and shapes (optional)
//!   train_state.safetensors  the optimizer's moments and counters at that step, to resume a run
//!                         exactly (optional; written by `ddpm::run`, see [`TrainState`])
//! ```
//!
//! The tensor files are plain safetensors, written and read with the `safetensors` crate, so
//! Python reads them with `safetensors.numpy.load_file("runs/NAME/weights.safetensors")`; their
//! header's metadata holds `ddpm_save_id` and `ddpm_step`.
//!
//! # Reading
//!
//! [`Manifest::read`] reads checkpoint.json once; [`read_weights`], [`read_ema`] and
//! [`read_train_state`] then read the files of that save without reading it again (what
//! `ddpm::run::Run` does), and refuse tensors holding NaN or infinity, naming the tensor and
//! the file ([`crate::Error::NotFinite`]): no network can be built from them; [`read_tensors`]
//! does the same for a single tensor file outside a checkpoint. [`load`] and
//! [`load_into`] read checkpoint.json and the files together and give back every bit as saved.
//!
//! # A save is atomic
//!
//! [`save`] never writes over a file in place. It runs these steps, in this order (the code is
//! `plan` in `src/checkpoint/save.rs`):
//!
//! 1. write each new file, complete and fsync'd, to a temporary file in the same folder:
//!    `.weights.safetensors.tmp-PID`, `.ema.safetensors.tmp-PID`, `.checkpoint.json.tmp-PID`;
//! 2. for each tensor file: rename the old one (if any) to `.weights.safetensors.prev`
//!    (`.ema.safetensors.prev`), then the temporary one to `weights.safetensors`
//!    (`ema.safetensors`); fsync the folder;
//! 3. rename the temporary checkpoint.json over the old one: the commit; fsync the folder;
//! 4. remove the `.prev` files.
//!
//! Every save draws a fresh save id, written into checkpoint.json and into the metadata of its
//! tensor files. [`load`] uses only tensor files whose id is checkpoint.json's, looking under
//! `.prev` when the file in place comes from a newer save that has not committed. So a crash
//! (or a full disk) leaves:
//!
//! | stopped during | the folder holds | [`load`] returns |
//! |---|---|---|
//! | 1 | the old files, and temporary ones | the previous checkpoint |
//! | 2 | the old checkpoint.json; each tensor file old in place, or old under `.prev` (and new or none in place) | the previous checkpoint |
//! | 3 or 4 | the new files, perhaps old `.prev` ones | the new checkpoint |
//!
//! A reader never mixes files of two saves; it never sees a half-written file, since every
//! rename replaces a complete, fsync'd file. The next [`save`] first removes temporary files and
//! puts back `.prev` files that belong to the committed checkpoint.json, so the previous
//! checkpoint survives a second crash too. One process at a time may save into a folder
//! (`ddpm::run::Run::train` holds a lock on it while it trains).
//!
//! ```
//! use ddpm::candle_core::{DType, Device};
//! use ddpm::candle_nn::{Init, VarMap};
//! use ddpm::checkpoint::{self, Checkpoint};
//!
//! let varmap = VarMap::new();
//! varmap.get((2, 3), "down.0.conv1.weight", Init::Const(0.5), DType::F32, &Device::Cpu)?;
//! let dir = tempfile::tempdir().unwrap();
//! let meta = Checkpoint::new(100, 42, &serde_json::json!({"channels": 2}), &"toy")?;
//! checkpoint::save(dir.path(), &meta, &varmap, None)?;
//!
//! assert_eq!(checkpoint::latest_step(dir.path())?, Some(100));
//! let (loaded, weights, ema) = checkpoint::load(dir.path(), &Device::Cpu)?;
//! assert_eq!(loaded, meta);
//! assert_eq!(weights["down.0.conv1.weight"].dims(), &[2, 3]);
//! assert!(ema.is_none());
//! # Ok::<(), ddpm::Error>(())
//! ```

mod fit;
mod manifest;
mod read;
mod save;
mod tensor_file;
mod train_state;

pub use manifest::Manifest;
pub use read::{read_ema, read_tensors, read_weights};
pub use train_state::{load_train_state, read_train_state, save_train_state, TrainState, TRAIN_STATE_FILE};

use crate::{Error, Result};
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The version of the folder's layout written by this build; [`load`] reads it and older ones.
pub const FORMAT_VERSION: u32 = 1;
/// The metadata file, written last.
pub const META_FILE: &str = "checkpoint.json";
/// The model's variables.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// The exponential moving average of the variables (optional).
pub const EMA_FILE: &str = "ema.safetensors";

/// What a checkpoint says about its run, besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Training steps done.
    pub step: u64,
    /// The seed the run started from.
    pub seed: u64,
    /// The network's configuration, as JSON, so this module needs no network type.
    pub model: Value,
    /// The training configuration, as JSON.
    pub training: Value,
}

impl Checkpoint {
    /// A checkpoint's metadata from any serialisable model and training configurations.
    pub fn new(step: u64, seed: u64, model: &impl Serialize, training: &impl Serialize) -> Result<Self> {
        let json = |what: &str, value: serde_json::Result<Value>| {
            value.map_err(|e| Error::Internal(format!("cannot write the {what} config as JSON: {e}")))
        };
        Ok(Checkpoint {
            step,
            seed,
            model: json("model", serde_json::to_value(model))?,
            training: json("training", serde_json::to_value(training))?,
        })
    }

    /// The model configuration read back as a `T`, e.g. the U-Net's config.
    pub fn model_config<T: DeserializeOwned>(&self) -> Result<T> {
        config("model", &self.model)
    }

    /// The training configuration read back as a `T`.
    pub fn training_config<T: DeserializeOwned>(&self) -> Result<T> {
        config("training", &self.training)
    }
}

fn config<T: DeserializeOwned>(what: &str, value: &Value) -> Result<T> {
    T::deserialize(value)
        .map_err(|e| Error::Invalid(format!("the checkpoint's {what} config does not fit the type asked for: {e}")))
}

/// Anything that names its tensors: a [`VarMap`], a `HashMap` or a `BTreeMap` of them.
pub trait NamedTensors {
    /// Every tensor by name (cheap: tensors share their storage).
    fn named_tensors(&self) -> BTreeMap<String, Tensor>;
}

impl NamedTensors for VarMap {
    fn named_tensors(&self) -> BTreeMap<String, Tensor> {
        let vars = self.data().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        vars.iter().map(|(name, var)| (name.clone(), var.as_tensor().clone())).collect()
    }
}

impl<S: std::hash::BuildHasher> NamedTensors for HashMap<String, Tensor, S> {
    fn named_tensors(&self) -> BTreeMap<String, Tensor> {
        self.iter().map(|(name, tensor)| (name.clone(), tensor.clone())).collect()
    }
}

impl NamedTensors for BTreeMap<String, Tensor> {
    fn named_tensors(&self) -> BTreeMap<String, Tensor> {
        self.clone()
    }
}

/// Saves `weights` (and their `ema`, if any) with `meta` into the folder `dir`, atomically:
/// see the [module docs](self) for the order of the steps and what a crash leaves.
/// Creates `dir` if it is missing; replaces the checkpoint already there.
///
/// The EMA must have the same tensor names and shapes as the weights. Returns the
/// checkpoint.json written, with which [`read_weights`] and [`read_ema`] read this save back
/// without reading checkpoint.json.
pub fn save(
    dir: impl AsRef<Path>,
    meta: &Checkpoint,
    weights: &dyn NamedTensors,
    ema: Option<&dyn NamedTensors>,
) -> Result<Manifest> {
    save::save_until(dir.as_ref(), meta, weights, ema, None)?
        .ok_or_else(|| Error::Internal("a save without a stop returned before its end".into()))
}

/// For tests of atomicity: [`save`] that stops, as if the process died, before its step
/// number `ops` (counting from 0); returns whether the save completed.
#[doc(hidden)]
pub fn save_interrupted(
    dir: impl AsRef<Path>,
    meta: &Checkpoint,
    weights: &dyn NamedTensors,
    ema: Option<&dyn NamedTensors>,
    ops: usize,
) -> Result<bool> {
    save::save_until(dir.as_ref(), meta, weights, ema, Some(ops)).map(|manifest| manifest.is_some())
}

/// Tensors by name, as [`load`] returns them.
pub type TensorMap = HashMap<String, Tensor>;

/// Loads the checkpoint in `dir`: its metadata, its weights and its EMA (if it was saved with
/// one), every tensor on `device`, every bit as saved (NaN and infinities included: to build a
/// network, [`read_weights`] and [`read_ema`] refuse them).
pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<(Checkpoint, TensorMap, Option<TensorMap>)> {
    let (manifest, weights, ema) = read::load_some(dir.as_ref(), device, true, true)?;
    let weights = weights.ok_or_else(|| Error::Internal("load_some did not read the weights".into()))?;
    Ok((manifest.checkpoint(), weights, ema))
}

/// Copies `tensors`, read from the file `path`, into the variables of `varmap` (each onto its
/// own device), which must match them one for one: the error names every missing, extra,
/// mis-shaped or mis-typed tensor, and no variable changes.
pub fn assign(varmap: &VarMap, tensors: &TensorMap, path: &Path) -> Result<()> {
    fit::assign(varmap, tensors, path)
}

/// Copies the checkpoint's weights in `dir` into the variables of `varmap` (each onto its own
/// device), which must match them one for one: the error names every missing, extra,
/// mis-shaped or mis-typed tensor, and no variable changes.
pub fn load_into(dir: impl AsRef<Path>, varmap: &VarMap) -> Result<Checkpoint> {
    let dir = dir.as_ref();
    let (manifest, weights, _) = read::load_some(dir, &Device::Cpu, true, false)?;
    fit::assign(varmap, &weights.unwrap_or_default(), &dir.join(WEIGHTS_FILE))?;
    Ok(manifest.checkpoint())
}

/// As [`load_into`], with the EMA weights (what one samples from); an error if there are none.
pub fn load_ema_into(dir: impl AsRef<Path>, varmap: &VarMap) -> Result<Checkpoint> {
    let dir = dir.as_ref();
    let (meta, ema) = load_ema(dir, &Device::Cpu)?;
    fit::assign(varmap, &ema, &dir.join(EMA_FILE))?;
    Ok(meta)
}

/// The metadata of the checkpoint in `dir` (its step, seed and configs), reading checkpoint.json
/// only; None if there is no checkpoint.
pub fn read_meta(dir: impl AsRef<Path>) -> Result<Option<Checkpoint>> {
    Ok(Manifest::read(dir)?.map(|m| m.checkpoint()))
}

/// The checkpoint's metadata and its EMA tensors on `device` (the weights are not read); an
/// error if it was saved without an EMA.
pub fn load_ema(dir: impl AsRef<Path>, device: &Device) -> Result<(Checkpoint, TensorMap)> {
    let dir = dir.as_ref();
    let (manifest, _, ema) = read::load_some(dir, device, false, true)?;
    let Some(ema) = ema else {
        return Err(invalid!(
            "{}: the checkpoint of step {} was saved without EMA weights",
            dir.display(),
            manifest.step()
        ));
    };
    Ok((manifest.checkpoint(), ema))
}

/// The step of the checkpoint in `dir`, or None if there is none (no folder, or no
/// checkpoint.json in it): where `--resume` starts. Reads checkpoint.json only.
pub fn latest_step(dir: impl AsRef<Path>) -> Result<Option<u64>> {
    Ok(Manifest::read(dir)?.map(|m| m.step()))
}

/// Writes the variables of `varmap` to `path` as one safetensors file, atomically (a temporary
/// file, synced, then renamed): a crash leaves the old file or the new one, never half of one.
pub fn write_varmap(path: &Path, varmap: &VarMap) -> Result<()> {
    write_tensors(path, varmap, &BTreeMap::new())
}

/// As [`write_varmap`], any named tensors, with the strings `metadata` in the header (read back
/// by [`read_tensors`]).
pub fn write_tensors(path: &Path, tensors: &dyn NamedTensors, metadata: &BTreeMap<String, String>) -> Result<()> {
    crate::atomic::write(path, &tensor_file::encode(&tensors.named_tensors(), metadata)?)
}
