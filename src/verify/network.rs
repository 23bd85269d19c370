//! Checks of the untrained network: E22 (the U-Net's shapes, time embedding and parameter
//! count) and E18 with the real U-Net (a zero last layer gives L_simple of about 1).

use candle_core::{Device, Tensor};

use crate::nn::{parameter_count, UNet, UNetConfig};
use crate::rng::{normal_vec, seeded};
use crate::stats::{Check, DEFAULT_SIGMAS};
use crate::Result;

/// A batch of `n` standard-normal values as an f32 tensor of `shape`, from the seeded generator.
fn randn(rng: &mut crate::rng::Rng, shape: &[usize], scale: f64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = normal_vec(rng, n).into_iter().map(|v| (v * scale) as f32).collect();
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}

/// E22: the default U-Net maps (B, 1, 28, 28) to the same shape, its parameter count equals the
/// count worked out from the configuration by hand, and the time embedding changes the output.
/// E18: untrained, its zero-initialised last layer makes eps_pred = 0, so L_simple = E|eps|^2 = 1
/// within 5 standard errors, sqrt(2 / n) each.
pub fn e22(seed: u64) -> Result<Vec<Check>> {
    let config = UNetConfig::default();
    let (model, mut varmap) = UNet::new_seeded(&config, &Device::Cpu, seed)?;
    let mut rng = seeded(seed);
    let (b, size) = (4, config.image_size);
    let x = randn(&mut rng, &[b, config.in_channels, size, size], 1.0)?;
    let t = |step: u32| Tensor::from_vec(vec![step; b], b, &Device::Cpu);
    let eps_pred = model.forward(&x, &t(10)?, None, false)?;
    let eps = randn(&mut rng, x.dims(), 1.0)?;
    let n = eps.elem_count();
    let l_simple = (eps - &eps_pred)?.sqr()?.to_dtype(candle_core::DType::F64)?.mean_all()?.to_scalar::<f64>()?;
    let zero = eps_pred.abs()?.max_all()?.to_scalar::<f32>()?;
    // Give the last layer weights so the output depends on the features, then vary only t.
    let name = format!("{}.weight", UNet::OUTPUT_LAYER);
    let shape =
        varmap.data().lock().map_err(|_| crate::Error::Invalid("a poisoned lock".into()))?[&name].shape().clone();
    varmap.set_one(&name, randn(&mut rng, shape.dims(), 0.1)?)?;
    let out_a = model.forward(&x, &t(1)?, None, false)?;
    let out_b = model.forward(&x, &t(500)?, None, false)?;
    let moved = (out_a.clone() - out_b)?.abs()?.max_all()?.to_scalar::<f32>()? as f64;
    Ok(vec![
        Check::holds("E22", "U-Net output shape = input shape (4, 1, 28, 28)", out_a.dims() == x.dims()).exact(),
        Check::close(
            "E22",
            "U-Net parameters: counted vs worked out from the config",
            parameter_count(&varmap) as f64,
            config.expected_parameter_count()? as f64,
            0.0,
        )
        .exact(),
        Check::at_least("E22", "time embedding changes the output: max |out(t=1) - out(t=500)|", moved, 1e-3)
            .guard("the default U-Net of this seed, last layer from the same generator"),
        Check::close("E18", "untrained U-Net (zero last layer): max |eps_pred|", zero as f64, 0.0, 0.0).exact(),
        Check::close(
            "E18",
            "untrained U-Net: L_simple on random eps",
            l_simple,
            1.0,
            DEFAULT_SIGMAS * (2.0 / n as f64).sqrt(),
        )
        .n_derived(DEFAULT_SIGMAS),
    ])
}
