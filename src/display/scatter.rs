//! [`Scatter`]: several named sets of 2-D points, each in its own colour, with a legend; for toy
//! data sets and samples drawn from a model.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{
    self, axis_setters, chart_builder, colour, draw_err, draw_legend, draw_mesh, linear_ticks, padded_range, Draw,
    Series,
};
use super::figure::Figure;
use crate::Result;

/// A scatter plot built step by step.
///
/// ```
/// use ddpm::display::Scatter;
/// let fig = Scatter::new("two moons")
///     .points("data", &[(0.0, 1.0), (1.0, 0.0)])
///     .points_xy("samples", &[0.5, 0.6], &[0.5, 0.4])
///     .to_svg()
///     .unwrap();
/// assert!(fig.svg().unwrap().contains("samples"));
/// ```
#[derive(Clone, Debug)]
pub struct Scatter {
    title: String,
    x_label: String,
    y_label: String,
    sets: Vec<Series>,
    radius: u32,
    size: (u32, u32),
}

impl Scatter {
    /// An empty scatter plot titled `title`.
    pub fn new(title: impl Into<String>) -> Scatter {
        Scatter {
            title: title.into(),
            x_label: "x".into(),
            y_label: "y".into(),
            sets: Vec::new(),
            radius: 2,
            size: (600, 540),
        }
    }

    axis_setters!();

    /// Adds a set of (x, y) points named `name` in the legend.
    pub fn points(mut self, name: impl Into<String>, points: &[(f64, f64)]) -> Self {
        let (xs, ys) = points.iter().copied().unzip();
        self.sets.push(Series { name: name.into(), xs, ys });
        self
    }

    /// Adds the points (xs\[i\], ys\[i\]) named `name` in the legend.
    pub fn points_xy(mut self, name: impl Into<String>, xs: &[f64], ys: &[f64]) -> Self {
        self.sets.push(Series { name: name.into(), xs: xs.to_vec(), ys: ys.to_vec() });
        self
    }

    /// The radius of each point in pixels (default 2; allowed 1..=20).
    /// (A point is one SVG element: prefer `to_png` beyond some tens of thousands of points.)
    pub fn point_radius(mut self, radius: u32) -> Self {
        self.radius = radius;
        self
    }
}

impl Draw for Scatter {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if self.sets.is_empty() {
            return Err(invalid!("scatter plot {:?} needs at least one point set, got 0", self.title));
        }
        if !(1..=20).contains(&self.radius) {
            return Err(invalid!("point radius must be in 1..=20 pixels, got {}", self.radius));
        }
        for s in &self.sets {
            s.check(false)?;
        }
        root.fill(&WHITE).map_err(draw_err)?;
        let x_range = padded_range(self.sets.iter().flat_map(|s| s.xs.iter().copied()), false);
        let y_range = padded_range(self.sets.iter().flat_map(|s| s.ys.iter().copied()), false);
        let y_ticks = linear_ticks(y_range.clone());
        let mut chart = chart_builder(root, &self.title, 70).build_cartesian_2d(x_range, y_range).map_err(draw_err)?;
        draw_mesh(&mut chart, (&self.x_label, &self.y_label), &y_ticks)?;
        let r = self.radius as i32;
        for (i, s) in self.sets.iter().enumerate() {
            let style = colour(i).mix(0.7).filled();
            let points = s.xs.iter().copied().zip(s.ys.iter().copied());
            chart
                .draw_series(points.map(|p| Circle::new(p, r, style)))
                .map_err(draw_err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| Circle::new((x + 12, y), 4, style));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
