//! A photograph (JPEG or PNG) as a (C, H, W) array in [-1, 1], to show the forward process on
//! a real picture (note 000, Figure 1). Two photographs ship in `data/photos/`: `china.jpg`
//! and `flower.jpg`, 640 x 427, from scikit-learn's sample images (see `data/README.md`).

use super::scale::pixel_to_unit;
use crate::{Error, Result};
use image::imageops::FilterType;
use image::{DynamicImage, ImageReader};
use ndarray::Array3;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The photographs in `data/photos/`, by name (`NAME.jpg`).
pub const PHOTO_NAMES: [&str; 2] = ["china", "flower"];

/// The largest width or height [`load_photo`] resizes to, so that a typo such as
/// `(6400, 6400)` is an error rather than gigabytes of memory.
pub const MAX_RESIZE: u32 = 4096;

/// The channels of a loaded photograph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Color {
    /// One channel: the luma $Y' = 0.2126 R' + 0.7152 G' + 0.0722 B'$ (ITU-R BT.709
    /// coefficients on the gamma-encoded values, as the `image` crate's `to_luma8`).
    Grey,
    /// Three channels: red, green, blue.
    Rgb,
}

impl Color {
    /// The number of channels: 1 for grey, 3 for RGB.
    pub fn channels(self) -> usize {
        match self {
            Color::Grey => 1,
            Color::Rgb => 3,
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Color::Grey => "grey",
            Color::Rgb => "rgb",
        })
    }
}

impl FromStr for Color {
    type Err = Error;

    /// `"grey"` (or `"gray"`) or `"rgb"`.
    fn from_str(s: &str) -> Result<Color> {
        match s {
            "grey" | "gray" => Ok(Color::Grey),
            "rgb" => Ok(Color::Rgb),
            other => Err(invalid!("color must be \"grey\" or \"rgb\", got {other:?}")),
        }
    }
}

/// Loads a JPEG or PNG photograph as an array shaped (C, H, W) with values in [-1, 1]
/// ($x = p / 127.5 - 1$, Ho et al. 2020, Section 3.3); C is 1 for [`Color::Grey`] and 3 for
/// [`Color::Rgb`]. The format is recognised from the file's contents, not its extension.
///
/// `resize`, when given, is `(width, height)` (each in 1..=[`MAX_RESIZE`]): the picture is
/// resized to exactly that size with a Lanczos-3 filter (aspect ratio not kept), on the 8-bit
/// pixels before scaling, so values stay in [-1, 1].
///
/// ```
/// use ddpm::data::{load_photo, photo_path, Color};
/// let x = load_photo(photo_path("china")?, Color::Grey, Some((32, 24)))?;
/// assert_eq!(x.shape(), &[1, 24, 32]);
/// # Ok::<(), ddpm::Error>(())
/// ```
pub fn load_photo(path: impl AsRef<Path>, color: Color, resize: Option<(u32, u32)>) -> Result<Array3<f64>> {
    let path = path.as_ref();
    if let Some((width, height)) = resize {
        for (name, value) in [("width", width), ("height", height)] {
            if !(1..=MAX_RESIZE).contains(&value) {
                return Err(invalid!("resize {name} must be in 1..={MAX_RESIZE}, got {value}"));
            }
        }
    }
    let reader = ImageReader::open(path).and_then(|r| r.with_guessed_format()).map_err(|e| Error::io(path, e))?;
    // The file opened: any failure now is in its contents (not an image, truncated, ...).
    let mut img: DynamicImage = reader.decode().map_err(|e| {
        let reason = e.to_string();
        Error::format(path, format!("could not decode as a JPEG or PNG image: {}", reason.trim_end()))
    })?;
    if let Some((width, height)) = resize {
        img = img.resize_exact(width, height, FilterType::Lanczos3);
    }
    let (width, height) = (img.width() as usize, img.height() as usize);
    // The decoded pixels are row-major, channel-last: (H, W, C) -> (C, H, W).
    let (channels, raw) = match color {
        Color::Grey => (1, img.into_luma8().into_raw()),
        Color::Rgb => (3, img.into_rgb8().into_raw()),
    };
    Ok(Array3::from_shape_fn((channels, height, width), |(c, y, x)| pixel_to_unit(raw[(y * width + x) * channels + c])))
}

/// The path of a bundled photograph, `"china"` or `"flower"`: `DATA/photos/NAME.jpg` in the
/// project's data folder ([`super::default_data_dir`]).
pub fn photo_path(name: &str) -> Result<PathBuf> {
    if !PHOTO_NAMES.contains(&name) {
        return Err(invalid!("photo name must be one of {PHOTO_NAMES:?}, got {name:?}"));
    }
    Ok(super::default_data_dir()?.join("photos").join(format!("{name}.jpg")))
}
