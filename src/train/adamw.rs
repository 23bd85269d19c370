//! AdamW (Loshchilov and Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2) with
//! its moment estimates open to saving, so that a resumed run continues exactly where it stopped.
//!
//! The arithmetic is candle-nn 0.11.1's `AdamW::step`, operation for operation, so a run gives
//! the same numbers as with candle's optimizer; candle keeps the moments private, which is why
//! this one exists. For each variable theta with gradient g, at step t (counting from 1):
//!
//! ```text
//! m     = beta1 m + (1 - beta1) g
//! v     = beta2 v + (1 - beta2) g^2
//! theta = theta (1 - lr lambda) - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
//! ```

use std::collections::BTreeMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use rayon::prelude::*;

use crate::Result;

/// Prefix of the first moment's tensor names in [`AdamW::moments`].
pub const FIRST_MOMENT: &str = "adam_m.";
/// Prefix of the second moment's tensor names in [`AdamW::moments`].
pub const SECOND_MOMENT: &str = "adam_v.";

/// AdamW over named variables; `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8` (candle's and
/// PyTorch's defaults).
pub struct AdamW {
    /// (name, variable, first moment m, second moment v), in the caller's order.
    vars: Vec<(String, Var, Tensor, Tensor)>,
    /// Updates taken so far (t of the bias corrections).
    t: usize,
    lr: f64,
    weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    /// Zero moments for each `(name, variable)`; learning rate `lr`, decoupled decay `weight_decay`.
    pub fn new(vars: Vec<(String, Var)>, lr: f64, weight_decay: f64) -> Result<Self> {
        let vars = vars
            .into_iter()
            .map(|(name, var)| {
                let zeros = var.as_tensor().zeros_like()?;
                Ok((name, var, zeros.clone(), zeros))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { vars, t: 0, lr, weight_decay })
    }

    /// Sets the learning rate of the next steps (the warm-up changes it every step).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// The variables, in the order given to [`AdamW::new`].
    pub fn variables(&self) -> impl Iterator<Item = &Var> {
        self.vars.iter().map(|(_, var, _, _)| var)
    }

    /// Updates taken so far.
    pub fn updates(&self) -> usize {
        self.t
    }

    /// One update of every variable that has a gradient in `grads`. On the CPU the variables are
    /// spread over rayon's pool (each one's update is the same operations, so the same numbers).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let scale_m = 1.0 / (1.0 - BETA1.powi(self.t as i32));
        let scale_v = 1.0 / (1.0 - BETA2.powi(self.t as i32));
        let (lr, decay) = (self.lr, 1.0 - self.lr * self.weight_decay);
        let update = |(_, theta, m, v): &mut (String, Var, Tensor, Tensor)| -> Result<()> {
            let Some(g) = grads.get(theta.as_tensor()) else { return Ok(()) };
            let next_m = ((&*m * BETA1)? + (g * (1.0 - BETA1))?)?;
            let next_v = ((&*v * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let adjusted = (m_hat / (v_hat.sqrt()? + EPS)?)?;
            let next_theta = ((theta.as_tensor() * decay)? - (adjusted * lr)?)?;
            theta.set(&next_theta)?;
            (*m, *v) = (next_m, next_v);
            Ok(())
        };
        match self.vars.first().is_some_and(|(_, var, _, _)| var.device().is_cpu()) {
            true => self.vars.par_iter_mut().try_for_each(update),
            false => self.vars.iter_mut().try_for_each(update),
        }
    }

    /// The moment estimates by name: `adam_m.NAME` and `adam_v.NAME` for each variable `NAME`.
    pub fn moments(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (name, _, m, v) in &self.vars {
            out.insert(format!("{FIRST_MOMENT}{name}"), m.clone());
            out.insert(format!("{SECOND_MOMENT}{name}"), v.clone());
        }
        out
    }

    /// Puts back moments saved by [`AdamW::moments`] after `updates` steps. Every variable must
    /// have both moments, with its shape; otherwise nothing changes and the error names the first
    /// that does not fit.
    pub fn restore(&mut self, moments: &BTreeMap<String, Tensor>, updates: usize) -> Result<()> {
        let mut found = Vec::with_capacity(self.vars.len());
        for (name, var, _, _) in &self.vars {
            let get = |prefix: &str| -> Result<Tensor> {
                let key = format!("{prefix}{name}");
                match moments.get(&key) {
                    Some(x) if x.dims() == var.dims() => Ok(x.to_dtype(var.dtype())?.to_device(var.device())?),
                    Some(x) => {
                        Err(invalid!("optimizer state: {key} has shape {:?}, the variable {:?}", x.dims(), var.dims()))
                    }
                    None => Err(invalid!("optimizer state: {key} is missing")),
                }
            };
            found.push((get(FIRST_MOMENT)?, get(SECOND_MOMENT)?));
        }
        if moments.len() != 2 * self.vars.len() {
            return Err(invalid!(
                "optimizer state: {} moment tensors for {} variables (2 each expected)",
                moments.len(),
                self.vars.len()
            ));
        }
        for ((_, _, m, v), (new_m, new_v)) in self.vars.iter_mut().zip(found) {
            (*m, *v) = (new_m, new_v);
        }
        self.t = updates;
        Ok(())
    }
}
