//! One draw of Algorithm 1 (Ho et al. 2020) and its loss, with the randomness made explicit so a
//! test can fix (x_0, t, eps) and evaluate the loss before and after a gradient step.

use candle_core::{DType, Tensor};
use rand::Rng as _;

use super::LossWeighting;
use crate::diffusion::{predict_v, q_sample};
use crate::nn::EpsModel;
use crate::posterior::Parameterisation;
use crate::rng::{normal_vec, Rng};
use crate::{NoiseSchedule, Result};

/// A batch with its timesteps and noise: everything the loss of Algorithm 1 depends on.
#[derive(Debug, Clone)]
pub struct NoisedBatch {
    /// x_0 ~ q(x_0): (B, C, H, W) images or (B, D) points, f32.
    pub x0: Tensor,
    /// t_b in 1..=T, one per element.
    pub t: Vec<usize>,
    /// eps ~ N(0, I), the shape of `x0`, f32.
    pub eps: Tensor,
    /// Class labels (B,) u32, or None.
    pub class: Option<Tensor>,
}

impl NoisedBatch {
    /// Draws t and eps for `x0` from `rng`, in this order:
    ///
    /// - Algorithm 1, line 3: t ~ Uniform({1, ..., T}), one per element;
    /// - Algorithm 1, line 4: eps ~ N(0, I), the shape of x_0.
    pub fn draw(rng: &mut Rng, schedule: &NoiseSchedule, x0: Tensor, class: Option<Tensor>) -> Result<Self> {
        let b = batch_len(&x0)?;
        let t: Vec<usize> = (0..b).map(|_| rng.random_range(1..=schedule.steps())).collect();
        let eps: Vec<f32> = normal_vec(rng, x0.elem_count()).into_iter().map(|e| e as f32).collect();
        let eps = Tensor::from_vec(eps, x0.shape(), x0.device())?;
        Self::new(schedule, x0, t, eps, class)
    }

    /// A batch with given t and eps (checked: t in 1..=T, eps the shape of x_0).
    pub fn new(
        schedule: &NoiseSchedule,
        x0: Tensor,
        t: Vec<usize>,
        eps: Tensor,
        class: Option<Tensor>,
    ) -> Result<Self> {
        let b = batch_len(&x0)?;
        if t.len() != b {
            return Err(invalid!("t must hold one step per batch element ({b}), got {}", t.len()));
        }
        for &s in &t {
            schedule.check_t(s)?;
        }
        if eps.dims() != x0.dims() {
            return Err(invalid!("eps must have the shape of x0 {:?}, got {:?}", x0.dims(), eps.dims()));
        }
        let x0 = x0.to_dtype(DType::F32)?;
        let eps = eps.to_dtype(DType::F32)?;
        Ok(Self { x0, t, eps, class })
    }

    /// Algorithm 1, line 5's x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
    /// ([`q_sample`], Ho et al. 2020, Eq. 4), each element at its own t.
    pub fn xt(&self, schedule: &NoiseSchedule) -> Result<Tensor> {
        q_sample(schedule, &self.x0, &self.t, &self.eps)
    }

    /// The timesteps as a (B,) u32 tensor, as the networks take them.
    pub fn t_tensor(&self) -> Result<Tensor> {
        let t: Vec<u32> = self.t.iter().map(|&s| s as u32).collect();
        Ok(Tensor::from_vec(t, self.t.len(), self.x0.device())?)
    }

    /// What the network should output for `target`: eps, x_0, or
    /// v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 ([`predict_v`], Salimans and Ho 2022).
    pub fn target(&self, schedule: &NoiseSchedule, target: Parameterisation) -> Result<Tensor> {
        match target {
            Parameterisation::Eps => Ok(self.eps.clone()),
            Parameterisation::X0 => Ok(self.x0.clone()),
            Parameterisation::V => predict_v(schedule, &self.x0, &self.t, &self.eps),
            Parameterisation::Mean => Err(invalid!("target must be eps, x0 or v, got mean")),
        }
    }
}

/// The loss of Algorithm 1, line 5, averaged over the batch and every coordinate:
///
/// $$L = \frac{1}{B\,d} \sum_b \big\| y_b - f_\theta(\sqrt{\bar\alpha_{t_b}}\, x_{0,b}
///        + \sqrt{1-\bar\alpha_{t_b}}\, \epsilon_b,\ t_b) \big\|^2$$
///
/// with y = eps for Ho et al.'s L_simple (Eq. 14), or x_0 or v for the other targets. A scalar
/// f32 tensor that can be back-propagated; `train` turns the network's dropout on.
pub fn loss<M: EpsModel>(
    model: &M,
    schedule: &NoiseSchedule,
    target: Parameterisation,
    batch: &NoisedBatch,
    train: bool,
) -> Result<Tensor> {
    weighted_loss(model, schedule, target, LossWeighting::Uniform, batch, train)
}

/// The loss of Algorithm 1, line 5, with each element's mean square multiplied by the weight of
/// its t under `weighting` ([`LossWeighting::weight`]), then averaged over the batch:
///
/// $$L = \frac{1}{B} \sum_b w(t_b)\, \frac{1}{d} \big\| y_b - f_\theta(x_{t_b}, t_b) \big\|^2$$
///
/// Uniform weighting is exactly [`loss`].
pub fn weighted_loss<M: EpsModel>(
    model: &M,
    schedule: &NoiseSchedule,
    target: Parameterisation,
    weighting: LossWeighting,
    batch: &NoisedBatch,
    train: bool,
) -> Result<Tensor> {
    let xt = batch.xt(schedule)?;
    let pred = model.eps_theta(&xt, &batch.t_tensor()?, batch.class.as_ref(), train)?;
    let y = batch.target(schedule, target)?;
    let squares = (y - pred)?.sqr()?;
    if weighting == LossWeighting::Uniform {
        return Ok(squares.mean_all()?);
    }
    let b = batch.t.len();
    let w: Vec<f32> =
        batch.t.iter().map(|&t| weighting.weight(schedule, target, t).map(|w| w as f32)).collect::<Result<_>>()?;
    let w = Tensor::from_vec(w, b, squares.device())?;
    let per_element = squares.reshape((b, ()))?.mean(1)?;
    Ok((per_element * w)?.mean_all()?)
}

fn batch_len(x0: &Tensor) -> Result<usize> {
    match x0.dims() {
        [b, ..] if *b > 0 && x0.rank() >= 2 => Ok(*b),
        dims => Err(invalid!("x0 must be a batch (B, ...) with B >= 1 and rank >= 2, got shape {dims:?}")),
    }
}
