//! The masks of inpainting: which pixels of an image are hidden, for [`super::inpaint`], which
//! takes the complement (1 where a pixel is known).

use candle_core::{Device, Tensor};
use rand::Rng as _;

use crate::rng::seeded;
use crate::Result;

/// The region to hide (the sampler fills it in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mask {
    /// The bottom half of the rows (rows H/2..H, rounded down at the top).
    BottomHalf,
    /// The left half of the columns (columns 0..W/2).
    LeftHalf,
    /// The central square of half the side (rows and columns H/4..H/4 + H/2).
    Center,
    /// Each pixel independently, with this probability in [0, 1], from a generator seeded with
    /// the seed given to [`Mask::known`].
    Random(f64),
    /// Nothing hidden: inpainting gives the image back.
    None,
}

impl Mask {
    /// The mask of known pixels, (1, 1, H, W) u8: 1 where a pixel is kept, 0 where it is hidden.
    /// It broadcasts over a batch of images (B, C, H, W). `seed` is used by [`Mask::Random`] only.
    ///
    /// ```
    /// use ddpm::sample::Mask;
    /// let m = Mask::BottomHalf.known(4, 4, 0, &ddpm::candle_core::Device::Cpu).unwrap();
    /// let rows: Vec<Vec<u8>> = m.squeeze(0).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
    /// assert_eq!(rows, vec![vec![1; 4], vec![1; 4], vec![0; 4], vec![0; 4]]);
    /// ```
    pub fn known(&self, h: usize, w: usize, seed: u64, device: &Device) -> Result<Tensor> {
        if h == 0 || w == 0 {
            return Err(invalid!("a mask needs at least one row and one column, got {h} x {w}"));
        }
        let mut rng = seeded(seed);
        let p = match *self {
            Mask::Random(p) if !(0.0..=1.0).contains(&p) => {
                return Err(crate::Error::out_of_range("the hidden fraction of a random mask", p, "in [0, 1]"))
            }
            Mask::Random(p) => p,
            _ => 0.0,
        };
        let hidden = |r: usize, c: usize, rng: &mut crate::rng::Rng| match self {
            Mask::BottomHalf => r >= h / 2,
            Mask::LeftHalf => c < w / 2,
            Mask::Center => (h / 4..h / 4 + h / 2).contains(&r) && (w / 4..w / 4 + w / 2).contains(&c),
            Mask::Random(_) => rng.random::<f64>() < p,
            Mask::None => false,
        };
        let mut values = Vec::with_capacity(h * w);
        for r in 0..h {
            for c in 0..w {
                values.push(u8::from(!hidden(r, c, &mut rng)));
            }
        }
        Ok(Tensor::from_vec(values, (1, 1, h, w), device)?)
    }
}
