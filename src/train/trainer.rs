//! The gradient step of Algorithm 1 (Ho et al. 2020) on candle: AdamW with linear warm-up,
//! clipping by global norm, a stop on a non-finite loss, and the EMA of the weights.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use rand::Rng as _;

use super::adamw::AdamW;
use super::ema::Ema;
use super::resume;
use super::step::{weighted_loss, NoisedBatch};
use super::TrainConfig;
use crate::checkpoint::TrainState;
use crate::nn::EpsModel;
use crate::rng::{seeded, Rng};
use crate::{Error, NoiseSchedule, Result};

/// What one gradient step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The step just taken, 1-based.
    pub step: usize,
    /// The loss before the update.
    pub loss: f32,
    /// The learning rate used.
    pub lr: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
}

/// A model, its variables, AdamW, the EMA and the one seeded generator of the run.
pub struct Trainer<M: EpsModel> {
    model: M,
    varmap: VarMap,
    // Over the variables sorted by name: the global norm is summed in the same order on every run.
    optimizer: AdamW,
    ema: Ema,
    schedule: NoiseSchedule,
    config: TrainConfig,
    rng: Rng,
    step: usize,
    null_class: Option<u32>,
}

impl<M: EpsModel> Trainer<M> {
    /// A trainer for `model`, whose variables are those of `varmap`; the generator is seeded
    /// with `config.seed` and the EMA starts at the current weights.
    pub fn new(model: M, varmap: VarMap, schedule: NoiseSchedule, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let mut named: Vec<(String, Var)> = {
            let data =
                varmap.data().lock().map_err(|_| crate::Error::Internal("the VarMap's lock is poisoned".into()))?;
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        if named.is_empty() {
            return Err(invalid!("the VarMap holds no variables: build the model from it before training"));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let optimizer = AdamW::new(named, config.lr_at(1), config.weight_decay)?;
        let ema = Ema::new(&varmap, config.ema_decay)?.with_warmup(config.ema_warmup);
        let rng = seeded(config.seed);
        Ok(Self { model, varmap, optimizer, ema, schedule, config, rng, step: 0, null_class: None })
    }

    /// Sets the label meaning "no class" (`UNet::null_class`), needed for label dropout.
    pub fn with_null_class(mut self, null_class: Option<u32>) -> Self {
        self.null_class = null_class;
        self
    }

    /// The model being trained.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// Its variables.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }
    /// The moving average of its weights.
    pub fn ema(&self) -> &Ema {
        &self.ema
    }
    /// The noise schedule.
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }
    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }
    /// Steps taken so far.
    pub fn step(&self) -> usize {
        self.step
    }
    /// The run's generator (batches, t, eps and label dropout all come from it).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
    /// Continues a run whose weights (already in the variables) reached step `step`, with its
    /// saved EMA. The generator is re-seeded from (seed, step), so a resumed run is reproducible,
    /// and AdamW's moment estimates start again from zero: call [`Trainer::restore_state`] next,
    /// with the state saved at that step, to continue exactly as if the run had not stopped.
    pub fn resume_at(&mut self, step: usize, ema: Ema) -> Result<()> {
        let names: Vec<String> = self.ema.tensors().into_keys().collect();
        for name in &names {
            match (self.ema.get(name), ema.get(name)) {
                (Some(a), Some(b)) if a.dims() == b.dims() => {}
                _ => return Err(invalid!("the saved EMA does not match the model at variable {name:?}")),
            }
        }
        self.ema = ema.with_warmup(self.config.ema_warmup).with_updates(step as u64);
        self.step = step;
        self.rng = resume::reseeded(self.config.seed, step);
        Ok(())
    }

    /// What, besides the weights and the EMA, continues this run exactly: AdamW's moments and
    /// update count, and the generator's position.
    pub fn state(&self) -> TrainState {
        let counters = resume::counters(&self.optimizer, &self.rng);
        TrainState { step: self.step as u64, counters, tensors: self.optimizer.moments() }
    }

    /// Puts back a state from [`Trainer::state`] of the same run at the current step (after
    /// [`Trainer::resume_at`]); an error, changing nothing, if it belongs to another step or does
    /// not fit the model.
    pub fn restore_state(&mut self, state: &TrainState) -> Result<()> {
        if state.step != self.step as u64 {
            return Err(invalid!("the train state is of step {}, the trainer is at step {}", state.step, self.step));
        }
        self.rng = resume::restore(state, &state.tensors, &mut self.optimizer)?;
        Ok(())
    }

    /// The model, the variables and the EMA, when training is over.
    pub fn into_parts(self) -> (M, VarMap, Ema) {
        (self.model, self.varmap, self.ema)
    }

    /// One iteration of Algorithm 1 on the batch `x0` (with optional labels (B,) u32): draws
    /// t and eps (lines 3-4), drops labels with probability `label_dropout`, and takes a step.
    pub fn training_step(&mut self, x0: &Tensor, class: Option<&[u32]>) -> Result<StepStats> {
        // Algorithm 1, line 2: x_0 ~ q(x_0) is the batch the caller drew.
        let class = match class {
            None => None,
            Some(labels) => Some(self.drop_labels(labels)?),
        };
        // Lines 3-4: t ~ Uniform({1, ..., T}), eps ~ N(0, I).
        let batch = NoisedBatch::draw(&mut self.rng, &self.schedule, x0.clone(), None)?;
        let class = class.map(|c| Tensor::from_vec(c.clone(), c.len(), x0.device())).transpose()?;
        self.step_on(&NoisedBatch { class, ..batch })
    }

    /// Algorithm 1, line 5, on a given (x_0, t, eps): a gradient step on the loss, then the EMA.
    ///
    /// The loss is checked before anything changes: NaN or infinity stops with an error that
    /// names the step, leaving the weights and the EMA as the last good step left them.
    pub fn step_on(&mut self, batch: &NoisedBatch) -> Result<StepStats> {
        crate::device::on_cpu_pool(batch.x0.device(), || self.step_here(batch))
    }

    /// [`Self::step_on`] on the calling thread.
    fn step_here(&mut self, batch: &NoisedBatch) -> Result<StepStats> {
        let step = self.step + 1;
        let loss =
            weighted_loss(&self.model, &self.schedule, self.config.target, self.config.loss_weighting, batch, true)?;
        let loss_value = loss.to_scalar::<f32>()?;
        if !loss_value.is_finite() {
            return Err(self.diverged(step, "loss", f64::from(loss_value)));
        }
        let mut grads = loss.backward()?;
        let grad_norm = self.clip(&mut grads)?;
        if !grad_norm.is_finite() {
            return Err(self.diverged(step, "gradient norm", grad_norm));
        }
        // "Take gradient descent step on grad_theta ||eps - eps_theta(...)||^2", with AdamW.
        let lr = self.config.lr_at(step);
        self.optimizer.set_learning_rate(lr);
        self.optimizer.step(&grads)?;
        self.ema.update(&self.varmap)?;
        self.step = step;
        Ok(StepStats { step, loss: loss_value, lr, grad_norm })
    }

    /// Scales every gradient by min(1, grad_clip / ||g||) where ||g|| is the L2 norm over all
    /// variables together; returns ||g|| before clipping.
    /// The error of a step whose `quantity` ("loss" or "gradient norm") is NaN or infinite.
    fn diverged(&self, step: usize, quantity: &'static str, value: f64) -> Error {
        Error::Diverged { step, quantity, value, lr: self.config.lr, kept: None }
    }

    fn clip(&self, grads: &mut GradStore) -> Result<f64> {
        let mut sum_sq = 0.0f64;
        for var in self.optimizer.variables() {
            if let Some(g) = grads.get(var.as_tensor()) {
                // Per variable in f32 (Metal has no f64), the total in f64.
                sum_sq += g.sqr()?.sum_all()?.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? as f64;
            }
        }
        let norm = sum_sq.sqrt();
        if let Some(max) = self.config.grad_clip {
            if norm.is_finite() && norm > max {
                let scale = max / norm;
                for var in self.optimizer.variables() {
                    if let Some(g) = grads.get(var.as_tensor()) {
                        let scaled = g.affine(scale, 0.0)?;
                        grads.insert(var.as_tensor(), scaled);
                    }
                }
            }
        }
        Ok(norm)
    }

    /// Classifier-free guidance's label dropout: each label becomes "no class" with probability
    /// `label_dropout` (one uniform draw per label, only when label_dropout > 0).
    fn drop_labels(&mut self, labels: &[u32]) -> Result<Vec<u32>> {
        let p = self.config.label_dropout;
        if p == 0.0 {
            return Ok(labels.to_vec());
        }
        let Some(null) = self.null_class else {
            return Err(invalid!(
                "label_dropout = {p} needs the \"no class\" label: call with_null_class(model.null_class())"
            ));
        };
        Ok(labels.iter().map(|&c| if self.rng.random::<f64>() < p { null } else { c }).collect())
    }
}
