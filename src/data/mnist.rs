//! The MNIST database of handwritten digits (LeCun, Cortes and Burges): 60 000 training and
//! 10 000 test images of 28 x 28 grey pixels with their labels 0..=9, read from the IDX files
//! of the original distribution (see [`crate::data::idx`]).
//!
//! Any data set in the same four files works too (Fashion-MNIST uses the same names and format).

use super::idx::{read_idx_images, read_idx_labels, IdxImages};
use super::scale::pixel_to_unit;
use crate::{Error, Result};
use ndarray::{Array3, Array4};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Which half of MNIST: the 60 000 training images or the 10 000 test images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`: 60 000 images.
    Train,
    /// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`: 10 000 images.
    Test,
}

impl Split {
    /// The images file's name without `.gz`, as in the original distribution.
    pub fn images_file(self) -> &'static str {
        match self {
            Split::Train => "train-images-idx3-ubyte",
            Split::Test => "t10k-images-idx3-ubyte",
        }
    }

    /// The labels file's name without `.gz`, as in the original distribution.
    pub fn labels_file(self) -> &'static str {
        match self {
            Split::Train => "train-labels-idx1-ubyte",
            Split::Test => "t10k-labels-idx1-ubyte",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

impl FromStr for Split {
    type Err = Error;

    /// `"train"` or `"test"`.
    fn from_str(s: &str) -> Result<Split> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            other => Err(invalid!("MNIST split must be \"train\" or \"test\", got {other:?}")),
        }
    }
}

/// One split of MNIST in memory: the u8 pixels and the labels, checked to agree.
/// Images come out as f64 arrays scaled to [-1, 1] by [`pixel_to_unit`].
#[derive(Debug, Clone)]
pub struct Mnist {
    images: IdxImages,
    labels: Vec<u8>,
}

impl Mnist {
    /// Loads one split from `dir`, the folder holding the IDX files (`data/mnist`), or a folder
    /// with a `mnist/` subfolder that holds them (`data/`, as [`super::default_data_dir`] gives).
    /// Each file may be gzip (`NAME.gz`, tried first) or raw (`NAME`).
    ///
    /// ```no_run
    /// use ddpm::data::{default_data_dir, Mnist, Split};
    /// let train = Mnist::load(default_data_dir()?, Split::Train)?;
    /// assert_eq!(train.len(), 60_000);
    /// # Ok::<(), ddpm::Error>(())
    /// ```
    pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<Mnist> {
        let dir = dir.as_ref();
        let images = find_file(dir, split.images_file(), split, "images")?;
        let labels = find_file(dir, split.labels_file(), split, "labels")?;
        Mnist::from_files(images, labels)
    }

    /// Loads one split from the project's data folder ([`super::default_data_dir`]).
    ///
    /// ```
    /// use ddpm::data::{Mnist, Split};
    /// let test = Mnist::load_default(Split::Test)?;
    /// assert_eq!(test.len(), 10_000);
    /// assert_eq!(&test.labels()[..3], &[7, 2, 1]);
    /// # Ok::<(), ddpm::Error>(())
    /// ```
    pub fn load_default(split: Split) -> Result<Mnist> {
        Mnist::load(super::default_data_dir()?, split)
    }

    /// Loads an images file and a labels file (raw or gzip), checking that their counts agree
    /// and that every label is a digit 0..=9.
    pub fn from_files(images_path: impl AsRef<Path>, labels_path: impl AsRef<Path>) -> Result<Mnist> {
        let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
        let images = read_idx_images(images_path)?;
        let labels = read_idx_labels(labels_path)?;
        if images.n != labels.len() {
            return Err(invalid!(
                "image and label counts differ: {} images in {} but {} labels in {}; \
                 they must agree",
                images.n,
                images_path.display(),
                labels.len(),
                labels_path.display()
            ));
        }
        if let Some(i) = labels.iter().position(|&l| l > 9) {
            return Err(Error::format(
                labels_path,
                format!("label {} at index {i} is not a digit: labels must be in 0..=9", labels[i]),
            ));
        }
        Ok(Mnist { images, labels })
    }

    /// The first `n` images and labels (all of them when there are fewer): a smaller data set
    /// for quick runs.
    ///
    /// ```
    /// let test = ddpm::data::Mnist::load_default(ddpm::data::Split::Test)?;
    /// assert_eq!(test.take(100).len(), 100);
    /// # Ok::<(), ddpm::Error>(())
    /// ```
    pub fn take(&self, n: usize) -> Mnist {
        let n = n.min(self.len());
        let per = self.images.rows * self.images.cols;
        let images = IdxImages { n, pixels: self.images.pixels[..n * per].to_vec(), ..self.images.clone() };
        Mnist { images, labels: self.labels[..n].to_vec() }
    }

    /// The images `indices` as an f32 tensor (B, 1, rows, cols) in [-1, 1] on `device`, as the
    /// networks take them.
    pub fn batch_tensor(&self, indices: &[usize], device: &candle_core::Device) -> Result<candle_core::Tensor> {
        let x = self.batch(indices)?;
        let shape = x.shape().to_vec();
        let v: Vec<f32> = x.iter().map(|&p| p as f32).collect();
        Ok(candle_core::Tensor::from_vec(v, shape, device)?)
    }

    /// The labels of `indices` as u32 (for class embeddings and cross-entropy).
    pub fn labels_u32(&self, indices: &[usize]) -> Vec<u32> {
        indices.iter().map(|&i| self.labels[i] as u32).collect()
    }

    /// Number of images (60 000 for train, 10 000 for test).
    pub fn len(&self) -> usize {
        self.images.n
    }

    /// Whether there are no images (never true for a loaded file: IDX dimensions are >= 1).
    pub fn is_empty(&self) -> bool {
        self.images.n == 0
    }

    /// Image height (28 for MNIST).
    pub fn rows(&self) -> usize {
        self.images.rows
    }

    /// Image width (28 for MNIST).
    pub fn cols(&self) -> usize {
        self.images.cols
    }

    /// All labels, in file order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The raw images (u8 pixels), e.g. to compute pixel statistics without scaling.
    pub fn raw(&self) -> &IdxImages {
        &self.images
    }

    /// The label of image `i`.
    pub fn label(&self, i: usize) -> Result<u8> {
        self.check_index(i)?;
        Ok(self.labels[i])
    }

    /// The u8 pixels of image `i`, row-major.
    pub fn pixels(&self, i: usize) -> Result<&[u8]> {
        self.check_index(i)?;
        Ok(self.images.image(i).expect("index checked"))
    }

    /// Image `i` shaped (1, rows, cols), scaled to [-1, 1] (Ho et al. 2020, Section 3.3).
    pub fn image(&self, i: usize) -> Result<Array3<f64>> {
        let pixels = self.pixels(i)?;
        let shape = (1, self.rows(), self.cols());
        Ok(Array3::from_shape_fn(shape, |(_, r, c)| pixel_to_unit(pixels[r * shape.2 + c])))
    }

    /// The images at `indices`, stacked: (N, 1, rows, cols), scaled to [-1, 1]. Indices may
    /// repeat; at least one is needed.
    pub fn batch(&self, indices: &[usize]) -> Result<Array4<f64>> {
        if indices.is_empty() {
            return Err(invalid!("a batch needs at least one image index, got none"));
        }
        for &i in indices {
            self.check_index(i)?;
        }
        let (rows, cols) = (self.rows(), self.cols());
        // (N, 1, H, W): element (b, 0, r, c) is pixel (r, c) of image indices[b].
        Ok(Array4::from_shape_fn((indices.len(), 1, rows, cols), |(b, _, r, c)| {
            pixel_to_unit(self.images.pixels[(indices[b] * rows + r) * cols + c])
        }))
    }

    fn check_index(&self, i: usize) -> Result<()> {
        if i >= self.len() {
            return Err(invalid!(
                "image index {i} is out of range: there are {} images (0..{})",
                self.len(),
                self.len()
            ));
        }
        Ok(())
    }
}

/// `dir/NAME.gz` or `dir/NAME`, else the same in `dir/mnist/`; the error names every path tried.
fn find_file(dir: &Path, name: &str, split: Split, what: &str) -> Result<PathBuf> {
    let mut tried = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("mnist")] {
        for file in [format!("{name}.gz"), name.to_string()] {
            let path = folder.join(file);
            if path.is_file() {
                return Ok(path);
            }
            tried.push(path.display().to_string());
        }
    }
    Err(invalid!("MNIST {split} {what} not found: none of {} exists", tried.join(", ")))
}
