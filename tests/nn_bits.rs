//! The exact bits of the networks' arithmetic on the CPU: a guard that reorganising the layers and
//! the CPU engine behind them (src/nn) changes no floating-point operation.
//!
//! The expected digests were printed by this test run: those of AVX2/FMA kernels on the layout in
//! which the CPU kernels sat beside the layers (src/nn/conv_op.rs, kernels.rs, ...), before they
//! moved under src/nn/cpu/, the numbers every earlier training run used; those of AVX-512 kernels
//! when gemm's `x86-v4` feature was turned on (a different order of the products' sums, so other
//! last bits). Which set applies is decided at run time, as gemm decides its kernel. The two
//! U-Nets below have attention; both sets were printed again when the attention's softmax became
//! one CPU operation (src/nn/cpu/softmax.rs: its own exp and sums, so other last bits; tests/nn.rs
//! checks it against candle's softmax), on this processor and under QEMU as a Haswell
//! (scripts/check_dispatch.sh). Networks without attention (the default MNIST run's U-Net, the MLP
//! of tests/pinned.rs) kept their bits. Training and sampling must repeat bit for bit (a run's
//! loss.csv is compared step for step), so a change of one ulp anywhere in a forward or backward
//! pass fails here.

mod common;

use common::Kernels;

use ddpm::candle_core::backprop::GradStore;
use ddpm::candle_core::{Device, Tensor, Var};
use ddpm::candle_nn::VarMap;
use ddpm::nn::{Mlp, MlpConfig, UNet, UNetConfig};
use ddpm::rng::{normal_vec, seeded, Rng};
use sha2::{Digest, Sha256};

const SEED: u64 = 20200619;

/// N(0, 1) draws from a seeded generator, as an f32 tensor.
fn randn(rng: &mut Rng, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    let values: Vec<f32> = normal_vec(rng, n).into_iter().map(|v| v as f32).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// SHA-256 of the f32 bits of `t` in row-major order, as hex.
fn digest(t: &Tensor) -> String {
    let values: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
    let mut hasher = Sha256::new();
    for v in values {
        hasher.update(v.to_bits().to_le_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Sorted (name, var) pairs: a HashMap's order is not fixed.
fn sorted_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let mut vars: Vec<(String, Var)> =
        varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// SHA-256 over every variable's gradient, in the order of the variables' names (name, then bits).
fn gradients_digest(varmap: &VarMap, grads: &GradStore) -> String {
    let mut hasher = Sha256::new();
    for (name, var) in sorted_vars(varmap) {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        hasher.update(name.as_bytes());
        hasher.update(digest(g).as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// (output digest, conv_in.weight gradient digest, all gradients digest) of one training forward
/// and backward pass of `cfg` with seeded weights (the zero-initialised last layer drawn too) on a
/// seeded batch of 3.
fn unet_digests(cfg: &UNetConfig) -> (String, String, String) {
    let mut rng = seeded(SEED);
    let (model, mut varmap) = UNet::new_seeded(cfg, &Device::Cpu, SEED).unwrap();
    let shape = varmap.data().lock().unwrap()["conv_out.weight"].shape().clone();
    varmap.set_one("conv_out.weight", (randn(&mut rng, shape.dims()) * 0.1).unwrap()).unwrap();
    let b = 3;
    let x = randn(&mut rng, &[b, cfg.in_channels, cfg.image_size, cfg.image_size]);
    let t = Tensor::from_vec(vec![1u32, 500, 1000], b, &Device::Cpu).unwrap();
    let class = cfg
        .num_classes
        .map(|n| Tensor::from_vec((0..b as u32).map(|i| i % n as u32).collect(), b, &Device::Cpu).unwrap());
    let eps = randn(&mut rng, &[b, cfg.in_channels, cfg.image_size, cfg.image_size]);
    let out = model.forward(&x, &t, class.as_ref(), true).unwrap();
    let loss = (&out - &eps).unwrap().sqr().unwrap().mean_all().unwrap();
    let grads = loss.backward().unwrap();
    let conv_in = sorted_vars(&varmap).into_iter().find(|(n, _)| n == "conv_in.weight").unwrap().1;
    let conv_in_grad = digest(grads.get(conv_in.as_tensor()).unwrap());
    (digest(&out), conv_in_grad, gradients_digest(&varmap, &grads))
}

/// Ho et al.'s conditioning (the embedding added through the first convolution's bias, the fused
/// group norm + SiLU), attention at 8x8 and in the middle, dropout in training, 16x16 grey.
fn added_embedding() -> UNetConfig {
    UNetConfig { attention_resolutions: vec![8], dropout: 0.1, blocks_per_level: 2, ..UNetConfig::tiny(16) }
}

/// Adaptive group norm, 10 classes, attention at 4x4, dropout, 8x8 colour.
fn adaptive() -> UNetConfig {
    UNetConfig {
        in_channels: 3,
        channel_mults: vec![1, 2],
        attention_resolutions: vec![4],
        num_classes: Some(10),
        image_size: 8,
        adaptive_norm: true,
        dropout: 0.1,
        ..UNetConfig::tiny(16)
    }
}

/// The U-Net with the time embedding added, on AVX2/FMA kernels: output, dL/d conv_in.weight,
/// every gradient.
const FMA_ADDED: [&str; 3] = [
    "3f09fd6c300d3f2349ca72688c467a392e209839dfdef5a99ef352ff38c83522",
    "f2d4d442509a48ae2c6bb257db77c48ed1dd6cf2ac178b203effa26084393a1f",
    "4e87b075b8d2030f3d4783b8a58a05e1ffb49e741ec2155163a33f285ff03ccc",
];
/// The U-Net with adaptive group norm, on AVX2/FMA kernels.
const FMA_ADA: [&str; 3] = [
    "5648a866b7fce966575b75be3a61fe5b63276879658486e599809f1c1beaf86e",
    "e31ee5983537a01e259e1dd2f4bf4971928e6955fcf23d8d1f79dd3ce7f39bac",
    "9dc21a4d7477823c319ef935521c341fd546193c8c9ca1d339a6168e35cf9615",
];
/// The same two on AVX-512 kernels.
const AVX512_ADDED: [&str; 3] = [
    "1c9e832a2edea304dfa879b7203657e15aa35157916ffd946b6bf59996ea5b39",
    "920b226e36c48786cfbc71c663d31b5ee0b40db950dabee3d58d9931ecd858de",
    "3d4a4710e12f203aff1b4adcf5a360bf1deed9960557010f6795de4d930c8317",
];
const AVX512_ADA: [&str; 3] = [
    "555b86026948a078e0187b31210d21ae502e12d4947e5fbcb4118b34374b4746",
    "85d63d8e1c166827345aebc23491afed9e5e8aa6fc3a022097c498d040dd8735",
    "30b14cbf26917d2cee9a5436a040c40290715327826a054be09266e8b11fcb75",
];

fn check(label: &str, got: (String, String, String), expected: [&str; 3]) {
    assert_eq!(got.0, expected[0], "{label}: the output's bits changed");
    assert_eq!(got.1, expected[1], "{label}: the gradient of conv_in.weight changed");
    assert_eq!(got.2, expected[2], "{label}: some parameter's gradient changed");
}

#[test]
fn unet_forward_and_backward_bits_are_unchanged() {
    let Some(kernels) = common::kernels_of_the_pins() else { return };
    let (added, ada) = (unet_digests(&added_embedding()), unet_digests(&adaptive()));
    println!("added embedding: {added:#?}\nadaptive norm: {ada:#?}");
    let (added_expected, ada_expected) = match kernels {
        Kernels::Fma => (FMA_ADDED, FMA_ADA),
        Kernels::Avx512 => (AVX512_ADDED, AVX512_ADA),
    };
    check("added embedding", added, added_expected);
    check("adaptive norm", ada, ada_expected);
}

#[test]
fn mlp_forward_and_backward_bits_are_unchanged() {
    let Some(kernels) = common::kernels_of_the_pins() else { return };
    let mut rng = seeded(SEED);
    let cfg = MlpConfig::default();
    let (model, mut varmap) = Mlp::new_seeded(&cfg, &Device::Cpu, SEED).unwrap();
    for (name, var) in sorted_vars(&varmap) {
        if var.as_tensor().sum_all().unwrap().to_scalar::<f32>().unwrap() == 0.0 {
            let value = (randn(&mut rng, var.dims()) * 0.1).unwrap();
            varmap.set_one(&name, value).unwrap();
        }
    }
    let x = randn(&mut rng, &[5, 2]);
    let t = Tensor::from_vec(vec![1u32, 10, 100, 400, 1000], 5, &Device::Cpu).unwrap();
    let out = model.forward(&x, &t).unwrap();
    let loss = out.sqr().unwrap().mean_all().unwrap();
    let grads = loss.backward().unwrap();
    let got = (digest(&out), gradients_digest(&varmap, &grads));
    println!("mlp: [\"{}\", \"{}\"]", got.0, got.1);
    let expected = match kernels {
        Kernels::Fma => [
            "d6d9a0f08bbdde261bff902f28235793a4a8442a0f2fa2647a9ed18eaac96b86",
            "9108660f76712b3e4ed4f36023d33dd51a4f388810874432b3a8d5d8bb0f2ab7",
        ],
        Kernels::Avx512 => [
            "2df5daf92c0e20cb6cb0db2d50b711e110fd9f1c77ed78e816abe994c1922f90",
            "32674a9fc0da25ef84a73d5eb7fc285ae604f5fe87d4c1a15f646e486ba620f6",
        ],
    };
    assert_eq!(got.0, expected[0], "the MLP's output bits changed");
    assert_eq!(got.1, expected[1], "some MLP parameter's gradient changed");
}
