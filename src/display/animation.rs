//! Pictures that move: a sequence of figures as one animated PNG (APNG), the format browsers,
//! JupyterLab and nbconvert's HTML play as an ordinary `image/png`, so no plugin is needed.

use crate::{Error, Result};

use super::Figure;

/// The frames of an animation as one animated PNG that loops forever: an `acTL` chunk (the
/// number of frames) and, per frame, an `fcTL` chunk (its delay, `delay_ms`) followed by its
/// pixels (APNG specification, W3C PNG Third Edition, section 11.3.6). Every frame must be a
/// PNG figure (an image grid, a plot rendered with `to_png`) of one size.
///
/// A viewer that knows only plain PNG shows the first frame.
///
/// ```
/// use ddpm::display::{animation, picture};
/// use ddpm::ndarray::Array3;
/// let frames: Vec<_> = [-1.0, 0.0, 1.0].iter().map(|&v| picture(&Array3::from_elem((1, 4, 4), v), 1)).collect::<Result<_, _>>()?;
/// let apng = animation(&frames, 100)?;
/// let bytes = apng.png().unwrap();
/// assert!(bytes.windows(4).any(|w| w == b"acTL"));
/// assert_eq!(bytes.windows(4).filter(|w| *w == b"fcTL").count(), 3);
/// # Ok::<(), ddpm::Error>(())
/// ```
pub fn animation(frames: &[Figure], delay_ms: u16) -> Result<Figure> {
    if frames.is_empty() {
        return Err(invalid!("an animation needs at least one frame, got 0"));
    }
    let mut pixels: Vec<image::RgbImage> = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        let png = match f.png() {
            Some(png) => png,
            None => return Err(invalid!("frame {i} has no PNG (an SVG plot): render it with to_png(width, height)")),
        };
        let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .map_err(|e| Error::Draw(format!("frame {i}: PNG decoding failed: {e}")))?
            .to_rgb8();
        if img.dimensions() != f.size() || (i > 0 && img.dimensions() != pixels[0].dimensions()) {
            return Err(invalid!(
                "every frame must have the size of the first, {:?}; frame {i} is {:?}",
                pixels.first().map_or(img.dimensions(), |p| p.dimensions()),
                img.dimensions()
            ));
        }
        pixels.push(img);
    }
    let (width, height) = pixels[0].dimensions();
    let draw = |e: png::EncodingError| Error::Draw(format!("APNG encoding failed: {e}"));
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // 0 plays: loop forever.
        encoder.set_animated(pixels.len() as u32, 0).map_err(draw)?;
        encoder.set_frame_delay(delay_ms, 1000).map_err(draw)?;
        let mut writer = encoder.write_header().map_err(draw)?;
        for img in &pixels {
            writer.write_image_data(img.as_raw()).map_err(draw)?;
        }
        writer.finish().map_err(draw)?;
    }
    Ok(Figure::from_png(bytes, (width, height)))
}
