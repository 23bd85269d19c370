//! Multiplication by a fixed mask (dropout's) as one CPU operation, forward and backward spread
//! over rayon's pool (behind [`crate::nn::dropout::Dropout`]); candle's `x * mask` and its
//! gradient `grad * mask` run on one thread. The same values: each is one f32 product.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::{values, with_values, zip_with};

/// y = x m for the mask m it holds (as many values as x), so dL/dx = dL/dy m.
pub(super) struct MaskMul(Vec<f32>);

/// The products a m, value by value, on rayon's pool.
pub(super) fn products(a: &[f32], m: &[f32]) -> Vec<f32> {
    zip_with(a, m, |a, m| a * m)
}

impl CustomOp1 for MaskMul {
    fn name(&self) -> &'static str {
        "ddpm-mask-mul"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = values::<f32>(s, l)?;
        if x.len() != self.0.len() {
            candle_core::bail!("ddpm-mask-mul: {} values and a mask of {}", x.len(), self.0.len())
        }
        Ok((CpuStorage::F32(products(x, &self.0)), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dx = with_values(grad, |g: &[f32]| products(g, &self.0))?;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// `x m` for a non-empty f32 `x` on the CPU and a `mask` of as many values: [`MaskMul`]. The same
/// values as `x * mask`.
pub(crate) fn mask_mul(x: &Tensor, mask: Vec<f32>) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(MaskMul(mask))
}
