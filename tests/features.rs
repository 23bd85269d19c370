//! eval's feature network and the yardsticks of its Fréchet distance: the rotation against
//! numpy's `rot90`, the blur against its closed form, the yardstick sets, saving and loading,
//! and, with the shipped network, real digits near the test set and blurred digits, noise and
//! one class far from it, by margins derived from the sampling spread of real sets.

use candle_core::{Device, Tensor};
use ddpm::data::{Mnist, Pretrained, Split};
use ddpm::eval::features::{rotated, RECIPE};
use ddpm::eval::yardsticks::{gaussian_blur, BLUR_SIGMA, ONE_CLASS_DIGIT};
use ddpm::eval::{frechet_distance_of, FeatureNet, FeatureNetInfo, Featurizer, Yardstick, Yardsticks};

fn values(x: &Tensor) -> Vec<f32> {
    x.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn rotated_turns_as_numpys_rot90() {
    let x = Tensor::from_vec((1..=9).map(|v| v as f32).collect::<Vec<f32>>(), (1, 1, 3, 3), &Device::Cpu).unwrap();
    // numpy: a = np.arange(1, 10).reshape(3, 3); np.rot90(a, k).flatten() for k = 0, 1, 2, 3.
    let expected: [[f32; 9]; 4] = [
        [1., 2., 3., 4., 5., 6., 7., 8., 9.],
        [3., 6., 9., 2., 5., 8., 1., 4., 7.],
        [9., 8., 7., 6., 5., 4., 3., 2., 1.],
        [7., 4., 1., 8., 5., 2., 9., 6., 3.],
    ];
    for (k, e) in expected.iter().enumerate() {
        assert_eq!(values(&rotated(&x, &[k as u32]).unwrap()), e, "{k} quarter turns");
    }
    // Each image of a batch by its own count.
    let two = Tensor::cat(&[&x, &x], 0).unwrap();
    let v = values(&rotated(&two, &[1, 3]).unwrap());
    assert_eq!((&v[..9], &v[9..]), (&expected[1][..], &expected[3][..]));
    let why = rotated(&two, &[1]).unwrap_err().to_string();
    assert!(why.contains("one turn count per image") && why.contains("1 turns"), "{why}");
}

#[test]
fn the_blur_of_one_pixel_is_the_normalised_gaussian() {
    // One pixel at 1 on a background of -1: in x + 1 the blur is 2 g(dr) g(dc), with g the
    // kernel exp(-k^2 / 2 sigma^2) for |k| <= ceil(3 sigma), divided by its sum.
    let (side, mid, sigma) = (15, 7, 1.5f64);
    let mut v = vec![-1f32; side * side];
    v[mid * side + mid] = 1.0;
    let x = Tensor::from_vec(v, (1, 1, side, side), &Device::Cpu).unwrap();
    let blurred = values(&gaussian_blur(&x, sigma).unwrap());
    let radius = (3.0 * sigma).ceil() as i64;
    let total: f64 = (-radius..=radius).map(|k| (-(k * k) as f64 / (2.0 * sigma * sigma)).exp()).sum();
    let g = |d: i64| if d.abs() <= radius { (-(d * d) as f64 / (2.0 * sigma * sigma)).exp() / total } else { 0.0 };
    for r in 0..side as i64 {
        for c in 0..side as i64 {
            let expected = 2.0 * g(r - mid as i64) * g(c - mid as i64) - 1.0;
            let seen = blurred[r as usize * side + c as usize] as f64;
            assert!((seen - expected).abs() < 1e-6, "({r}, {c}): {seen} vs {expected}");
        }
    }
    for bad in [0.0, -1.0, f64::NAN] {
        let why = gaussian_blur(&x, bad).unwrap_err().to_string();
        assert!(why.contains("sigma must be a finite number of pixels > 0"), "{why}");
    }
}

#[test]
fn the_yardsticks_are_the_sets_they_say() {
    let device = Device::Cpu;
    let (train, test) = (Mnist::load_default(Split::Train).unwrap(), Mnist::load_default(Split::Test).unwrap());
    let n = 300;
    let sticks = Yardsticks::new(&train, &test, n, 5, &device).unwrap();
    for y in Yardstick::ALL {
        assert_eq!(sticks.images(y).unwrap().dims(), &[n, 1, 28, 28], "{y}");
    }
    let idx: Vec<usize> = (0..n).collect();
    assert_eq!(values(sticks.images(Yardstick::Real).unwrap()), values(&train.batch_tensor(&idx, &device).unwrap()));
    let blurred = values(sticks.images(Yardstick::Blurred).unwrap());
    let sharp = values(&test.batch_tensor(&idx, &device).unwrap());
    assert_eq!(blurred, values(&gaussian_blur(&test.batch_tensor(&idx, &device).unwrap(), BLUR_SIGMA).unwrap()));
    assert_ne!(blurred, sharp);
    // The uniform noise: in [-1, 1], mean 0 within five standard errors of a mean of
    // n * 784 draws of variance 1/3.
    let noise = values(sticks.images(Yardstick::Noise).unwrap());
    assert!(noise.iter().all(|v| (-1.0..=1.0).contains(v)));
    let mean = noise.iter().map(|&v| v as f64).sum::<f64>() / noise.len() as f64;
    assert!(mean.abs() < 5.0 * (1.0 / 3.0 / noise.len() as f64).sqrt(), "noise mean {mean}");
    // One class: the first n training images whose label is the digit.
    let ones: Vec<usize> = (0..train.len()).filter(|&i| train.labels()[i] == ONE_CLASS_DIGIT).take(n).collect();
    assert_eq!(
        values(sticks.images(Yardstick::OneClass).unwrap()),
        values(&train.batch_tensor(&ones, &device).unwrap())
    );
    let why = Yardsticks::new(&train, &test, 1, 5, &device).unwrap_err().to_string();
    assert!(why.contains("at least 2 images"), "{why}");
}

#[test]
fn a_saved_feature_network_loads_back_and_a_missing_one_is_named() {
    let device = Device::Cpu;
    let train = Mnist::load_default(Split::Train).unwrap().take(2000);
    let test = Mnist::load_default(Split::Test).unwrap().take(200);
    let (net, varmap) = FeatureNet::train(&train, 1, 64, 0, &device).unwrap();
    // The pretext task is learnt: chance is 1/4; at 800 turned images its standard error is
    // sqrt(0.25 x 0.75 / 800) = 1.5 %, so 0.4 is ten standard errors above chance.
    let accuracy = net.rotation_accuracy(&test, &device).unwrap();
    assert!(accuracy > 0.4, "one epoch on 2000 images names the turn of {accuracy} of 800");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let why = FeatureNet::open(&missing, &device).unwrap_err().to_string();
    assert!(
        why.contains(&missing.display().to_string())
            && why.contains("no feature network")
            && why.contains("--features"),
        "{why}"
    );
    assert!(FeatureNet::cached(dir.path(), &device).unwrap().is_none());

    let info = FeatureNetInfo {
        recipe: RECIPE,
        task: "rotation".into(),
        epochs: 1,
        batch_size: 64,
        seed: 0,
        rotation_accuracy: accuracy,
    };
    FeatureNet::save(dir.path(), &varmap, &info).unwrap();
    let (back, back_info) = FeatureNet::open(dir.path(), &device).unwrap();
    assert_eq!(back_info, info);
    let x = test.batch_tensor(&(0..20).collect::<Vec<_>>(), &device).unwrap();
    assert_eq!(net.feature_rows(&x).unwrap(), back.feature_rows(&x).unwrap(), "the same features after the round trip");
    // A network of another recipe is not used, and opening it says why.
    FeatureNet::save(dir.path(), &varmap, &FeatureNetInfo { recipe: RECIPE + 1, ..info }).unwrap();
    assert!(FeatureNet::cached(dir.path(), &device).unwrap().is_none());
    let why = FeatureNet::open(dir.path(), &device).unwrap_err().to_string();
    assert!(why.contains("another recipe"), "{why}");
}

#[test]
fn the_shipped_feature_network_puts_real_digits_near_and_blur_noise_one_class_far() {
    let device = Device::Cpu;
    let (net, info) = FeatureNet::open(&Pretrained::Features.dir().unwrap(), &device).unwrap();
    assert_eq!(info.recipe, RECIPE);
    let (train, test) = (Mnist::load_default(Split::Train).unwrap(), Mnist::load_default(Split::Test).unwrap());
    let n = 1000;
    let reference = net.feature_rows(&test.batch_tensor(&(0..n).collect::<Vec<_>>(), &device).unwrap()).unwrap();
    let distance = |x: &Tensor| frechet_distance_of(&net.feature_rows(x).unwrap(), &reference).unwrap();

    // The sampling spread of the real/real distance at this n: eight disjoint sets of n training
    // images, their mean and standard deviation.
    let sets = 8;
    let real: Vec<f64> = (0..sets)
        .map(|k| distance(&train.batch_tensor(&(k * n..(k + 1) * n).collect::<Vec<_>>(), &device).unwrap()))
        .collect();
    let mean = real.iter().sum::<f64>() / sets as f64;
    let sd = (real.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (sets - 1) as f64).sqrt();
    // The bar a far set must clear: the largest real distance plus eight of their standard
    // deviations. An estimate from eight sets falls below half the true spread about 3 % of the
    // time (7 s^2 / sigma^2 is chi-square with 7 degrees of freedom, below 7 / 4 with
    // probability 0.03), so but for such a draw the bar lies at least four true standard
    // deviations beyond the real sets' mean; a set farther than that is not a sampling accident.
    let bar = real.iter().cloned().fold(f64::MIN, f64::max) + 8.0 * sd;
    let sticks = Yardsticks::new(&train, &test, n, 0, &device).unwrap();
    let far = sticks.distances(&net, &reference).unwrap();
    println!("real: {real:?} (mean {mean:.3}, sd {sd:.3}, bar {bar:.3}); yardsticks: {far}");
    assert!((far.of(Yardstick::Real).unwrap() - real[0]).abs() < 1e-9, "the real yardstick is the first real set");
    for y in [Yardstick::Blurred, Yardstick::Noise, Yardstick::OneClass] {
        let d = far.of(y).unwrap();
        assert!(d > bar, "{y}: {d:.3} is not beyond the real sets' {real:?} by eight of their sd ({sd:.3})");
    }
}
