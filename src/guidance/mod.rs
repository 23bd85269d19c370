//! Classifier guidance (Dhariwal and Nichol 2021, Sec. 4; note 000): a classifier of noisy images
//! p_phi(y | x_t, t) steers an unconditional DDPM towards a class by adding its gradient to eps,
//!
//! $$\hat\epsilon = \epsilon_\theta(x_t, t) - s\,\sqrt{1-\bar\alpha_t}\;\nabla_{x_t}\log p_\phi(y \mid x_t, t)$$
//!
//! the score view of notebook 04 put to work: eps / sqrt(1 - alpha_bar_t) is minus the score of
//! x_t, so the step above adds s times the classifier's score to the model's.
//!
//! - [`classifier`]: [`NoisyClassifier`], a time-conditioned classifier built from the U-Net's
//!   time embedding and residual blocks, and [`NoisyClassify`], what guidance needs of one;
//! - [`mod@train`]: training it on digits noised by q(x_t | x_0) at a uniform t, with
//!   checkpoints and an exact resume, and its accuracy against t;
//! - `trainer` (private): one training step, and the state (AdamW's moments, the generator, the
//!   order of the digits) that continues a training exactly;
//! - [`folder`]: its folder ([`NoisyClassifierRun`]): the description, the weights (refused
//!   when not finite) and the training state;
//! - [`guided`]: [`Guided`], an unconditional model with the guidance added, which any sampler
//!   (Algorithm 2, DDIM) takes as it takes the model itself; and the gradient.

pub mod classifier;
pub mod folder;
pub mod guided;
pub mod train;
mod trainer;

pub use classifier::{NoisyClassifier, NoisyClassifierConfig, NoisyClassify};
pub use folder::NoisyClassifierRun;
pub use guided::{log_prob_grad, Guided};
pub use train::{accuracy_by_t, NoisyOptions, TrainNoisy};
