//! Samples out of the network, as people look at them: images in [-1, 1] for the displays, and
//! values in [0, 1] for `.npy` files.

use candle_core::{DType, Tensor};
use ndarray::{Array2, Array3};

use crate::Result;

/// The images of a batch (B, C, H, W) as arrays (C, H, W) in f64, for `display::grid`.
pub fn to_images(x: &Tensor) -> Result<Vec<Array3<f64>>> {
    let (b, c, h, w) = match *x.dims() {
        [b, c, h, w] => (b, c, h, w),
        ref dims => invalid!("images must be a batch (B, C, H, W), got shape {dims:?}"),
    };
    let v: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let per = c * h * w;
    (0..b)
        .map(|i| {
            let pixels: Vec<f64> = v[i * per..(i + 1) * per].iter().map(|&p| p as f64).collect();
            Array3::from_shape_vec((c, h, w), pixels).map_err(|e| crate::Error::Invalid(e.to_string()))
        })
        .collect()
}

/// Samples mapped from the data range [-1, 1] to [0, 1] ((x + 1) / 2, clipped), flattened in
/// C order: what `ddpm sample --npy` writes.
pub fn to_unit_interval(x: &Tensor) -> Result<Vec<f32>> {
    let v: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    Ok(v.into_iter().map(|p| ((p + 1.0) / 2.0).clamp(0.0, 1.0)).collect())
}

/// Writes the samples `x` to `path` as a float32 `.npy` of their shape, values in [0, 1]
/// ([`to_unit_interval`]): `ddpm sample --npy` and `ddpm eval --npy`. Returns a line saying so.
pub fn save_npy(path: &std::path::Path, x: &Tensor) -> Result<String> {
    crate::data::npy::write_f32(path, x.dims(), &to_unit_interval(x)?)?;
    Ok(format!("wrote {} (float32, shape {:?}, values in [0, 1])", path.display(), x.dims()))
}

/// The rows of a batch of points (B, D) as f64 vectors, for scatter plots.
pub fn to_points(x: &Tensor) -> Result<Vec<Vec<f64>>> {
    Ok(to_array(x)?.rows().into_iter().map(|r| r.to_vec()).collect())
}

/// A batch of points (B, D) as a (B, D) array in f64, for statistics (`eval::toy::ring_stats`)
/// and for plain-array code such as `GaussianMixture::eps_star`.
pub fn to_array(x: &Tensor) -> Result<Array2<f64>> {
    let (b, d) = match *x.dims() {
        [b, d] => (b, d),
        ref dims => invalid!("points must be a batch (B, D), got shape {dims:?}"),
    };
    let v: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    Array2::from_shape_vec((b, d), v.into_iter().map(f64::from).collect())
        .map_err(|e| crate::Error::Invalid(e.to_string()))
}
