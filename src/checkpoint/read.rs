//! Loading: the files of the save that checkpoint.json names, and checkpoint.json itself.

use super::manifest::{prev_path, read_manifest, Manifest};
use super::tensor_file::{self, Values};
use super::{fit, TensorMap, EMA_FILE, META_FILE, WEIGHTS_FILE};
use crate::{Error, Result};
use candle_core::Device;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The weights of the save that `manifest` (read from `dir`'s checkpoint.json) names, on
/// `device`, without reading checkpoint.json again: the file in place, or its `.prev` copy
/// left by an interrupted save. An error names the file if it is missing, damaged, of another
/// save (the folder was saved to since `manifest` was read) or of other shapes; a tensor
/// holding NaN or infinity is refused ([`Error::NotFinite`]): these are weights to build a
/// network from.
pub fn read_weights(dir: impl AsRef<Path>, manifest: &Manifest, device: &Device) -> Result<TensorMap> {
    read_matching(dir.as_ref(), WEIGHTS_FILE, manifest, device, Values::Finite, true)?
        .ok_or_else(|| Error::Internal("read_matching gave no tensors for its last attempt".into()))
}

/// As [`read_weights`], the EMA of the weights; an error if the save has none.
pub fn read_ema(dir: impl AsRef<Path>, manifest: &Manifest, device: &Device) -> Result<TensorMap> {
    let dir = dir.as_ref();
    if !manifest.has_ema {
        return Err(invalid!(
            "{}: the checkpoint of step {} was saved without EMA weights",
            dir.display(),
            manifest.step
        ));
    }
    read_matching(dir, EMA_FILE, manifest, device, Values::Finite, true)?
        .ok_or_else(|| Error::Internal("read_matching gave no tensors for its last attempt".into()))
}

/// The tensors of one safetensors file at `path` (not only a checkpoint's: e.g. one written by
/// [`super::write_tensors`]) on `device`, and the strings of its header's metadata. As [`read_weights`], a tensor holding NaN
/// or infinity is refused, naming it and the file ([`Error::NotFinite`]): these are weights to
/// build a network from.
pub fn read_tensors(path: &Path, device: &Device) -> Result<(TensorMap, BTreeMap<String, String>)> {
    let (header, bytes) = tensor_file::read(path)?;
    let tensors = tensor_file::tensors(path, &bytes, device, Values::Finite)?;
    Ok((tensors, header.metadata))
}

/// [`super::load`], reading the weights and the EMA file only if asked, every bit as written;
/// with the manifest they belong to.
pub(super) fn load_some(
    dir: &Path,
    device: &Device,
    want_weights: bool,
    want_ema: bool,
) -> Result<(Manifest, Option<TensorMap>, Option<TensorMap>)> {
    // A save running beside us may commit between our reading checkpoint.json and a tensor
    // file, which then belongs to the newer save: read again while checkpoint.json changes.
    const ATTEMPTS: usize = 5;
    let (mut attempt, mut previous_id) = (1, None);
    loop {
        let manifest = read_manifest(dir)?
            .ok_or_else(|| Error::format(dir.join(META_FILE), "missing: this folder holds no checkpoint"))?;
        let last = attempt == ATTEMPTS || previous_id.as_ref() == Some(&manifest.save_id);
        let read = |name: &str| read_matching(dir, name, &manifest, device, Values::AsWritten, last);
        let weights = if want_weights { read(WEIGHTS_FILE)? } else { Some(HashMap::new()) };
        let ema = if want_ema && manifest.has_ema { read(EMA_FILE)? } else { Some(HashMap::new()) };
        let (Some(weights), Some(ema)) = (weights, ema) else {
            (attempt, previous_id) = (attempt + 1, Some(manifest.save_id.clone()));
            continue;
        };
        let ema = (want_ema && manifest.has_ema).then_some(ema);
        return Ok((manifest, want_weights.then_some(weights), ema));
    }
}

/// The tensors of the file `name` that belong to `manifest`'s save: the file in place, or its
/// `.prev` copy (from an interrupted save). None if neither does; an error instead when `last`.
fn read_matching(
    dir: &Path,
    name: &str,
    manifest: &Manifest,
    device: &Device,
    values: Values,
    last: bool,
) -> Result<Option<TensorMap>> {
    let main = dir.join(name);
    let ours = |header: &tensor_file::Header| header.save_id.as_deref() == Some(&manifest.save_id);
    let (path, header, bytes) = match tensor_file::read(&main) {
        Ok((header, bytes)) if ours(&header) => (main, header, bytes),
        in_place => {
            let prev = prev_path(dir, name);
            match tensor_file::read(&prev) {
                Ok((header, bytes)) if ours(&header) => (prev, header, bytes),
                _ => return stale(in_place.map(|(h, _)| h), &main, manifest, last),
            }
        }
    };
    let specs = |shapes: &BTreeMap<String, Vec<usize>>| {
        shapes.iter().map(|(n, s)| (n.clone(), fit::Spec { shape: s.clone(), dtype: None })).collect()
    };
    let problems = fit::problems(&specs(&manifest.shapes), &specs(&header.shapes), "checkpoint.json");
    if !problems.is_empty() {
        return Err(Error::format(path, format!("differs from checkpoint.json: {}", fit::report(&problems))));
    }
    tensor_file::tensors(&path, &bytes, device, values).map(Some)
}

/// Why the tensor file at `path` (whose header, or read error, is `in_place`) does not belong to
/// `manifest`'s save: None (read again) unless `last`, or the file is missing or unreadable.
fn stale(
    in_place: Result<tensor_file::Header>,
    path: &Path,
    manifest: &Manifest,
    last: bool,
) -> Result<Option<TensorMap>> {
    let message = match in_place {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let ema_only = path.file_name() != Some(std::ffi::OsStr::new(super::EMA_FILE))
                && path.with_file_name(super::EMA_FILE).is_file();
            let hint = if ema_only {
                " (the folder holds only the EMA weights, as a shipped run does: it can be sampled and \
                 evaluated, not resumed)"
            } else {
                ""
            };
            format!("missing: checkpoint.json (step {}) needs it{hint}", manifest.step)
        }
        Err(e) => return Err(e),
        Ok(_) if !last => return Ok(None),
        Ok(tensor_file::Header { save_id: None, .. }) => {
            "its metadata has no ddpm_save_id: it was not written by ddpm::checkpoint::save".into()
        }
        Ok(tensor_file::Header { save_id: Some(id), .. }) => format!(
            "comes from another save (id {id}) than checkpoint.json (id {}, step {}): the folder \
             was saved to since checkpoint.json was read (read it again), or changed by hand",
            manifest.save_id, manifest.step
        ),
    };
    Err(Error::format(path, message))
}
