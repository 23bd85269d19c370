//! The `data` module: checksums of the bundled files, MNIST as the original distribution
//! describes it, raw and gzip IDX alike, every bad input an error that names the problem,
//! the photographs, and the toy 2-D data sets.

use ddpm::data::{
    default_data_dir, load_photo, photo_path, pixel_to_unit, pixels_to_unit, read_idx_images, read_idx_labels,
    ring_centres, ring_labelled, swiss_roll, two_moons, unit_to_pixel, unit_to_pixels, Color, Mnist, Split, ToyData,
};
use ddpm::rng::seeded;
use flate2::{write::GzEncoder, Compression};
use ndarray::{array, Array2};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    default_data_dir().expect("the data folder")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut out).unwrap();
    out
}

/// An IDX file: magic 0x0000 08 d, then the dims (big-endian u32), then `data`.
fn idx_bytes(type_code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A small valid images file: 2 images of 3 x 2 pixels, 16 + 12 = 28 bytes.
fn small_images() -> Vec<u8> {
    idx_bytes(0x08, &[2, 3, 2], &[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 255])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Asserts that `result` is an error whose message contains one of `fragments`.
#[track_caller]
fn assert_err<T: std::fmt::Debug>(result: ddpm::Result<T>, fragments: &[&str]) -> String {
    let msg = result.expect_err("expected an error").to_string();
    assert!(fragments.iter().any(|f| msg.contains(f)), "message {msg:?} has none of {fragments:?}");
    msg
}

// ---------------------------------------------------------------- checksums

#[test]
fn every_data_file_matches_the_sha256_in_the_readme() {
    let dir = data_dir();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    // Lines of `sha256sum` output: 64 hex digits, spaces, a path relative to data/.
    let listed: Vec<(String, String)> = readme
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (hash, file) = (parts.next()?, parts.next()?);
            let is_hash = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            (is_hash && parts.next().is_none()).then(|| (hash.to_string(), file.to_string()))
        })
        .collect();
    let files: Vec<&str> = listed.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(
        files,
        [
            "mnist/t10k-images-idx3-ubyte.gz",
            "mnist/t10k-labels-idx1-ubyte.gz",
            "mnist/train-images-idx3-ubyte.gz",
            "mnist/train-labels-idx1-ubyte.gz",
            "photos/china.jpg",
            "photos/flower.jpg",
            "figures/note000_figure1.jpg",
        ]
    );
    for (expected, file) in &listed {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let seen: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&seen, expected, "SHA-256 of data/{file}");
    }
}

// ---------------------------------------------------------------- MNIST

#[test]
fn mnist_train_is_the_original_distribution() {
    let train = Mnist::load(data_dir().join("mnist"), Split::Train).unwrap();
    assert_eq!((train.len(), train.rows(), train.cols()), (60_000, 28, 28));
    // First labels as given by the original distribution (shared/data/README.md).
    assert_eq!(&train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // Class counts of the training set (oracle: Python, collections.Counter over the labels
    // file; the same figures are widely quoted for MNIST).
    let mut counts = [0usize; 10];
    train.labels().iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    // Mean pixel / 255 over the training set: 0.1307, the constant of torchvision's usual
    // `Normalize((0.1307,), (0.3081,))` (exactly 1567298545 / 47040000 / 255 = 0.130660...).
    let sum: u64 = train.raw().pixels.iter().map(|&p| p as u64).sum();
    assert_eq!(sum, 1_567_298_545);
}

#[test]
fn mnist_test_is_the_original_distribution() {
    let test = Mnist::load(data_dir(), Split::Test).unwrap(); // data/ works as well as data/mnist
    assert_eq!((test.len(), test.rows(), test.cols()), (10_000, 28, 28));
    assert_eq!(&test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let mut counts = [0usize; 10];
    test.labels().iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
}

#[test]
fn mnist_images_and_batches_are_scaled_pixels() {
    let test = Mnist::load_default(Split::Test).unwrap();
    let x = test.image(0).unwrap();
    assert_eq!(x.shape(), &[1, 28, 28]);
    assert!(x.iter().all(|&v| (-1.0..=1.0).contains(&v)));
    let pixels = test.pixels(0).unwrap();
    assert_eq!(x[[0, 7, 9]], pixel_to_unit(pixels[7 * 28 + 9]));
    assert_eq!(x[[0, 0, 0]], -1.0); // MNIST's corners are background
    assert!(x.iter().any(|&v| v == 1.0)); // and every digit has saturated ink
    let batch = test.batch(&[3, 0, 3]).unwrap();
    assert_eq!(batch.shape(), &[3, 1, 28, 28]);
    assert_eq!(batch.slice(ndarray::s![1, .., .., ..]), x);
    assert_eq!(batch.slice(ndarray::s![0, .., .., ..]), test.image(3).unwrap());
    assert_eq!(test.label(0).unwrap(), 7);
    assert_err(test.image(10_000), &["image index 10000 is out of range: there are 10000 images"]);
    assert_err(test.batch(&[0, 10_001]), &["image index 10001 is out of range"]);
    assert_err(test.batch(&[]), &["at least one image index"]);
    assert_err(test.label(usize::MAX), &["out of range"]);
}

#[test]
fn raw_idx_reads_the_same_as_gzip() {
    let mnist = data_dir().join("mnist");
    let tmp = tempfile::tempdir().unwrap();
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        write(tmp.path(), name, &gunzip(&mnist.join(format!("{name}.gz"))));
    }
    let raw = tmp.path().join("t10k-images-idx3-ubyte");
    let gz = mnist.join("t10k-images-idx3-ubyte.gz");
    assert_eq!(read_idx_images(&raw).unwrap(), read_idx_images(&gz).unwrap());
    let from_raw = Mnist::load(tmp.path(), Split::Test).unwrap();
    let from_gz = Mnist::load(&mnist, Split::Test).unwrap();
    assert_eq!(from_raw.labels(), from_gz.labels());
    assert_eq!(from_raw.raw(), from_gz.raw());
    // gzip is recognised by its magic bytes, not the extension: swap the names.
    let gz_named_raw =
        write(tmp.path(), "labels-no-ext", &std::fs::read(mnist.join("t10k-labels-idx1-ubyte.gz")).unwrap());
    let raw_named_gz = write(tmp.path(), "labels.gz", &gunzip(&mnist.join("t10k-labels-idx1-ubyte.gz")));
    assert_eq!(read_idx_labels(gz_named_raw).unwrap(), read_idx_labels(raw_named_gz).unwrap());
}

// ---------------------------------------------------------------- bad IDX input

#[test]
fn small_synthetic_file_reads_in_both_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = read_idx_images(write(tmp.path(), "a", &small_images())).unwrap();
    let gz = read_idx_images(write(tmp.path(), "b", &gzip(&small_images()))).unwrap();
    assert_eq!(raw, gz);
    assert_eq!((raw.n, raw.rows, raw.cols), (2, 3, 2));
    assert_eq!(raw.image(1).unwrap(), &[60, 70, 80, 90, 100, 255]);
    assert_eq!(raw.image(2), None);
}

#[test]
fn every_truncation_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let full = small_images();
    for cut in 0..full.len() {
        let raw = write(tmp.path(), "raw", &full[..cut]);
        let gz = write(tmp.path(), "gz", &gzip(&full[..cut]));
        for path in [&raw, &gz] {
            let msg = assert_err(read_idx_images(path), &["too short", "truncated"]);
            if cut >= 16 {
                // The data part is cut: the message gives expected and found byte counts.
                let want = format!("2 x 3 x 2 = 12 data bytes, found {}", cut - 16);
                assert!(msg.contains(&want), "cut {cut}: {msg}");
            }
        }
    }
    // Cutting the gzip stream itself (header, deflate data or trailer) is an error too.
    let gz = gzip(&full);
    for cut in 0..gz.len() {
        let path = write(tmp.path(), "gz-cut", &gz[..cut]);
        assert_err(read_idx_images(path), &["gzip", "too short"]);
    }
}

#[test]
fn trailing_bytes_are_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut long = small_images();
    long.extend_from_slice(&[1, 2, 3]);
    for path in [write(tmp.path(), "raw", &long), write(tmp.path(), "gz", &gzip(&long))] {
        assert_err(read_idx_images(path), &["3 trailing byte(s) after the data"]);
    }
}

#[test]
fn wrong_magic_and_type_code_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bad = small_images();
    bad[0] = 0x12;
    assert_err(read_idx_images(write(tmp.path(), "m", &bad)), &["bad magic number 0x12000803"]);
    let float = idx_bytes(0x0D, &[1, 1, 1], &[0, 0, 0, 0]);
    assert_err(
        read_idx_images(write(tmp.path(), "t", &float)),
        &["type code 0x0d (32-bit float)", "only 0x08 (unsigned byte)"],
    );
    // A labels file where images are expected, and the other way round.
    let labels = idx_bytes(0x08, &[3], &[1, 2, 3]);
    let labels_path = write(tmp.path(), "l", &labels);
    let images_path = write(tmp.path(), "i", &small_images());
    assert_err(read_idx_images(&labels_path), &["says 1 dimension(s), but an IDX images file has 3"]);
    assert_err(read_idx_labels(&images_path), &["says 3 dimension(s), but an IDX labels file has 1"]);
    assert_eq!(read_idx_labels(&labels_path).unwrap(), vec![1, 2, 3]);
    // Not an IDX file at all: a JPEG.
    assert_err(read_idx_images(data_dir().join("photos/china.jpg")), &["bad magic number"]);
}

#[test]
fn zero_and_absurd_dimensions_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let zero = idx_bytes(0x08, &[2, 0, 2], &[]);
    assert_err(read_idx_images(write(tmp.path(), "z", &zero)), &["dimension 1 is 0 (dimensions 2 x 0 x 2)"]);
    let zero_labels = idx_bytes(0x08, &[0], &[]);
    assert_err(read_idx_labels(write(tmp.path(), "zl", &zero_labels)), &["dimension 0 is 0"]);
    // 2^96 bytes promised, 4 present: an error at once, raw or gzip, without allocating.
    let absurd = idx_bytes(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3, 4]);
    for path in [write(tmp.path(), "a", &absurd), write(tmp.path(), "ag", &gzip(&absurd))] {
        assert_err(read_idx_images(path), &["truncated", "more than this machine"]);
    }
    // 4 GB promised by a 20-byte gzip file: read as it arrives, so no 4 GB buffer.
    let big = idx_bytes(0x08, &[65_536, 256, 256], &[7; 10]);
    let path = write(tmp.path(), "big", &gzip(&big));
    assert_err(read_idx_images(path), &["65536 x 256 x 256 = 4294967296 data bytes, found 10"]);
}

#[test]
fn corrupted_gzip_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut gz = std::fs::read(data_dir().join("mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    assert_err(read_idx_labels(write(tmp.path(), "c", &gz)), &["corrupted or truncated gzip stream"]);
    // Only the gzip magic, then junk.
    let junk = [0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    assert_err(read_idx_labels(write(tmp.path(), "j", &junk)), &["corrupted or truncated gzip stream"]);
}

#[test]
fn missing_files_are_errors_that_name_them() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-file");
    assert_err(read_idx_images(&missing), &["no-such-file"]);
    assert_err(read_idx_labels(write(tmp.path(), "empty", &[])), &["too short", "found 0"]);
    assert_err(Mnist::load(tmp.path(), Split::Train), &["MNIST train images not found", "train-images-idx3-ubyte.gz"]);
}

#[test]
fn mnist_labels_must_be_digits_and_counts_must_agree() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "t10k-images-idx3-ubyte", &small_images());
    write(tmp.path(), "t10k-labels-idx1-ubyte", &idx_bytes(0x08, &[2], &[3, 10]));
    assert_err(Mnist::load(tmp.path(), Split::Test), &["label 10 at index 1 is not a digit"]);
    write(tmp.path(), "t10k-labels-idx1-ubyte", &idx_bytes(0x08, &[3], &[3, 4, 5]));
    assert_err(Mnist::load(tmp.path(), Split::Test), &["2 images in", "but 3 labels in"]);
    write(tmp.path(), "t10k-labels-idx1-ubyte", &idx_bytes(0x08, &[2], &[3, 4]));
    let ok = Mnist::load(tmp.path(), Split::Test).unwrap();
    assert_eq!(ok.image(1).unwrap()[[0, 2, 1]], 1.0); // pixel 255
    assert_err("valid".parse::<Split>(), &["must be \"train\" or \"test\", got \"valid\""]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any bytes at all: an image file or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), gz in any::<bool>()) {
        let tmp = tempfile::tempdir().unwrap();
        let content = if gz { gzip(&bytes) } else { bytes };
        let path = write(tmp.path(), "f", &content);
        let _ = read_idx_images(&path);
        let _ = read_idx_labels(&path);
    }

    /// A valid header with any dims and any data length: Ok exactly when the lengths agree.
    #[test]
    fn length_must_equal_the_product_of_dims(dims in proptest::array::uniform3(0u32..5), len in 0usize..70) {
        let tmp = tempfile::tempdir().unwrap();
        let path = write(tmp.path(), "f", &idx_bytes(0x08, &dims, &vec![9; len]));
        let product = dims.iter().product::<u32>() as usize;
        let result = read_idx_images(&path);
        prop_assert_eq!(result.is_ok(), product > 0 && len == product);
    }
}

// ---------------------------------------------------------------- scaling

#[test]
fn pixel_scale_maps_0_to_minus_1_and_255_to_1() {
    assert_eq!(pixel_to_unit(0), -1.0);
    assert_eq!(pixel_to_unit(255), 1.0);
    assert!((pixel_to_unit(1) - pixel_to_unit(0) - 2.0 / 255.0).abs() < 1e-15);
    for p in 0..=255u8 {
        assert_eq!(unit_to_pixel(pixel_to_unit(p)), p);
    }
    // Clamped outside [-1, 1], NaN to 0, rounding to the nearest level.
    assert_eq!(unit_to_pixel(-1.5), 0);
    assert_eq!(unit_to_pixel(7.0), 255);
    assert_eq!(unit_to_pixel(f64::NAN), 0);
    assert_eq!(unit_to_pixel(pixel_to_unit(100) + 0.4 * 2.0 / 255.0), 100);
    assert_eq!(unit_to_pixel(pixel_to_unit(100) + 0.6 * 2.0 / 255.0), 101);
    let x = array![[0u8, 255], [51, 204]];
    assert_eq!(unit_to_pixels(&pixels_to_unit(&x)), x);
    assert_eq!(pixels_to_unit(&x)[[1, 0]], 51.0 / 127.5 - 1.0);
}

// ---------------------------------------------------------------- photos

#[test]
fn china_loads_in_rgb_and_grey_and_resized() {
    let path = photo_path("china").unwrap();
    let rgb = load_photo(&path, Color::Rgb, None).unwrap();
    assert_eq!(rgb.shape(), &[3, 427, 640]);
    assert!(rgb.iter().all(|&v| (-1.0..=1.0).contains(&v)));
    let grey = load_photo(&path, Color::Grey, None).unwrap();
    assert_eq!(grey.shape(), &[1, 427, 640]);
    // Luma with BT.709 weights on the 8-bit values, truncated by the image crate: within one
    // level (2/255) of the weighted sum of the RGB channels.
    for (y, x) in [(0, 0), (200, 320), (426, 639), (100, 500)] {
        let luma = 0.2126 * rgb[[0, y, x]] + 0.7152 * rgb[[1, y, x]] + 0.0722 * rgb[[2, y, x]];
        assert!((grey[[0, y, x]] - luma).abs() <= 2.0 / 255.0 + 1e-12, "pixel ({y}, {x})");
    }
    let small = load_photo(&path, Color::Rgb, Some((64, 64))).unwrap();
    assert_eq!(small.shape(), &[3, 64, 64]);
    assert!(small.iter().all(|&v| (-1.0..=1.0).contains(&v)));
    let wide = load_photo(&path, Color::Grey, Some((64, 32))).unwrap();
    assert_eq!(wide.shape(), &[1, 32, 64]); // (w, h) in, (C, H, W) out
    let flower = load_photo(photo_path("flower").unwrap(), Color::Rgb, None).unwrap();
    assert_eq!(flower.shape(), &[3, 427, 640]);
}

#[test]
fn bad_photos_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    assert_err(load_photo(tmp.path().join("gone.jpg"), Color::Rgb, None), &["gone.jpg"]);
    let text = write(tmp.path(), "fake.jpg", b"this is not a picture");
    assert_err(load_photo(&text, Color::Rgb, None), &["could not decode as a JPEG or PNG image"]);
    let jpeg = std::fs::read(photo_path("china").unwrap()).unwrap();
    let cut = write(tmp.path(), "cut.jpg", &jpeg[..jpeg.len() / 3]);
    let _ = load_photo(&cut, Color::Rgb, None); // a truncated JPEG may decode partly: no panic
    let china = photo_path("china").unwrap();
    assert_err(load_photo(&china, Color::Rgb, Some((0, 10))), &["resize width must be in 1..=4096, got 0"]);
    assert_err(load_photo(&china, Color::Rgb, Some((10, 100_000))), &["resize height must be in 1..=4096"]);
    assert_err(photo_path("lena"), &["photo name must be one of [\"china\", \"flower\"], got \"lena\""]);
    assert_eq!("gray".parse::<Color>().unwrap(), Color::Grey);
    assert_err("cmyk".parse::<Color>(), &["color must be \"grey\" or \"rgb\""]);
}

// ---------------------------------------------------------------- toy data

#[test]
fn toy_data_is_seeded() {
    for data in ToyData::ALL {
        let a = data.sample(&mut seeded(1), 500).unwrap();
        assert_eq!(a.shape(), &[500, 2]);
        assert_eq!(a, data.sample(&mut seeded(1), 500).unwrap(), "{data}: same seed");
        assert_ne!(a, data.sample(&mut seeded(2), 500).unwrap(), "{data}: different seed");
        assert!(a.iter().all(|v| v.abs() < 1.5), "{data}: roughly in [-1, 1]");
    }
}

#[test]
fn ring_modes_have_the_right_means_and_weights() {
    let (n, modes, radius, std) = (20_000, 8, 0.8, 0.05);
    let (x, labels) = ring_labelled(&mut seeded(3), n, modes, radius, std).unwrap();
    let centres = ring_centres(modes, radius).unwrap();
    for k in 0..modes {
        let rows: Vec<usize> = (0..n).filter(|&i| labels[i] == k).collect();
        let n_k = rows.len() as f64;
        // n_k ~ Binomial(n, 1/K): within 5 standard deviations sqrt(n p (1 - p)) of n p.
        let p = 1.0 / modes as f64;
        assert!((n_k - n as f64 * p).abs() < 5.0 * (n as f64 * p * (1.0 - p)).sqrt(), "mode {k}: {n_k} points");
        for j in 0..2 {
            // Each coordinate of a mode is N(centre, std^2); its sample mean has standard error
            // std / sqrt(n_k), so it lies within 5 standard errors of the centre.
            let mean = rows.iter().map(|&i| x[[i, j]]).sum::<f64>() / n_k;
            let tol = 5.0 * std / n_k.sqrt();
            assert!((mean - centres[[k, j]]).abs() < tol, "mode {k}, coordinate {j}: {mean} vs {}", centres[[k, j]]);
        }
    }
    // `ring` draws the same points as `ring_labelled` from the same seed.
    assert_eq!(ddpm::data::ring(&mut seeded(3), n, modes, radius, std).unwrap(), x);
    // With std 0 every point is a centre.
    let (x0, l0) = ring_labelled(&mut seeded(4), 50, 3, 1.0, 0.0).unwrap();
    let c3 = ring_centres(3, 1.0).unwrap();
    assert!((0..50).all(|i| x0.row(i) == c3.row(l0[i])));
}

#[test]
fn moons_and_swiss_roll_without_noise_lie_on_their_curves() {
    let moons: Array2<f64> = two_moons(&mut seeded(5), 1000, 0.0).unwrap();
    for row in moons.rows() {
        // Undo the scaling, then the point is at distance 1 from (0, 0) or from (1, 0.5).
        let (x, y) = (1.5 * row[0] + 0.5, 1.5 * row[1] + 0.25);
        let upper = (x.hypot(y) - 1.0).abs() < 1e-12 && y >= -1e-12;
        let lower = ((1.0 - x).hypot(0.5 - y) - 1.0).abs() < 1e-12 && y <= 0.5 + 1e-12;
        assert!(upper || lower, "({x}, {y})");
        assert!(row[0].abs() <= 1.0 + 1e-12 && row[1].abs() <= 0.5 + 1e-12);
    }
    let roll = swiss_roll(&mut seeded(6), 1000, 0.0).unwrap();
    for row in roll.rows() {
        // The radius is t / (4.5 pi) with t in [1.5 pi, 4.5 pi]: in [1/3, 1].
        let r = row[0].hypot(row[1]);
        assert!((1.0 / 3.0 - 1e-12..=1.0 + 1e-12).contains(&r), "radius {r}");
    }
}

#[test]
fn toy_parameters_are_validated() {
    let rng = &mut seeded(0);
    assert_err(ddpm::data::ring(rng, 0, 8, 0.8, 0.05), &["n (the number of points) must be at least 1, got 0"]);
    assert_err(ddpm::data::ring(rng, 10, 0, 0.8, 0.05), &["modes must be at least 1, got 0"]);
    assert_err(ddpm::data::ring(rng, 10, 8, 0.8, -0.1), &["std must be a finite number >= 0, got -0.1"]);
    assert_err(ddpm::data::ring(rng, 10, 8, f64::INFINITY, 0.1), &["radius must be a finite number >= 0, got inf"]);
    assert_err(two_moons(rng, 10, f64::NAN), &["noise must be a finite number >= 0, got NaN"]);
    assert_err(swiss_roll(rng, 0, 0.1), &["must be at least 1"]);
    for name in ["ring", "moons", "swiss-roll"] {
        assert_eq!(name.parse::<ToyData>().unwrap().to_string(), name);
    }
    assert_err("swiss_roll".parse::<ToyData>(), &["one of \"ring\", \"moons\", \"swiss-roll\", got \"swiss_roll\""]);
}

#[test]
fn default_data_dir_finds_the_bundled_files() {
    let dir = data_dir();
    assert!(dir.join("mnist/train-images-idx3-ubyte.gz").is_file(), "{}", dir.display());
    assert!(photo_path("flower").unwrap().is_file());
}
