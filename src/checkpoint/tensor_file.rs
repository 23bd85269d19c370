//! One safetensors file, written and read with the `safetensors` crate
//! (<https://github.com/huggingface/safetensors>, README "Format"):
//!
//! ```text
//! offset  size  value
//! 0       8     N, the header's length in bytes, u64 little-endian
//! 8       N     a JSON object: "__metadata__": {string: string} (optional), and for each tensor
//!               "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}
//! 8 + N   ...   the tensors' bytes, little-endian, row-major; offsets count from here
//! ```
//!
//! The crate checks the header (offsets in order, sizes that fit the shapes); this module checks
//! the lengths first, so that a truncated or padded file gets an error that says so, and
//! reads the save id from `__metadata__`.

use crate::{Error, Result};
use candle_core::safetensors::Load as _;
use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, Metadata, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// The longest header the crate accepts (safetensors' `MAX_HEADER_SIZE`).
const MAX_HEADER_LEN: u64 = 100_000_000;

/// What the header of a file says.
pub(super) struct Header {
    /// `__metadata__["ddpm_save_id"]`, absent from files that `save` did not write.
    pub save_id: Option<String>,
    /// Every tensor's shape, by name.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Every string of `__metadata__` (the save id included).
    pub metadata: BTreeMap<String, String>,
}

/// A tensor's bytes, copied out of candle (from the GPU if need be) before the crate sees them,
/// so that a failed copy is an error rather than a panic inside `View::data`.
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// The safetensors dtype of a candle dtype, or an error for the few a checkpoint does not hold.
fn dtype_of(name: &str, dtype: DType) -> Result<Dtype> {
    Ok(match dtype {
        DType::U8 => Dtype::U8,
        DType::U32 => Dtype::U32,
        DType::I16 => Dtype::I16,
        DType::I32 => Dtype::I32,
        DType::I64 => Dtype::I64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        other => {
            return Err(invalid!(
                "tensor `{name}` is {}: a checkpoint holds u8, u32, i16, i32, i64, f16, bf16, f32 \
             or f64 tensors",
                other.as_str()
            ))
        }
    })
}

/// The bytes of a safetensors file holding `tensors` and the strings `metadata`.
pub(super) fn encode(tensors: &BTreeMap<String, Tensor>, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let dtype = dtype_of(name, tensor.dtype())?;
        let mut data = Vec::with_capacity(tensor.elem_count() * tensor.dtype().size_in_bytes());
        tensor.write_bytes(&mut data)?;
        views.push((name.as_str(), Bytes { dtype, shape: tensor.dims().to_vec(), data }));
    }
    let info: HashMap<String, String> = metadata.clone().into_iter().collect();
    safetensors::serialize(views.iter().map(|(name, bytes)| (*name, bytes)), Some(info))
        .map_err(|e| Error::Internal(format!("cannot encode a safetensors file: {e}")))
}

/// The header's length N from the first 8 bytes, checked against the file's length.
fn header_len(path: &Path, first: &[u8], file_len: u64) -> Result<u64> {
    let Some(len_bytes) = first.get(..8) else {
        return Err(Error::format(
            path,
            format!("truncated: {file_len} bytes, but a safetensors file opens with an 8-byte header length"),
        ));
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(len_bytes);
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER_LEN {
        return Err(Error::format(
            path,
            format!(
                "header length {n} is over safetensors' limit of {MAX_HEADER_LEN} bytes: not a safetensors file, \
                 or a corrupt one"
            ),
        ));
    }
    if 8 + n > file_len {
        return Err(Error::format(
            path,
            format!(
                "truncated: the header needs {n} bytes after its 8-byte length, the file has {} more",
                file_len - 8
            ),
        ));
    }
    Ok(n)
}

/// Parses the header `json` of a file of `file_len` bytes whose header is `n` bytes long.
fn parse_header(path: &Path, json: &[u8], n: u64, file_len: u64) -> Result<Header> {
    let bad = |message: String| Error::format(path, message);
    let metadata: Metadata = serde_json::from_slice(json)
        .map_err(|e| bad(format!("the header is not a valid safetensors header ({e}): corrupt file")))?;
    let expected = (8 + n).saturating_add(metadata.data_len() as u64);
    if expected > file_len {
        return Err(bad(format!(
            "truncated: the tensor data should end at byte {expected}, the file has {file_len} bytes"
        )));
    }
    if expected < file_len {
        return Err(bad(format!("{} bytes after the end of the tensor data: corrupt file", file_len - expected)));
    }
    let shapes = metadata.tensors().into_iter().map(|(name, info)| (name, info.shape.clone())).collect();
    let strings: BTreeMap<String, String> =
        metadata.metadata().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    let save_id = strings.get("ddpm_save_id").cloned();
    Ok(Header { save_id, shapes, metadata: strings })
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

/// Whether the values must be finite when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Values {
    /// Every bit as written (NaN payloads and infinities included): a storage round trip.
    AsWritten,
    /// Refuse a float tensor holding NaN or infinity ([`Error::NotFinite`]): weights to build a
    /// network from, whose every output would be NaN.
    Finite,
}

/// The tensors of a file's `bytes` (from [`read`]), on `device`.
pub(super) fn tensors(path: &Path, bytes: &[u8], device: &Device, values: Values) -> Result<HashMap<String, Tensor>> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let mut views = file.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    if values == Values::Finite {
        for (name, view) in &views {
            let count = non_finite(view.dtype(), view.data());
            if count > 0 {
                return Err(Error::NotFinite { path: path.to_path_buf(), tensor: name.clone(), count });
            }
        }
    }
    views
        .into_iter()
        .map(|(name, view)| {
            let tensor =
                view.load(device).map_err(|e| Error::format(path, format!("cannot read tensor `{name}`: {e}")))?;
            Ok((name, tensor))
        })
        .collect()
}

/// How many of the little-endian values in `data` are NaN or infinite (0 for integer dtypes):
/// those whose exponent bits are all ones.
fn non_finite(dtype: Dtype, data: &[u8]) -> usize {
    fn count<const N: usize>(data: &[u8], exponent: u64) -> usize {
        let bits = |c: &[u8]| c.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        data.chunks_exact(N).filter(|c| bits(c) & exponent == exponent).count()
    }
    match dtype {
        Dtype::F16 => count::<2>(data, 0x7c00),
        Dtype::BF16 => count::<2>(data, 0x7f80),
        Dtype::F32 => count::<4>(data, 0x7f80_0000),
        Dtype::F64 => count::<8>(data, 0x7ff0_0000_0000_0000),
        _ => 0,
    }
}
