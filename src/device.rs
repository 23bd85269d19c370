//! Choosing where tensors live: a GPU when the crate was built for one and one is present,
//! the CPU otherwise.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

use crate::{Error, Result};

/// Runs `f` on a thread of rayon's pool when `device` is the CPU (directly when already on one,
/// or for another device). The crate's CPU kernels and candle's matrix products split their work
/// over that pool. Called from a thread outside it, each of a step's hundreds of parallel
/// operations hands its work to the pool and puts the calling thread to sleep until it is done,
/// and the caller and the pool's threads compete for the cores between operations; from a thread
/// of the pool, an operation starts at once on that thread. A training step
/// ([`crate::train::Trainer::step_on`]) and a network call while sampling
/// ([`crate::sample::Prediction::denoise`]) run this way; the numbers are the same either way.
pub fn on_cpu_pool<R: Send>(device: &Device, f: impl FnOnce() -> R + Send) -> R {
    if device.is_cpu() && rayon::current_thread_index().is_none() {
        rayon::scope(|_| f())
    } else {
        f()
    }
}

/// Which device to use, as `--device` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A GPU when the crate was built with `cuda` or `metal` and one is present, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

impl FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda),
            "metal" => Ok(DeviceChoice::Metal),
            _ => Err(invalid!("unknown device {s:?}; allowed: auto, cpu, cuda, metal")),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Metal => "metal",
        })
    }
}

/// The device for `choice`. Asking for CUDA or Metal in a build without that feature is an
/// error that says how to rebuild.
///
/// ```
/// use ddpm::device::{select, DeviceChoice};
/// assert!(select(DeviceChoice::Cpu).unwrap().is_cpu());
/// ```
pub fn select(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda if !candle_core::utils::cuda_is_available() => {
            Err(invalid!("device cuda asked for, but this build has no CUDA support: rebuild with `--features cuda`"))
        }
        DeviceChoice::Cuda => Ok(Device::new_cuda(0)?),
        DeviceChoice::Metal if !candle_core::utils::metal_is_available() => Err(invalid!(
            "device metal asked for, but this build has no Metal support: rebuild with `--features metal`"
        )),
        DeviceChoice::Metal => Ok(Device::new_metal(0)?),
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(d) = Device::new_metal(0) {
                    return Ok(d);
                }
            }
            Ok(Device::Cpu)
        }
    }
}

/// The best device available: what a notebook calls once at the top.
pub fn best() -> Device {
    select(DeviceChoice::Auto).unwrap_or(Device::Cpu)
}

/// A one-line description of a device, e.g. "cpu" or "cuda:0".
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(_) => "cuda:0".to_string(),
        Device::Metal(_) => "metal:0".to_string(),
    }
}

/// The number format of a network's weights and activations, as `--dtype` spells it.
///
/// f32 everywhere by default. bf16 halves the memory and, on a GPU, speeds up sampling; the
/// sampler's own arithmetic (Algorithm 2's means and variances) stays in f32, as does training
/// (bf16 weights would round away AdamW's small updates). On the CPU the network runs in f32:
/// candle has no fast bf16 CPU kernels, so [`Precision::dtype_on`] refuses bf16 there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    Bf16,
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(invalid!("unknown dtype {s:?}; allowed: f32, bf16 (bf16 on a GPU only)")),
        }
    }
}

impl Precision {
    /// The candle dtype for this precision on `device`; bf16 on the CPU is an error.
    ///
    /// ```
    /// use ddpm::candle_core::{DType, Device};
    /// use ddpm::device::Precision;
    /// assert_eq!(Precision::F32.dtype_on(&Device::Cpu).unwrap(), DType::F32);
    /// assert!(Precision::Bf16.dtype_on(&Device::Cpu).is_err());
    /// ```
    pub fn dtype_on(self, device: &Device) -> Result<candle_core::DType> {
        match (self, device) {
            (Precision::F32, _) => Ok(candle_core::DType::F32),
            (Precision::Bf16, Device::Cpu) => Err(invalid!(
                "dtype bf16 asked for on the CPU: the network runs in f32 there; bf16 is for --device cuda or metal"
            )),
            (Precision::Bf16, _) => Ok(candle_core::DType::BF16),
        }
    }
}
