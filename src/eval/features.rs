//! The feature network of `ddpm eval`'s Fréchet distance: a small CNN trained for a task other
//! than the judge's classes, whose penultimate layer gives the features.
//!
//! Why not the judge's own features: a classifier trained until it is right 99 % of the time
//! keeps in its penultimate layer little beyond what separates the ten classes, so a set of
//! generated digits of the right classes sits as close to the test set there as real digits do,
//! whatever their strokes look like. This network has the judge's layout but learns a
//! self-supervised task instead (Gidaris, Singh and Komodakis 2018, "Unsupervised representation
//! learning by predicting image rotations"): every training image is turned by 0, 90, 180 or 270
//! degrees and the network says which. To tell an upright digit from a turned one it must see
//! the shapes of the strokes and where they sit, whatever the class; no label is used.
//!
//! It was chosen on real images only (docs/judge.md): under its features 1000 real training
//! digits are close to the test set, and blurred test digits, uniform noise and a set of one
//! class only are far ([`super::yardsticks`]).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::classifier::{argmax, rows, Rows};
use super::fit::fit;
use super::saved;
use super::trunk::Trunk;
use crate::checkpoint;
use crate::data::Mnist;
use crate::nn::init::linear;
use crate::nn::seeded_var_builder;
use crate::Result;

pub use super::trunk::FEATURES;
/// The pretext task's classes: 0, 1, 2 or 3 quarter turns counter-clockwise.
pub const ROTATIONS: usize = 4;
/// The version of the architecture and training recipe; a network saved by another recipe is
/// not used (see [`FeatureNet::cached`]).
pub const RECIPE: u32 = 1;
/// AdamW's peak learning rate, decayed to 0 along a cosine over the whole training.
const LR: f64 = 2e-3;
/// Epochs of the shipped network (each image once an epoch, turned a random number of times):
/// one epoch already names the turn of nearly every test digit, and longer training made the
/// features less sensitive to a slight blur (docs/judge.md).
const EPOCHS: usize = 1;
/// What [`FeatureNet::save`] writes as the checkpoint's model name.
const MODEL_NAME: &str = "mnist-features";

/// Anything that maps images (B, 1, 28, 28) in [-1, 1] to one feature row each: the judge's
/// penultimate layer or the feature network's.
pub trait Featurizer {
    /// The features of `x`, one row of f64 per image.
    fn feature_rows(&self, x: &Tensor) -> Result<Rows>;
}

impl Featurizer for super::Classifier {
    fn feature_rows(&self, x: &Tensor) -> Result<Rows> {
        Ok(self.predict(x)?.1)
    }
}

/// The judge's [`Trunk`] (conv 3x3 (1 -> 16), ReLU, 2x2 max pool; conv 3x3 (16 -> 32), ReLU,
/// max pool; linear 1568 -> 128, ReLU: the features) with its own weights, then linear 128 -> 4
/// (the logits of the rotation). 206 148 parameters.
#[derive(Debug, Clone)]
pub struct FeatureNet {
    trunk: Trunk,
    head: Linear,
}

/// How a saved feature network was trained, and how well it does its pretext task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureNetInfo {
    /// [`RECIPE`] when it was trained.
    pub recipe: u32,
    /// The pretext task, in words.
    pub task: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// The fraction of the 10 000 MNIST test images, each in all four turns, whose turn it
    /// names correctly.
    pub rotation_accuracy: f64,
}

impl FeatureNet {
    /// Builds the network from `vb` (f32).
    pub fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self { trunk: Trunk::new(&vb)?, head: linear(FEATURES, ROTATIONS, vb.pp("head"))? })
    }

    /// The penultimate features (B, 128) of images (B, 1, 28, 28) in [-1, 1].
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.trunk.features(x)
    }

    /// The logits (B, 4) of 0, 1, 2, 3 quarter turns.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.head.forward(&self.features(x)?)?)
    }

    /// Trains a fresh network on the images of `train` (their labels are not used) with AdamW
    /// (learning rate 2e-3 decayed to 0 along a cosine): every image of a batch is turned a
    /// number of quarter turns drawn uniformly from 0..4 by the generator seeded with `seed`,
    /// and the loss is the cross-entropy of that number.
    pub fn train(
        train: &Mnist,
        epochs: usize,
        batch_size: usize,
        seed: u64,
        device: &Device,
    ) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let model = Self::new(seeded_var_builder(&varmap, seed, device))?;
        fit(&varmap, train.len(), epochs, batch_size, LR, seed, |idx, rng| {
            let turns: Vec<u32> = idx.iter().map(|_| rng.random_range(0..ROTATIONS as u32)).collect();
            let x = rotated(&train.batch_tensor(idx, device)?, &turns)?;
            let y = Tensor::from_vec(turns, idx.len(), device)?;
            Ok(candle_nn::loss::cross_entropy(&model.logits(&x)?, &y)?)
        })?;
        Ok((model, varmap))
    }

    /// The fraction of `data`'s images, each in all four turns, whose turn the network names.
    pub fn rotation_accuracy(&self, data: &Mnist, device: &Device) -> Result<f64> {
        let (mut correct, mut total) = (0, 0);
        let all: Vec<usize> = (0..data.len()).collect();
        for idx in all.chunks(500) {
            let x = data.batch_tensor(idx, device)?;
            for k in 0..ROTATIONS as u32 {
                let logits = rows(&self.logits(&rotated(&x, &vec![k; idx.len()])?)?)?;
                correct += logits.iter().filter(|l| argmax(l) == k as usize).count();
                total += idx.len();
            }
        }
        Ok(correct as f64 / total.max(1) as f64)
    }

    /// The network saved in `dir`, or, when there is none or it was trained by another
    /// [`RECIPE`], one trained on `train` (1 epoch, batch 128, seed 0), tested on `test`, and
    /// saved there (atomically, replacing the old one) for next time.
    pub fn load_or_train(dir: &Path, train: &Mnist, test: &Mnist, device: &Device) -> Result<(Self, FeatureNetInfo)> {
        if let Some(cached) = Self::cached(dir, device)? {
            return Ok(cached);
        }
        let (epochs, batch_size, seed) = (EPOCHS, 128, 0);
        let (model, varmap) = Self::train(train, epochs, batch_size, seed, device)?;
        let info = FeatureNetInfo {
            recipe: RECIPE,
            task: "rotation: 0, 90, 180 or 270 degrees".into(),
            epochs,
            batch_size,
            seed,
            rotation_accuracy: model.rotation_accuracy(test, device)?,
        };
        Self::save(dir, &varmap, &info)?;
        Ok((model, info))
    }

    /// Saves the network's variables `varmap` and `info` into `dir` (atomically, replacing what
    /// is there), where [`cached`](Self::cached) finds them.
    pub fn save(dir: &Path, varmap: &VarMap, info: &FeatureNetInfo) -> Result<()> {
        saved::save(dir, MODEL_NAME, info.seed, varmap, info)
    }

    /// The network saved in `dir` with what [`load_or_train`](Self::load_or_train) wrote about
    /// it; None when there is none or it was trained by another [`RECIPE`].
    pub fn cached(dir: &Path, device: &Device) -> Result<Option<(Self, FeatureNetInfo)>> {
        saved::load(dir, device, |info: &FeatureNetInfo| info.recipe == RECIPE, Self::new)
    }

    /// As [`cached`](Self::cached), but an error that names `dir`, says what is missing and how
    /// to make the network when the folder holds none of the current recipe.
    pub fn open(dir: &Path, device: &Device) -> Result<(Self, FeatureNetInfo)> {
        if let Some(found) = Self::cached(dir, device)? {
            return Ok(found);
        }
        let meta = checkpoint::META_FILE;
        let why = if dir.join(meta).is_file() {
            format!("its {meta} was written by another recipe than {RECIPE}")
        } else {
            format!("there is no {meta}")
        };
        let message = format!(
            "no feature network here ({why}); `ddpm eval --features DIR` trains one into a folder that holds none"
        );
        Err(crate::Error::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, message)))
    }
}

impl Featurizer for FeatureNet {
    /// The features in batches of 500.
    fn feature_rows(&self, x: &Tensor) -> Result<Rows> {
        let mut feats = Vec::new();
        let n = x.dim(0)?;
        for start in (0..n).step_by(500) {
            feats.extend(rows(&self.features(&x.narrow(0, start, 500.min(n - start))?)?)?);
        }
        Ok(feats)
    }
}

/// Square images `x` (B, C, H, H), image i turned `turns[i]` quarter turns counter-clockwise:
/// pixel (r, c) of the result is pixel (c, H-1-r) of the image after one turn,
/// (H-1-r, H-1-c) after two, (H-1-c, r) after three.
pub fn rotated(x: &Tensor, turns: &[u32]) -> Result<Tensor> {
    let (b, ch, h, w) = x.dims4()?;
    if h != w || turns.len() != b {
        return Err(invalid!(
            "rotating needs square images and one turn count per image, got {h}x{w} images, {b} of them, and {} turns",
            turns.len()
        ));
    }
    let v: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let mut out = vec![0f32; v.len()];
    let last = h - 1;
    for (i, &k) in turns.iter().enumerate() {
        for c in 0..ch {
            let plane = (i * ch + c) * h * h;
            for r in 0..h {
                for col in 0..h {
                    let (sr, sc) = match k % 4 {
                        0 => (r, col),
                        1 => (col, last - r),
                        2 => (last - r, last - col),
                        _ => (last - col, r),
                    };
                    out[plane + r * h + col] = v[plane + sr * h + sc];
                }
            }
        }
    }
    Ok(Tensor::from_vec(out, (b, ch, h, w), x.device())?.to_dtype(x.dtype())?)
}
