//! Samples out of the network, as people look at them: images in [-1, 1] for the displays, and
//! values in [0, 1] for `.npy` files.

use candle_core::{DType, Tensor};
use ndarray::{Array2, Array3};

use super::Trajectory;
use crate::display::{grid, Figure};
use crate::Result;

/// The images of a batch (B, C, H, W) as arrays (C, H, W) in f64, for `display::grid`.
pub fn to_images(x: &Tensor) -> Result<Vec<Array3<f64>>> {
    let (b, c, h, w) = match *x.dims() {
        [b, c, h, w] => (b, c, h, w),
        ref dims => return Err(invalid!("images must be a batch (B, C, H, W), got shape {dims:?}")),
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
///
/// The file is NumPy's format version 1.0 (written by the `ndarray-npy` crate: the header
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (...), }` padded to a multiple of 64
/// bytes), so `numpy.load` reads it; it is written atomically (a temporary file, then a rename).
///
/// ```
/// use ndarray_npy::ReadNpyExt;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.npy");
/// let x = candle_core::Tensor::new(&[[-1f32, 0.0, 1.0], [3.0, -3.0, 0.5]], &candle_core::Device::Cpu).unwrap();
/// ddpm::sample::output::save_npy(&path, &x).unwrap();
/// let bytes = std::fs::read(&path).unwrap();
/// assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
/// // The header ends on a multiple of 64 bytes; then 6 float32 values.
/// assert_eq!((bytes.len() - 6 * 4) % 64, 0);
/// let back = ndarray::Array2::<f32>::read_npy(std::fs::File::open(&path).unwrap()).unwrap();
/// assert_eq!(back, ndarray::array![[0.0, 0.5, 1.0], [1.0, 0.0, 0.75]]);
/// ```
pub fn save_npy(path: &std::path::Path, x: &Tensor) -> Result<String> {
    use ndarray_npy::WriteNpyExt;
    let values = ndarray::ArrayD::from_shape_vec(x.dims(), to_unit_interval(x)?)
        .map_err(|e| crate::Error::Invalid(format!("samples of shape {:?}: {e}", x.dims())))?;
    let mut bytes = Vec::new();
    values.write_npy(&mut bytes).map_err(|e| crate::Error::io(path, std::io::Error::other(e)))?;
    crate::atomic::write(path, &bytes)?;
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
        ref dims => return Err(invalid!("points must be a batch (B, D), got shape {dims:?}")),
    };
    let v: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    Array2::from_shape_vec((b, d), v.into_iter().map(f64::from).collect())
        .map_err(|e| crate::Error::Invalid(e.to_string()))
}

/// One frame per recorded step of a sampling trajectory (Algorithm 2 run with
/// `SampleConfig::record_at`): the first `show` samples' x_t in the top row, captioned with t,
/// and the network's predicted x_0 at that step below; `scale` pixels per pixel. The frames of
/// [`crate::display::animation`] for the reverse process.
///
/// ```
/// use ddpm::sample::{output::reverse_process_frames, Trajectory};
/// let x = candle_core::Tensor::zeros((3, 1, 4, 4), candle_core::DType::F32, &candle_core::Device::Cpu)?;
/// let tr = Trajectory { t: vec![10, 1], xt: vec![x.clone(), x.clone()], x0_pred: vec![x.clone(), x] };
/// let frames = reverse_process_frames(&tr, 2, 1)?;
/// assert_eq!(frames.len(), 2);
/// # Ok::<(), ddpm::Error>(())
/// ```
pub fn reverse_process_frames(trajectory: &Trajectory, show: usize, scale: u32) -> Result<Vec<Figure>> {
    if trajectory.t.is_empty() {
        return Err(invalid!("the trajectory has no recorded steps: set SampleConfig::record_at"));
    }
    let mut frames = Vec::with_capacity(trajectory.t.len());
    for ((t, xt), x0) in trajectory.t.iter().zip(&trajectory.xt).zip(&trajectory.x0_pred) {
        let k = show.clamp(1, xt.dim(0)?);
        let mut images = to_images(&xt.narrow(0, 0, k)?)?;
        images.extend(to_images(&x0.narrow(0, 0, k)?)?);
        let mut captions: Vec<String> = vec![format!("x_t, t = {t}"); k];
        captions.extend(vec!["predicted x_0".to_string(); k]);
        frames.push(grid(&images, k, Some(&captions), scale)?);
    }
    Ok(frames)
}
