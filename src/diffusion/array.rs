//! [`DiffusionArray`]: an array that can be scaled and added, the only thing the formulas of
//! [`super`] need, for ndarray's f64 arrays and candle's tensors; and [`At`], the step(s) a
//! formula is evaluated at: one t for the whole array, or one t per batch element.

use candle_core::{DType, Tensor};
use ndarray::{Array, Axis, Dimension};

use crate::{NoiseSchedule, Result};

/// The step(s) at which a formula is evaluated: one t for the whole array, or one t per element
/// of the batch (axis 0), as in a training batch (Algorithm 1, line 3).
///
/// ```
/// use ddpm::diffusion::At;
/// assert_eq!(At::from(5), At::One(5));
/// let ts = vec![1, 10, 100];
/// assert_eq!(At::from(&ts), At::Each(&[1, 10, 100]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At<'a> {
    /// One step t for every element.
    One(usize),
    /// Step `t[b]` for batch element b.
    Each(&'a [usize]),
}

impl From<usize> for At<'_> {
    fn from(t: usize) -> Self {
        At::One(t)
    }
}

impl<'a> From<&'a [usize]> for At<'a> {
    fn from(t: &'a [usize]) -> Self {
        At::Each(t)
    }
}

impl<'a> From<&'a Vec<usize>> for At<'a> {
    fn from(t: &'a Vec<usize>) -> Self {
        At::Each(t)
    }
}

impl<'a, const N: usize> From<&'a [usize; N]> for At<'a> {
    fn from(t: &'a [usize; N]) -> Self {
        At::Each(t)
    }
}

impl At<'_> {
    /// `Ok(())` when every step is in `first..=T`, otherwise an error naming the step.
    pub fn check(&self, schedule: &NoiseSchedule, first: usize) -> Result<()> {
        let ts: &[usize] = match self {
            At::One(t) => std::slice::from_ref(t),
            At::Each(ts) => ts,
        };
        match ts.iter().find(|&&t| t < first || t > schedule.steps()) {
            Some(t) => Err(invalid!("t must be in {first}..={}, got {t}", schedule.steps())),
            None => Ok(()),
        }
    }

    /// The coefficient `f(t)` at each step (f is one of the schedule's f64 tables).
    pub fn coef(&self, f: impl Fn(usize) -> f64) -> Coef {
        match self {
            At::One(t) => Coef::One(f(*t)),
            At::Each(ts) => Coef::Each(ts.iter().map(|&t| f(t)).collect()),
        }
    }
}

/// A coefficient of a formula: one f64 for the whole array, or one per batch element.
#[derive(Clone, Debug, PartialEq)]
pub enum Coef {
    /// One value for every element.
    One(f64),
    /// Value `c[b]` for batch element b (axis 0).
    Each(Vec<f64>),
}

fn check_batch(c: &[f64], dims: &[usize]) -> Result<()> {
    if dims.first() != Some(&c.len()) {
        return Err(invalid!(
            "one step per batch element needs a batch of {} along axis 0, got shape {dims:?}",
            c.len()
        ));
    }
    Ok(())
}

/// An array that can be scaled by a [`Coef`] and added to one of its own shape: all the
/// formulas of Ho et al. 2020 need, so each is written once for every kind of array.
///
/// Scaling multiplies each element by the coefficient in the array's own precision (a tensor
/// of f32 by the coefficient rounded to f32).
pub trait DiffusionArray: Sized {
    /// The shape, to check that two operands agree.
    fn shape_vec(&self) -> Vec<usize>;
    /// c x, element-wise; a per-batch coefficient scales batch element b by `c[b]`.
    fn scaled(&self, c: &Coef) -> Result<Self>;
    /// x + y, element-wise.
    fn plus(&self, y: &Self) -> Result<Self>;
    /// x - y, element-wise.
    fn minus(&self, y: &Self) -> Result<Self>;
}

impl<D: Dimension> DiffusionArray for Array<f64, D> {
    fn shape_vec(&self) -> Vec<usize> {
        self.shape().to_vec()
    }

    fn scaled(&self, c: &Coef) -> Result<Self> {
        match c {
            Coef::One(c) => Ok(self.mapv(|v| c * v)),
            Coef::Each(c) => {
                check_batch(c, self.shape())?;
                let mut out = self.clone();
                for (mut row, &c) in out.view_mut().into_dyn().axis_iter_mut(Axis(0)).zip(c) {
                    row.mapv_inplace(|v| c * v);
                }
                Ok(out)
            }
        }
    }

    fn plus(&self, y: &Self) -> Result<Self> {
        same_shape(self, y, "x", "y")?;
        Ok(self + y)
    }

    fn minus(&self, y: &Self) -> Result<Self> {
        same_shape(self, y, "x", "y")?;
        Ok(self - y)
    }
}

impl DiffusionArray for Tensor {
    fn shape_vec(&self) -> Vec<usize> {
        self.dims().to_vec()
    }

    fn scaled(&self, c: &Coef) -> Result<Self> {
        match c {
            Coef::One(c) => Ok(self.affine(*c, 0.0)?),
            Coef::Each(c) => {
                check_batch(c, self.dims())?;
                // Shape (B, 1, ..., 1), to broadcast over each element's own dimensions.
                let mut shape = vec![1usize; self.rank()];
                shape[0] = c.len();
                let c = match self.dtype() {
                    DType::F32 => Tensor::from_vec(c.iter().map(|&v| v as f32).collect(), shape, self.device())?,
                    dtype => Tensor::from_vec(c.clone(), shape, self.device())?.to_dtype(dtype)?,
                };
                Ok(self.broadcast_mul(&c)?)
            }
        }
    }

    fn plus(&self, y: &Self) -> Result<Self> {
        Ok((self + y)?)
    }

    fn minus(&self, y: &Self) -> Result<Self> {
        Ok((self - y)?)
    }
}

/// `Ok(())` when `x` and `y` have the same shape, otherwise an error naming both.
pub fn same_shape<A: DiffusionArray>(x: &A, y: &A, x_name: &str, y_name: &str) -> Result<()> {
    let (a, b) = (x.shape_vec(), y.shape_vec());
    if a != b {
        return Err(invalid!("{x_name} and {y_name} must have the same shape, got {a:?} and {b:?}"));
    }
    Ok(())
}
