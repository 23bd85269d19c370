//! Sampling in one short line: `SampleConfig::ddpm().sample(&prediction, &schedule, 64, &device)?`
//! returns the images; [`SampleConfig::sample_with_trajectory`] also returns the trajectory.
//! The sample's shape comes from the network ([`SampleShape`]); the long form,
//! [`super::sample`], takes any shape, guidance and a progress callback.

use candle_core::{Device, Tensor};

use super::config::{SampleConfig, Sampler};
use super::denoise::Prediction;
use super::network::{sample, Trajectory};
use crate::nn::{EpsModel, Mlp, UNet};
use crate::posterior::{Parameterisation, ReverseVar};
use crate::{NoiseSchedule, Result};

/// The shape of one sample of a network, without the batch: (C, H, W) for the U-Net, (D,) for
/// the MLP.
pub trait SampleShape {
    /// The shape of one sample.
    fn sample_shape(&self) -> Vec<usize>;
}

impl SampleShape for UNet {
    fn sample_shape(&self) -> Vec<usize> {
        let c = self.config();
        vec![c.in_channels, c.image_size, c.image_size]
    }
}

impl SampleShape for Mlp {
    fn sample_shape(&self) -> Vec<usize> {
        vec![self.config().dim]
    }
}

impl<M: SampleShape + ?Sized> SampleShape for &M {
    fn sample_shape(&self) -> Vec<usize> {
        (**self).sample_shape()
    }
}

impl<M: EpsModel> Prediction<M> {
    /// A network that predicts the noise eps, as Ho et al.'s.
    pub fn eps(model: M) -> Self {
        Prediction { model, parameterisation: Parameterisation::Eps }
    }
}

impl SampleConfig {
    /// Ho et al. 2020, Algorithm 2 with sigma_t^2 = beta_t, x_0 clipped to [-1, 1], seed 0: the
    /// defaults.
    ///
    /// ```
    /// use ddpm::candle_core::Device;
    /// use ddpm::nn::{Mlp, MlpConfig};
    /// use ddpm::sample::{Prediction, SampleConfig};
    /// let s = ddpm::NoiseSchedule::linear(20).unwrap();
    /// let (net, _) = Mlp::new_seeded(&MlpConfig::default(), &Device::Cpu, 0).unwrap();
    /// let points = SampleConfig::ddpm().sample(&Prediction::eps(&net), &s, 8, &Device::Cpu).unwrap();
    /// assert_eq!(points.dims(), &[8, 2]);
    /// ```
    pub fn ddpm() -> Self {
        Self::default()
    }

    /// Deterministic DDIM (Song et al. 2021, eta = 0) on `steps` steps, x_0 clipped, seed 0.
    pub fn ddim(steps: usize) -> Self {
        Self { sampler: Sampler::Ddim { steps, eta: 0.0 }, ..Self::default() }
    }

    /// The same configuration with sigma_t^2 of the ancestral sampler set to `sigma`.
    pub fn with_sigma(self, sigma: ReverseVar) -> Self {
        Self { sampler: Sampler::Ancestral { sigma }, ..self }
    }

    /// The same configuration with another seed (of x_T and every z).
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// `n` samples (n, ...) of the network's shape, drawn on `device` (where the network's weights
    /// are), unconditionally. The same configuration gives the same samples.
    pub fn sample<M: EpsModel + SampleShape>(
        &self,
        prediction: &Prediction<M>,
        schedule: &NoiseSchedule,
        n: usize,
        device: &Device,
    ) -> Result<Tensor> {
        Ok(self.sample_with_trajectory(prediction, schedule, n, device)?.0)
    }

    /// As [`Self::sample`], with the trajectory of x_t and the predicted x_0 at the steps of
    /// `record_at` (empty unless asked for).
    pub fn sample_with_trajectory<M: EpsModel + SampleShape>(
        &self,
        prediction: &Prediction<M>,
        schedule: &NoiseSchedule,
        n: usize,
        device: &Device,
    ) -> Result<(Tensor, Trajectory)> {
        if n == 0 {
            return Err(invalid!("the number of samples n must be at least 1, got 0"));
        }
        let mut shape = vec![n];
        shape.extend(prediction.model.sample_shape());
        sample(prediction, schedule, &shape, None, self, device, |_, _| {})
    }
}
