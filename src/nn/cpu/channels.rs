//! Concatenation along the channels, and its inverse, on slices of a batch of images: what a
//! block of the U-Net's up path does to h and the skip connection's tensor (`res_block.rs`),
//! image by image on rayon's pool.

use std::mem::MaybeUninit;

use super::par_written;

/// cat(h, s) along the channels, for `b` images: image i's values of h, then its values of s.
pub(super) fn concat(h: &[f32], s: &[f32], b: usize) -> Vec<f32> {
    let (h_len, s_len) = (h.len() / b, s.len() / b);
    let image = |i: usize, x: &mut [MaybeUninit<f32>]| {
        let (x_h, x_s) = x.split_at_mut(h_len);
        for (d, &v) in x_h.iter_mut().zip(&h[i * h_len..][..h_len]).chain(x_s.iter_mut().zip(&s[i * s_len..][..s_len]))
        {
            d.write(v);
        }
    };
    // SAFETY: `image` writes the h_len + s_len values of its image.
    unsafe { par_written(h.len() + s.len(), h_len + s_len, image).0 }
}

/// The inverse of [`concat`]: each of `b` images' first `h_len` values of `x` to the first tensor,
/// the rest to the second.
pub(super) fn split(x: &[f32], b: usize, h_len: usize) -> (Vec<f32>, Vec<f32>) {
    let x_len = x.len() / b;
    let part = |from: usize, len: usize| {
        let image = |i: usize, d: &mut [MaybeUninit<f32>]| {
            for (d, &v) in d.iter_mut().zip(&x[i * x_len + from..][..len]) {
                d.write(v);
            }
        };
        // SAFETY: `image` writes the `len` values of its image.
        unsafe { par_written(b * len, len, image).0 }
    };
    (part(0, h_len), part(h_len, x_len - h_len))
}

#[cfg(test)]
mod tests {
    use super::{concat, split};

    /// Two images of h (2 values each) and s (3 values each): each image's h, then its s; split
    /// gives both back.
    #[test]
    fn concat_puts_each_images_channels_together_and_split_undoes_it() {
        let (h, s) = ([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        let x = concat(&h, &s, 2);
        assert_eq!(x, [1.0, 2.0, 10.0, 20.0, 30.0, 3.0, 4.0, 40.0, 50.0, 60.0]);
        assert_eq!(split(&x, 2, 2), (h.to_vec(), s.to_vec()));
    }
}
