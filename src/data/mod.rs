//! Data for the notebooks: MNIST, two photographs, and toy 2-D data sets, all as `f64` arrays
//! scaled to [-1, 1] (the range the DDPM paper trains in: "we assume that image data consists
//! of integers in {0, 1, ..., 255} scaled linearly to [-1, 1]", Ho et al. 2020, Section 3.3).
//!
//! - [`idx`]: the IDX file format of MNIST (raw or gzip), read with every length checked;
//! - [`mnist`]: the MNIST splits ([`Mnist`], [`Split`]), images as (1, 28, 28) arrays;
//! - [`photo`]: a JPEG or PNG photograph as a (C, H, W) array ([`load_photo`], [`Color`]);
//! - [`pretrained`]: the trained networks that ship under `data/pretrained/` ([`Pretrained`]);
//! - [`toy`]: seeded 2-D data sets: a ring of Gaussians, two moons, a swiss roll ([`ToyData`]);
//! - [`scale`]: pixels 0..=255 to [-1, 1] and back.
//!
//! Nothing is downloaded: the files live in the project's `data/` folder, found by
//! [`default_data_dir`].

pub mod idx;
pub mod mnist;
pub mod photo;
pub mod pretrained;
pub mod scale;
pub mod toy;

pub use idx::{read_idx_images, read_idx_labels, IdxImages};
pub use mnist::{Mnist, Split};
pub use photo::{load_photo, photo_path, Color, PHOTO_NAMES};
pub use pretrained::Pretrained;
pub use scale::{pixel_to_unit, pixels_to_unit, unit_to_pixel, unit_to_pixels};
pub use toy::{ring, ring_centres, ring_labelled, swiss_roll, two_moons, ToyData};

use crate::Result;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable that, when set, names the data folder (the one that holds
/// `mnist/` and `photos/`).
pub const DATA_DIR_ENV: &str = "DDPM_DATA_DIR";

/// The project's `data/` folder (the one that holds `mnist/` and `photos/`), found in this order:
///
/// 1. the environment variable `DDPM_DATA_DIR`, if set and not empty (it must be a folder);
/// 2. walking up from the current directory, the first `data/` that has a `mnist/` folder
///    (notebooks run with the current directory `notebooks/`, tests with the crate root);
/// 3. `data/` beside this crate's `Cargo.toml` (the path it was compiled from).
///
/// When none exists the error lists every place that was looked at.
///
/// ```
/// let dir = ddpm::data::default_data_dir().unwrap();
/// assert!(dir.join("mnist").is_dir());
/// ```
pub fn default_data_dir() -> Result<PathBuf> {
    resolve_data_dir(
        std::env::var_os(DATA_DIR_ENV),
        std::env::current_dir().ok(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
}

/// [`default_data_dir`] with its three inputs explicit, so that it can be tested without
/// touching the process's environment.
fn resolve_data_dir(env_value: Option<OsString>, cwd: Option<PathBuf>, manifest_dir: &Path) -> Result<PathBuf> {
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(value);
        if dir.is_dir() {
            return Ok(dir);
        }
        return Err(invalid!(
            "{DATA_DIR_ENV} is set to {}, which is not a folder; \
             it must name the folder that holds mnist/ and photos/ (or be unset)",
            dir.display()
        ));
    }
    let mut looked = Vec::new();
    if let Some(cwd) = cwd {
        for dir in cwd.ancestors() {
            let candidate = dir.join("data");
            if candidate.join("mnist").is_dir() {
                return Ok(candidate);
            }
            looked.push(candidate.join("mnist"));
        }
    }
    let fallback = manifest_dir.join("data");
    if fallback.is_dir() {
        return Ok(fallback);
    }
    looked.push(fallback);
    let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    Err(invalid!(
        "could not find the data folder: {DATA_DIR_ENV} is not set, and none of these exist: {}; \
         set {DATA_DIR_ENV} to the folder that holds mnist/ and photos/",
        looked.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_wins_when_it_is_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let got = resolve_data_dir(Some(tmp.path().into()), None, Path::new("/nowhere")).unwrap();
        assert_eq!(got, tmp.path());
    }

    #[test]
    fn env_var_that_is_not_a_folder_is_an_error() {
        let err = resolve_data_dir(Some("/no/such/dir".into()), None, Path::new("/nowhere")).unwrap_err().to_string();
        assert!(err.contains("DDPM_DATA_DIR is set to /no/such/dir"), "{err}");
    }

    #[test]
    fn walks_up_from_a_subfolder() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("data/mnist")).unwrap();
        std::fs::create_dir_all(tmp.path().join("notebooks/deeper")).unwrap();
        let start = tmp.path().join("notebooks/deeper");
        let got = resolve_data_dir(None, Some(start), Path::new("/nowhere")).unwrap();
        assert_eq!(got, tmp.path().join("data"));
    }

    #[test]
    fn not_found_says_where_it_looked() {
        let tmp = tempfile::tempdir().unwrap();
        let err =
            resolve_data_dir(Some("".into()), Some(tmp.path().into()), Path::new("/nowhere")).unwrap_err().to_string();
        assert!(err.contains("could not find the data folder"), "{err}");
        assert!(err.contains(&tmp.path().join("data/mnist").display().to_string()), "{err}");
        assert!(err.contains("/nowhere/data"), "{err}");
    }
}
