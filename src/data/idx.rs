//! The IDX file format of the MNIST database, read with every length checked.
//!
//! The format, as described on the MNIST page (LeCun, Cortes and Burges,
//! <http://yann.lecun.com/exdb/mnist/>, "File formats for the MNIST database"):
//!
//! ```text
//! offset  type            value
//! 0       2 bytes         0x00 0x00
//! 2       1 byte          type code: 0x08 unsigned byte, 0x09 signed byte, 0x0B i16,
//!                         0x0C i32, 0x0D f32, 0x0E f64
//! 3       1 byte          number of dimensions d
//! 4       d x u32, MSB    the size of each dimension (big-endian)
//! 4 + 4d  ...             the data, row-major (the last dimension varies fastest)
//! ```
//!
//! So the magic number of an images file is 0x00000803 (u8 data, 3 dimensions: count, rows,
//! columns) and of a labels file 0x00000801 (u8 data, 1 dimension: count). Only u8 data is
//! read here. Files may be raw or gzip-compressed; gzip is recognised by its magic bytes
//! 0x1f 0x8b (RFC 1952, Section 2.3.1), not by the file's extension.
//!
//! The data must be exactly as long as the product of the dimensions: a truncated file and one
//! with trailing bytes are both errors, and the dimensions are checked against the file's
//! length before any buffer of that size is allocated.

use crate::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

/// Magic number of an IDX images file: u8 data (0x08), 3 dimensions (n, rows, cols).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX labels file: u8 data (0x08), 1 dimension (n).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The two magic bytes that open every gzip stream (RFC 1952, Section 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The most bytes reserved up front for a gzip file's data; beyond that the buffer grows only
/// as decompressed bytes actually arrive, so a header that promises terabytes costs nothing.
const GZIP_RESERVE_MAX: usize = 16 << 20;

/// The images of an IDX images file: `n` images of `rows` x `cols` u8 pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub n: usize,
    /// Rows (height) of each image.
    pub rows: usize,
    /// Columns (width) of each image.
    pub cols: usize,
    /// All pixels, image after image, each image row-major: `n * rows * cols` bytes.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The pixels of image `i` (row-major, `rows * cols` bytes), or `None` when `i >= n`.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let size = self.rows * self.cols;
        (i < self.n).then(|| &self.pixels[i * size..(i + 1) * size])
    }
}

/// Reads an IDX images file (magic 0x00000803), raw or gzip.
///
/// ```
/// let dir = ddpm::data::default_data_dir().unwrap();
/// let images = ddpm::data::read_idx_images(dir.join("mnist/t10k-images-idx3-ubyte.gz")).unwrap();
/// assert_eq!((images.n, images.rows, images.cols), (10_000, 28, 28));
/// ```
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages> {
    let (dims, pixels) = read_idx_u8(path.as_ref(), IMAGES_MAGIC)?;
    Ok(IdxImages { n: dims[0], rows: dims[1], cols: dims[2], pixels })
}

/// Reads an IDX labels file (magic 0x00000801), raw or gzip: one u8 per item. The values are
/// not checked here (MNIST's 0..=9 is checked by [`crate::data::Mnist`]).
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let (_, labels) = read_idx_u8(path.as_ref(), LABELS_MAGIC)?;
    Ok(labels)
}

/// Reads an IDX file of u8 data whose magic number must be `magic`; returns its dimensions
/// and its data.
fn read_idx_u8(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut source = Source::open(path)?;
    let what = if magic == IMAGES_MAGIC { "images" } else { "labels" };

    // The magic number: 0x00 0x00, the type code, the number of dimensions.
    let head = source.read_up_to(4)?;
    if head.len() < 4 {
        return Err(source.error(format!(
            "too short to be an IDX file: expected at least 4 bytes (the magic number), found {}",
            head.len()
        )));
    }
    let found = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if head[0] != 0 || head[1] != 0 {
        return Err(source.error(format!(
            "bad magic number 0x{found:08x}: an IDX file starts with two zero bytes \
             (expected 0x{magic:08x} for an {what} file)"
        )));
    }
    if head[2] != 0x08 {
        return Err(source.error(format!(
            "unsupported IDX type code 0x{:02x} ({}) in magic number 0x{found:08x}: \
             only 0x08 (unsigned byte) is supported",
            head[2],
            type_name(head[2])
        )));
    }
    let ndims = (magic & 0xff) as usize;
    if head[3] as usize != ndims {
        return Err(source.error(format!(
            "magic number 0x{found:08x} says {} dimension(s), but an IDX {what} file has {ndims} \
             (magic 0x{magic:08x})",
            head[3]
        )));
    }

    // The dimensions: ndims big-endian u32, each at least 1.
    let raw_dims = source.read_up_to(4 * ndims)?;
    if raw_dims.len() < 4 * ndims {
        return Err(source.error(format!(
            "truncated header: expected {} bytes for {ndims} dimension(s), found {}",
            4 * ndims,
            raw_dims.len()
        )));
    }
    let dims: Vec<usize> =
        raw_dims.chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize).collect();
    let shape = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" x ");
    if let Some(axis) = dims.iter().position(|&d| d == 0) {
        return Err(
            source.error(format!("dimension {axis} is 0 (dimensions {shape}): every dimension must be at least 1"))
        );
    }
    // At most three u32 factors: the product always fits in a u128.
    let expected: u128 = dims.iter().map(|&d| d as u128).product();

    // The data: exactly `expected` bytes, checked against the file before allocating.
    let data = source.read_exact_data(expected, &shape)?;
    Ok((dims, data))
}

/// Name of an IDX type code, for error messages.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "16-bit integer",
        0x0C => "32-bit integer",
        0x0D => "32-bit float",
        0x0E => "64-bit float",
        _ => "not an IDX type",
    }
}

/// An IDX file being read: raw (its length known) or gzip (its length known only by reading).
struct Source {
    path: PathBuf,
    reader: Box<dyn Read>,
    /// For a raw file, the bytes not yet read; `None` for gzip.
    raw_left: Option<u64>,
}

impl Source {
    /// Opens `path`, deciding raw or gzip from its first two bytes.
    fn open(path: &Path) -> Result<Source> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut prefix = Vec::with_capacity(2);
        (&mut file).take(2).read_to_end(&mut prefix).map_err(|e| Error::io(path, e))?;
        let is_gzip = prefix == GZIP_MAGIC;
        let chained = Cursor::new(prefix).chain(file);
        let (reader, raw_left): (Box<dyn Read>, _) = if is_gzip {
            (Box::new(MultiGzDecoder::new(BufReader::new(chained))), None)
        } else {
            (Box::new(BufReader::new(chained)), Some(len))
        };
        Ok(Source { path: path.to_path_buf(), reader, raw_left })
    }

    /// A format error for this file.
    fn error(&self, message: String) -> Error {
        Error::format(&self.path, message)
    }

    /// A read error: for gzip a decoding failure is a format error ("corrupted"), for a raw
    /// file an I/O error.
    fn read_error(&self, e: io::Error) -> Error {
        match self.raw_left {
            None => self.error(format!("corrupted or truncated gzip stream: {e}")),
            Some(_) => Error::io(&self.path, e),
        }
    }

    /// Reads up to `n` bytes (fewer only at the end of the data).
    fn read_up_to(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(n);
        let got = (&mut self.reader).take(n as u64).read_to_end(&mut buf);
        got.map_err(|e| self.read_error(e))?;
        if let Some(left) = self.raw_left.as_mut() {
            *left -= buf.len() as u64;
        }
        Ok(buf)
    }

    /// Reads exactly `expected` bytes and checks that nothing follows them.
    fn read_exact_data(&mut self, expected: u128, shape: &str) -> Result<Vec<u8>> {
        let truncated =
            |found: u128| format!("truncated: the header promises {shape} = {expected} data bytes, found {found}");
        let trailing = |extra: u128| {
            format!(
                "{extra} trailing byte(s) after the data: the header promises {shape} = \
                 {expected} data bytes, found {}",
                expected + extra
            )
        };
        if let Some(left) = self.raw_left {
            let left = left as u128;
            if left < expected {
                return Err(self.error(truncated(left)));
            }
            if left > expected {
                return Err(self.error(trailing(left - expected)));
            }
        }
        let Ok(expected) = usize::try_from(expected) else {
            return Err(self.error(format!(
                "the header promises {shape} = {expected} data bytes, more than this machine \
                 can address"
            )));
        };
        let reserve = if self.raw_left.is_some() { expected } else { expected.min(GZIP_RESERVE_MAX) };
        let mut data = Vec::with_capacity(reserve);
        // One byte more than expected, to see whether anything follows the data.
        let got = (&mut self.reader).take(expected as u64 + 1).read_to_end(&mut data);
        got.map_err(|e| self.read_error(e))?;
        if data.len() < expected {
            return Err(self.error(truncated(data.len() as u128)));
        }
        if data.len() > expected {
            // Count the rest without keeping it.
            let rest = io::copy(&mut self.reader, &mut io::sink()).map_err(|e| self.read_error(e))?;
            return Err(self.error(trailing(1 + rest as u128)));
        }
        Ok(data)
    }
}
