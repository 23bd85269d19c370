//! [`LinePlot`]: several named curves against a shared x axis, with a legend, axis labels and
//! optional horizontal reference lines; the y axis may be logarithmic. Used for the schedules:
//! beta_t, alpha_bar_t and log-SNR against t.

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{
    self, axis_setters, chart_builder, colour, draw_err, draw_legend, draw_mesh, linear_ticks, padded_range, tick,
    Draw, Series,
};
use super::figure::Figure;
use crate::Result;

pub use plotters::chart::SeriesLabelPosition as LegendPosition;

/// A line plot built step by step; render it with [`LinePlot::to_svg`] or [`LinePlot::to_png`],
/// or end a notebook cell with it to show it inline.
///
/// ```
/// use ddpm::display::LinePlot;
/// let t: Vec<f64> = (1..=10).map(f64::from).collect();
/// let beta: Vec<f64> = t.iter().map(|t| 1e-4 + (0.02 - 1e-4) * (t - 1.0) / 9.0).collect();
/// let fig = LinePlot::new("linear schedule")
///     .x_label("t")
///     .y_label("beta_t")
///     .series("linear", &t, &beta)
///     .to_svg()
///     .unwrap();
/// assert!(fig.svg().unwrap().contains("beta_t"));
/// ```
#[derive(Clone, Debug)]
pub struct LinePlot {
    title: String,
    x_label: String,
    y_label: String,
    series: Vec<Series>,
    h_lines: Vec<(String, f64)>,
    log_y: bool,
    legend: LegendPosition,
    size: (u32, u32),
}

impl LinePlot {
    /// An empty plot titled `title`.
    pub fn new(title: impl Into<String>) -> LinePlot {
        LinePlot {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            h_lines: Vec::new(),
            log_y: false,
            legend: LegendPosition::UpperRight,
            size: chart::DEFAULT_SIZE,
        }
    }

    axis_setters!();

    /// Adds a curve through the points (xs\[i\], ys\[i\]), named `name` in the legend. Each
    /// curve gets its own colour. The lengths are checked when the plot is rendered.
    pub fn series(mut self, name: impl Into<String>, xs: &[f64], ys: &[f64]) -> Self {
        self.series.push(Series { name: name.into(), xs: xs.to_vec(), ys: ys.to_vec() });
        self
    }

    /// Adds a dashed horizontal reference line at height `y` (a threshold, a target value),
    /// named `name` in the legend.
    pub fn h_line(mut self, name: impl Into<String>, y: f64) -> Self {
        self.h_lines.push((name.into(), y));
        self
    }

    /// A logarithmic y axis (every y must then be > 0), or a linear one (the default).
    pub fn log_y(mut self, log_y: bool) -> Self {
        self.log_y = log_y;
        self
    }

    /// Where the legend sits inside the plot (default: upper right).
    pub fn legend(mut self, position: LegendPosition) -> Self {
        self.legend = position;
        self
    }

    fn check(&self) -> Result<()> {
        if self.series.is_empty() {
            return Err(invalid!("line plot {:?} needs at least one series, got 0", self.title));
        }
        for s in &self.series {
            s.check(self.log_y)?;
        }
        for (name, y) in &self.h_lines {
            if !y.is_finite() || (self.log_y && *y <= 0.0) {
                let allowed = if self.log_y { "a finite number > 0 on a log-scale y axis" } else { "finite" };
                return Err(invalid!("reference line {name:?}: y = {y}, must be {allowed}"));
            }
        }
        Ok(())
    }

    fn draw_on<'a, DB, Y>(&self, mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>) -> Result<()>
    where
        DB: DrawingBackend + 'a,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let y_linear = linear_ticks(chart.y_range());
        let y_ticks = |v: &f64| if self.log_y { tick(v) } else { y_linear(v) };
        draw_mesh(&mut chart, (&self.x_label, &self.y_label), &y_ticks)?;
        for (i, s) in self.series.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let points = s.xs.iter().copied().zip(s.ys.iter().copied());
            let anno = if s.xs.len() == 1 {
                chart.draw_series(points.map(|p| Circle::new(p, 3, style.filled())))
            } else {
                chart.draw_series(LineSeries::new(points, style))
            };
            anno.map_err(draw_err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        let x = chart.x_range();
        for (name, y) in &self.h_lines {
            let style = BLACK.mix(0.7).stroke_width(1);
            let line = DashedLineSeries::new(vec![(x.start, *y), (x.end, *y)], 8, 5, style);
            chart
                .draw_series(line)
                .map_err(draw_err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        draw_legend(&mut chart, self.legend.clone())
    }
}

impl Draw for LinePlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        self.check()?;
        root.fill(&WHITE).map_err(draw_err)?;
        let x_range = padded_range(self.series.iter().flat_map(|s| s.xs.iter().copied()), false);
        let ys = self.series.iter().flat_map(|s| s.ys.iter().copied());
        let y_range = padded_range(ys.chain(self.h_lines.iter().map(|(_, y)| *y)), self.log_y);
        let mut builder = chart_builder(root, &self.title, 78);
        if self.log_y {
            let chart = builder.build_cartesian_2d(x_range, y_range.log_scale()).map_err(draw_err)?;
            self.draw_on(chart)
        } else {
            let chart = builder.build_cartesian_2d(x_range, y_range).map_err(draw_err)?;
            self.draw_on(chart)
        }
    }
}
