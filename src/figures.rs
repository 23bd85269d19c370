//! The course's standard figures, built from the library: the schedule plots and the noised
//! photo strip of note 000's Figure 1. The command line and the notebooks both call these.

use std::path::Path;

use ndarray::{Array3, Ix3};

use crate::data::{load_photo, Color};
use crate::display::{strip, Figure, LinePlot};
use crate::forward::q_sample;
use crate::rng::{normal, seeded};
use crate::schedule::ScheduleKind;
use crate::verify::schedules::NOISE_THRESHOLD;
use crate::{Error, NoiseSchedule, Result};

/// The quantities [`schedule_plots`] draws, with their axis labels.
pub const SCHEDULE_PLOTS: [(&str, &str); 4] = [
    ("alpha_bar", "alpha_bar_t (signal variance left in x_t)"),
    ("sqrt_alpha_bar", "sqrt(alpha_bar_t) (signal amplitude)"),
    ("beta", "beta_t (log scale)"),
    ("log_snr", "log SNR = ln(alpha_bar / (1 - alpha_bar))"),
];

/// One plot per quantity of [`SCHEDULE_PLOTS`], each with the four built-in schedules as
/// curves against t (E6, E7). The sqrt(alpha_bar) plot marks the "near pure noise" threshold.
///
/// ```
/// let plots = ddpm::figures::schedule_plots(100).unwrap();
/// assert_eq!(plots.len(), 4);
/// ```
pub fn schedule_plots(steps: usize) -> Result<Vec<(&'static str, LinePlot)>> {
    let schedules: Vec<NoiseSchedule> =
        ScheduleKind::ALL.iter().map(|k| NoiseSchedule::new(k.default_schedule(), steps)).collect::<Result<_>>()?;
    let ts: Vec<f64> = (1..=steps).map(|t| t as f64).collect();
    let mut plots = Vec::new();
    for (name, label) in SCHEDULE_PLOTS {
        let mut plot = LinePlot::new(format!("{name} against t, T = {steps}")).x_label("t").y_label(label);
        for s in &schedules {
            plot = plot.series(s.schedule().name(), &ts, &s.column(name)?);
        }
        plot = match name {
            "beta" => plot.log_y(true),
            "sqrt_alpha_bar" => plot.h_line(format!("near pure noise: {NOISE_THRESHOLD}"), NOISE_THRESHOLD),
            _ => plot,
        };
        plots.push((name, plot));
    }
    Ok(plots)
}

/// Loads a photo in [-1, 1], resized to `height` pixels high with its aspect ratio kept.
pub fn load_photo_height(path: impl AsRef<Path>, color: Color, height: u32) -> Result<Array3<f64>> {
    let path = path.as_ref();
    let (w, h) = image::image_dimensions(path).map_err(|e| match e {
        image::ImageError::IoError(io) => Error::io(path, io),
        other => Error::format(path, format!("could not read as an image: {other}")),
    })?;
    let width = ((w as f64 * height as f64 / h.max(1) as f64).round() as u32).max(1);
    load_photo(path, color, Some((width, height)))
}

/// Note 000's Figure 1: one image noised at the steps `ts` (each in 0..=T) under each schedule,
/// one row per schedule, with the same noise eps for every t and every row so that only the
/// schedule differs: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (E5, E7).
pub fn forward_strip(
    x0: &Array3<f64>,
    kinds: &[ScheduleKind],
    steps: usize,
    ts: &[usize],
    seed: u64,
) -> Result<Figure> {
    let eps = normal(&mut seeded(seed), x0.shape())
        .into_dimensionality::<Ix3>()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut rows = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let s = NoiseSchedule::new(kind.default_schedule(), steps)?;
        let images = ts.iter().map(|&t| q_sample(&s, x0, t, &eps)).collect::<Result<Vec<_>>>()?;
        rows.push((kind.to_string(), images));
    }
    let captions: Vec<String> = ts.iter().map(|t| format!("t = {t}")).collect();
    strip(&rows, &captions, 1)
}
