//! The exponential moving average of the weights (Ho et al. 2020, Appendix B: "we used EMA on
//! model parameters with a decay factor of 0.9999"); samples are drawn with the averaged weights.

use std::collections::{BTreeMap, HashMap};

use candle_core::Tensor;
use candle_nn::VarMap;

use crate::Result;

/// A copy of every variable of a [`VarMap`], moved towards the live weights after each step:
///
/// $$\theta_{\rm EMA} \leftarrow d\,\theta_{\rm EMA} + (1 - d)\,\theta$$
///
/// Decay d = 0 follows the weights exactly; d = 1 keeps the initial weights.
///
/// With warm-up, update n (counting from 0) uses min(d, (1 + n) / (10 + n)) instead of d, as
/// TensorFlow's `ExponentialMovingAverage(num_updates=...)`: otherwise after n updates the
/// random initial weights still weigh d^n in the average (0.995^250 = 0.29), and early samples
/// are noise.
#[derive(Debug, Clone)]
pub struct Ema {
    decay: f64,
    warmup: bool,
    updates: u64,
    // Sorted by name, so that every loop over the variables runs in the same order.
    tensors: BTreeMap<String, Tensor>,
}

impl Ema {
    /// Starts the average at the current weights of `varmap` (copied, not shared).
    pub fn new(varmap: &VarMap, decay: f64) -> Result<Self> {
        check_decay(decay)?;
        let data = varmap.data().lock().map_err(|_| crate::Error::Internal("the VarMap's lock is poisoned".into()))?;
        let mut tensors = BTreeMap::new();
        for (name, var) in data.iter() {
            tensors.insert(name.clone(), var.as_tensor().detach().copy()?);
        }
        Ok(Self { decay, warmup: false, updates: 0, tensors })
    }

    /// Turns the warm-up of the decay on or off.
    pub fn with_warmup(mut self, warmup: bool) -> Self {
        self.warmup = warmup;
        self
    }

    /// Counts `updates` updates as done (a run resumed at that step).
    pub fn with_updates(mut self, updates: u64) -> Self {
        self.updates = updates;
        self
    }

    /// The decay the next update uses: d, or min(d, (1 + n) / (10 + n)) with warm-up.
    pub fn current_decay(&self) -> f64 {
        let n = self.updates as f64;
        if self.warmup {
            self.decay.min((1.0 + n) / (10.0 + n))
        } else {
            self.decay
        }
    }

    /// An average restored from saved tensors (a checkpoint's EMA), by variable name.
    pub fn from_tensors(decay: f64, tensors: impl IntoIterator<Item = (String, Tensor)>) -> Result<Self> {
        check_decay(decay)?;
        Ok(Self { decay, warmup: false, updates: 0, tensors: tensors.into_iter().collect() })
    }

    /// The decay d.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// One update, ema = d ema + (1 - d) w (d from [`Ema::current_decay`]), for every variable of `varmap` (which must hold the
    /// same names and shapes as when the average was made).
    pub fn update(&mut self, varmap: &VarMap) -> Result<()> {
        let decay = self.current_decay();
        let data = varmap.data().lock().map_err(|_| crate::Error::Internal("the VarMap's lock is poisoned".into()))?;
        for (name, ema) in self.tensors.iter_mut() {
            let Some(var) = data.get(name) else {
                return Err(invalid!("the VarMap has no variable {name:?}, which the EMA holds"));
            };
            let w = var.as_tensor().detach();
            *ema = (ema.affine(decay, 0.0)? + w.affine(1.0 - decay, 0.0)?)?;
        }
        self.updates += 1;
        Ok(())
    }

    /// The averaged weights by variable name (for checkpoints).
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.tensors.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The averaged weight named `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Writes the averaged weights into `varmap` (e.g. a fresh model's, for sampling). Every
    /// variable of the average must be in `varmap` with the same shape.
    pub fn load_into(&self, varmap: &VarMap) -> Result<()> {
        let data = varmap.data().lock().map_err(|_| crate::Error::Internal("the VarMap's lock is poisoned".into()))?;
        for (name, ema) in &self.tensors {
            let Some(var) = data.get(name) else {
                return Err(invalid!("the VarMap has no variable {name:?}, which the EMA holds"));
            };
            if var.dims() != ema.dims() {
                return Err(invalid!(
                    "variable {name:?} has shape {:?} in the VarMap but {:?} in the EMA",
                    var.dims(),
                    ema.dims()
                ));
            }
            var.set(ema)?;
        }
        Ok(())
    }
}

fn check_decay(decay: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&decay) {
        return Err(crate::Error::out_of_range("ema decay", decay, "in [0, 1]"));
    }
    Ok(())
}
