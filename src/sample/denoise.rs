//! What a network's output says about x_t: the noise eps and the predicted x_0 (E21; note 001's
//! "full noise removal"), from any parameterisation, with classifier-free guidance (E23).

use candle_core::{DType, Tensor};

use crate::diffusion::{predict_eps_from_v, predict_eps_from_x0, predict_x0_from_eps};
use crate::nn::EpsModel;
use crate::posterior::Parameterisation;
use crate::{NoiseSchedule, Result};

/// A network and what its output means (the target it was trained on). `model` is the network
/// itself (a notebook keeps it across cells) or a reference to it (`&net`: every `&M` is a model too).
pub struct Prediction<M: EpsModel> {
    pub model: M,
    /// eps (Ho et al.), x0 or v; the posterior mean is not supported.
    pub parameterisation: Parameterisation,
}

/// Classifier-free guidance (Ho and Salimans 2022, Eq. 6): with w = `scale`,
///
/// $$\tilde\epsilon = (1 + w)\,\epsilon_\theta(x_t, t, c) - w\,\epsilon_\theta(x_t, t, \varnothing)$$
///
/// w = 0 is plain class-conditional sampling (the unconditional pass is skipped).
#[derive(Clone, Debug)]
pub struct Guidance {
    /// The requested class of each sample, (B,) u32.
    pub class: Tensor,
    /// The guidance weight w >= 0.
    pub scale: f64,
    /// The label meaning "no class" (`UNet::null_class`); needed when `scale` > 0.
    pub null_class: Option<u32>,
}

/// The noise and the clean image implied by the network at (x_t, t).
#[derive(Clone, Debug)]
pub struct Denoised {
    /// eps_pred, consistent with `x0`: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps.
    pub eps: Tensor,
    /// x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps_pred) / sqrt(alpha_bar_t) (Ho et al. 2020, Eq. 15;
    /// [`predict_x0_from_eps`]), clipped to [-1, 1] when asked.
    pub x0: Tensor,
}

impl<M: EpsModel> Prediction<M> {
    /// The network's eps and x_0 at (x_t, t), one t for the whole batch. With `clip`, x_0 is
    /// clipped to [-1, 1] and eps recomputed from it, so the pair stays consistent.
    pub fn denoise(
        &self,
        schedule: &NoiseSchedule,
        xt: &Tensor,
        t: usize,
        guidance: Option<&Guidance>,
        clip: bool,
    ) -> Result<Denoised> {
        crate::device::on_cpu_pool(xt.device(), || self.denoise_here(schedule, xt, t, guidance, clip))
    }

    /// [`Self::denoise`] on the calling thread.
    fn denoise_here(
        &self,
        schedule: &NoiseSchedule,
        xt: &Tensor,
        t: usize,
        guidance: Option<&Guidance>,
        clip: bool,
    ) -> Result<Denoised> {
        schedule.check_t(t)?;
        // Detached: a network whose weights are variables would otherwise attach its graph for
        // back-propagation to every output, and a sampling loop would keep all its steps alive.
        let eps = self.guided_eps(schedule, xt, t, guidance)?.detach();
        let x0 = predict_x0_from_eps(schedule, xt, t, &eps)?;
        if !clip {
            return Ok(Denoised { eps, x0 });
        }
        let x0 = x0.clamp(-1f32, 1f32)?;
        let eps = predict_eps_from_x0(schedule, xt, t, &x0)?;
        Ok(Denoised { eps, x0 })
    }

    /// eps_theta(x_t, t[, c]), with guidance when asked.
    fn guided_eps(
        &self,
        schedule: &NoiseSchedule,
        xt: &Tensor,
        t: usize,
        guidance: Option<&Guidance>,
    ) -> Result<Tensor> {
        let b = xt.dim(0)?;
        let t_batch = |n: usize| Tensor::full(t as u32, n, xt.device());
        let Some(g) = guidance else {
            return self.eps_of(schedule, xt, t, &self.model.eps_theta(xt, &t_batch(b)?, None, false)?);
        };
        if !(g.scale.is_finite() && g.scale >= 0.0) {
            return Err(invalid!("the guidance scale w must be a finite number >= 0, got {}", g.scale));
        }
        if g.class.dims() != [b] {
            return Err(invalid!("guidance needs one class per sample ({b}), got shape {:?}", g.class.dims()));
        }
        let class = g.class.to_dtype(DType::U32)?;
        if g.scale == 0.0 {
            return self.eps_of(schedule, xt, t, &self.model.eps_theta(xt, &t_batch(b)?, Some(&class), false)?);
        }
        let Some(null) = g.null_class else {
            return Err(invalid!("guidance scale {} > 0 needs the \"no class\" label; the model has none (trained without label dropout?)", g.scale));
        };
        // One pass over [x_t; x_t] with [c; no class], then split.
        let x2 = Tensor::cat(&[xt, xt], 0)?;
        let c2 = Tensor::cat(&[&class, &Tensor::full(null, b, xt.device())?], 0)?;
        let out = self.model.eps_theta(&x2, &t_batch(2 * b)?, Some(&c2), false)?;
        let eps_c = self.eps_of(schedule, xt, t, &out.narrow(0, 0, b)?)?;
        let eps_u = self.eps_of(schedule, xt, t, &out.narrow(0, b, b)?)?;
        Ok((eps_c.affine(1.0 + g.scale, 0.0)? - eps_u.affine(g.scale, 0.0)?)?)
    }

    /// The eps implied by the network's output `out` at (x_t, t), by its parameterisation.
    fn eps_of(&self, schedule: &NoiseSchedule, xt: &Tensor, t: usize, out: &Tensor) -> Result<Tensor> {
        match self.parameterisation {
            Parameterisation::Eps => Ok(out.clone()),
            Parameterisation::X0 => predict_eps_from_x0(schedule, xt, t, out),
            Parameterisation::V => predict_eps_from_v(schedule, xt, t, out),
            Parameterisation::Mean => Err(invalid!(
                "sampling from a network that predicts the posterior mean is not supported; allowed: eps, x0, v"
            )),
        }
    }
}
