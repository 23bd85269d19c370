//! Yardsticks for a Fréchet distance: sets of images whose distance to the test set says what a
//! sample's distance means in the same features, at the same number of images.
//!
//! A Fréchet distance has no natural scale (it depends on the features) and is biased upwards
//! for finite sets (two sets of real digits are not at 0), so a figure alone says little. Beside
//! it, `ddpm eval` prints the distance of four sets of as many images:
//!
//! - [`Yardstick::Real`]: real training digits, what a perfect generator would reach;
//! - [`Yardstick::Blurred`]: test digits blurred by a Gaussian of [`BLUR_SIGMA`] pixels, the
//!   right shapes without sharp strokes;
//! - [`Yardstick::Noise`]: uniform noise in [-1, 1], no digit at all;
//! - [`Yardstick::OneClass`]: training digits of one class only ([`ONE_CLASS_DIGIT`]), real
//!   digits collapsed onto one mode.
//!
//! Features in which the first is close and the other three far can tell good samples from bad.

use candle_core::{Device, Tensor};
use rand::Rng as _;

use super::classifier::Rows;
use super::features::Featurizer;
use super::frechet::frechet_distance_of;
use crate::data::Mnist;
use crate::rng::seeded;
use crate::Result;

/// The standard deviation, in pixels, of the Gaussian blur of [`Yardstick::Blurred`].
pub const BLUR_SIGMA: f64 = 1.0;
/// The class of [`Yardstick::OneClass`]: the first digit, fixed before any distance was seen.
pub const ONE_CLASS_DIGIT: u8 = 0;

/// One set of images to compare with the test set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Yardstick {
    /// The first training images.
    Real,
    /// The first test images, blurred (they belong to the test set themselves).
    Blurred,
    /// Uniform noise in [-1, 1], every pixel independent.
    Noise,
    /// The first training images of digit [`ONE_CLASS_DIGIT`].
    OneClass,
}

impl Yardstick {
    /// Every yardstick, in the order they are printed.
    pub const ALL: [Yardstick; 4] = [Yardstick::Real, Yardstick::Blurred, Yardstick::Noise, Yardstick::OneClass];

    /// Its images: `n` of them (fewer for [`Yardstick::OneClass`] if the class has fewer),
    /// (n, 1, 28, 28) in [-1, 1]; the noise is drawn from the generator seeded with `seed`.
    pub fn images(self, train: &Mnist, test: &Mnist, n: usize, seed: u64, device: &Device) -> Result<Tensor> {
        if n < 2 {
            return Err(invalid!("a yardstick set needs at least 2 images (for a covariance), got {n}"));
        }
        let first = |data: &Mnist| -> Vec<usize> { (0..n.min(data.len())).collect() };
        match self {
            Yardstick::Real => train.batch_tensor(&first(train), device),
            Yardstick::Blurred => gaussian_blur(&test.batch_tensor(&first(test), device)?, BLUR_SIGMA),
            Yardstick::Noise => {
                let mut rng = seeded(seed);
                let (h, w) = (test.rows(), test.cols());
                let v: Vec<f32> = (0..n * h * w).map(|_| rng.random_range(-1.0f32..=1.0)).collect();
                Ok(Tensor::from_vec(v, (n, 1, h, w), device)?)
            }
            Yardstick::OneClass => {
                let idx: Vec<usize> =
                    (0..train.len()).filter(|&i| train.labels()[i] == ONE_CLASS_DIGIT).take(n).collect();
                if idx.len() < 2 {
                    return Err(invalid!(
                        "the one-class yardstick needs at least 2 training images of digit {ONE_CLASS_DIGIT}, the data \
                         has {}",
                        idx.len()
                    ));
                }
                train.batch_tensor(&idx, device)
            }
        }
    }
}

impl std::fmt::Display for Yardstick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Yardstick::Real => write!(f, "real training images"),
            Yardstick::Blurred => write!(f, "blurred test images (sigma {BLUR_SIGMA} px)"),
            Yardstick::Noise => write!(f, "uniform noise"),
            Yardstick::OneClass => write!(f, "one class only (digit {ONE_CLASS_DIGIT})"),
        }
    }
}

/// The images of every yardstick, made once and measured in any features.
#[derive(Clone, Debug)]
pub struct Yardsticks {
    sets: Vec<(Yardstick, Tensor)>,
}

impl Yardsticks {
    /// Every [`Yardstick`] with `n` images (see [`Yardstick::images`]).
    pub fn new(train: &Mnist, test: &Mnist, n: usize, seed: u64, device: &Device) -> Result<Self> {
        let sets =
            Yardstick::ALL.iter().map(|&y| Ok((y, y.images(train, test, n, seed, device)?))).collect::<Result<_>>()?;
        Ok(Self { sets })
    }

    /// The images of `which`.
    pub fn images(&self, which: Yardstick) -> Option<&Tensor> {
        self.sets.iter().find(|(y, _)| *y == which).map(|(_, x)| x)
    }

    /// The Fréchet distance of every set to the `reference` features (e.g. of the test set),
    /// in the features of `net`.
    pub fn distances(&self, net: &dyn Featurizer, reference: &[Vec<f64>]) -> Result<Distances> {
        let rows = self
            .sets
            .iter()
            .map(|(y, x)| {
                let features: Rows = net.feature_rows(x)?;
                Ok((*y, features.len(), frechet_distance_of(&features, reference)?))
            })
            .collect::<Result<_>>()?;
        Ok(Distances(rows))
    }
}

/// Each yardstick with its number of images and its Fréchet distance to the reference set.
#[derive(Clone, Debug, PartialEq)]
pub struct Distances(pub Vec<(Yardstick, usize, f64)>);

impl Distances {
    /// The distance of `which`.
    pub fn of(&self, which: Yardstick) -> Option<f64> {
        self.0.iter().find(|(y, _, _)| *y == which).map(|r| r.2)
    }
}

impl std::fmt::Display for Distances {
    /// "real training images 3.1, blurred test images (sigma 1 px) 40.2, ...", with the number
    /// of images where a set has fewer than the first.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n0 = self.0.first().map_or(0, |r| r.1);
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(y, n, d)| if *n == n0 { format!("{y} {d:.3}") } else { format!("{y} {d:.3} ({n} images)") })
            .collect();
        write!(f, "{}", parts.join(", "))
    }
}

/// Images `x` (B, C, H, W) blurred by a Gaussian of standard deviation `sigma` pixels:
/// separable, the kernel exp(-k^2 / (2 sigma^2)) for |k| <= ceil(3 sigma), normalised to sum 1,
/// with the background (-1) beyond the border.
pub fn gaussian_blur(x: &Tensor, sigma: f64) -> Result<Tensor> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(crate::Error::OutOfRange {
            name: "sigma".into(),
            value: sigma.to_string(),
            allowed: "a finite number of pixels > 0".into(),
        });
    }
    let (b, c, h, w) = x.dims4()?;
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-radius..=radius).map(|k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = kernel.iter().sum();
    // In x + 1 the background is 0, so the zero padding below is background.
    let v: Vec<f64> = x.to_dtype(candle_core::DType::F64)?.flatten_all()?.to_vec1()?;
    let mut out = vec![0f32; v.len()];
    let at = |img: &[f64], r: isize, col: isize| -> f64 {
        if (0..h as isize).contains(&r) && (0..w as isize).contains(&col) {
            img[r as usize * w + col as usize] + 1.0
        } else {
            0.0
        }
    };
    for (plane, chunk) in v.chunks(h * w).enumerate().take(b * c) {
        // Along rows, then along columns.
        let mut rows_done = vec![0.0; h * w];
        for r in 0..h as isize {
            for col in 0..w as isize {
                let s: f64 = kernel.iter().zip(-radius..=radius).map(|(k, d)| k * at(chunk, r, col + d)).sum();
                rows_done[r as usize * w + col as usize] = s / total - 1.0;
            }
        }
        for r in 0..h as isize {
            for col in 0..w as isize {
                let s: f64 = kernel.iter().zip(-radius..=radius).map(|(k, d)| k * at(&rows_done, r + d, col)).sum();
                out[plane * h * w + r as usize * w + col as usize] = (s / total - 1.0) as f32;
            }
        }
    }
    Ok(Tensor::from_vec(out, (b, c, h, w), x.device())?.to_dtype(x.dtype())?)
}
