//! Layers with PyTorch's default initialisation, and a seeded [`VarBuilder`].
//!
//! candle's CPU random generator cannot be seeded, so [`seeded_var_builder`] draws every new
//! weight from a seeded `rand` generator ([`crate::rng::seeded`]) instead. The model is built in
//! a fixed order, so the same seed gives the same weights on every run.
//!
//! The layers below and those of [`super::conv`] ask for PyTorch's defaults (`nn.Linear`,
//! `nn.Conv2d`: Kaiming-uniform with a = sqrt(5), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
//! the weight and the bias), so a model built from candle's own generator
//! (`VarBuilder::from_varmap`) has the same distribution of initial weights, only not reproducible.

use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, Linear, VarBuilder, VarMap};
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::rng::{seeded, Rng};
use crate::Result;

/// PyTorch's default initialisation for a layer with `fan_in` inputs per output:
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (Kaiming-uniform with a = sqrt(5), the same bound for the bias).
pub fn pytorch_uniform(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform { lo: -bound, up: bound }
}

/// A linear layer `in_dim -> out_dim` with bias, PyTorch-initialised; parameters
/// `weight` (out_dim, in_dim) and `bias` (out_dim).
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let init = pytorch_uniform(in_dim);
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
    let bias = vb.get_with_hints(out_dim, "bias", init)?;
    Ok(Linear::new(weight, Some(bias)))
}

/// A linear layer whose weight and bias start at zero: its output is 0 until trained.
pub fn linear_zero(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", Init::Const(0.0))?;
    let bias = vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?;
    Ok(Linear::new(weight, Some(bias)))
}

/// A [`VarBuilder`] that creates missing variables in `varmap`, drawing them from a generator
/// seeded with `seed` (the initialisation each layer asks for, e.g. [`pytorch_uniform`]).
/// Variables already in `varmap` are returned as they are.
///
/// ```
/// use ddpm::candle_core::Device;
/// use ddpm::candle_nn::VarMap;
/// let draw = |seed| {
///     let varmap = VarMap::new();
///     let vb = ddpm::nn::seeded_var_builder(&varmap, seed, &Device::Cpu);
///     let layer = ddpm::nn::init::linear(3, 2, vb.pp("lin")).unwrap();
///     layer.weight().flatten_all().unwrap().to_vec1::<f32>().unwrap()
/// };
/// assert_eq!(draw(1), draw(1));
/// assert_ne!(draw(1), draw(2));
/// ```
pub fn seeded_var_builder(varmap: &VarMap, seed: u64, device: &Device) -> VarBuilder<'static> {
    let backend = SeededBackend { varmap: varmap.clone(), rng: Mutex::new(seeded(seed)) };
    VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone())
}

/// The backend behind [`seeded_var_builder`].
struct SeededBackend {
    varmap: VarMap,
    rng: Mutex<Rng>,
}

impl SeededBackend {
    fn draw(&self, shape: &Shape, init: Init) -> Vec<f32> {
        let n = shape.elem_count();
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let uniform =
            |rng: &mut Rng, lo: f64, up: f64| -> Vec<f32> { (0..n).map(|_| rng.random_range(lo..up) as f32).collect() };
        let normal = |rng: &mut Rng, mean: f64, std: f64| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    (mean + std * z) as f32
                })
                .collect()
        };
        match init {
            Init::Const(c) => vec![c as f32; n],
            Init::Uniform { lo, up } if up > lo => uniform(&mut rng, lo, up),
            Init::Uniform { lo, .. } => vec![lo as f32; n],
            Init::Randn { mean, stdev } => normal(&mut rng, mean, stdev),
            Init::Kaiming { dist, fan, non_linearity } => {
                // The same arithmetic as candle_nn::Init::var.
                let std = non_linearity.gain() / (fan.for_shape(shape).max(1) as f64).sqrt();
                match dist {
                    candle_nn::init::NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        uniform(&mut rng, -bound, bound)
                    }
                    candle_nn::init::NormalOrUniform::Normal => normal(&mut rng, 0.0, std),
                }
            }
        }
    }
}

impl SimpleBackend for SeededBackend {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let mut data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(var) = data.get(name) {
            if var.shape() != &s {
                candle_core::bail!("shape mismatch on {name}: asked for {s:?}, stored {:?}", var.shape())
            }
            return Ok(var.as_tensor().clone());
        }
        let values = self.draw(&s, h);
        let var = Var::from_tensor(&Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?)?;
        let tensor = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        match data.get(name) {
            Some(var) => var.as_tensor().to_device(dev)?.to_dtype(dtype),
            None => candle_core::bail!("cannot find {name} in the VarMap"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().map(|d| d.contains_key(name)).unwrap_or(false)
    }
}
