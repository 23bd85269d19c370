//! checkpoint.json, the manifest of a save: its layout, reading it with exact floats, and the
//! names of the files a save writes beside it. Both `read` and `save` stand on this module.

use super::{Checkpoint, FORMAT_VERSION, META_FILE};
use crate::{Error, Result};
use serde::de::{self, DeserializeSeed, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// checkpoint.json as written on disk: what a checkpoint says about its run, which save wrote
/// its tensor files, and their shapes. Read once by [`Manifest::read`]; the tensors of that
/// save are then read with [`super::read_weights`] and [`super::read_ema`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub(super) format_version: u32,
    /// Also in the metadata of this save's tensor files: how a reader knows they belong together.
    pub(super) save_id: String,
    pub(super) step: u64,
    pub(super) seed: u64,
    pub(super) model: Value,
    pub(super) training: Value,
    pub(super) has_ema: bool,
    /// Every tensor's shape, by name (the EMA has the same).
    pub(super) shapes: BTreeMap<String, Vec<usize>>,
}

impl Manifest {
    /// checkpoint.json of the folder `dir`; None if there is none (no folder, or no file in it),
    /// an error naming the file if it is damaged or written by a newer ddpm.
    pub fn read(dir: impl AsRef<Path>) -> Result<Option<Manifest>> {
        read_manifest(dir.as_ref())
    }

    /// Training steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Whether the save holds an EMA of the weights.
    pub fn has_ema(&self) -> bool {
        self.has_ema
    }

    /// Every tensor's shape, by name.
    pub fn shapes(&self) -> &BTreeMap<String, Vec<usize>> {
        &self.shapes
    }

    /// The checkpoint's metadata: step, seed, model and training configs.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { step: self.step, seed: self.seed, model: self.model.clone(), training: self.training.clone() }
    }
}

/// `.NAME.tmp-PID`: where `NAME` is written before it is renamed into place.
pub(super) fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.tmp-{}", std::process::id()))
}

/// `.NAME.prev`: where the previous `NAME` waits until the new checkpoint.json is in place.
pub(super) fn prev_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.prev"))
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
