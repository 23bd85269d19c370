//! One safetensors file: written by hand, read with every length checked before candle sees it.
//!
//! The format (<https://github.com/huggingface/safetensors>, README "Format"):
//!
//! ```text
//! offset  size  value
//! 0       8     N, the header's length in bytes, u64 little-endian
//! 8       N     a JSON object: "__metadata__": {string: string} (optional), and for each tensor
//!               "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}
//! 8 + N   ...   the tensors' bytes, little-endian, row-major; offsets count from here
//! ```
//!
//! The header is padded with spaces to a multiple of 8 bytes, as the reference writer does, so
//! that the data starts aligned. Our own writer (rather than `candle_core::safetensors::save`)
//! is what lets the header carry the save id in `__metadata__`.

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// The longest header the reference implementation accepts (safetensors' `MAX_HEADER_SIZE`).
const MAX_HEADER_LEN: u64 = 100_000_000;
/// The key of the header's free-form string map.
const METADATA_KEY: &str = "__metadata__";

/// A file's bytes, ready to write: the length and padded header, then the tensor data.
pub(super) struct Encoded {
    pub head: Vec<u8>,
    pub data: Vec<u8>,
}

/// What the header of a file says.
pub(super) struct Header {
    /// `__metadata__["ddpm_save_id"]`, absent from files that `save` did not write.
    pub save_id: Option<String>,
    /// Every tensor's shape, by name.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Every string of `__metadata__` (the save id included).
    pub metadata: BTreeMap<String, String>,
}

/// The name safetensors gives a dtype, or an error for the few candle types it cannot hold.
fn dtype_name(name: &str, dtype: DType) -> Result<&'static str> {
    Ok(match dtype {
        DType::U8 => "U8",
        DType::U32 => "U32",
        DType::I16 => "I16",
        DType::I32 => "I32",
        DType::I64 => "I64",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::F32 => "F32",
        DType::F64 => "F64",
        other => invalid!(
            "tensor `{name}` is {}: a checkpoint holds u8, u32, i16, i32, i64, f16, bf16, f32 \
             or f64 tensors",
            other.as_str()
        ),
    })
}

/// The bytes of a safetensors file holding `tensors` (names in sorted order) and `metadata`.
pub(super) fn encode(tensors: &BTreeMap<String, Tensor>, metadata: &BTreeMap<String, String>) -> Result<Encoded> {
    let mut header = serde_json::Map::new();
    header.insert(METADATA_KEY.into(), serde_json::json!(metadata));
    let mut data = Vec::new();
    for (name, tensor) in tensors {
        let dtype = dtype_name(name, tensor.dtype())?;
        let begin = data.len();
        // Little-endian bytes of the row-major elements, copied from the GPU if need be.
        tensor.write_bytes(&mut data)?;
        let info = serde_json::json!({
            "dtype": dtype, "shape": tensor.dims(), "data_offsets": [begin, data.len()],
        });
        header.insert(name.clone(), info);
    }
    let mut json =
        serde_json::to_vec(&header).map_err(|e| Error::Invalid(format!("cannot encode a safetensors header: {e}")))?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut head = Vec::with_capacity(8 + json.len());
    head.extend_from_slice(&(json.len() as u64).to_le_bytes());
    head.extend_from_slice(&json);
    Ok(Encoded { head, data })
}

/// The header's length N from the first 8 bytes, checked against the file's length.
fn header_len(path: &Path, first: &[u8], file_len: u64) -> Result<u64> {
    let Some(len_bytes) = first.get(..8) else {
        return Err(Error::format(
            path,
            format!(
                "truncated: {file_len} bytes, but a safetensors file opens with an 8-byte \
                 header length"
            ),
        ));
    };
    let n = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if n > MAX_HEADER_LEN {
        return Err(Error::format(
            path,
            format!(
                "header length {n} is over safetensors' limit of {MAX_HEADER_LEN} bytes: \
                 not a safetensors file, or a corrupt one"
            ),
        ));
    }
    if 8 + n > file_len {
        return Err(Error::format(
            path,
            format!(
                "truncated: the header needs {n} bytes after its 8-byte length, the file has \
                 {} more",
                file_len - 8
            ),
        ));
    }
    Ok(n)
}

/// Parses the header `json` of a file of `file_len` bytes whose header is `n` bytes long.
fn parse_header(path: &Path, json: &[u8], n: u64, file_len: u64) -> Result<Header> {
    let bad = |message: String| Error::format(path, message);
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(json)
        .map_err(|e| bad(format!("the header is not a JSON object ({e}): corrupt file")))?;
    let mut metadata = BTreeMap::new();
    let mut shapes = BTreeMap::new();
    let mut data_len: u64 = 0;
    for (name, info) in &map {
        if name == METADATA_KEY {
            let strings = info.as_object().into_iter().flatten();
            metadata = strings.filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
            continue;
        }
        let shape: Option<Vec<usize>> = info
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|dims| dims.iter().map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok())).collect());
        let end = info.get("data_offsets").and_then(|o| o.get(1)).and_then(|e| e.as_u64());
        let (Some(shape), Some(end)) = (shape, end) else {
            return Err(bad(format!(
                "the header's entry for tensor `{name}` has no valid shape or data_offsets: corrupt file"
            )));
        };
        data_len = data_len.max(end);
        shapes.insert(name.clone(), shape);
    }
    let expected = (8 + n).saturating_add(data_len);
    if expected > file_len {
        return Err(bad(format!(
            "truncated: the tensor data should end at byte {expected}, the file has {file_len} bytes"
        )));
    }
    if expected < file_len {
        return Err(bad(format!("{} bytes after the end of the tensor data: corrupt file", file_len - expected)));
    }
    let save_id = metadata.get("ddpm_save_id").cloned();
    Ok(Header { save_id, shapes, metadata })
}

/// Reads only the header of the file at `path` (a few kilobytes, whatever the weights' size).
pub(super) fn read_header(path: &Path) -> Result<Header> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut first = Vec::with_capacity(8);
    (&mut file).take(8).read_to_end(&mut first).map_err(|e| Error::io(path, e))?;
    let n = header_len(path, &first, file_len)?;
    let mut json = Vec::with_capacity(n as usize);
    file.take(n).read_to_end(&mut json).map_err(|e| Error::io(path, e))?;
    parse_header(path, &json, n, file_len)
}

/// The whole file at `path`, and its header.
///
/// The file is read into memory rather than memory-mapped, so a file that another program
/// truncates or replaces while it is read gives an error or the old contents, never a crash.
pub(super) fn read(path: &Path) -> Result<(Header, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let n = header_len(path, &bytes, bytes.len() as u64)?;
    let header = parse_header(path, &bytes[8..8 + n as usize], n, bytes.len() as u64)?;
    Ok((header, bytes))
}

/// The tensors of a file's `bytes` (from [`read`]), on `device`.
pub(super) fn tensors(path: &Path, bytes: &[u8], device: &Device) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, device)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))
}
