//! Seeded randomness. Everything random in the crate draws from a generator made here, so the
//! same seed gives the same numbers on every run (candle's own CPU generator cannot be seeded).
//! Arrays of draws come from `ndarray-rand`'s [`RandomExt::random_using`] with this generator.

use ndarray::{Array, Array1, ArrayD, Dimension, IxDyn};
use ndarray_rand::RandomExt;
use rand::SeedableRng;
use rand_distr::StandardNormal;

/// The generator used throughout the crate: ChaCha with 12 rounds, the generator inside rand
/// 0.9's `StdRng` (same seed, same stream), named directly so that its position in the stream
/// can be read and set (`get_word_pos`, `set_word_pos`): a resumed training run continues it.
pub type Rng = rand_chacha::ChaCha12Rng;

/// A generator seeded with `seed`.
///
/// ```
/// use ddpm::rng::{seeded, normal};
/// assert_eq!(normal(&mut seeded(7), &[3]), normal(&mut seeded(7), &[3]));
/// ```
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// An array of the given shape filled with independent N(0, 1) draws, in C order: the noise
/// eps ~ N(0, I).
///
/// ```
/// let eps = ddpm::rng::normal(&mut ddpm::rng::seeded(0), &[2, 3]);
/// assert_eq!(eps.shape(), &[2, 3]);
/// ```
pub fn normal(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
    ArrayD::random_using(IxDyn(shape), StandardNormal, rng)
}

/// N(0, 1) noise of the same shape (and dimension type) as `x`: eps ~ N(0, I) for an image,
/// a batch, or many 1-D draws.
///
/// ```
/// let x = ndarray::Array2::<f64>::zeros((2, 3));
/// assert_eq!(ddpm::rng::normal_like(&mut ddpm::rng::seeded(1), &x).dim(), (2, 3));
/// ```
pub fn normal_like<D: Dimension>(rng: &mut Rng, x: &Array<f64, D>) -> Array<f64, D> {
    Array::random_using(x.raw_dim(), StandardNormal, rng)
}

/// `n` independent N(0, 1) draws, the same numbers as [`normal`] of shape `[n]`.
///
/// ```
/// use ddpm::rng::{normal, normal_vec, seeded};
/// assert_eq!(normal_vec(&mut seeded(3), 4), normal(&mut seeded(3), &[4]).into_raw_vec_and_offset().0);
/// ```
pub fn normal_vec(rng: &mut Rng, n: usize) -> Vec<f64> {
    Array1::random_using(n, StandardNormal, rng).into_raw_vec_and_offset().0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first six N(0, 1) draws of seed 7. The values come from the implementation before
    /// `ndarray-rand` (`StandardNormal.sample(&mut ChaCha12Rng::seed_from_u64(7))`, one draw at a
    /// time): the same seed must keep giving the same numbers.
    const SEED_7: [f64; 6] = [
        -1.0435766267299837,
        -0.5767477785308605,
        -0.7112543182637732,
        0.11629713986442239,
        -0.5318467092742005,
        0.7439265338150648,
    ];

    #[test]
    fn draws_are_pinned_for_a_fixed_seed() {
        assert_eq!(normal_vec(&mut seeded(7), 6), SEED_7);
        assert_eq!(normal(&mut seeded(7), &[2, 3]).into_raw_vec_and_offset().0, SEED_7);
        let like = normal_like(&mut seeded(7), &ndarray::Array2::<f64>::zeros((3, 2)));
        assert_eq!(like.as_slice().unwrap(), &SEED_7, "C order");
    }
}
