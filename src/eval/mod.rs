//! How good is a trained DDPM (`ddpm eval`)?
//!
//! - [`bound`]: the variational bound in bits per dimension on test images, with its terms (E16);
//! - [`classifier`]: a small MNIST classifier (the judge), trained once and cached;
//! - [`features`]: eval's feature network, trained to tell how far a digit is turned, not which
//!   digit it is: its penultimate layer gives the features of the Fréchet distance;
//! - [`trunk`], [`fit`] and [`saved`]: the layers, the training loop and the folder format the
//!   two share;
//! - [`frechet`]: the Fréchet distance between feature sets (FID's formula);
//! - [`yardsticks`]: what a Fréchet distance means: the distances of real digits, blurred
//!   digits, noise and a single class to the same test set, in the same features;
//! - [`sample_quality`]: what the judge says about generated samples: the fraction it
//!   recognises with confidence >= 0.9, the histogram of its classes, the Fréchet distance to
//!   the test set in the judge's own features, and, for class-conditional samples, how often it
//!   sees the requested class (E23);
//! - [`share`]: the share of images classified as expected, with its standard error;
//! - [`toy`]: samples and eps of a model of the 2-D ring against the exact mixture (E19, E20).

pub mod bound;
pub mod classifier;
pub mod features;
pub mod fit;
pub mod frechet;
pub mod saved;
pub mod share;
pub mod toy;
pub mod trunk;
pub mod yardsticks;

use candle_core::Tensor;

pub use bound::{variational_bound, BoundReport};
pub use classifier::{argmax, Classifier, ClassifierInfo, NO_DIGIT};
pub use features::{FeatureNet, FeatureNetInfo, Featurizer};
pub use frechet::{frechet_distance, frechet_distance_of};
pub use share::{classified_as, Share};
pub use yardsticks::{Distances, Yardstick, Yardsticks};

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
    /// Fréchet distance between the samples' features in the judge's penultimate layer and the
    /// reference features (the judge's too). `ddpm eval`'s main Fréchet figure is in
    /// [`FeatureNet`]'s features instead; this one is kept beside it.
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
