//! The convolutions of the U-Net: [`Conv`] (3x3, stride 1 or 2) and [`Conv1x1`]. On the CPU in
//! f32 both run through the engine's convolution ([`conv2d_im2col`]: im2col and one matrix
//! product, forward and backward), elsewhere (a GPU, f64) through candle's `conv2d` and `matmul`.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use super::cpu::{conv2d_im2col, on_cpu_f32};
use super::init::pytorch_uniform;
use crate::Result;

/// A square `kernel` x `kernel` convolution with bias and padding `kernel / 2` (so a stride of 1
/// keeps the size and a stride of 2 halves an even size). Parameters as PyTorch's
/// `nn.Conv2d(in, out, kernel, stride, padding=kernel // 2)`: `weight` (out, in, k, k) and
/// `bias` (out). On the CPU in f32 it runs through [`conv2d_im2col`], elsewhere (a GPU, f64)
/// through candle's `conv2d`: the same values up to rounding.
#[derive(Debug, Clone)]
pub struct Conv {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
}

impl Conv {
    /// PyTorch-initialised: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in k k.
    pub fn new(in_ch: usize, out_ch: usize, kernel: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        Self::with_init(in_ch, out_ch, kernel, stride, pytorch_uniform(in_ch * kernel * kernel), vb)
    }

    /// With weight and bias starting at zero (the U-Net's last layer): the output is 0 until trained.
    pub fn zeros(in_ch: usize, out_ch: usize, kernel: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        Self::with_init(in_ch, out_ch, kernel, stride, Init::Const(0.0), vb)
    }

    fn with_init(
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        stride: usize,
        init: Init,
        vb: VarBuilder,
    ) -> Result<Self> {
        if in_ch == 0 || out_ch == 0 || kernel.is_multiple_of(2) || stride == 0 {
            return Err(invalid!("a convolution needs channels >= 1, an odd kernel and a stride >= 1, got {in_ch} -> {out_ch}, kernel {kernel}, stride {stride}"));
        }
        let weight = vb.get_with_hints((out_ch, in_ch, kernel, kernel), "weight", init)?;
        let bias = vb.get_with_hints(out_ch, "bias", init)?;
        Ok(Self { weight, bias, stride })
    }

    /// The kernel (C_out, C_in, k, k) and the bias (C_out).
    pub(crate) fn parameters(&self) -> [&Tensor; 2] {
        [&self.weight, &self.bias]
    }

    /// The bias plus `shift` (B, C_out): each image's bias, as [`Self::forward_add`] uses it on
    /// the CPU.
    pub(crate) fn shifted_bias(&self, shift: &Tensor) -> Result<Tensor> {
        Ok(shift.broadcast_add(&self.bias.unsqueeze(0)?)?)
    }

    /// (B, C_in, H, W) -> (B, C_out, H / stride, W / stride) (sizes rounded up).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let padding = self.weight.dim(2)? / 2;
        if on_cpu_f32(x) {
            return conv2d_im2col(x, &self.weight, Some(&self.bias), self.stride, padding);
        }
        let y = x.conv2d(&self.weight, padding, self.stride, 1, 1)?;
        let c_out = self.bias.dim(0)?;
        Ok(y.broadcast_add(&self.bias.reshape((1, c_out, 1, 1))?)?)
    }

    /// The convolution plus `shift` (B, C_out), one value per image and output channel added at
    /// every pixel: conv(x) + shift[:, :, None, None], which is how a residual block adds its
    /// projected time embedding (Ho et al. 2020, E22). On the CPU in f32 the shift joins the bias
    /// inside the convolution (its gradient is each image's row sums), instead of a
    /// (B, C_out, H, W) addition whose gradient candle computes as a strided sum.
    /// (B, C_in, H, W), (B, C_out) -> (B, C_out, H / stride, W / stride).
    pub fn forward_add(&self, x: &Tensor, shift: &Tensor) -> Result<Tensor> {
        let (b, c_out) = (x.dim(0)?, self.bias.dim(0)?);
        if shift.dims() != [b, c_out] {
            return Err(invalid!(
                "a convolution's shift must be (batch {b}, channels {c_out}), got {:?}",
                shift.dims()
            ));
        }
        if on_cpu_f32(x) {
            let bias = self.shifted_bias(shift)?; // (B, C_out)
            return conv2d_im2col(x, &self.weight, Some(&bias), self.stride, self.weight.dim(2)? / 2);
        }
        Ok(self.forward(x)?.broadcast_add(&shift.reshape((b, c_out, 1, 1))?)?)
    }
}

/// A 1x1 convolution, `y[b, o, p] = sum_c W[o, c] x[b, c, p] + bias[o]` at every pixel p, computed as
/// a matrix product (on the CPU in f32 through [`conv2d_im2col`], which uses the image itself as
/// its column matrix). Parameters as PyTorch's `nn.Conv2d(in, out, 1)`: `weight`
/// (out, in, 1, 1) and `bias` (out), PyTorch-initialised.
#[derive(Debug, Clone)]
pub struct Conv1x1 {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1x1 {
    /// A 1x1 convolution from `in_ch` to `out_ch` channels.
    pub fn new(in_ch: usize, out_ch: usize, vb: VarBuilder) -> Result<Self> {
        let init = pytorch_uniform(in_ch);
        let weight = vb.get_with_hints((out_ch, in_ch, 1, 1), "weight", init)?;
        let bias = vb.get_with_hints(out_ch, "bias", init)?;
        Ok(Self { weight, bias })
    }

    /// The kernel (C_out, C_in, 1, 1) and the bias (C_out).
    pub(crate) fn parameters(&self) -> [&Tensor; 2] {
        [&self.weight, &self.bias]
    }

    /// (B, C_in, H, W) -> (B, C_out, H, W).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if on_cpu_f32(x) {
            return conv2d_im2col(x, &self.weight, Some(&self.bias), 1, 0);
        }
        let (b, c_in, h, w) = x.dims4()?;
        let c_out = self.bias.dim(0)?;
        let weight = self.weight.reshape((c_out, c_in))?.broadcast_left(b)?; // (B, C_out, C_in), a view
        let x = x.reshape((b, c_in, h * w))?; // (B, C_in, HW)
        let y = weight.matmul(&x)?.broadcast_add(&self.bias.reshape((c_out, 1))?)?; // (B, C_out, HW)
        Ok(y.reshape((b, c_out, h, w))?)
    }
}
