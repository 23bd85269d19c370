//! Loading: the files of the save that checkpoint.json names, and checkpoint.json itself.

use super::{
    fit, save::prev_path, tensor_file, Checkpoint, Manifest, TensorMap, EMA_FILE, FORMAT_VERSION, META_FILE,
    WEIGHTS_FILE,
};
use crate::{Error, Result};
use candle_core::Device;
use serde::de::{self, DeserializeSeed, Visitor};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// [`super::load`], reading the weights and the EMA file only if asked.
pub(super) fn load_some(
    dir: &Path,
    device: &Device,
    want_weights: bool,
    want_ema: bool,
) -> Result<(Checkpoint, Option<TensorMap>, Option<TensorMap>)> {
    // A save running beside us may commit between our reading checkpoint.json and a tensor
    // file, which then belongs to the newer save: read again while checkpoint.json changes.
    const ATTEMPTS: usize = 5;
    let (mut attempt, mut previous_id) = (1, None);
    loop {
        let manifest = read_manifest(dir)?
            .ok_or_else(|| Error::format(dir.join(META_FILE), "missing: this folder holds no checkpoint"))?;
        let last = attempt == ATTEMPTS || previous_id.as_ref() == Some(&manifest.save_id);
        let read = |name: &str| read_matching(dir, name, &manifest, device, last);
        let weights = if want_weights { read(WEIGHTS_FILE)? } else { Some(HashMap::new()) };
        let ema = if want_ema && manifest.has_ema { read(EMA_FILE)? } else { Some(HashMap::new()) };
        let (Some(weights), Some(ema)) = (weights, ema) else {
            (attempt, previous_id) = (attempt + 1, Some(manifest.save_id));
            continue;
        };
        let meta =
            Checkpoint { step: manifest.step, seed: manifest.seed, model: manifest.model, training: manifest.training };
        let ema = (want_ema && manifest.has_ema).then_some(ema);
        return Ok((meta, want_weights.then_some(weights), ema));
    }
}

/// The tensors of the file `name` that belong to `manifest`'s save: the file in place, or its
/// `.prev` copy (from an interrupted save). None if neither does; an error instead when `last`.
fn read_matching(
    dir: &Path,
    name: &str,
    manifest: &Manifest,
    device: &Device,
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
    tensor_file::tensors(&path, &bytes, device).map(Some)
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
            format!("missing: checkpoint.json (step {}) needs it", manifest.step)
        }
        Err(e) => return Err(e),
        Ok(_) if !last => return Ok(None),
        Ok(tensor_file::Header { save_id: None, .. }) => {
            "its metadata has no ddpm_save_id: it was not written by ddpm::checkpoint::save".into()
        }
        Ok(tensor_file::Header { save_id: Some(id), .. }) => format!(
            "comes from another save (id {id}) than checkpoint.json (id {}, step {}): was the \
             folder changed by hand?",
            manifest.save_id, manifest.step
        ),
    };
    Err(Error::format(path, message))
}

/// checkpoint.json of `dir`, None if there is none; an error if it is damaged or too new.
pub(super) fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(META_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let value =
        exact_json(&bytes).map_err(|e| Error::format(&path, format!("not valid JSON ({e}): a damaged file?")))?;
    let Some(version) = value.get("format_version").and_then(Value::as_u64) else {
        return Err(Error::format(&path, "no format_version: not a ddpm checkpoint"));
    };
    if version > u64::from(FORMAT_VERSION) {
        return Err(Error::format(
            &path,
            format!(
                "format version {version} is newer than this ddpm reads (up to \
                 {FORMAT_VERSION}): upgrade ddpm"
            ),
        ));
    }
    let manifest =
        serde_json::from_value(value).map_err(|e| Error::format(&path, format!("not a ddpm checkpoint: {e}")))?;
    Ok(Some(manifest))
}

/// JSON text parsed to a [`Value`] whose floats are exactly those written.
///
/// serde_json without its `float_roundtrip` feature may parse a float one ULP off (about a
/// third of random f64 values, e.g. `0.30000000000000004`); std's `str::parse` is correctly
/// rounded. So each float's text is parsed by std: the number tokens of the text, in order,
/// are matched with the numbers serde_json's deserializer visits, in the same order.
fn exact_json(bytes: &[u8]) -> std::result::Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let tokens = RefCell::new(number_tokens(text).into_iter());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Exact(&tokens).deserialize(&mut deserializer).map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// The number tokens of JSON `text`, in order, skipping strings (`true`, `false` and `null`
/// start with no digit or '-', so they are skipped too).
fn number_tokens(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let (mut tokens, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                tokens.push(&text[start..i]);
            }
            _ => i += 1,
        }
    }
    tokens
}

/// Builds a [`Value`] as serde_json visits the text, taking each number's token as it goes.
struct Exact<'t, 'a>(&'t RefCell<std::vec::IntoIter<&'a str>>);

impl<'de> DeserializeSeed<'de> for Exact<'_, '_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Exact<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        self.0.borrow_mut().next();
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        self.0.borrow_mut().next();
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        let token = self.0.borrow_mut().next();
        let exact = token.and_then(|t| t.parse::<f64>().ok());
        // The token is this number's unless the two sequences fell out of step (they cannot in
        // valid JSON); then serde_json's own value stands.
        let exact = exact.filter(|x| (x - v).abs() <= v.abs() * 1e-14).unwrap_or(v);
        Ok(serde_json::Number::from_f64(exact).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Exact(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Exact(self.0))?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}
