//! The share of images that the evaluation classifier puts in the class expected of each, with
//! its standard error: the rate of inpainting (the original's label) and of guidance (the class
//! asked for).

use candle_core::Tensor;

use super::classifier::{argmax, Classifier};
use crate::Result;

/// `hits` of `n` images classified as expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub hits: usize,
    pub n: usize,
}

impl Share {
    /// hits / n.
    pub fn fraction(&self) -> f64 {
        self.hits as f64 / self.n as f64
    }

    /// The binomial standard error of the fraction, sqrt(p (1 - p) / n).
    ///
    /// ```
    /// let s = ddpm::eval::Share { hits: 50, n: 100 };
    /// assert_eq!(s.standard_error(), 0.05);
    /// ```
    pub fn standard_error(&self) -> f64 {
        let p = self.fraction();
        (p * (1.0 - p) / self.n as f64).sqrt()
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} % ± {:.1} % ({} of {})",
            100.0 * self.fraction(),
            100.0 * self.standard_error(),
            self.hits,
            self.n
        )
    }
}

/// How many of `images` (B, 1, 28, 28) in [-1, 1] the classifier's most likely class (of the
/// eleven, "no digit" included) calls `expected[i]`.
pub fn classified_as(classifier: &Classifier, images: &Tensor, expected: &[u32]) -> Result<Share> {
    let (probs, _) = classifier.predict(images)?;
    if probs.len() != expected.len() || probs.is_empty() {
        return Err(invalid!(
            "classified_as needs one expected class per image ({}), at least one, got {}",
            probs.len(),
            expected.len()
        ));
    }
    let hits = probs.iter().zip(expected).filter(|(p, &c)| argmax(p) == c as usize).count();
    Ok(Share { hits, n: probs.len() })
}
