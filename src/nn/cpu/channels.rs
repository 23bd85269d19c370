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
        write_copy(x_h, &h[i * h_len..][..h_len]);
        write_copy(x_s, &s[i * s_len..][..s_len]);
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
            write_copy(d, &x[i * x_len + from..][..len]);
        };
        // SAFETY: `image` writes the `len` values of its image.
        unsafe { par_written(b * len, len, image).0 }
    };
    (part(0, h_len), part(h_len, x_len - h_len))
}

/// `to` set to the values of `from`, as one copy (`to.write_copy_of_slice(from)` on Rust 1.93 and
/// later, newer than this crate's oldest supported compiler).
fn write_copy(to: &mut [MaybeUninit<f32>], from: &[f32]) {
    assert_eq!(to.len(), from.len(), "write_copy: {} values into {}", from.len(), to.len());
    // SAFETY: both slices hold `from.len()` values, MaybeUninit<f32> has f32's layout, and `to` is
    // borrowed mutably, so the two do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), to.as_mut_ptr().cast::<f32>(), from.len()) }
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
