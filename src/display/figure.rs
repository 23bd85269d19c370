//! [`Figure`]: a rendered picture (SVG text and/or PNG bytes) that shows inline in a notebook
//! and saves to a file.

use std::path::Path;

use base64::Engine;

use crate::{Error, Result};

/// A rendered figure: an SVG document, PNG bytes, or both, with its size in pixels.
///
/// Plots make one with `to_svg()` or `to_png(width, height)`; image grids make PNGs.
/// A notebook cell that ends with a `Figure` shows it (through [`Figure::evcxr_display`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    svg: Option<String>,
    png: Option<Vec<u8>>,
    width: u32,
    height: u32,
}

impl Figure {
    /// A figure holding an SVG document of `width` x `height` pixels.
    pub fn from_svg(svg: String, (width, height): (u32, u32)) -> Figure {
        Figure { svg: Some(svg), png: None, width, height }
    }

    /// A figure holding PNG bytes of an image of `width` x `height` pixels.
    pub fn from_png(png: Vec<u8>, (width, height): (u32, u32)) -> Figure {
        Figure { svg: None, png: Some(png), width, height }
    }

    /// Encodes an RGB image as PNG.
    ///
    /// ```
    /// let img = image::RgbImage::from_pixel(4, 3, image::Rgb([255, 0, 0]));
    /// let fig = ddpm::display::Figure::from_rgb8(&img).unwrap();
    /// assert_eq!(fig.size(), (4, 3));
    /// assert!(fig.png().unwrap().starts_with(b"\x89PNG"));
    /// ```
    pub fn from_rgb8(image: &image::RgbImage) -> Result<Figure> {
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| Error::Draw(format!("PNG encoding failed: {e}")))?;
        Ok(Figure::from_png(png, image.dimensions()))
    }

    /// The SVG document, if this figure was rendered as SVG.
    pub fn svg(&self) -> Option<&str> {
        self.svg.as_deref()
    }

    /// The PNG bytes, if this figure was rendered as PNG.
    pub fn png(&self) -> Option<&[u8]> {
        self.png.as_deref()
    }

    /// (width, height) in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Saves the figure to `path`, as SVG or PNG by its extension (`.svg` or `.png`).
    ///
    /// Creates missing parent directories and writes atomically: a temporary file in the same
    /// directory, then a rename, so a reader never sees half a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let bytes: &[u8] = match ext.as_deref() {
            Some("svg") => match &self.svg {
                Some(svg) => svg.as_bytes(),
                None => {
                    return Err(invalid!(
                        "cannot save {} as SVG: this figure was rendered as PNG only; save it as .png",
                        path.display()
                    ))
                }
            },
            Some("png") => match &self.png {
                Some(png) => png,
                None => {
                    return Err(invalid!(
                        "cannot save {} as PNG: this figure was rendered as SVG only; \
                     save it as .svg or render it with to_png(width, height)",
                        path.display()
                    ))
                }
            },
            _ => return Err(invalid!("file extension must be .svg or .png, got {}", path.display())),
        };
        crate::atomic::write(path, bytes)
    }

    /// Shows the figure inline in a Jupyter notebook run by the evcxr kernel (SVG when the
    /// figure has one, PNG otherwise). evcxr calls this on the value a cell ends with.
    pub fn evcxr_display(&self) {
        println!("{}", self.evcxr_content());
    }

    /// The figure as an HTML `<img>` element with its SVG or PNG inline (a data URI), for an
    /// output that shows the figure together with other HTML, such as a check table
    /// ([`crate::stats::CheckTable::show_with_then_assert`]).
    pub fn html(&self) -> String {
        let (mime, data) = match &self.svg {
            Some(svg) => ("image/svg+xml", svg.as_bytes()),
            None => ("image/png", self.png.as_deref().unwrap_or_default()),
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        format!("<img src=\"data:{mime};base64,{b64}\" width=\"{}\" height=\"{}\">", self.width, self.height)
    }

    /// The text [`Figure::evcxr_display`] prints: the figure between evcxr's content markers.
    pub fn evcxr_content(&self) -> String {
        if let Some(svg) = &self.svg {
            format!("EVCXR_BEGIN_CONTENT image/svg+xml\n{svg}\nEVCXR_END_CONTENT")
        } else {
            let png = self.png.as_deref().unwrap_or_default();
            let b64 = base64::engine::general_purpose::STANDARD.encode(png);
            format!("EVCXR_BEGIN_CONTENT image/png\n{b64}\nEVCXR_END_CONTENT")
        }
    }
}
