//! The trained networks that ship with the project, under `data/pretrained/`, so that sampling,
//! evaluation and the notebooks need no training first. Each folder is what the project's own
//! training wrote, cut to what sampling needs (checkpoint.json and the EMA weights for a
//! diffusion run); `data/pretrained/README.md` gives the command that made each, its wall time
//! and its evaluation, and `data/pretrained/SHA256SUMS` their checksums (`make pretrained`
//! trains them all again).

use std::path::PathBuf;

use super::default_data_dir;
use crate::Result;

/// The folder under the data folder that holds the shipped networks.
pub const PRETRAINED_DIR: &str = "pretrained";

/// One shipped network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pretrained {
    /// The default MNIST run, `ddpm train --data mnist`: a run folder for [`crate::run::Run::open`].
    Mnist,
    /// The class-conditional MNIST run, `ddpm train --data mnist --class-conditional`.
    MnistCond,
    /// `ddpm eval`'s judge: the MNIST classifier of [`crate::eval::Classifier`].
    Classifier,
    /// The feature network of `ddpm eval`'s Fréchet distance ([`crate::eval::FeatureNet`]).
    Features,
    /// The classifier of noisy digits p_phi(y | x_t, t) that guides [`Pretrained::Mnist`]
    /// ([`crate::guidance::NoisyClassifierRun::open`]).
    NoisyClassifier,
}

impl Pretrained {
    /// Every shipped network.
    pub const ALL: [Pretrained; 5] = [
        Pretrained::Mnist,
        Pretrained::MnistCond,
        Pretrained::Classifier,
        Pretrained::Features,
        Pretrained::NoisyClassifier,
    ];

    /// Its folder's name under `data/pretrained/`.
    pub fn name(self) -> &'static str {
        match self {
            Pretrained::Mnist => "mnist",
            Pretrained::MnistCond => "mnist-cond",
            Pretrained::Classifier => "mnist-classifier",
            Pretrained::Features => "mnist-features",
            Pretrained::NoisyClassifier => "mnist-noisy-classifier",
        }
    }

    /// Its folder, `data/pretrained/NAME` in the project's data folder ([`default_data_dir`]),
    /// whether or not it exists.
    pub fn path(self) -> Result<PathBuf> {
        Ok(default_data_dir()?.join(PRETRAINED_DIR).join(self.name()))
    }

    /// As [`Pretrained::path`], an error naming the folder and how to make it when it is missing.
    pub fn dir(self) -> Result<PathBuf> {
        let dir = self.path()?;
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(crate::Error::io(
                &dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the shipped network is missing (it comes with the repository; `make pretrained` trains it again)",
                ),
            ))
        }
    }
}

impl std::fmt::Display for Pretrained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "data/{PRETRAINED_DIR}/{}", self.name())
    }
}
