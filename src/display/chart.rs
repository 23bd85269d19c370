//! What the plots share: the colour palette, checks of the data, axis ranges, tick labels, and
//! rendering one drawing to SVG or PNG.

use std::ops::Range;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::Figure;
use super::font::{register_font, FONT_FAMILY};
use crate::{Error, Result};

/// Default size of a plot rendered as SVG, in pixels.
pub(crate) const DEFAULT_SIZE: (u32, u32) = (720, 450);

/// Smallest and largest width or height of a rendered plot, in pixels.
const MIN_SIDE: u32 = 100;
const MAX_SIDE: u32 = 8192;

/// Ten colours that are easy to tell apart (matplotlib's "tab10"); series i gets colour i mod 10.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of series number `i`.
pub(crate) fn colour(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Turns any plotters error into the crate's [`Error::Draw`].
pub(crate) fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::Draw(e.to_string())
}

/// A named set of (x, y) points: one curve of a line plot, or one point set of a scatter plot.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub name: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
}

impl Series {
    /// Checks that xs and ys have the same, non-zero length, and hold finite numbers (positive
    /// ys when `log_y`).
    pub fn check(&self, log_y: bool) -> Result<()> {
        let name = &self.name;
        if self.xs.len() != self.ys.len() {
            return Err(invalid!(
                "series {name:?}: xs and ys must have the same length, got {} and {}",
                self.xs.len(),
                self.ys.len()
            ));
        }
        if self.xs.is_empty() {
            return Err(invalid!("series {name:?} has no points; give at least one (x, y)"));
        }
        check_finite(name, "x", &self.xs)?;
        check_finite(name, "y", &self.ys)?;
        if log_y {
            if let Some((i, y)) = self.ys.iter().enumerate().find(|(_, y)| **y <= 0.0) {
                return Err(invalid!("series {name:?}: y[{i}] = {y}, but a log-scale y axis needs values > 0"));
            }
        }
        Ok(())
    }
}

/// Checks that every value is finite; the error names the series, the axis and the index.
pub(crate) fn check_finite(name: &str, axis: &str, values: &[f64]) -> Result<()> {
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(invalid!("series {name:?}: {axis}[{i}] = {v}; plotted values must be finite numbers"));
    }
    Ok(())
}

/// Checks a requested figure size.
pub(crate) fn check_size((width, height): (u32, u32)) -> Result<()> {
    for (what, v) in [("width", width), ("height", height)] {
        if !(MIN_SIDE..=MAX_SIDE).contains(&v) {
            return Err(invalid!("figure {what} must be in {MIN_SIDE}..={MAX_SIDE} pixels, got {v}"));
        }
    }
    Ok(())
}

/// The range from the smallest to the largest of `values`, widened by 3% on each side, and by
/// a unit when all values are equal. With `log`, the ends are first widened to whole powers of
/// ten (so the axis has at least two labelled ticks) and the padding is in log space.
/// `values` must be non-empty, finite, and positive when `log`.
pub(crate) fn padded_range(values: impl Iterator<Item = f64>, log: bool) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        let v = if log { v.log10() } else { v };
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        // No values (callers check first): any range will do.
        (lo, hi) = (0.0, 1.0);
    }
    if log {
        (lo, hi) = (lo.floor(), hi.ceil());
    }
    if lo == hi {
        let half = if log { 1.0 } else { 0.5f64.max(0.05 * lo.abs()) };
        (lo, hi) = (lo - half, hi + half);
    }
    let pad = 0.03 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    if log {
        10f64.powf(lo)..10f64.powf(hi)
    } else {
        lo..hi
    }
}

/// Tick labels for a linear axis spanning `range`: values within a billionth of the span of
/// zero print as "0" (not "-2.2e-16"), the rest as [`tick`] does.
pub(crate) fn linear_ticks(range: Range<f64>) -> impl Fn(&f64) -> String {
    let eps = 1e-9 * (range.end - range.start).abs();
    move |v| if v.abs() <= eps { "0".into() } else { tick(v) }
}

/// A short tick label: plain decimals for ordinary magnitudes, scientific notation otherwise.
pub(crate) fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}").replace(".0e", "e")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".into()
        } else {
            s.to_string()
        }
    }
}

/// A chart builder with the house style: title, margins, label areas (`y_area` pixels for the
/// y tick labels and description).
pub(crate) fn chart_builder<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(root);
    builder.caption(title, (FONT_FAMILY, 22)).margin(14).x_label_area_size(50).y_label_area_size(y_area);
    builder
}

/// Draws the axes, their descriptions and a light grid; x ticks are linear, y ticks by `y_ticks`.
pub(crate) fn draw_mesh<'a, DB, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    (x_desc, y_desc): (&str, &str),
    y_ticks: &dyn Fn(&f64) -> String,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let x_ticks = linear_ticks(chart.x_range());
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&x_ticks)
        .y_label_formatter(y_ticks)
        .label_style((FONT_FAMILY, 14))
        .axis_desc_style((FONT_FAMILY, 16))
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(draw_err)
}

/// Draws the legend box of the labelled series at `position`.
pub(crate) fn draw_legend<'a, DB, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    position: SeriesLabelPosition,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT_FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(draw_err)
}

/// A drawing that plotters can put on any back-end.
pub(crate) trait Draw {
    /// Draws the whole figure on `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Renders `drawing` as an SVG document of `size` pixels.
pub(crate) fn to_svg(drawing: &impl Draw, size: (u32, u32)) -> Result<Figure> {
    check_size(size)?;
    register_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        drawing.draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Figure::from_svg(svg, size))
}

/// Renders `drawing` as a PNG of `width` x `height` pixels.
pub(crate) fn to_png(drawing: &impl Draw, (width, height): (u32, u32)) -> Result<Figure> {
    check_size((width, height))?;
    register_font()?;
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        drawing.draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    let img = image::RgbImage::from_raw(width, height, buf)
        .ok_or_else(|| Error::Draw("the PNG buffer has the wrong size".into()))?;
    Figure::from_rgb8(&img)
}

/// Prints `drawing` for evcxr as an SVG of the default size, or the error as text.
pub(crate) fn evcxr_display(drawing: &impl Draw, size: (u32, u32)) {
    match to_svg(drawing, size) {
        Ok(fig) => fig.evcxr_display(),
        Err(e) => println!("EVCXR_BEGIN_CONTENT text/plain\nerror: {e}\nEVCXR_END_CONTENT"),
    }
}

/// Builder-style setters shared by the plots: `x_label`, `y_label` and `size`.
macro_rules! axis_setters {
    () => {
        /// Sets the label under the x axis.
        pub fn x_label(mut self, label: impl Into<String>) -> Self {
            self.x_label = label.into();
            self
        }

        /// Sets the label beside the y axis.
        pub fn y_label(mut self, label: impl Into<String>) -> Self {
            self.y_label = label.into();
            self
        }

        /// Sets the size in pixels used by `to_svg` and `evcxr_display`.
        pub fn size(mut self, width: u32, height: u32) -> Self {
            self.size = (width, height);
            self
        }

        /// Renders the plot as SVG, at the size set by `size` (default 720 x 450; a scatter plot 600 x 540).
        pub fn to_svg(&self) -> Result<Figure> {
            chart::to_svg(self, self.size)
        }

        /// Renders the plot as a PNG of `width` x `height` pixels (each in 100..=8192).
        pub fn to_png(&self, width: u32, height: u32) -> Result<Figure> {
            chart::to_png(self, (width, height))
        }

        /// Shows the plot inline in an evcxr notebook, as SVG.
        pub fn evcxr_display(&self) {
            chart::evcxr_display(self, self.size)
        }
    };
}
pub(crate) use axis_setters;
