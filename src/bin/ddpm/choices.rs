//! The flags with a fixed set of values, as clap `ValueEnum`s so that `--help` lists the values
//! and a value outside them is a usage error (exit status 2) that names the allowed ones. Each
//! maps to the library's own type with a `From`: clap stays out of the library.

use clap::ValueEnum;
use ddpm::data::ToyData;
use ddpm::device::{DeviceChoice, Precision};
use ddpm::posterior::{Parameterisation, ReverseVar};
use ddpm::run::DataSpec;
use ddpm::schedule::ScheduleKind;

/// A noise schedule (`--kind`, `--schedule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Schedule {
    /// Ho et al. 2020: beta linear from beta_start to beta_end.
    Linear,
    /// Nichol and Dhariwal 2021: alpha_bar along a squared cosine.
    Cosine,
    /// sqrt(beta) linear.
    Quadratic,
    /// beta along a sigmoid.
    Sigmoid,
}

impl From<Schedule> for ScheduleKind {
    fn from(s: Schedule) -> Self {
        match s {
            Schedule::Linear => ScheduleKind::Linear,
            Schedule::Cosine => ScheduleKind::Cosine,
            Schedule::Quadratic => ScheduleKind::Quadratic,
            Schedule::Sigmoid => ScheduleKind::Sigmoid,
        }
    }
}

/// Where tensors live (`--device`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// A GPU when the build has one and it is present, else the CPU.
    Auto,
    Cpu,
    Cuda,
    Metal,
}

impl From<Device> for DeviceChoice {
    fn from(d: Device) -> Self {
        match d {
            Device::Auto => DeviceChoice::Auto,
            Device::Cpu => DeviceChoice::Cpu,
            Device::Cuda => DeviceChoice::Cuda,
            Device::Metal => DeviceChoice::Metal,
        }
    }
}

/// The network's number format (`--dtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    F32,
    /// On a GPU only.
    Bf16,
}

impl From<Dtype> for Precision {
    fn from(d: Dtype) -> Self {
        match d {
            Dtype::F32 => Precision::F32,
            Dtype::Bf16 => Precision::Bf16,
        }
    }
}

/// The training data (`--data`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Data {
    /// MNIST digits, 28 x 28.
    Mnist,
    /// Eight Gaussians on a circle (2-D).
    ToyRing,
    /// Two interleaved half circles (2-D).
    ToyMoons,
    /// A spiral (2-D).
    ToySwissRoll,
}

impl From<Data> for DataSpec {
    fn from(d: Data) -> Self {
        match d {
            Data::Mnist => DataSpec::Mnist,
            Data::ToyRing => DataSpec::Toy(ToyData::Ring),
            Data::ToyMoons => DataSpec::Toy(ToyData::Moons),
            Data::ToySwissRoll => DataSpec::Toy(ToyData::SwissRoll),
        }
    }
}

/// What the network predicts (`--target`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The noise eps (Ho et al. 2020).
    Eps,
    /// The clean image x_0.
    X0,
    /// v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans and Ho 2022).
    V,
}

impl From<Target> for Parameterisation {
    fn from(t: Target) -> Self {
        match t {
            Target::Eps => Parameterisation::Eps,
            Target::X0 => Parameterisation::X0,
            Target::V => Parameterisation::V,
        }
    }
}

/// The learning rate after the warm-up (`--lr-decay`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LrDecay {
    /// The peak rate to the end.
    Constant,
    /// A half cosine down to 0 at the last step.
    Cosine,
}

/// How samples are drawn (`--sampler`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerKind {
    /// Ancestral sampling, Algorithm 2 of Ho et al. 2020: every one of the T steps.
    #[value(alias = "ancestral")]
    Ddpm,
    /// DDIM (Song et al. 2021): --ddim-steps steps, noise set by --eta.
    Ddim,
}

/// The variance sigma_t^2 of Algorithm 2's step (`--sigma`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Sigma {
    /// sigma_t^2 = beta_t.
    Beta,
    /// sigma_t^2 = beta_tilde_t, the posterior's variance.
    #[value(alias = "beta_tilde")]
    BetaTilde,
}

impl From<Sigma> for ReverseVar {
    fn from(s: Sigma) -> Self {
        match s {
            Sigma::Beta => ReverseVar::Beta,
            Sigma::BetaTilde => ReverseVar::BetaTilde,
        }
    }
}

/// The region inpainting hides (`--mask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MaskKind {
    /// The bottom half of the rows.
    BottomHalf,
    /// The left half of the columns.
    LeftHalf,
    /// The central square of half the side.
    Center,
    /// Each pixel with probability --hidden-fraction.
    Random,
}

impl MaskKind {
    /// The library's mask; `fraction` is used by `random` only.
    pub fn mask(self, fraction: f64) -> ddpm::sample::Mask {
        use ddpm::sample::Mask;
        match self {
            MaskKind::BottomHalf => Mask::BottomHalf,
            MaskKind::LeftHalf => Mask::LeftHalf,
            MaskKind::Center => Mask::Center,
            MaskKind::Random => Mask::Random(fraction),
        }
    }
}
