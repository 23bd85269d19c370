//! How eval's feature network was chosen (docs/judge.md): the Fréchet distance to 1000 MNIST
//! test images of real training digits (ten disjoint sets of 1000, for the spread), blurred
//! test digits, uniform noise and one class only, in the features of each candidate network and
//! of the judge. Real data only; no generated sample is looked at.
//!
//!     cargo run --release --example feature_study -- [EPOCHS ...]
//!
//! trains a rotation network for each number of epochs given (default: the shipped recipe's),
//! and an autoencoder of the same encoder (its bottleneck the features) for 1 and 2 epochs.
//!
//!     cargo run --release --example feature_study -- eval
//!
//! measures instead, in `ddpm eval`'s setting (all 10 000 test images as the reference, sets of
//! 1000), the spread of the real/real distance over ten disjoint sets of training images and the
//! yardsticks, in the shipped feature network's features and the judge's.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use ddpm::data::{Mnist, Pretrained, Split};
use ddpm::eval::yardsticks::gaussian_blur;
use ddpm::eval::{frechet_distance_of, Classifier, FeatureNet, Featurizer, Yardstick};
use ddpm::nn::init::linear;
use ddpm::nn::resample::upsample_nearest;
use ddpm::nn::{seeded_var_builder, Conv};
use ddpm::Result;

/// The candidate autoencoder: the feature network's encoder (conv 16, conv 32, linear to 128,
/// ReLU: the bottleneck and the features), then linear 128 -> 1568, ReLU, (32, 7, 7),
/// up-sampling, conv 32 -> 16, ReLU, up-sampling, conv 16 -> 1, tanh; trained on the mean
/// squared error of the reconstruction.
struct Autoencoder {
    conv1: Conv,
    conv2: Conv,
    fc1: Linear,
    fc2: Linear,
    deconv1: Conv,
    deconv2: Conv,
}

impl Autoencoder {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: Conv::new(1, 16, 3, 1, vb.pp("conv1"))?,
            conv2: Conv::new(16, 32, 3, 1, vb.pp("conv2"))?,
            fc1: linear(32 * 7 * 7, 128, vb.pp("fc1"))?,
            fc2: linear(128, 32 * 7 * 7, vb.pp("fc2"))?,
            deconv1: Conv::new(32, 16, 3, 1, vb.pp("deconv1"))?,
            deconv2: Conv::new(16, 1, 3, 1, vb.pp("deconv2"))?,
        })
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(x)?.relu()?.max_pool2d(2)?;
        let h = self.conv2.forward(&h)?.relu()?.max_pool2d(2)?;
        Ok(self.fc1.forward(&h.flatten_from(1)?)?.relu()?)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let h = self.fc2.forward(z)?.relu()?.reshape((z.dim(0)?, 32, 7, 7))?;
        let h = self.deconv1.forward(&upsample_nearest(&h)?)?.relu()?;
        Ok(self.deconv2.forward(&upsample_nearest(&h)?)?.tanh()?)
    }

    fn train(train: &Mnist, epochs: usize, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let model = Self::new(seeded_var_builder(&varmap, 0, device))?;
        ddpm::eval::fit::fit(&varmap, train.len(), epochs, 128, 2e-3, 0, |idx, _| {
            let x = train.batch_tensor(idx, device)?;
            Ok((model.decode(&model.encode(&x)?)? - &x)?.sqr()?.mean_all()?)
        })?;
        Ok(model)
    }
}

impl Featurizer for Autoencoder {
    fn feature_rows(&self, x: &Tensor) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::new();
        let n = x.dim(0)?;
        for start in (0..n).step_by(500) {
            let f: Vec<Vec<f32>> =
                self.encode(&x.narrow(0, start, 500.min(n - start))?)?.to_dtype(DType::F32)?.to_vec2()?;
            out.extend(f.into_iter().map(|r| r.into_iter().map(f64::from).collect::<Vec<f64>>()));
        }
        Ok(out)
    }
}

const N: usize = 1000;
/// Disjoint sets of real training digits.
const REAL: usize = 10;

fn main() -> Result<()> {
    let device = Device::Cpu;
    let train = Mnist::load_default(Split::Train)?;
    let test = Mnist::load_default(Split::Test)?;
    if std::env::args().nth(1).as_deref() == Some("eval") {
        return eval_setting(&train, &test, &device);
    }
    let first = |from: usize| -> Vec<usize> { (from..from + N).collect() };
    let reference_images = test.batch_tensor(&first(0), &device)?;

    // The sets, each of N images.
    let mut sets: Vec<(String, Tensor)> = Vec::new();
    for k in 0..REAL {
        sets.push((
            format!("real training images {}..{}", k * N, (k + 1) * N),
            train.batch_tensor(&first(k * N), &device)?,
        ));
    }
    for sigma in [0.5, 1.0, 1.5] {
        sets.push((format!("the test images blurred, sigma {sigma}"), gaussian_blur(&reference_images, sigma)?));
    }
    sets.push(("uniform noise".into(), Yardstick::Noise.images(&train, &test, N, 0, &device)?));
    for digit in 0..10u8 {
        let idx: Vec<usize> = (0..train.len()).filter(|&i| train.labels()[i] == digit).take(N).collect();
        sets.push((format!("one class only, digit {digit}"), train.batch_tensor(&idx, &device)?));
    }

    let mut columns: Vec<(String, Box<dyn Featurizer>)> = Vec::new();
    let (judge, _) = Classifier::cached(&Pretrained::Classifier.path()?, &device)?
        .ok_or_else(|| ddpm::invalid!("the shipped judge is missing"))?;
    columns.push(("judge (recipe 2)".into(), Box::new(judge)));
    let untrained = FeatureNet::new(seeded_var_builder(&VarMap::new(), 0, &device))?;
    columns.push(("rotation net, untrained".into(), Box::new(untrained)));
    let epochs: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().map_err(|_| ddpm::invalid!("each argument is a number of epochs (or `eval`), got {a:?}")))
        .collect::<Result<_>>()?;
    for e in if epochs.is_empty() { vec![4] } else { epochs } {
        let started = Instant::now();
        let (net, _) = FeatureNet::train(&train, e, 128, 0, &device)?;
        let secs = started.elapsed().as_secs_f64();
        let acc = net.rotation_accuracy(&test, &device)?;
        println!(
            "rotation net, {e} epochs: trained in {secs:.0} s, names the turn of {:.2} % of test images",
            100.0 * acc
        );
        columns.push((format!("rotation net, {e} epochs"), Box::new(net)));
    }
    for e in [1, 2] {
        let started = Instant::now();
        let ae = Autoencoder::train(&train, e, &device)?;
        let x = test.batch_tensor(&first(0), &device)?;
        let mse: f32 = (ae.decode(&ae.encode(&x)?)? - &x)?.sqr()?.mean_all()?.to_scalar()?;
        println!(
            "autoencoder, {e} epochs: trained in {:.0} s, test reconstruction MSE {mse:.4}",
            started.elapsed().as_secs_f64()
        );
        columns.push((format!("autoencoder, {e} epochs"), Box::new(ae)));
    }

    let mut table: Vec<Vec<f64>> = vec![Vec::new(); sets.len()];
    for (_, net) in &columns {
        let reference = net.feature_rows(&reference_images)?;
        for (row, (_, x)) in table.iter_mut().zip(&sets) {
            row.push(frechet_distance_of(&net.feature_rows(x)?, &reference)?);
        }
    }
    println!(
        "\n| set (Fréchet distance to test images 0..{N}) | {} |",
        columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}", "---|".repeat(columns.len()));
    for ((name, _), row) in sets.iter().zip(&table) {
        println!("| {name} | {} |", row.iter().map(|d| format!("{d:.4}")).collect::<Vec<_>>().join(" | "));
    }
    // Per column: the real sets' mean and standard deviation, and how far each other set lies
    // beyond their mean in those standard deviations (z).
    println!(
        "\n| features | real: mean ± sd of {REAL} | {} |",
        sets[REAL..].iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(sets.len() - REAL));
    for (j, (name, _)) in columns.iter().enumerate() {
        let real: Vec<f64> = table[..REAL].iter().map(|r| r[j]).collect();
        let mean = real.iter().sum::<f64>() / REAL as f64;
        let sd = (real.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (REAL - 1) as f64).sqrt();
        let z: Vec<String> = table[REAL..].iter().map(|r| format!("{:.1}", (r[j] - mean) / sd)).collect();
        println!("| {name} | {mean:.4} ± {sd:.4} | {} |", z.join(" | "));
    }
    Ok(())
}

/// The real/real spread and the yardsticks with every test image as the reference.
fn eval_setting(train: &Mnist, test: &Mnist, device: &Device) -> Result<()> {
    let (judge, _) = Classifier::cached(&Pretrained::Classifier.path()?, device)?
        .ok_or_else(|| ddpm::invalid!("the shipped judge is missing"))?;
    let (net, _) = FeatureNet::open(&Pretrained::Features.dir()?, device)?;
    let all = test.batch_tensor(&(0..test.len()).collect::<Vec<_>>(), device)?;
    let sticks = ddpm::eval::Yardsticks::new(train, test, N, 0, device)?;
    let columns: [(&str, &dyn Featurizer); 2] = [("feature network (shipped)", &net), ("judge (recipe 2)", &judge)];
    for (name, f) in columns {
        let reference = f.feature_rows(&all)?;
        let real: Vec<f64> = (0..REAL)
            .map(|k| {
                frechet_distance_of(
                    &f.feature_rows(&train.batch_tensor(&(k * N..(k + 1) * N).collect::<Vec<_>>(), device)?)?,
                    &reference,
                )
            })
            .collect::<Result<_>>()?;
        let mean = real.iter().sum::<f64>() / REAL as f64;
        let sd = (real.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (REAL - 1) as f64).sqrt();
        let far = sticks.distances(f, &reference)?;
        let z: Vec<String> = far.0.iter().map(|(y, _, d)| format!("{y}: {d:.3} (z {:.1})", (d - mean) / sd)).collect();
        let each: Vec<String> = real.iter().map(|d| format!("{d:.3}")).collect();
        println!(
            "{name}: real sets of {N} against all {} test images: {mean:.3} ± {sd:.3} ({}); {}",
            test.len(),
            each.join(", "),
            z.join("; ")
        );
    }
    Ok(())
}
