//! Writing arrays as NumPy `.npy` files (format version 1.0), so that samples can be read with
//! `numpy.load("samples.npy")`. Written atomically: a temporary file, then a rename.

use std::path::Path;

use crate::{Error, Result};

/// Writes `values` as a little-endian float32 array of `shape` (C order) to `path`.
///
/// The header is NumPy's: the magic string, version 1.0, and the dict
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (...), }` padded with spaces to a multiple
/// of 64 bytes and ended by a newline (numpy/lib/format.py).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.npy");
/// ddpm::data::npy::write_f32(&path, &[2, 3], &[0.0; 6]).unwrap();
/// let bytes = std::fs::read(&path).unwrap();
/// assert_eq!(&bytes[..6], b"\x93NUMPY");
/// // The header ends on a multiple of 64 bytes; then 6 float32 values.
/// assert_eq!((bytes.len() - 6 * 4) % 64, 0);
/// ```
pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], values: &[f32]) -> Result<()> {
    let path = path.as_ref();
    let count: usize = shape.iter().product();
    if count != values.len() {
        invalid!("an array of shape {shape:?} needs {count} values, got {}", values.len());
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // magic (6) + version (2) + header length (2) + header, a multiple of 64, ending in '\n'.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let header_len = u16::try_from(header.len())
        .map_err(|_| Error::Invalid(format!("an array of rank {} has too long an .npy header", shape.len())))?;
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * values.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    crate::atomic::write(path, &bytes)
}
