//! Arrows drawn as trails of dots, for vector fields (a score, a predicted noise) on a
//! [`Scatter`](super::Scatter) plot, which draws points only.

use crate::Result;

/// For each base point p and direction d, the `dots` points p + k * spacing * d for
/// k = 1..=dots: a trail that starts at p and points along d, of length dots * spacing * |d|.
/// Scale or normalise d first to choose what the length shows.
///
/// ```
/// let dots = ddpm::display::arrow_dots(&[(0.0, 0.0)], &[(1.0, 0.0)], 0.5, 3)?;
/// assert_eq!(dots, vec![(0.5, 0.0), (1.0, 0.0), (1.5, 0.0)]);
/// # Ok::<(), ddpm::Error>(())
/// ```
pub fn arrow_dots(from: &[(f64, f64)], direction: &[(f64, f64)], spacing: f64, dots: usize) -> Result<Vec<(f64, f64)>> {
    if from.len() != direction.len() {
        return Err(invalid!(
            "arrow_dots needs one direction per base point, got {} points and {} directions",
            from.len(),
            direction.len()
        ));
    }
    Ok(from
        .iter()
        .zip(direction)
        .flat_map(|(&(x, y), &(dx, dy))| {
            (1..=dots).map(move |k| (x + k as f64 * spacing * dx, y + k as f64 * spacing * dy))
        })
        .collect())
}
