//! Toy 2-D data sets, seeded, as (n, 2) arrays in roughly [-1, 1]: a ring of Gaussians, two
//! moons and a swiss roll. A diffusion model learns them in seconds, and a scatter plot shows
//! at a glance whether its samples are right.
//!
//! Every point is drawn independently (no fixed split between modes or moons), so sample
//! statistics have their textbook standard errors. In every function the noise or standard
//! deviation is in the units of the output, after scaling.

use crate::rng::Rng;
use crate::{Error, Result};
use ndarray::Array2;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// The toy data sets by name, as the command line's `--data toy-NAME` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToyData {
    /// `"ring"`: [`ring`] with 8 modes on a circle of radius 0.8, standard deviation 0.05.
    Ring,
    /// `"moons"`: [`two_moons`] with noise 0.05.
    Moons,
    /// `"swiss-roll"`: [`swiss_roll`] with noise 0.03.
    SwissRoll,
}

impl ToyData {
    /// Every toy data set, in the order of the docs.
    pub const ALL: [ToyData; 3] = [ToyData::Ring, ToyData::Moons, ToyData::SwissRoll];

    /// The name [`FromStr`] reads: `"ring"`, `"moons"` or `"swiss-roll"`.
    pub fn name(self) -> &'static str {
        match self {
            ToyData::Ring => "ring",
            ToyData::Moons => "moons",
            ToyData::SwissRoll => "swiss-roll",
        }
    }

    /// `n` points of this data set with its default parameters (listed on each variant).
    ///
    /// ```
    /// use ddpm::{data::ToyData, rng::seeded};
    /// let x = "moons".parse::<ToyData>()?.sample(&mut seeded(0), 100)?;
    /// assert_eq!(x.shape(), &[100, 2]);
    /// # Ok::<(), ddpm::Error>(())
    /// ```
    pub fn sample(self, rng: &mut Rng, n: usize) -> Result<Array2<f64>> {
        match self {
            ToyData::Ring => ring(rng, n, 8, 0.8, 0.05),
            ToyData::Moons => two_moons(rng, n, 0.05),
            ToyData::SwissRoll => swiss_roll(rng, n, 0.03),
        }
    }
}

impl fmt::Display for ToyData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ToyData {
    type Err = Error;

    fn from_str(s: &str) -> Result<ToyData> {
        match ToyData::ALL.into_iter().find(|d| d.name() == s) {
            Some(d) => Ok(d),
            None => Err(invalid!("toy data must be one of \"ring\", \"moons\", \"swiss-roll\", got {s:?}")),
        }
    }
}

/// The centres of [`ring`]'s modes, shaped (modes, 2): centre k is
/// $r(\cos(2\pi k / K), \sin(2\pi k / K))$ for k = 0..K.
pub fn ring_centres(modes: usize, radius: f64) -> Result<Array2<f64>> {
    if modes < 1 {
        return Err(invalid!("modes must be at least 1, got {modes}"));
    }
    check_non_negative("radius", radius)?;
    Ok(Array2::from_shape_fn((modes, 2), |(k, j)| {
        let angle = 2.0 * PI * k as f64 / modes as f64;
        radius * if j == 0 { angle.cos() } else { angle.sin() }
    }))
}

/// `n` points of a mixture of `modes` Gaussians with equal weights, centred on a circle
/// ([`ring_centres`]), each with covariance $\sigma^2 I$:
///
/// $$p(x) = \frac{1}{K} \sum_{k=0}^{K-1} \mathcal{N}(x; \mu_k, \sigma^2 I),
///   \qquad \mu_k = r(\cos(2\pi k/K), \sin(2\pi k/K)).$$
///
/// Scale: the points lie within about `radius + 3 std` of the origin, so radius 0.8 and std
/// 0.05 stay inside [-1, 1]. Shaped (n, 2).
pub fn ring(rng: &mut Rng, n: usize, modes: usize, radius: f64, std: f64) -> Result<Array2<f64>> {
    Ok(ring_labelled(rng, n, modes, radius, std)?.0)
}

/// [`ring`] together with the mode each point was drawn from (0..modes), for checks and for
/// colouring plots. The same seed gives the same points as [`ring`].
pub fn ring_labelled(
    rng: &mut Rng,
    n: usize,
    modes: usize,
    radius: f64,
    std: f64,
) -> Result<(Array2<f64>, Vec<usize>)> {
    check_n(n)?;
    check_non_negative("std", std)?;
    let centres = ring_centres(modes, radius)?;
    let mut points = Array2::zeros((n, 2));
    let mut labels = Vec::with_capacity(n);
    for mut row in points.rows_mut() {
        // Pick a mode uniformly, then add N(0, std^2) to each coordinate.
        let k = rng.random_range(0..modes);
        for j in 0..2 {
            row[j] = centres[[k, j]] + std * normal(rng);
        }
        labels.push(k);
    }
    Ok((points, labels))
}

/// `n` points of two interleaved half circles (scikit-learn's `make_moons`), each point on
/// either moon with probability 1/2 at a uniform angle $\theta \in [0, \pi]$:
///
/// $$\text{upper: } (\cos\theta, \sin\theta), \qquad
///   \text{lower: } (1 - \cos\theta, \tfrac12 - \sin\theta),$$
///
/// then scaled as $((x - \tfrac12) / 1.5, (y - \tfrac14) / 1.5)$, so that before noise
/// x spans [-1, 1] and y [-0.5, 0.5]; finally N(0, noise^2) is added to each coordinate.
/// scikit-learn's `make_moons(noise=s)` corresponds to `noise = s / 1.5` here. Shaped (n, 2).
pub fn two_moons(rng: &mut Rng, n: usize, noise: f64) -> Result<Array2<f64>> {
    check_n(n)?;
    check_non_negative("noise", noise)?;
    let mut points = Array2::zeros((n, 2));
    for mut row in points.rows_mut() {
        let upper: bool = rng.random();
        let theta = PI * rng.random::<f64>();
        let (x, y) = if upper { (theta.cos(), theta.sin()) } else { (1.0 - theta.cos(), 0.5 - theta.sin()) };
        row[0] = (x - 0.5) / 1.5 + noise * normal(rng);
        row[1] = (y - 0.25) / 1.5 + noise * normal(rng);
    }
    Ok(points)
}

/// `n` points of a 2-D swiss roll (the (x, z) plane of scikit-learn's `make_swiss_roll`):
/// with $t = \tfrac{3\pi}{2}(1 + 2u)$, $u \sim U[0, 1]$,
///
/// $$(x, y) = \frac{(t \cos t,\; t \sin t)}{4.5\pi},$$
///
/// a spiral of 1.5 turns whose outer end touches radius 1, so before noise it lies in
/// [-1, 1]; then N(0, noise^2) is added to each coordinate. scikit-learn's
/// `make_swiss_roll(noise=s)` corresponds to `noise = s / (4.5 pi)` here. Shaped (n, 2).
pub fn swiss_roll(rng: &mut Rng, n: usize, noise: f64) -> Result<Array2<f64>> {
    check_n(n)?;
    check_non_negative("noise", noise)?;
    let scale = 1.0 / (4.5 * PI);
    let mut points = Array2::zeros((n, 2));
    for mut row in points.rows_mut() {
        let t = 1.5 * PI * (1.0 + 2.0 * rng.random::<f64>());
        row[0] = scale * t * t.cos() + noise * normal(rng);
        row[1] = scale * t * t.sin() + noise * normal(rng);
    }
    Ok(points)
}

/// One N(0, 1) draw.
fn normal(rng: &mut Rng) -> f64 {
    StandardNormal.sample(rng)
}

fn check_n(n: usize) -> Result<()> {
    if n < 1 {
        return Err(invalid!("n (the number of points) must be at least 1, got {n}"));
    }
    Ok(())
}

fn check_non_negative(name: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(invalid!("{name} must be a finite number >= 0, got {value}"));
    }
    Ok(())
}
