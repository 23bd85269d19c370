//! A small MNIST classifier that judges generated digits: how many it recognises with confidence,
//! which classes they fall in, and the features of its penultimate layer for the Fréchet
//! distance. The crate trains it once (minutes on a laptop CPU) and caches it.
//!
//! A classifier trained on digits alone calls almost anything a digit, pure noise included, with
//! high confidence. So this one has an eleventh class, "no digit" ([`NO_DIGIT`]), trained on
//! noise: N(0, I) images and digits noised by q(x_t | x_0) at t in 300..=1000, clipped to
//! [-1, 1]. A sample counts as a recognisable digit only if a digit class gets >= 0.9.
//!
//! The recipe ([`RECIPE`]) was chosen on real digits only (a validation split of the training
//! set; docs/judge.md), before any generated sample was judged with it.

use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::fit::fit;
use super::saved;
use super::trunk::Trunk;
use crate::data::Mnist;
use crate::nn::init::linear;
use crate::nn::seeded_var_builder;
use crate::Result;

/// One row of f64 per image.
pub type Rows = Vec<Vec<f64>>;

pub use super::trunk::FEATURES;
/// The label of the "no digit" class (noise), after the digits 0-9.
pub const NO_DIGIT: usize = 10;
/// The version of the architecture and training recipe. 1: average pooling, 5 epochs at a
/// constant learning rate 1e-3. 2: max pooling, 8 epochs, a cosine decay of the learning rate
/// from LR to 0 (docs/judge.md says why and how it was chosen). A cached classifier of another
/// recipe is retrained.
pub const RECIPE: u32 = 2;
/// AdamW's peak learning rate, decayed to 0 along a cosine over the whole training.
const LR: f64 = 2e-3;
/// Epochs of the cached classifier.
const EPOCHS: usize = 8;

/// The [`Trunk`] (conv 3x3 (1 -> 16), ReLU, 2x2 max pool; conv 3x3 (16 -> 32), ReLU, max pool;
/// linear 1568 -> 128, ReLU: the features), then linear 128 -> 11 (the logits: digits 0-9 and
/// "no digit"). 207 051 parameters.
#[derive(Debug, Clone)]
pub struct Classifier {
    trunk: Trunk,
    fc2: Linear,
}

/// How the cached classifier was trained, and how well it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierInfo {
    /// [`RECIPE`] when it was trained (1 in caches written before the field existed).
    #[serde(default = "first_recipe")]
    pub recipe: u32,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Accuracy on the 10 000 MNIST test images.
    pub test_accuracy: f64,
}

impl Classifier {
    /// Builds the network from `vb` (f32).
    pub fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self { trunk: Trunk::new(&vb)?, fc2: linear(FEATURES, NO_DIGIT + 1, vb.pp("fc2"))? })
    }

    /// The penultimate features (B, 128) of images (B, 1, 28, 28) in [-1, 1].
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.trunk.features(x)
    }

    /// The logits (B, 11).
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.fc2.forward(&self.features(x)?)?)
    }

    /// Class probabilities (B, 11) (softmax of the logits) and features (B, 128), in batches of
    /// 500, as f64 rows.
    pub fn predict(&self, x: &Tensor) -> Result<(Rows, Rows)> {
        let (mut probs, mut feats) = (Vec::new(), Vec::new());
        let n = x.dim(0)?;
        for start in (0..n).step_by(500) {
            let xb = x.narrow(0, start, 500.min(n - start))?;
            let f = self.features(&xb)?;
            let p = candle_nn::ops::softmax(&self.fc2.forward(&f)?, D::Minus1)?;
            probs.extend(rows(&p)?);
            feats.extend(rows(&f)?);
        }
        Ok((probs, feats))
    }

    /// Trains a fresh classifier on `train` with AdamW (learning rate 2e-3 decayed to 0 along a
    /// cosine), shuffling with `seed`; every batch of digits gets a quarter as many "no digit"
    /// images (see the module docs).
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
            let (x, y) = with_noise(batch(train, idx, device)?, rng)?;
            Ok(candle_nn::loss::cross_entropy(&model.logits(&x)?, &y)?)
        })?;
        Ok((model, varmap))
    }

    /// The fraction of `data` classified correctly.
    pub fn accuracy(&self, data: &Mnist, device: &Device) -> Result<f64> {
        let idx: Vec<usize> = (0..data.len()).collect();
        let (x, _) = batch(data, &idx, device)?;
        let (probs, _) = self.predict(&x)?;
        let correct = probs.iter().zip(data.labels()).filter(|(p, &y)| argmax(p) == y as usize).count();
        Ok(correct as f64 / data.len().max(1) as f64)
    }

    /// The classifier cached in `dir`, or, when there is none or it was trained by another
    /// [`RECIPE`], one trained on `train` (8 epochs, batch 128, seed 0), tested on `test`,
    /// and saved there (atomically, replacing the old one) for next time.
    pub fn load_or_train(dir: &Path, train: &Mnist, test: &Mnist, device: &Device) -> Result<(Self, ClassifierInfo)> {
        if let Some(cached) = Self::cached(dir, device)? {
            return Ok(cached);
        }
        let (epochs, batch_size, seed) = (EPOCHS, 128, 0);
        let (model, varmap) = Self::train(train, epochs, batch_size, seed, device)?;
        let info =
            ClassifierInfo { recipe: RECIPE, epochs, batch_size, seed, test_accuracy: model.accuracy(test, device)? };
        Self::save(dir, &varmap, &info)?;
        Ok((model, info))
    }

    /// Saves the classifier's variables `varmap` and `info` into `dir` (atomically, replacing
    /// what is there), where [`cached`](Self::cached) finds them.
    pub fn save(dir: &Path, varmap: &VarMap, info: &ClassifierInfo) -> Result<()> {
        saved::save(dir, "mnist-classifier", info.seed, varmap, info)
    }

    /// The classifier saved in `dir` with what [`load_or_train`](Self::load_or_train) wrote about
    /// it; None when there is none or it was trained by another [`RECIPE`].
    pub fn cached(dir: &Path, device: &Device) -> Result<Option<(Self, ClassifierInfo)>> {
        saved::load(dir, device, |info: &ClassifierInfo| info.recipe == RECIPE, Self::new)
    }
}

fn first_recipe() -> u32 {
    1
}

/// The batch with B / 4 "no digit" images appended: half N(0, I), half digits of the batch
/// noised at t uniform in 300..=1000 of the linear schedule, all clipped to [-1, 1].
fn with_noise((x, y): (Tensor, Tensor), rng: &mut crate::rng::Rng) -> Result<(Tensor, Tensor)> {
    use rand::Rng as _;
    let (b, pixels) = (x.dim(0)?, x.elem_count() / x.dim(0)?.max(1));
    let k = (b / 4).max(1);
    let schedule = crate::NoiseSchedule::linear(1000)?;
    let digits: Vec<f32> = x.flatten_all()?.to_vec1()?;
    let mut noise = Vec::with_capacity(k * pixels);
    for j in 0..k {
        let eps = ndarray::Array1::from(crate::rng::normal_vec(rng, pixels));
        // Pure noise, or a digit noised to a large t by Eq. 4.
        let xt = if j % 2 == 0 {
            eps
        } else {
            let t = rng.random_range(300..=1000);
            let x0 = &digits[(j % b) * pixels..(j % b + 1) * pixels];
            let x0: ndarray::Array1<f64> = x0.iter().map(|&v| v as f64).collect();
            crate::diffusion::q_sample(&schedule, &x0, t, &eps)?
        };
        noise.extend(xt.iter().map(|v| v.clamp(-1.0, 1.0) as f32));
    }
    let mut shape = x.dims().to_vec();
    shape[0] = k;
    let noise = Tensor::from_vec(noise, shape, x.device())?;
    let labels = Tensor::full(NO_DIGIT as u32, k, x.device())?;
    Ok((Tensor::cat(&[&x, &noise], 0)?, Tensor::cat(&[&y, &labels], 0)?))
}

/// Images (B, 1, 28, 28) in [-1, 1] and labels (B,) u32 for the indices `idx` of `data`.
pub(super) fn batch(data: &Mnist, idx: &[usize], device: &Device) -> Result<(Tensor, Tensor)> {
    let y = Tensor::from_vec(data.labels_u32(idx), idx.len(), device)?;
    Ok((data.batch_tensor(idx, device)?, y))
}

pub(super) fn rows(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    let r: Vec<Vec<f32>> = t.to_dtype(DType::F32)?.to_vec2()?;
    Ok(r.into_iter().map(|row| row.into_iter().map(f64::from).collect()).collect())
}

/// The index of the largest value (the first, on ties).
pub fn argmax(p: &[f64]) -> usize {
    p.iter().enumerate().fold(0, |best, (i, &v)| if v > p[best] { i } else { best })
}
