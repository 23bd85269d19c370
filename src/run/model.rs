//! The network of a run, whichever it is: a U-Net for images or the MLP for toy data.

use candle_core::{Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::spec::ModelSpec;
use crate::nn::{EpsModel, Mlp, UNet};
use crate::sample::SampleShape;
use crate::Result;

/// A U-Net or an MLP, built from a [`ModelSpec`].
#[derive(Debug, Clone)]
pub enum Model {
    Unet(Box<UNet>),
    Mlp(Mlp),
}

impl Model {
    /// A fresh network with weights seeded by `seed`, and the variables holding them.
    pub fn new_seeded(spec: &ModelSpec, device: &Device, seed: u64) -> Result<(Model, VarMap)> {
        Ok(match spec {
            ModelSpec::Unet(config) => {
                let (unet, varmap) = UNet::new_seeded(config, device, seed)?;
                (Model::Unet(Box::new(unet)), varmap)
            }
            ModelSpec::Mlp(config) => {
                let (mlp, varmap) = Mlp::new_seeded(config, device, seed)?;
                (Model::Mlp(mlp), varmap)
            }
        })
    }

    /// The network with the weights `vb` gives, e.g. `VarBuilder::from_tensors` over a
    /// checkpoint's tensors: plain tensors, not variables, so that sampling builds no graph
    /// for back-propagation.
    pub fn new(spec: &ModelSpec, vb: VarBuilder) -> Result<Model> {
        Ok(match spec {
            ModelSpec::Unet(config) => Model::Unet(Box::new(UNet::new(config, vb)?)),
            ModelSpec::Mlp(config) => Model::Mlp(Mlp::new(config, vb)?),
        })
    }

    /// The label meaning "no class" for a class-conditional U-Net; None otherwise.
    pub fn null_class(&self) -> Option<u32> {
        match self {
            Model::Unet(unet) => unet.null_class(),
            Model::Mlp(_) => None,
        }
    }

    /// The number of classes of a class-conditional U-Net.
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            Model::Unet(unet) => unet.config().num_classes,
            Model::Mlp(_) => None,
        }
    }

    /// The shape of one sample: (C, H, W) for the U-Net, (D,) for the MLP.
    pub fn sample_shape(&self) -> Vec<usize> {
        match self {
            Model::Unet(unet) => {
                let c = unet.config();
                vec![c.in_channels, c.image_size, c.image_size]
            }
            Model::Mlp(mlp) => vec![mlp.config().dim],
        }
    }
}

impl EpsModel for Model {
    fn eps_theta(&self, xt: &Tensor, t: &Tensor, class: Option<&Tensor>, train: bool) -> Result<Tensor> {
        match self {
            Model::Unet(unet) => unet.eps_theta(xt, t, class, train),
            Model::Mlp(mlp) => mlp.eps_theta(xt, t, class, train),
        }
    }
}

impl SampleShape for Model {
    fn sample_shape(&self) -> Vec<usize> {
        match self {
            Self::Unet(net) => net.sample_shape(),
            Self::Mlp(net) => net.sample_shape(),
        }
    }
}
