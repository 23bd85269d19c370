//! Images as arrays: an image is an `ndarray::Array3<f64>` shaped (C, H, W), with C = 1 (grey)
//! or 3 (RGB) and values on the model's scale \[-1, 1\]. This file converts them to and from
//! 8-bit pixels and checks them before drawing.

use ndarray::Array3;

use crate::Result;

/// Maps a value on the model's scale to an 8-bit pixel: -1 -> 0, 1 -> 255, linearly, rounded,
/// values outside \[-1, 1\] clamped (NaN gives 0; the renderers reject NaN before this).
///
/// $$p = \mathrm{round}\big(\mathrm{clamp}(127.5\,(v + 1),\ 0,\ 255)\big)$$
///
/// ```
/// use ddpm::display::pixel_u8;
/// assert_eq!((pixel_u8(-1.0), pixel_u8(0.0), pixel_u8(1.0)), (0, 128, 255));
/// assert_eq!((pixel_u8(-3.0), pixel_u8(7.0)), (0, 255));
/// ```
pub fn pixel_u8(v: f64) -> u8 {
    if v.is_nan() {
        0
    } else {
        (127.5 * (v + 1.0)).clamp(0.0, 255.0).round() as u8
    }
}

/// Converts a (C, H, W) image with values in \[-1, 1\] to an RGB image (grey repeated in the
/// three channels), mapping each value with [`pixel_u8`].
///
/// ```
/// let x = ndarray::Array3::<f64>::from_elem((1, 2, 3), 1.0);
/// let img = ddpm::display::to_rgb8(&x).unwrap();
/// assert_eq!(img.dimensions(), (3, 2));
/// assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
/// ```
pub fn to_rgb8(image: &Array3<f64>) -> Result<image::RgbImage> {
    let (c, h, w) = check_images([image].into_iter(), |_| "image".into())?;
    let mut out = image::RgbImage::new(w as u32, h as u32);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (y, x) = (y as usize, x as usize);
        px.0 = if c == 1 { [pixel_u8(image[[0, y, x]]); 3] } else { [0, 1, 2].map(|ch| pixel_u8(image[[ch, y, x]])) };
    }
    Ok(out)
}

/// Converts an 8-bit RGB image to a (3, H, W) array on the model's scale: 0 -> -1, 255 -> 1.
pub fn from_rgb8(image: &image::RgbImage) -> Array3<f64> {
    let (w, h) = image.dimensions();
    Array3::from_shape_fn((3, h as usize, w as usize), |(c, y, x)| unit(image.get_pixel(x as u32, y as u32).0[c]))
}

/// Converts an 8-bit grey image to a (1, H, W) array on the model's scale: 0 -> -1, 255 -> 1.
pub fn from_luma8(image: &image::GrayImage) -> Array3<f64> {
    let (w, h) = image.dimensions();
    Array3::from_shape_fn((1, h as usize, w as usize), |(_, y, x)| unit(image.get_pixel(x as u32, y as u32).0[0]))
}

/// 0..=255 -> \[-1, 1\].
fn unit(p: u8) -> f64 {
    f64::from(p) / 127.5 - 1.0
}

/// Checks images before drawing them together: at least one, C in {1, 3}, H and W at least 1,
/// every shape equal to the first one's, no NaN. `name(i)` names image i in the messages
/// ("image 3", "row \"cosine\", image 2"). Returns the common (C, H, W).
pub(crate) fn check_images<'a>(
    images: impl Iterator<Item = &'a Array3<f64>>,
    name: impl Fn(usize) -> String,
) -> Result<(usize, usize, usize)> {
    let mut first: Option<(usize, usize, usize)> = None;
    for (i, img) in images.enumerate() {
        let shape = img.dim();
        let (c, h, w) = shape;
        match first {
            None => {
                if c != 1 && c != 3 {
                    return Err(invalid!(
                        "{} has {c} channels (shape ({c}, {h}, {w})); allowed: 1 (grey) or 3 (RGB), \
                         shaped (C, H, W)",
                        name(i)
                    ));
                }
                if h == 0 || w == 0 {
                    return Err(invalid!("{} is empty: shape ({c}, {h}, {w}); H and W must be at least 1", name(i)));
                }
                first = Some(shape);
            }
            Some(s) if s != shape => {
                return Err(invalid!(
                    "{} has shape {shape:?} but {} has {s:?}; all images must have the same (C, H, W)",
                    name(i),
                    name(0)
                ))
            }
            Some(_) => {}
        }
        if let Some(((ch, y, x), _)) = img.indexed_iter().find(|(_, v)| v.is_nan()) {
            return Err(invalid!(
                "{} contains NaN at (c, y, x) = ({ch}, {y}, {x}); pixel values must be numbers",
                name(i)
            ));
        }
    }
    match first {
        Some(shape) => Ok(shape),
        None => Err(invalid!("need at least one image, got 0")),
    }
}
