//! `ddpm eval`: how good is a trained MNIST run? The variational bound in bits/dim (with its
//! terms), what a small classifier says about generated samples, and their Fréchet distance to
//! the test set in the features of eval's own feature network, with the yardsticks that say what
//! it means (and the same in the classifier's features, the figure eval reported before).

use std::path::PathBuf;

use ddpm::data::{Mnist, Pretrained, Split};
use ddpm::device::{describe, select};
use ddpm::eval::{
    sample_quality, variational_bound, Classifier, FeatureNet, Featurizer, Yardstick, Yardsticks, CONFIDENT,
};
use ddpm::run::{Model, Run};
use ddpm::sample::{sample_batched, Batches, Prediction, SampleConfig};
use ddpm::Result;

use crate::choices::{Device, Dtype, SamplerKind};
use crate::sampler_flags::{Defaults, SamplerFlags};

/// Evaluate a trained MNIST run: bits/dim on test images, and the quality of its samples.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The run's folder, as written by ddpm train --data mnist (data/pretrained/mnist ships trained).
    #[arg(long)]
    run: PathBuf,
    /// Samples to judge.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    // How they are drawn (see the command's long help in main.rs for the default).
    #[command(flatten)]
    how: SamplerFlags,
    /// Seed of the samples and of the bound's noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Classifier-free guidance weight (class-conditional runs).
    #[arg(long, default_value_t = 0.0)]
    guidance: f64,
    /// Test images for the bound (the first ones of the MNIST test set).
    #[arg(long, default_value_t = 100)]
    bpd_images: usize,
    /// Strata of t for the bound's sum over t (T - 1: every t).
    #[arg(long, default_value_t = 100)]
    bpd_strata: usize,
    /// The judge's folder (default: the shipped one, data/pretrained/mnist-classifier); a
    /// classifier is trained there first if the folder holds none (minutes on a CPU).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// The feature network's folder, for the Fréchet distance (default: the shipped one,
    /// data/pretrained/mnist-features); one is trained there first if the folder holds none
    /// (minutes on a CPU).
    #[arg(long)]
    features: Option<PathBuf>,
    /// The folder holding mnist/ (default: the project's data/).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where the networks run.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    device: Device,
    /// The network's number format (the sampler's arithmetic stays f32).
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// Also save the judged samples as a grid (PNG).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also save the judged samples as float32 .npy, shape (N, 1, 28, 28), values in [0, 1], for
    /// a second opinion from another classifier (`make judge-torch`).
    #[arg(long)]
    npy: Option<PathBuf>,
}

/// The seed of the yardsticks' noise.
const YARDSTICK_SEED: u64 = 0;

pub fn eval(args: EvalArgs) -> Result<()> {
    let device = select(args.device.into())?;
    let dtype = ddpm::device::Precision::from(args.dtype).dtype_on(&device)?;
    let run = Run::open(&args.run)?;
    let (model, spec, meta) = (run.model_as(&device, dtype)?, run.spec().clone(), run.checkpoint().clone());
    let Model::Unet(unet) = &model else {
        return Err(ddpm::invalid!("ddpm eval judges MNIST runs; {} holds a {} run", args.run.display(), spec.data));
    };
    let data_dir = match args.data_dir.clone() {
        Some(d) => d,
        None => ddpm::data::default_data_dir()?,
    };
    let test = Mnist::load(data_dir.join("mnist"), Split::Test)?;
    let train = Mnist::load(data_dir.join("mnist"), Split::Train)?;
    let schedule = spec.schedule.build()?;
    let sampler = args.how.sampler(Defaults { sampler: SamplerKind::Ddim, ddim_steps: 250 }, &schedule)?;
    let config =
        SampleConfig { sampler, clip_x0: !args.how.no_clip, seed: args.seed, record_at: vec![], ..Default::default() };
    config.validate(&schedule)?;
    println!("evaluating {} (step {}) on {}", args.run.display(), meta.step, describe(&device));

    // (a) The bound, on the first test images.
    let prediction = Prediction { model: &model, parameterisation: spec.train.target };
    {
        let idx: Vec<usize> = (0..args.bpd_images.min(test.len())).collect();
        let x0 = test.batch_tensor(&idx, &device)?;
        let b = variational_bound(&prediction, &schedule, &x0, args.bpd_strata, args.seed)?;
        println!(
            "bound on {} test images ({} strata of t): {:.4} bits/dim = L_T {:.3} + sum L_(t-1) {:.2} + L_0 {:.2} nats per image",
            b.images,
            args.bpd_strata,
            b.bits_per_dim(),
            b.prior,
            b.steps_sum,
            b.decoder
        );
        let show: Vec<String> =
            b.profile.iter().step_by((b.profile.len() / 8).max(1)).map(|(t, l)| format!("t={t}: {l:.3}")).collect();
        println!("  L_(t-1) in nats per image at some t: {}", show.join(", "));
    }

    // (b) The classifier.
    let started = std::time::Instant::now();
    let judge_dir = args.classifier.clone().map_or_else(|| Pretrained::Classifier.path(), Ok)?;
    let (classifier, info) = Classifier::load_or_train(&judge_dir, &train, &test, &device)?;
    println!(
        "classifier ({}, recipe {}, {} epochs; ready in {:.0} s): test accuracy {:.2} %",
        judge_dir.display(),
        info.recipe,
        info.epochs,
        started.elapsed().as_secs_f64(),
        100.0 * info.test_accuracy
    );
    let started = std::time::Instant::now();
    let features_dir = args.features.clone().map_or_else(|| Pretrained::Features.path(), Ok)?;
    let (features, features_info) = FeatureNet::load_or_train(&features_dir, &train, &test, &device)?;
    println!(
        "feature network ({}, recipe {}, {}, {} epoch{}; ready in {:.0} s): names the turn of {:.2} % of the test images",
        features_dir.display(),
        features_info.recipe,
        features_info.task,
        features_info.epochs,
        if features_info.epochs == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64(),
        100.0 * features_info.rotation_accuracy
    );
    let all = test.batch_tensor(&(0..test.len()).collect::<Vec<_>>(), &device)?;
    let (reference, reference_net) = (classifier.feature_rows(&all)?, features.feature_rows(&all)?);
    // The yardsticks have as many images as the samples, since a Fréchet distance's bias
    // depends on that number; the noise is drawn from a fixed seed so that they stay the same
    // whatever --seed is.
    let yardsticks = Yardsticks::new(&train, &test, args.n.max(2), YARDSTICK_SEED, &device)?;
    let near_judge = yardsticks.distances(&classifier, &reference)?;
    let near_net = yardsticks.distances(&features, &reference_net)?;
    let real = yardsticks
        .images(Yardstick::Real)
        .ok_or_else(|| ddpm::Error::Internal("Yardsticks::new makes every yardstick".into()))?;
    let floor = sample_quality(&classifier, real, &reference, None)?;

    let classes: Option<Vec<u32>> = unet.config().num_classes.map(|k| (0..args.n).map(|i| (i % k) as u32).collect());
    let what = Batches {
        n: args.n,
        shape: model.sample_shape(),
        batch: 250,
        classes: classes.as_deref(),
        guidance: args.guidance,
        null_class: model.null_class(),
    };
    println!("drawing {} samples with {sampler}", args.n);
    let steps = config.timesteps(&schedule)?.len();
    let progress = crate::progress::sampling(args.n, what.batch, steps, steps / 5);
    let (samples, _) = sample_batched(&prediction, &schedule, &what, &config, &device, progress)?;
    let q = sample_quality(&classifier, &samples, &reference, classes.as_deref())?;
    println!(
        "samples: {:.1} % classified with confidence >= {CONFIDENT} (real training images: {:.1} %)",
        100.0 * q.confident_fraction,
        100.0 * floor.confident_fraction
    );
    println!(
        "  classes 0-9: {:?}, no digit: {}{}",
        q.histogram,
        q.no_digit,
        if q.all_classes_present() { "" } else { "  (some digit never appears)" }
    );
    let frechet_net = ddpm::eval::frechet_distance_of(&features.feature_rows(&samples)?, &reference_net)?;
    println!("  Fréchet distance to the test set in the feature network's features: {frechet_net:.3}");
    println!("    yardsticks, {} images each: {near_net}", floor.n);
    println!(
        "  Fréchet distance to the test set in the classifier's features: {:.3} ({} real training images: {:.3})",
        q.frechet, floor.n, floor.frechet
    );
    println!("    yardsticks, {} images each: {near_judge}", floor.n);
    if let Some(acc) = q.class_accuracy {
        println!("  classified as the class asked for: {:.1} % (guidance w = {})", 100.0 * acc, args.guidance);
    }
    if let Some(out) = &args.out {
        let images = ddpm::sample::output::to_images(&samples)?;
        let cols = (images.len() as f64).sqrt().ceil() as usize;
        ddpm::display::grid(&images, cols, None, 1)?.save(out)?;
        println!("wrote {}", out.display());
    }
    if let Some(path) = &args.npy {
        println!("{}", ddpm::sample::output::save_npy(path, &samples)?);
    }
    Ok(())
}
