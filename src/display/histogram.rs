//! [`Histogram`]: samples binned and scaled to a density, with density curves drawn over them,
//! so a sampler can be compared by eye with the distribution it should follow.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{
    self, axis_setters, chart_builder, colour, draw_err, draw_legend, draw_mesh, linear_ticks, padded_range, Draw,
    Series,
};
use super::figure::Figure;
use crate::Result;

/// The largest number of bins a histogram may have.
const MAX_BINS: usize = 10_000;

/// A histogram of samples normalised to a density (bar areas sum to the fraction of samples
/// inside the range, 1 by default), with optional density curves on top.
///
/// Bar height for bin \[a, b): `count / (n * (b - a))`, where `n` counts every sample.
///
/// ```
/// use ddpm::display::Histogram;
/// let samples = [0.1, 0.2, 0.2, 0.7];
/// let bins = Histogram::new("samples", &samples, 2).range(0.0, 1.0).bins().unwrap();
/// // (lower edge, upper edge, density): 3 of 4 samples in [0, 0.5), each bin 0.5 wide.
/// assert_eq!(bins, vec![(0.0, 0.5, 1.5), (0.5, 1.0, 0.5)]);
/// ```
#[derive(Clone, Debug)]
pub struct Histogram {
    title: String,
    x_label: String,
    y_label: String,
    samples: Vec<f64>,
    bins: usize,
    range: Option<(f64, f64)>,
    curves: Vec<Series>,
    size: (u32, u32),
}

impl Histogram {
    /// A histogram of `samples` in `bins` equal bins spanning the samples' range.
    pub fn new(title: impl Into<String>, samples: &[f64], bins: usize) -> Histogram {
        Histogram {
            title: title.into(),
            x_label: String::new(),
            y_label: "density".into(),
            samples: samples.to_vec(),
            bins,
            range: None,
            curves: Vec::new(),
            size: chart::DEFAULT_SIZE,
        }
    }

    axis_setters!();

    /// Bins \[lo, hi) instead of the samples' range; samples outside it are not drawn but still
    /// count in the normalisation.
    pub fn range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }

    /// Adds a density curve through (xs\[i\], ys\[i\]), named `name` in the legend.
    pub fn density(mut self, name: impl Into<String>, xs: &[f64], ys: &[f64]) -> Self {
        self.curves.push(Series { name: name.into(), xs: xs.to_vec(), ys: ys.to_vec() });
        self
    }

    /// The bins as (lower edge, upper edge, density), after checking the samples.
    pub fn bins(&self) -> Result<Vec<(f64, f64, f64)>> {
        let n = self.samples.len();
        if n == 0 {
            return Err(invalid!("histogram {:?} needs at least one sample, got 0", self.title));
        }
        if self.bins == 0 || self.bins > MAX_BINS {
            return Err(invalid!("bins must be in 1..={MAX_BINS}, got {}", self.bins));
        }
        if let Some((i, x)) = self.samples.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(invalid!("histogram {:?}: sample {i} is {x}; samples must be finite numbers", self.title));
        }
        let (lo, hi) = match self.range {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
            Some((lo, hi)) => return Err(invalid!("histogram range must be finite with lo < hi, got ({lo}, {hi})")),
            None => {
                let lo = self.samples.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = self.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if lo < hi {
                    (lo, hi)
                } else {
                    (lo - 0.5, hi + 0.5)
                }
            }
        };
        let width = (hi - lo) / self.bins as f64;
        let mut counts = vec![0usize; self.bins];
        for &x in &self.samples {
            if (lo..=hi).contains(&x) {
                // The top edge belongs to the last bin.
                let i = (((x - lo) / width) as usize).min(self.bins - 1);
                counts[i] += 1;
            }
        }
        let edge = |i: usize| if i == self.bins { hi } else { lo + i as f64 * width };
        Ok(counts.iter().enumerate().map(|(i, &c)| (edge(i), edge(i + 1), c as f64 / (n as f64 * width))).collect())
    }
}

impl Draw for Histogram {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let bins = self.bins()?;
        for c in &self.curves {
            c.check(false)?;
        }
        root.fill(&WHITE).map_err(draw_err)?;
        let (lo, hi) = (bins[0].0, bins[bins.len() - 1].1);
        let curve_xs = self.curves.iter().flat_map(|c| c.xs.iter().copied());
        let x_range = padded_range([lo, hi].into_iter().chain(curve_xs), false);
        let curve_ys = self.curves.iter().flat_map(|c| c.ys.iter().copied());
        let y_max = bins.iter().map(|b| b.2).chain(curve_ys).fold(0.0, f64::max);
        let y_range = 0.0..if y_max > 0.0 { 1.05 * y_max } else { 1.0 };
        let y_ticks = linear_ticks(y_range.clone());
        let mut chart = chart_builder(root, &self.title, 78).build_cartesian_2d(x_range, y_range).map_err(draw_err)?;
        draw_mesh(&mut chart, (&self.x_label, &self.y_label), &y_ticks)?;
        let fill = RGBColor(158, 188, 218);
        chart
            .draw_series(bins.iter().map(|&(a, b, d)| Rectangle::new([(a, 0.0), (b, d)], fill.filled())))
            .map_err(draw_err)?
            .label("samples")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 24, y + 5)], fill.filled()));
        let edge = RGBColor(90, 120, 160).stroke_width(1);
        chart.draw_series(bins.iter().map(|&(a, b, d)| Rectangle::new([(a, 0.0), (b, d)], edge))).map_err(draw_err)?;
        for (i, c) in self.curves.iter().enumerate() {
            // Colour 0 is close to the bars' blue; curves start at the palette's orange.
            let style = colour(i + 1).stroke_width(2);
            let points = c.xs.iter().copied().zip(c.ys.iter().copied());
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(draw_err)?
                .label(c.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
