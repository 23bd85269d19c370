//! Seeded randomness. Everything random in the crate draws from a generator made here, so the
//! same seed gives the same numbers on every run (candle's own CPU generator cannot be seeded).

use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

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

/// An array of the given shape filled with independent N(0, 1) draws: the noise eps ~ N(0, I).
pub fn normal(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || StandardNormal.sample(rng))
}

/// N(0, 1) noise of the same shape (and dimension type) as `x`: eps ~ N(0, I) for an image,
/// a batch, or many 1-D draws.
///
/// ```
/// let x = ndarray::Array2::<f64>::zeros((2, 3));
/// assert_eq!(ddpm::rng::normal_like(&mut ddpm::rng::seeded(1), &x).dim(), (2, 3));
/// ```
pub fn normal_like<D: ndarray::Dimension>(rng: &mut Rng, x: &ndarray::Array<f64, D>) -> ndarray::Array<f64, D> {
    ndarray::Array::from_shape_simple_fn(x.raw_dim(), || StandardNormal.sample(rng))
}

/// `n` independent N(0, 1) draws.
pub fn normal_vec(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}
