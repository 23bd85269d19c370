//! Plots and images for the notebooks: they show inline through `evcxr_display` and save to
//! files.
//!
//! - [`LinePlot`], [`Histogram`], [`Scatter`]: plotters charts, as SVG or PNG; [`arrow_dots`] for vector fields;
//! - [`grid`], [`strip`], [`picture`]: images shaped (C, H, W) with values in \[-1, 1\], as PNG;
//! - [`animation`]: figures as one animated PNG; [`Slider`]: figures under a slider, as HTML;
//! - [`Figure`]: what every renderer returns; [`Figure::save`] writes `.svg` or `.png`.
//!
//! Text is drawn with DejaVu Sans, compiled into the crate ([`register_font`]), so figures look
//! the same on every machine, with or without system fonts.

mod animation;
mod arrows;
mod chart;
mod figure;
mod font;
mod grid;
mod histogram;
mod image;
mod plot;
mod scatter;
mod slider;

pub use self::image::{from_luma8, from_rgb8, pixel_u8, to_rgb8};
pub use animation::animation;
pub use arrows::arrow_dots;
pub use figure::Figure;
pub use font::{register_font, FONT_FAMILY};
pub use grid::{grid, picture, strip};
pub use histogram::Histogram;
pub use plot::{LegendPosition, LinePlot};
pub use scatter::Scatter;
pub use slider::Slider;
