//! Saving: the order in which `save` touches the disk, and the recovery that runs before it.
//!
//! A save is a list of [`Op`]s, each one atomic on a POSIX file system (a write to a private
//! temporary file, a rename within the folder, a removal), run in order. The module docs of
//! [`super`] say what a crash after each one leaves.

use super::manifest::{prev_path, read_manifest, temp_path, Manifest};
use super::{fit, tensor_file, Checkpoint, NamedTensors, EMA_FILE, FORMAT_VERSION, META_FILE, WEIGHTS_FILE};
use crate::{Error, Result};
use candle_core::Tensor;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub(super) fn save_until(
    dir: &Path,
    meta: &Checkpoint,
    weights: &dyn NamedTensors,
    ema: Option<&dyn NamedTensors>,
    stop_before: Option<usize>,
) -> Result<Option<Manifest>> {
    let weights = weights.named_tensors();
    let ema = ema.map(|e| e.named_tensors());
    check_names(&weights, ema.as_ref())?;
    let save_id = new_save_id(meta.step);
    // The checkpoint.json of this save, returned when it has committed.
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        save_id: save_id.clone(),
        step: meta.step,
        seed: meta.seed,
        model: meta.model.clone(),
        training: meta.training.clone(),
        has_ema: ema.is_some(),
        shapes: weights.iter().map(|(n, t)| (n.clone(), t.dims().to_vec())).collect(),
    };
    let tensor_metadata =
        BTreeMap::from([("ddpm_save_id".into(), save_id), ("ddpm_step".into(), meta.step.to_string())]);
    // Everything is encoded before the disk is touched, so a bad tensor changes nothing there.
    let new = NewFiles {
        weights: tensor_file::encode(&weights, &tensor_metadata)?,
        ema: ema.as_ref().map(|e| tensor_file::encode(e, &tensor_metadata)).transpose()?,
        json: serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Internal(format!("cannot write checkpoint.json: {e}")))?,
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // A damaged checkpoint.json has nothing worth keeping: this save replaces it.
    recover(dir, read_manifest(dir).ok().flatten().as_ref())?;
    for (i, op) in plan(dir, new).iter().enumerate() {
        if stop_before == Some(i) {
            return Ok(None);
        }
        if let Err(e) = op.apply() {
            // Best effort: back to one complete checkpoint, whichever checkpoint.json now says.
            let _ = recover(dir, read_manifest(dir).ok().flatten().as_ref());
            return Err(e);
        }
    }
    Ok(Some(manifest))
}

/// Checks the tensor names (safetensors reserves `__metadata__`) and that the EMA matches.
fn check_names(weights: &BTreeMap<String, Tensor>, ema: Option<&BTreeMap<String, Tensor>>) -> Result<()> {
    if weights.is_empty() {
        return Err(invalid!("the weights hold no tensor: nothing to save (build the model before saving)"));
    }
    if let Some(bad) = weights.keys().find(|n| n.is_empty() || n.as_str() == "__metadata__") {
        return Err(invalid!("a tensor cannot be named {bad:?} in a safetensors file"));
    }
    if let Some(ema) = ema {
        let specs = |m: &BTreeMap<String, Tensor>| {
            m.iter().map(|(n, t)| (n.clone(), fit::Spec { shape: t.dims().to_vec(), dtype: None })).collect()
        };
        let problems = fit::problems(&specs(weights), &specs(ema), "the weight map");
        if !problems.is_empty() {
            return Err(invalid!("the EMA must have the weights' names and shapes: {}", fit::report(&problems)));
        }
    }
    Ok(())
}

/// Unique for each save: the step, the time in nanoseconds, the process and a counter.
fn new_save_id(step: u64) -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{step}-{nanos:x}-{:x}-{count}", std::process::id())
}

/// One step of a save.
pub(super) enum Op {
    /// Create `path`, write the parts one after the other, fsync.
    Write { path: PathBuf, parts: Vec<Vec<u8>> },
    /// Atomically replace `to` by `from`.
    Rename { from: PathBuf, to: PathBuf },
    /// Remove a file.
    Remove(PathBuf),
    /// fsync the folder, so that the renames before it survive a power cut.
    SyncDir(PathBuf),
}

/// The new files of a save, encoded, with the JSON last.
pub(super) struct NewFiles {
    pub weights: Vec<u8>,
    pub ema: Option<Vec<u8>>,
    pub json: Vec<u8>,
}

/// The steps of a save into `dir` (after [`recover`]), in the order they must run.
pub(super) fn plan(dir: &Path, new: NewFiles) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut set_aside = Vec::new();
    // 1. Every new file, complete and fsync'd, under a temporary name.
    let mut written = Vec::new();
    for (name, encoded) in [(WEIGHTS_FILE, Some(new.weights)), (EMA_FILE, new.ema)] {
        if let Some(bytes) = encoded {
            ops.push(Op::Write { path: temp_path(dir, name), parts: vec![bytes] });
            written.push(name);
        }
    }
    ops.push(Op::Write { path: temp_path(dir, META_FILE), parts: vec![new.json] });
    ops.push(Op::SyncDir(dir.to_path_buf()));
    // 2. Each old tensor file set aside as .NAME.prev, then the new one renamed into place.
    //    checkpoint.json still names the old save, whose files `load` finds under .prev.
    for name in [WEIGHTS_FILE, EMA_FILE] {
        if dir.join(name).exists() {
            ops.push(Op::Rename { from: dir.join(name), to: prev_path(dir, name) });
            set_aside.push(prev_path(dir, name));
        }
        if written.contains(&name) {
            ops.push(Op::Rename { from: temp_path(dir, name), to: dir.join(name) });
        }
    }
    ops.push(Op::SyncDir(dir.to_path_buf()));
    // 3. The commit: checkpoint.json, last, names the new save.
    ops.push(Op::Rename { from: temp_path(dir, META_FILE), to: dir.join(META_FILE) });
    ops.push(Op::SyncDir(dir.to_path_buf()));
    // 4. The old files are no longer needed.
    ops.extend(set_aside.into_iter().map(Op::Remove));
    ops
}

impl Op {
    pub(super) fn apply(&self) -> Result<()> {
        match self {
            Op::Write { path, parts } => {
                let write = || -> io::Result<()> {
                    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
                    for part in parts {
                        file.write_all(part)?;
                    }
                    file.sync_all()
                };
                write().map_err(|e| Error::io(path, e))
            }
            Op::Rename { from, to } => fs::rename(from, to).map_err(|e| {
                Error::io(from, io::Error::new(e.kind(), format!("cannot rename to {}: {e}", to.display())))
            }),
            Op::Remove(path) => fs::remove_file(path).map_err(|e| Error::io(path, e)),
            Op::SyncDir(dir) => sync_dir(dir),
        }
    }
}

/// fsync a folder (Unix); elsewhere a no-op, as Windows cannot open a folder as a file.
fn sync_dir(dir: &Path) -> Result<()> {
    if cfg!(unix) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// The save id in the header of `path`, or None if it is missing or unreadable.
fn save_id(path: &Path) -> Option<String> {
    tensor_file::read_header(path).ok().and_then(|h| h.save_id)
}

/// Brings `dir` back to one complete checkpoint after a save that stopped half-way:
/// removes every temporary file of a save, and puts each `.NAME.prev` that belongs to the
/// committed checkpoint.json back in place (or removes it, if `NAME` already belongs to it).
/// Without this, the next save's set-aside would overwrite the only copy of the previous
/// checkpoint's weights. Each step is atomic, so a crash here is repaired by the next run.
pub(super) fn recover(dir: &Path, manifest: Option<&Manifest>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_temp = [WEIGHTS_FILE, EMA_FILE, META_FILE].iter().any(|file| name.starts_with(&format!(".{file}.tmp-")));
        if is_temp {
            fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    for name in [WEIGHTS_FILE, EMA_FILE] {
        let (main, prev) = (dir.join(name), prev_path(dir, name));
        if !prev.exists() {
            continue;
        }
        // Restore .prev only when it, and not NAME, belongs to the committed checkpoint.json.
        let committed = manifest.map(|m| m.save_id.as_str());
        let restore =
            committed.is_some_and(|id| save_id(&main).as_deref() != Some(id) && save_id(&prev).as_deref() == Some(id));
        if restore {
            Op::Rename { from: prev, to: main }.apply()?;
        } else {
            Op::Remove(prev).apply()?;
        }
    }
    sync_dir(dir)
}
