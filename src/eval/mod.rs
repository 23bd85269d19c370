//! How good is a trained DDPM (`ddpm eval`)?
//!
//! - [`bound`]: the variational bound in bits per dimension on test images, with its terms (E16);
//! - [`classifier`]: a small MNIST classifier, trained once and cached;
//! - [`frechet`]: the Fréchet distance between feature sets (FID's formula, on the classifier's
//!   penultimate layer);
//! - [`sample_quality`]: what the classifier says about generated samples: the fraction it
//!   recognises with confidence >= 0.9, the histogram of its classes, the Fréchet distance to
//!   the test set, and, for class-conditional samples, how often it sees the requested class (E23);
//! - [`share`]: the share of images classified as expected, with its standard error;
//! - [`toy`]: samples and eps of a model of the 2-D ring against the exact mixture (E19, E20).

pub mod bound;
pub mod classifier;
pub mod frechet;
pub mod share;
pub mod toy;

use candle_core::Tensor;

pub use bound::{variational_bound, BoundReport};
pub use classifier::{argmax, Classifier, ClassifierInfo, NO_DIGIT};
pub use frechet::{frechet_distance, frechet_distance_of};
pub use share::{classified_as, Share};

use crate::Result;

/// The confidence above which a sample counts as a recognisable digit.
pub const CONFIDENT: f64 = 0.9;

/// What the classifier says about a set of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleQuality {
    /// Samples judged.
    pub n: usize,
    /// Fraction whose most likely class is a digit with probability >= [`CONFIDENT`].
    pub confident_fraction: f64,
    /// How many samples fall in each digit class (by the most likely class).
    pub histogram: [usize; 10],
    /// How many samples the classifier calls "no digit" (noise).
    pub no_digit: usize,
    /// Fréchet distance between the samples' features and the reference features.
    pub frechet: f64,
    /// For class-conditional samples: the fraction classified as the class asked for.
    pub class_accuracy: Option<f64>,
}

impl SampleQuality {
    /// Whether every digit class has at least one sample.
    pub fn all_classes_present(&self) -> bool {
        self.histogram.iter().all(|&c| c > 0)
    }
}

/// Judges `samples` (B, 1, 28, 28) in [-1, 1] with `classifier`, against `reference` features
/// (e.g. of the MNIST test set); `requested` is the class asked for each sample, if any.
pub fn sample_quality(
    classifier: &Classifier,
    samples: &Tensor,
    reference: &[Vec<f64>],
    requested: Option<&[u32]>,
) -> Result<SampleQuality> {
    let (probs, features) = classifier.predict(samples)?;
    let n = probs.len();
    if n < 2 {
        return Err(invalid!("judging samples needs at least 2 of them, got {n}"));
    }
    let (mut histogram, mut no_digit, mut confident) = ([0usize; 10], 0, 0);
    for p in &probs {
        let k = argmax(p);
        if k == NO_DIGIT {
            no_digit += 1;
        } else {
            histogram[k] += 1;
            confident += usize::from(p[k] >= CONFIDENT);
        }
    }
    let class_accuracy = match requested {
        None => None,
        Some(r) if r.len() != n => {
            return Err(invalid!("requested must name one class per sample ({n}), got {}", r.len()))
        }
        Some(r) => Some(probs.iter().zip(r).filter(|(p, &c)| argmax(p) == c as usize).count() as f64 / n as f64),
    };
    Ok(SampleQuality {
        n,
        confident_fraction: confident as f64 / n as f64,
        histogram,
        no_digit,
        frechet: frechet_distance_of(&features, reference)?,
        class_accuracy,
    })
}
