//! Half-precision networks (the GPU option `--dtype bf16`), checked on the CPU through the
//! library. candle 0.11.1's CPU matmul has no bf16 kernel ("unsupported dtype BF16 for op
//! matmul"), so the checks here run the same dtype-generic path in f16, which the CPU has; bf16
//! itself runs only on a GPU (and the command line refuses it on the CPU).

use std::collections::HashMap;

use ddpm::candle_core::{DType, Device, Tensor};
use ddpm::candle_nn::VarBuilder;
use ddpm::nn::{EpsModel, UNet, UNetConfig};
use ddpm::rng::seeded;
use ddpm::sample::network::normal_tensor;

/// ||a - b|| / ||a||.
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    let norm = |x: &Tensor| x.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap().sqrt() as f64;
    norm(&(a - b).unwrap()) / norm(a)
}

/// A small class-conditional U-Net with attention, every weight random (the zero-initialised
/// last layer too, so that the output is not 0), as tensors by name.
fn random_unet() -> (UNetConfig, HashMap<String, Tensor>) {
    let config = UNetConfig {
        base_channels: 16,
        channel_mults: vec![1, 2],
        attention_resolutions: vec![8],
        num_classes: Some(10),
        image_size: 16,
        ..UNetConfig::mnist_fast()
    };
    let (_, varmap) = UNet::new_seeded(&config, &Device::Cpu, 3).unwrap();
    let mut rng = seeded(4);
    let mut tensors = HashMap::new();
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let noise = normal_tensor(&mut rng, var.dims(), &Device::Cpu).unwrap();
        let w = (var.as_tensor() + (noise * 0.05).unwrap()).unwrap();
        tensors.insert(name.clone(), w);
    }
    (config, tensors)
}

#[test]
fn a_half_precision_unet_takes_and_returns_f32_and_predicts_close_to_f32() {
    let (config, tensors) = random_unet();
    let build = |dtype| UNet::new(&config, VarBuilder::from_tensors(tensors.clone(), dtype, &Device::Cpu)).unwrap();
    let (full, half) = (build(DType::F32), build(DType::F16));
    assert_eq!((full.dtype(), half.dtype()), (DType::F32, DType::F16));
    let mut rng = seeded(5);
    let xt = normal_tensor(&mut rng, &[4, 1, 16, 16], &Device::Cpu).unwrap();
    let t = Tensor::new(&[1u32, 250, 600, 1000], &Device::Cpu).unwrap();
    let class = Tensor::new(&[0u32, 3, 9, 10], &Device::Cpu).unwrap();
    let a = full.eps_theta(&xt, &t, Some(&class), false).unwrap();
    let b = half.eps_theta(&xt, &t, Some(&class), false).unwrap();
    assert_eq!((a.dtype(), b.dtype(), b.dims()), (DType::F32, DType::F32, a.dims()));
    // f16 keeps 11 significant bits: each rounding is off by at most 2^-11 = 0.05 % (relative),
    // and some twenty layers of roundings, sums and normalisations stay under 1 %; 2 % allows
    // for that (bf16, with 8 bits, is 8 times coarser). It must differ at all, though, or the
    // network did not run in half precision.
    let err = relative_error(&a, &b);
    assert!(err > 1e-5 && err < 0.02, "relative error of f16 against f32: {err}");
}

#[test]
fn a_run_loads_in_half_precision_and_predicts_like_f32_but_not_in_f64() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spec, model) = ddpm::run::RunSpec::default_for(ddpm::run::DataSpec::Mnist, false).unwrap();
    spec = spec.shortened(3);
    let options = ddpm::run::RunOptions::default();
    ddpm::run::Run::train(dir.path(), &spec, &model, &Device::Cpu, &options).unwrap();
    let run = ddpm::run::Run::open(dir.path()).unwrap();
    let full = run.model_as(&Device::Cpu, DType::F32).unwrap();
    let half = run.model_as(&Device::Cpu, DType::F16).unwrap();
    let mut rng = seeded(6);
    let xt = normal_tensor(&mut rng, &[2, 1, 28, 28], &Device::Cpu).unwrap();
    let t = Tensor::new(&[10u32, 900], &Device::Cpu).unwrap();
    let a = full.eps_theta(&xt, &t, None, false).unwrap();
    let b = half.eps_theta(&xt, &t, None, false).unwrap();
    assert!(relative_error(&a, &b) < 0.02, "{}", relative_error(&a, &b));
    let m = run.model_as(&Device::Cpu, DType::F64).unwrap_err().to_string();
    assert!(m.contains("f32, bf16 or f16, not f64"), "{m}");
}
