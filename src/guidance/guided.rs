//! Classifier guidance as a model: [`Guided`] wraps an unconditional network and a noisy
//! classifier and is itself an eps-model, so Algorithm 2 and DDIM run it unchanged.

use candle_core::{DType, Tensor, Var};

use super::classifier::NoisyClassify;
use crate::nn::EpsModel;
use crate::sample::Prediction;
use crate::{NoiseSchedule, Result};

/// The gradient of log p_phi(y_b | x_t, t_b) with respect to x_t, for each sample b, by candle's
/// back-propagation with x_t as the variable (Dhariwal and Nichol 2021, Algorithm 1):
///
/// $$g_b = \nabla_{x_{t,b}} \log \operatorname{softmax}(f_\phi(x_t, t))_{b, y_b}$$
///
/// The samples of a batch do not interact in the classifier, so the gradient of the sum over b
/// is each sample's own gradient. `t` and `class` are (B,) u32.
///
/// ```
/// use ddpm::candle_core::{Device, Tensor};
/// use ddpm::guidance::{log_prob_grad, NoisyClassifier, NoisyClassifierConfig};
/// let varmap = ddpm::candle_nn::VarMap::new();
/// let config = NoisyClassifierConfig { image_size: 8, channels: 8, ..Default::default() };
/// let guide = NoisyClassifier::new(&config, ddpm::nn::seeded_var_builder(&varmap, 0, &Device::Cpu)).unwrap();
/// let xt = Tensor::zeros((2, 1, 8, 8), ddpm::candle_core::DType::F32, &Device::Cpu).unwrap();
/// let t = Tensor::new(&[100u32, 100], &Device::Cpu).unwrap();
/// let g = log_prob_grad(&guide, &xt, &t, &Tensor::new(&[3u32, 7], &Device::Cpu).unwrap()).unwrap();
/// assert_eq!(g.dims(), &[2, 1, 8, 8]);
/// ```
pub fn log_prob_grad<C: NoisyClassify>(classifier: &C, xt: &Tensor, t: &Tensor, class: &Tensor) -> Result<Tensor> {
    let b = xt.dim(0)?;
    if class.dims() != [b] || t.dims() != [b] {
        return Err(invalid!(
            "the gradient of log p(y | x_t, t) needs one class and one t per sample ({b}), got shapes {:?} and {:?}",
            class.dims(),
            t.dims()
        ));
    }
    let x = Var::from_tensor(&xt.detach().to_dtype(DType::F32)?)?;
    let logits = classifier.logits(x.as_tensor(), t)?;
    let log_p = candle_nn::ops::log_softmax(&logits, 1)?;
    let picked = log_p.gather(&class.to_dtype(DType::U32)?.unsqueeze(1)?, 1)?.sum_all()?;
    let grads = picked.backward()?;
    let g = grads.get(x.as_tensor()).ok_or_else(|| crate::Error::Internal("x_t got no gradient".into()))?;
    Ok(g.detach())
}

/// An unconditional network guided towards one class per sample by a noisy classifier, with
/// scale s >= 0 (Dhariwal and Nichol 2021, Sec. 4.2, the eps form used for DDIM and here also for
/// Algorithm 2):
///
/// $$\hat\epsilon(x_t, t) = \epsilon_\theta(x_t, t) - s\,\sqrt{1-\bar\alpha_t}\;\nabla_{x_t}\log p_\phi(y \mid x_t, t)$$
///
/// eps_theta is the unclipped eps of `prediction` (any parameterisation); use the result as
/// `Prediction::eps(guided)`. For an eps-predicting network and s = 0 the samples are bit for
/// bit the unguided ones (eps - 0 g is eps).
pub struct Guided<'a, M: EpsModel, C: NoisyClassify> {
    pub prediction: Prediction<M>,
    pub classifier: C,
    pub schedule: &'a NoiseSchedule,
    /// The class of each sample, (B,) u32, or (1,) for one class for every sample.
    pub class: Tensor,
    /// s >= 0.
    pub scale: f64,
}

impl<M: EpsModel, C: NoisyClassify> EpsModel for Guided<'_, M, C> {
    /// `t` must hold one step for the whole batch, as the samplers pass it; `class` must be None
    /// (the classes are the guide's).
    fn eps_theta(&self, xt: &Tensor, t: &Tensor, class: Option<&Tensor>, _train: bool) -> Result<Tensor> {
        if class.is_some() {
            return Err(invalid!("a guided model takes its classes from the guide: pass class = None"));
        }
        if !(self.scale.is_finite() && self.scale >= 0.0) {
            return Err(crate::Error::out_of_range(
                "the classifier guidance scale s",
                self.scale,
                "a finite number >= 0",
            ));
        }
        let ts: Vec<u32> = t.to_dtype(DType::U32)?.to_vec1()?;
        let Some(&step) = ts.first().filter(|&&s| ts.iter().all(|&u| u == s)) else {
            return Err(invalid!("a guided model needs one step t for the whole batch, got {ts:?}"));
        };
        let eps = self.prediction.denoise(self.schedule, xt, step as usize, None, false)?.eps;
        let class = match self.class.dims() {
            [1] => self.class.broadcast_as(xt.dim(0)?)?.contiguous()?,
            _ => self.class.clone(),
        };
        let g = log_prob_grad(&self.classifier, xt, t, &class)?;
        let coef = self.scale * self.schedule.sqrt_one_minus_alpha_bar(step as usize);
        Ok((eps - g.affine(coef, 0.0)?)?)
    }
}
