//! The one font every figure uses: DejaVu Sans, compiled into the crate.
//!
//! plotters' `ab_glyph` back-end knows no system fonts; it draws only the fonts registered with
//! [`plotters::style::register_font`]. We register DejaVu Sans once, under the family name
//! `"sans-serif"` (plotters' default family), so that text on PNGs renders on any machine.

use std::sync::OnceLock;

use crate::{Error, Result};

/// The family name every figure of this module draws its text in.
pub const FONT_FAMILY: &str = "sans-serif";

/// Registers DejaVu Sans as [`FONT_FAMILY`] with plotters, once per process.
///
/// Every renderer of this module calls it; call it yourself only when drawing with plotters
/// directly. Later calls are free.
///
/// ```
/// ddpm::display::register_font().unwrap();
/// ```
pub fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, plotters::style::FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Draw("the bundled DejaVu Sans font could not be parsed".into()))
    }
}

/// Width and height in pixels of `text` drawn at `size` pixels in [`FONT_FAMILY`].
pub(crate) fn text_size(text: &str, size: f64) -> Result<(u32, u32)> {
    use plotters::style::IntoFont;
    register_font()?;
    (FONT_FAMILY, size)
        .into_font()
        .box_size(text)
        .map_err(|e| Error::Draw(format!("cannot measure text {text:?}: {e}")))
}
