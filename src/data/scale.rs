//! Pixels 0..=255 to [-1, 1] and back.
//!
//! Ho et al. 2020, Section 3.3: "We assume that image data consists of integers in
//! {0, 1, ..., 255} scaled linearly to [-1, 1]." The map is
//!
//! $$x = \frac{p}{127.5} - 1, \qquad p \in \{0, \dots, 255\},$$
//!
//! so 0 goes to -1, 255 to 1, and the 256 levels are 2/255 apart (the bins of the discretised
//! decoder L_0, Eq. 13, have half-width 1/255). The way back rounds to the nearest level and
//! clamps: values outside [-1, 1] (a sampler's overshoot) become 0 or 255.

use ndarray::{Array, ArrayBase, Data, Dimension};

/// One pixel to [-1, 1]: $x = p / 127.5 - 1$ (Ho et al. 2020, Section 3.3).
///
/// ```
/// use ddpm::data::pixel_to_unit;
/// assert_eq!(pixel_to_unit(0), -1.0);
/// assert_eq!(pixel_to_unit(255), 1.0);
/// ```
pub fn pixel_to_unit(p: u8) -> f64 {
    p as f64 / 127.5 - 1.0
}

/// One value in [-1, 1] back to a pixel: $p = \mathrm{round}((x + 1) \cdot 127.5)$, clamped to
/// 0..=255. Rounding is half away from zero (`f64::round`); NaN gives 0.
/// It inverts [`pixel_to_unit`] exactly on every level 0..=255.
///
/// ```
/// use ddpm::data::{pixel_to_unit, unit_to_pixel};
/// assert!((0..=255u8).all(|p| unit_to_pixel(pixel_to_unit(p)) == p));
/// assert_eq!(unit_to_pixel(-3.0), 0);
/// assert_eq!(unit_to_pixel(1.2), 255);
/// ```
pub fn unit_to_pixel(x: f64) -> u8 {
    // `as u8` saturates below 0 and above 255 and maps NaN to 0.
    ((x + 1.0) * 127.5).round() as u8
}

/// [`pixel_to_unit`] on every element of an array (any shape).
pub fn pixels_to_unit<S, D>(pixels: &ArrayBase<S, D>) -> Array<f64, D>
where
    S: Data<Elem = u8>,
    D: Dimension,
{
    pixels.mapv(pixel_to_unit)
}

/// [`unit_to_pixel`] on every element of an array (any shape): rounded and clamped.
pub fn unit_to_pixels<S, D>(values: &ArrayBase<S, D>) -> Array<u8, D>
where
    S: Data<Elem = f64>,
    D: Dimension,
{
    values.mapv(unit_to_pixel)
}
