//! Images laid out on a white canvas with captions, as PNG: [`picture`] (one image),
//! [`grid`] (images in rows, a caption over each), and [`strip`] (one row per label, a caption
//! over each column: note 000's Figure 1, a photo noised at equal steps under two schedules).

use ndarray::Array3;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::Figure;
use super::font::{register_font, text_size, FONT_FAMILY};
use super::image::{check_images, pixel_u8};
use crate::{Error, Result};

/// Space between cells and around the canvas, in pixels.
const PAD: u32 = 4;
/// Caption height in pixels.
const FONT_PX: f64 = 14.0;
/// Height of a caption band over a row of images.
const CAPTION_H: u32 = FONT_PX as u32 + 8;
/// Largest allowed upscaling factor.
const MAX_SCALE: u32 = 64;
/// Largest canvas, in pixels (about 200 MB of RGB).
const MAX_PIXELS: u64 = 64 << 20;

/// One image, each pixel drawn as a `scale` x `scale` block, without border.
///
/// ```
/// let x = ndarray::Array3::<f64>::zeros((1, 28, 28));
/// let fig = ddpm::display::picture(&x, 2).unwrap();
/// assert_eq!(fig.size(), (56, 56));
/// ```
pub fn picture(image: &Array3<f64>, scale: u32) -> Result<Figure> {
    check_scale(scale)?;
    let (_, h, w) = check_images([image].into_iter(), |_| "image".into())?;
    let (iw, ih) = scaled(w, h, scale)?;
    let mut canvas = Canvas::new(iw as u64, ih as u64)?;
    canvas.blit(image, (0, 0), scale);
    canvas.into_figure()
}

/// Images in rows of `cols` (fewer when there are fewer images), each pixel drawn as a
/// `scale` x `scale` block, with `captions[i]` over image i when given.
///
/// All images must share one shape (C, H, W) with C = 1 or 3; values in \[-1, 1\] (clamped).
///
/// ```
/// let xs = vec![ndarray::Array3::<f64>::zeros((1, 8, 8)); 5];
/// let fig = ddpm::display::grid(&xs, 4, None, 1).unwrap();
/// // 4 columns and 2 rows of 8 x 8 cells, 4 pixels apart and around.
/// assert_eq!(fig.size(), (4 + 4 * 12, 4 + 2 * 12));
/// ```
pub fn grid(images: &[Array3<f64>], cols: usize, captions: Option<&[String]>, scale: u32) -> Result<Figure> {
    check_scale(scale)?;
    if images.is_empty() {
        return Err(invalid!("grid needs at least one image, got 0"));
    }
    if cols == 0 {
        return Err(invalid!("grid needs at least 1 column, got 0"));
    }
    let (_, h, w) = check_images(images.iter(), |i| format!("image {i}"))?;
    if let Some(caps) = captions {
        if caps.len() != images.len() {
            return Err(invalid!(
                "grid got {} captions for {} images; give one caption per image",
                caps.len(),
                images.len()
            ));
        }
    }
    let cols = cols.min(images.len());
    let rows = images.len().div_ceil(cols);
    let (iw, ih) = scaled(w, h, scale)?;
    let caption_h = if captions.is_some() { CAPTION_H } else { 0 };
    let cell_w = iw.max(widest(captions.unwrap_or(&[]))?);
    let mut canvas = Canvas::new(
        PAD as u64 + cols as u64 * (cell_w + PAD) as u64,
        PAD as u64 + rows as u64 * (caption_h + ih + PAD) as u64,
    )?;
    let mut texts = Vec::new();
    for (i, img) in images.iter().enumerate() {
        let x = PAD + (i % cols) as u32 * (cell_w + PAD);
        let y = PAD + (i / cols) as u32 * (caption_h + ih + PAD);
        canvas.blit(img, (x + (cell_w - iw) / 2, y + caption_h), scale);
        if let Some(caps) = captions {
            texts.push((caps[i].as_str(), (x + cell_w / 2, y + 3), Pos::new(HPos::Center, VPos::Top)));
        }
    }
    canvas.text(&texts)?;
    canvas.into_figure()
}

/// Rows of images, each row headed by its label on the left, with `col_captions[j]` over
/// column j (pass `&[]` for none). Every row must hold as many images as the first one, all of
/// one shape (C, H, W) with C = 1 or 3; values in \[-1, 1\] (clamped).
///
/// Note 000's Figure 1: `rows = [("linear", x_t at t = 0, 250, ..., 1000), ("cosine", ...)]`,
/// `col_captions = ["t = 0", "t = 250", ...]`.
///
/// ```
/// let x = ndarray::Array3::<f64>::zeros((3, 16, 16));
/// let rows = vec![("linear".to_string(), vec![x.clone(), x.clone()]), ("cosine".to_string(), vec![x.clone(), x])];
/// let caps = ["t = 0".to_string(), "t = 500".to_string()];
/// let fig = ddpm::display::strip(&rows, &caps, 2).unwrap();
/// assert!(fig.png().is_some());
/// ```
pub fn strip(rows: &[(String, Vec<Array3<f64>>)], col_captions: &[String], scale: u32) -> Result<Figure> {
    check_scale(scale)?;
    let Some((_, first)) = rows.first() else { return Err(invalid!("strip needs at least one row, got 0")) };
    let ncols = first.len();
    for (label, imgs) in rows {
        if imgs.len() != ncols || ncols == 0 {
            return Err(invalid!(
                "strip row {label:?} has {} images but the first row has {ncols}; every row needs \
                 the same number of images, at least 1",
                imgs.len()
            ));
        }
    }
    if !col_captions.is_empty() && col_captions.len() != ncols {
        return Err(invalid!(
            "strip got {} column captions for {ncols} columns; give one per column or none",
            col_captions.len()
        ));
    }
    let all = rows.iter().flat_map(|(_, imgs)| imgs.iter());
    let (_, h, w) = check_images(all, |i| format!("row {:?}, image {}", rows[i / ncols].0, i % ncols))?;
    let (iw, ih) = scaled(w, h, scale)?;
    let labels: Vec<String> = rows.iter().map(|(l, _)| l.clone()).collect();
    let label_w = match widest(&labels)? {
        0 => 0,
        lw => lw + PAD,
    };
    let caption_h = if col_captions.is_empty() { 0 } else { CAPTION_H };
    let cell_w = iw.max(widest(col_captions)?);
    let mut canvas = Canvas::new(
        PAD as u64 + label_w as u64 + ncols as u64 * (cell_w + PAD) as u64,
        PAD as u64 + caption_h as u64 + rows.len() as u64 * (ih + PAD) as u64,
    )?;
    let mut texts = Vec::new();
    let x_of = |j: usize| PAD + label_w + j as u32 * (cell_w + PAD);
    for (j, cap) in col_captions.iter().enumerate() {
        texts.push((cap.as_str(), (x_of(j) + cell_w / 2, PAD + 3), Pos::new(HPos::Center, VPos::Top)));
    }
    for (r, (label, imgs)) in rows.iter().enumerate() {
        let y = PAD + caption_h + r as u32 * (ih + PAD);
        texts.push((label.as_str(), (PAD, y + ih / 2), Pos::new(HPos::Left, VPos::Center)));
        for (j, img) in imgs.iter().enumerate() {
            canvas.blit(img, (x_of(j) + (cell_w - iw) / 2, y), scale);
        }
    }
    canvas.text(&texts)?;
    canvas.into_figure()
}

/// The size of one image on the canvas, W * scale by H * scale, each at most 16384 pixels.
fn scaled(w: usize, h: usize, scale: u32) -> Result<(u32, u32)> {
    let (sw, sh) = (w as u64 * scale as u64, h as u64 * scale as u64);
    if sw > 16384 || sh > 16384 {
        return Err(invalid!(
            "an image of {h} x {w} pixels at scale {scale} is {sh} x {sw}; at most 16384 x 16384 is allowed"
        ));
    }
    Ok((sw as u32, sh as u32))
}

fn check_scale(scale: u32) -> Result<()> {
    if !(1..=MAX_SCALE).contains(&scale) {
        return Err(invalid!("scale must be in 1..={MAX_SCALE} (pixels per image pixel), got {scale}"));
    }
    Ok(())
}

/// Width in pixels of the widest of `texts` at the caption size, plus a 4-pixel margin
/// (0 when there is no text).
fn widest(texts: &[String]) -> Result<u32> {
    let w = texts.iter().try_fold(0, |m, t| Ok::<_, Error>(m.max(text_size(t, FONT_PX)?.0)))?;
    Ok(if w == 0 { 0 } else { w + 4 })
}

/// A white RGB canvas that images are copied onto and captions drawn on.
struct Canvas {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(width: u64, height: u64) -> Result<Canvas> {
        if width * height > MAX_PIXELS {
            return Err(invalid!("the figure would be {width} x {height} pixels, more than {MAX_PIXELS}; use a smaller scale or fewer images"));
        }
        let (width, height) = (width as u32, height as u32);
        Ok(Canvas { width, height, rgb: vec![255; width as usize * height as usize * 3] })
    }

    /// Copies a checked (C, H, W) image with its top-left corner at `(x0, y0)`, each pixel as a
    /// `scale` x `scale` block.
    fn blit(&mut self, image: &Array3<f64>, (x0, y0): (u32, u32), scale: u32) {
        let (c, h, w) = image.dim();
        let s = scale as usize;
        for y in 0..h * s {
            let row = (y0 as usize + y) * self.width as usize;
            for x in 0..w * s {
                let at = 3 * (row + x0 as usize + x);
                for ch in 0..3 {
                    self.rgb[at + ch] = pixel_u8(image[[if c == 1 { 0 } else { ch }, y / s, x / s]]);
                }
            }
        }
    }

    /// Draws black text: each entry is (text, anchor point, how the text sits on the point).
    fn text(&mut self, texts: &[(&str, (u32, u32), Pos)]) -> Result<()> {
        if texts.iter().all(|(t, _, _)| t.is_empty()) {
            return Ok(());
        }
        register_font()?;
        let root = BitMapBackend::with_buffer(&mut self.rgb, (self.width, self.height)).into_drawing_area();
        let draw = |e: DrawingAreaErrorKind<_>| Error::Draw(format!("cannot draw caption: {e}"));
        for &(text, (x, y), pos) in texts {
            let style = TextStyle::from((FONT_FAMILY, FONT_PX).into_font()).color(&BLACK).pos(pos);
            root.draw(&Text::new(text, (x as i32, y as i32), style)).map_err(draw)?;
        }
        root.present().map_err(draw)
    }

    fn into_figure(self) -> Result<Figure> {
        let img = image::RgbImage::from_raw(self.width, self.height, self.rgb)
            .ok_or_else(|| Error::Draw("the canvas has the wrong size".into()))?;
        Figure::from_rgb8(&img)
    }
}
