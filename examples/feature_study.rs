//! How eval's feature network was chosen (docs/judge.md): the Fréchet distance to 1000 MNIST
//! test images of real training digits (five disjoint sets of 1000, for the spread), blurred
//! test digits, uniform noise and one class only, in the features of each candidate network and
//! of the judge. Real data only; no generated sample is looked at.
//!
//!     cargo run --release --example feature_study -- [EPOCHS ...]
//!
//! trains a rotation network for each number of epochs given (default: the shipped recipe's).

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use ddpm::data::{Mnist, Pretrained, Split};
use ddpm::eval::yardsticks::gaussian_blur;
use ddpm::eval::{frechet_distance_of, Classifier, FeatureNet, Featurizer, Yardstick};
use ddpm::nn::seeded_var_builder;
use ddpm::Result;

const N: usize = 1000;

fn main() -> Result<()> {
    let device = Device::Cpu;
    let train = Mnist::load_default(Split::Train)?;
    let test = Mnist::load_default(Split::Test)?;
    let first = |from: usize| -> Vec<usize> { (from..from + N).collect() };
    let reference_images = test.batch_tensor(&first(0), &device)?;

    // The sets, each of N images.
    let mut sets: Vec<(String, Tensor)> = Vec::new();
    for k in 0..5 {
        sets.push((format!("real training images {}..{}", k * N, (k + 1) * N), train.batch_tensor(&first(k * N), &device)?));
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
    let epochs: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("epochs: a whole number")).collect();
    for e in if epochs.is_empty() { vec![4] } else { epochs } {
        let started = Instant::now();
        let (net, _) = FeatureNet::train(&train, e, 128, 0, &device)?;
        let secs = started.elapsed().as_secs_f64();
        let acc = net.rotation_accuracy(&test, &device)?;
        println!("rotation net, {e} epochs: trained in {secs:.0} s, names the turn of {:.2} % of test images", 100.0 * acc);
        columns.push((format!("rotation net, {e} epochs"), Box::new(net)));
    }

    let mut table: Vec<Vec<f64>> = vec![Vec::new(); sets.len()];
    for (_, net) in &columns {
        let reference = net.feature_rows(&reference_images)?;
        for (row, (_, x)) in table.iter_mut().zip(&sets) {
            row.push(frechet_distance_of(&net.feature_rows(x)?, &reference)?);
        }
    }
    println!("\n| set (Fréchet distance to test images 0..{N}) | {} |", columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(columns.len()));
    for ((name, _), row) in sets.iter().zip(&table) {
        println!("| {name} | {} |", row.iter().map(|d| format!("{d:.2}")).collect::<Vec<_>>().join(" | "));
    }
    // Per column: the real sets' mean and standard deviation, and each other set in those units.
    println!();
    for (j, (name, _)) in columns.iter().enumerate() {
        let real: Vec<f64> = table[..5].iter().map(|r| r[j]).collect();
        let mean = real.iter().sum::<f64>() / 5.0;
        let sd = (real.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        let ratios: Vec<String> = sets[5..]
            .iter()
            .zip(&table[5..])
            .map(|((s, _), r)| format!("{s}: {:.1}x", r[j] / mean))
            .collect();
        println!("{name}: real {mean:.2} +- {sd:.2} (sd of 5); {}", ratios.join("; "));
    }
    Ok(())
}
