//! One training step of the noisy classifier p_phi(y | x_t, t), and what continues its training
//! exactly after a stop: AdamW's moments, the one seeded generator and the order of the digits.
//!
//! The digits are visited in a random order, shuffled again by the generator whenever fewer than
//! a batch are left; each digit of a batch is noised by the closed form q(x_t | x_0) (Ho et al.
//! 2020, Eq. 4) at its own t uniform in 1..=T, with eps from the same generator.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::seq::SliceRandom;
use rand::Rng as _;

use super::classifier::{NoisyClassifier, NoisyClassify};
use crate::checkpoint::TrainState;
use crate::data::Mnist;
use crate::diffusion::q_sample;
use crate::rng::{seeded, Rng};
use crate::sample::normal_tensor;
use crate::train::{resume, AdamW};
use crate::{Error, NoiseSchedule, Result};

/// The [`TrainState`] tensor of the order of the training digits (u32 indices).
const DIGIT_ORDER: &str = "digit_order";
/// The [`TrainState`] counter of the next unused place in that order.
const NEXT_DIGIT: &str = "next_digit";

/// Where a training is: its step, AdamW, the generator, and the order of the digits.
pub(super) struct NoisyTrainer {
    /// Steps taken.
    pub step: usize,
    /// Over the variables sorted by name, so that its saved moments come in a fixed order.
    optimizer: AdamW,
    rng: Rng,
    /// A permutation of the training digits' indices.
    order: Vec<usize>,
    /// The next unused place in `order`; `order.len()` makes the first step shuffle.
    next: usize,
    lr: f64,
}

impl NoisyTrainer {
    /// Step 0 of a training of the variables of `varmap` on `n` digits: zero moments, AdamW at
    /// learning rate `lr` without weight decay, the generator seeded with `seed`.
    pub fn new(varmap: &VarMap, n: usize, lr: f64, seed: u64) -> Result<Self> {
        let mut named: Vec<(String, Var)> = {
            let data = varmap.data().lock().map_err(|_| Error::Internal("the VarMap's lock is poisoned".into()))?;
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let optimizer = AdamW::new(named, lr, 0.0)?;
        Ok(Self { step: 0, optimizer, rng: seeded(seed), order: (0..n).collect(), next: n, lr })
    }

    /// Continues from weights (already in the variables) that reached `step`, with `state`, the
    /// state saved at that step, if there is one: then exactly as if the training had not
    /// stopped. Without it (a folder of an older ddpm, or a crash between the two writes of a
    /// checkpoint), AdamW starts again from zero moments and the generator is re-seeded from
    /// (seed, step), so that such a resume is still reproducible.
    pub fn resume_at(&mut self, step: usize, state: Option<&TrainState>, seed: u64) -> Result<()> {
        let n = self.order.len();
        match state {
            Some(state) => {
                let order = digit_order(state, n)?;
                let next = resume::counter(state, NEXT_DIGIT)?;
                if next > n as u128 {
                    return Err(invalid!("the train state's {NEXT_DIGIT} is {next}, past the {n} digits"));
                }
                let moments: BTreeMap<String, Tensor> = state
                    .tensors
                    .iter()
                    .filter(|(k, _)| *k != DIGIT_ORDER)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.rng = resume::restore(state, &moments, &mut self.optimizer)?;
                (self.order, self.next) = (order, next as usize);
            }
            None => self.rng = resume::reseeded(seed, step),
        }
        self.step = step;
        Ok(())
    }

    /// What [`NoisyTrainer::resume_at`] needs to continue from this step exactly.
    pub fn state(&self) -> Result<TrainState> {
        let mut counters = resume::counters(&self.optimizer, &self.rng);
        counters.insert(NEXT_DIGIT.into(), self.next.to_string());
        let order = self.order.iter().map(|&i| u32::try_from(i)).collect::<std::result::Result<Vec<u32>, _>>();
        let Ok(order) = order else { return Err(invalid!("the training data has more digits than a u32 counts")) };
        let mut tensors = self.optimizer.moments();
        tensors.insert(DIGIT_ORDER.into(), Tensor::from_vec(order, self.order.len(), &Device::Cpu)?);
        Ok(TrainState { step: self.step as u64, counters, tensors })
    }

    /// One step: `batch` digits of `data` (digits in [-1, 1]), each noised at its own t, and an
    /// AdamW step on the cross-entropy of `net`'s logits. Returns the loss before the update; a
    /// NaN or infinite loss is [`Error::Diverged`], and nothing changes.
    pub fn training_step(
        &mut self,
        net: &NoisyClassifier,
        noise: &NoiseSchedule,
        data: &Mnist,
        batch: usize,
        device: &Device,
    ) -> Result<f64> {
        if self.next + batch > self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.next = 0;
        }
        let idx = &self.order[self.next..self.next + batch.min(self.order.len())];
        self.next += idx.len();
        let ts: Vec<usize> = idx.iter().map(|_| self.rng.random_range(1..=noise.steps())).collect();
        let x0 = data.batch_tensor(idx, device)?;
        let xt = q_sample(noise, &x0, &ts, &normal_tensor(&mut self.rng, x0.dims(), device)?)?;
        let t = Tensor::from_vec(ts.iter().map(|&t| t as u32).collect::<Vec<_>>(), idx.len(), device)?;
        let y = Tensor::from_vec(data.labels_u32(idx), idx.len(), device)?;
        let loss = candle_nn::loss::cross_entropy(&net.logits(&xt, &t)?, &y)?;
        let value: f64 = loss.to_dtype(DType::F64)?.to_scalar()?;
        if !value.is_finite() {
            return Err(Error::Diverged { step: self.step + 1, quantity: "loss", value, lr: self.lr, kept: None });
        }
        self.optimizer.step(&loss.backward()?)?;
        self.step += 1;
        Ok(value)
    }
}

/// The order of the digits in `state`: a permutation of 0..n, or an error saying what it is.
fn digit_order(state: &TrainState, n: usize) -> Result<Vec<usize>> {
    let Some(tensor) = state.tensors.get(DIGIT_ORDER) else {
        return Err(invalid!("the train state has no {DIGIT_ORDER}"));
    };
    let order: Vec<u32> = tensor.to_dtype(DType::U32)?.flatten_all()?.to_vec1()?;
    if order.len() != n {
        return Err(invalid!(
            "the train state orders {} training digits, the data given has {n}: resume with the same data",
            order.len()
        ));
    }
    let mut seen = vec![false; n];
    for &i in &order {
        match seen.get_mut(i as usize) {
            Some(s) if !*s => *s = true,
            _ => return Err(invalid!("the train state's {DIGIT_ORDER} is not a permutation of 0..{n} (at {i})")),
        }
    }
    Ok(order.into_iter().map(|i| i as usize).collect())
}
