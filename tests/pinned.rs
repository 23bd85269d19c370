//! A regression guard for the arithmetic of training and sampling: exact f32 results on fixed
//! seeds, as fingerprints of their bits. Training and sampling must give the same numbers for the
//! same seed (a run's loss.csv, a resumed run); any change to the order or precision of their
//! floating-point operations changes a fingerprint here. A deliberate change updates them and
//! says why in its commit. The small MLP here (width 32) gives the same bits with gemm's AVX2/FMA
//! kernels and with its AVX-512 ones; the larger networks of tests/nn_bits.rs do not.

mod common;

use ddpm::candle_core::{Device, Tensor};
use ddpm::data::ToyData;
use ddpm::nn::{Mlp, MlpConfig};
use ddpm::posterior::{Parameterisation, ReverseVar};
use ddpm::sample::{full_noise_removal, sample, Prediction, SampleConfig, Sampler};
use ddpm::train::{DataSource, TrainConfig, Trainer};
use ddpm::NoiseSchedule;

/// FNV-1a over the bits of every value: one number that changes if any bit does.
fn fingerprint(values: &[f32]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        v.to_bits().to_le_bytes().iter().fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
    })
}

fn flat(x: &Tensor) -> Vec<f32> {
    x.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn mlp() -> Mlp {
    let config = MlpConfig { dim: 2, hidden: 32, layers: 2, time_dim: 16 };
    Mlp::new_seeded(&config, &Device::Cpu, 3).unwrap().0
}

fn losses(target: Parameterisation) -> Vec<f32> {
    let config = MlpConfig { dim: 2, hidden: 32, layers: 2, time_dim: 16 };
    let (model, varmap) = Mlp::new_seeded(&config, &Device::Cpu, 0).unwrap();
    let train = TrainConfig {
        steps: 6,
        batch_size: 16,
        lr: 1e-3,
        warmup_steps: 0,
        log_every: 0,
        seed: 7,
        target,
        ..Default::default()
    };
    let mut trainer = Trainer::new(model, varmap, NoiseSchedule::linear(1000).unwrap(), train).unwrap();
    trainer.train(&DataSource::Toy(ToyData::Ring), &Device::Cpu, None).unwrap()
}

fn samples(parameterisation: Parameterisation, sampler: Sampler, clip: bool) -> Vec<f32> {
    let schedule = NoiseSchedule::linear(40).unwrap();
    let model = mlp();
    let prediction = Prediction { model: &model, parameterisation };
    let config = SampleConfig { sampler, clip_x0: clip, seed: 11, record_at: vec![20], ..Default::default() };
    let (x, trajectory) = sample(&prediction, &schedule, &[5, 2], None, &config, &Device::Cpu, |_, _| {}).unwrap();
    let mut all = flat(&x);
    all.extend(flat(&trajectory.x0_pred[0]));
    all
}

#[test]
fn the_training_loss_keeps_every_bit() {
    if common::kernels_of_the_pins().is_none() {
        return;
    }
    let eps = fingerprint(&losses(Parameterisation::Eps));
    let v = fingerprint(&losses(Parameterisation::V));
    let x0 = fingerprint(&losses(Parameterisation::X0));
    eprintln!("train: eps {eps:#x} v {v:#x} x0 {x0:#x}");
    assert_eq!((eps, v, x0), (0xce3d_ced6_e069_2a86, 0xa274_336f_881e_ccf0, 0xb19e_f1b1_a724_3c48));
}

#[test]
fn the_sampler_keeps_every_bit() {
    if common::kernels_of_the_pins().is_none() {
        return;
    }
    let beta = Sampler::Ancestral { sigma: ReverseVar::Beta };
    let tilde = Sampler::Ancestral { sigma: ReverseVar::BetaTilde };
    let ddim = Sampler::Ddim { steps: 7, eta: 0.5 };
    let got = [
        fingerprint(&samples(Parameterisation::Eps, beta, true)),
        fingerprint(&samples(Parameterisation::Eps, tilde, false)),
        fingerprint(&samples(Parameterisation::X0, beta, true)),
        fingerprint(&samples(Parameterisation::V, ddim, true)),
        fingerprint(&samples(Parameterisation::Eps, ddim, false)),
    ];
    eprintln!("sample: {got:#x?}");
    assert_eq!(
        got,
        [
            0x9599_7b0d_6df1_0ebd,
            0xf3a7_f58c_8a07_0ea7,
            0xad74_d542_291e_99c3,
            0x43ae_440d_d230_e4c3,
            0x0161_9934_1e5d_bc83
        ]
    );
}

#[test]
fn full_noise_removal_keeps_every_bit() {
    if common::kernels_of_the_pins().is_none() {
        return;
    }
    let schedule = NoiseSchedule::linear(40).unwrap();
    let model = mlp();
    let x0 = Tensor::new(&[[0.5f32, -0.25], [0.8, 0.1], [-0.9, 0.3]], &Device::Cpu).unwrap();
    let mut all = Vec::new();
    for parameterisation in [Parameterisation::Eps, Parameterisation::V] {
        let prediction = Prediction { model: &model, parameterisation };
        for r in full_noise_removal(&prediction, &schedule, &x0, &[1, 13, 40], 5, true).unwrap() {
            all.extend(flat(&r.xt));
            all.extend(flat(&r.eps_pred));
            all.extend(flat(&r.x0_pred));
        }
    }
    let got = fingerprint(&all);
    eprintln!("removal: {got:#x}");
    assert_eq!(got, 0xd51d_12d5_a768_4560);
}
