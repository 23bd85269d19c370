//! `ddpm sample`: Algorithm 2 or DDIM from a trained run, as an image grid (or a scatter plot for
//! toy data), optionally a float32 .npy and the trajectory of x_t and of the predicted x_0.

use std::path::PathBuf;

use candle_core::Tensor;
use ddpm::device::{describe, select};
use ddpm::display::{grid, strip, Scatter};
use ddpm::run::{Model, Run};
use ddpm::sample::{output, sample_batched, Batches, Prediction, SampleConfig, Trajectory};
use ddpm::Result;

use crate::choices::{Device, Dtype, SamplerKind};
use crate::sampler_flags::{Defaults, SamplerFlags};

/// Draw samples from a trained run (Algorithm 2 of Ho et al. 2020, or DDIM).
#[derive(clap::Args)]
pub struct SampleArgs {
    /// The run's folder, as written by ddpm train (data/pretrained/mnist and mnist-cond ship trained).
    #[arg(long)]
    run: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    #[command(flatten)]
    how: SamplerFlags,
    /// Seed of x_T and of every z.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Class-conditional runs, or with --classifier-guidance: the digit to draw (default for a
    /// class-conditional run: 0-9 in turn).
    #[arg(long)]
    pub class: Option<u32>,
    /// Classifier guidance (Dhariwal and Nichol 2021) of an unconditional run towards --class by
    /// the noisy classifier in this folder (written by ddpm noisy-classifier).
    #[arg(long)]
    classifier_guidance: Option<PathBuf>,
    /// --classifier-guidance: the scale s >= 0 of the classifier's gradient (0: unguided).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// --classifier-guidance: also print the guide's own mean p(C | x_0, t = 1) and the share of
    /// samples that `ddpm eval`'s classifier (the shipped one, data/pretrained/mnist-classifier)
    /// calls C, with its standard error.
    #[arg(long)]
    pub judge: bool,
    /// Classifier-free guidance weight w >= 0 (class-conditional runs; default 0).
    #[arg(long, default_value_t = 0.0)]
    pub guidance: f64,
    /// Samples drawn at once (memory); the samples do not depend on it.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Where the network runs.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    device: Device,
    /// The network's number format (the sampler's arithmetic stays f32).
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// The picture: a grid of images, or a scatter plot for toy data (PNG).
    #[arg(long, default_value = "samples.png")]
    out: PathBuf,
    /// Also write the samples as float32 .npy, shape (N, C, H, W) (or (N, D)), values in [0, 1].
    #[arg(long)]
    npy: Option<PathBuf>,
    /// Also write the trajectory of the first 8 samples (x_t above, predicted x_0 below) at these
    /// steps, e.g. 1000,750,500,250,100,1 (images only).
    #[arg(long)]
    trajectory: Option<PathBuf>,
    /// The steps of --trajectory, comma-separated, each in 1..=T.
    #[arg(long, value_delimiter = ',', default_value = "1000,800,600,400,200,100,50,1")]
    trajectory_at: Vec<usize>,
    /// Also write the reverse process as an animated PNG (APNG; browsers play it): x_t of the
    /// first 8 samples above, the predicted x_0 below, at about 50 steps from T down to 1 (images only).
    #[arg(long, visible_alias = "gif")]
    animation: Option<PathBuf>,
}

/// Frames of --animation: about this many steps of the sampler, evenly spaced, and the last.
const ANIMATION_FRAMES: usize = 50;

/// The steps the animation shows: every k-th of the sampler's steps (T first), and its last step.
fn animation_steps(steps: &[usize]) -> Vec<usize> {
    let every = steps.len().div_ceil(ANIMATION_FRAMES).max(1);
    let mut at: Vec<usize> = steps.iter().step_by(every).copied().collect();
    if let Some(&last) = steps.last() {
        if at.last() != Some(&last) {
            at.push(last);
        }
    }
    at
}

pub fn sample(args: SampleArgs) -> Result<()> {
    let device = select(args.device.into())?;
    let dtype = ddpm::device::Precision::from(args.dtype).dtype_on(&device)?;
    let run = Run::open(&args.run)?;
    let (model, spec, meta) = (run.model_as(&device, dtype)?, run.spec().clone(), run.checkpoint().clone());
    let schedule = spec.schedule.build()?;
    if args.n == 0 || args.batch == 0 {
        return Err(ddpm::invalid!("--n and --batch must be at least 1, got {} and {}", args.n, args.batch));
    }
    let sampler = args.how.sampler(Defaults { sampler: SamplerKind::Ddpm, ddim_steps: 50 }, &schedule)?;
    for (flag, asked) in [("--trajectory", args.trajectory.is_some()), ("--animation", args.animation.is_some())] {
        if asked && !matches!(model, Model::Unet(_)) {
            return Err(ddpm::invalid!("{flag} draws images; this run's samples are points ({})", spec.data));
        }
    }
    let record_at = if args.trajectory.is_some() { args.trajectory_at.clone() } else { Vec::new() };
    let mut config =
        SampleConfig { sampler, clip_x0: !args.how.no_clip, seed: args.seed, record_at, ..Default::default() };
    config.validate(&schedule)?;
    // The visited steps each picture shows: --trajectory's (mapped onto the sampler's steps) and --animation's.
    let strip_steps = config.recorded_steps(&schedule)?;
    let animation_steps =
        if args.animation.is_some() { animation_steps(&config.timesteps(&schedule)?) } else { vec![] };
    config.record_at.extend(&animation_steps);
    if let Some(dir) = &args.classifier_guidance {
        if args.trajectory.is_some() || args.animation.is_some() {
            return Err(ddpm::invalid!("--trajectory and --animation are not drawn for --classifier-guidance"));
        }
        let steps = config.timesteps(&schedule)?.len();
        let progress = crate::progress::sampling(args.n, args.batch, steps, steps / 10);
        let x = crate::guide_cmd::sample_guided(
            dir,
            &args,
            &model,
            spec.train.target,
            &spec.schedule,
            &schedule,
            &config,
            &device,
            progress,
        )?;
        return write_outputs(&args, &model, &x, &ddpm::sample::Trajectory::default(), (&[], &[]));
    }
    let classes = classes(&model, &args)?;
    println!(
        "sampling {} from {} (step {}) with {sampler} on {}{}",
        args.n,
        args.run.display(),
        meta.step,
        describe(&device),
        if classes.is_some() { format!(", guidance w = {}", args.guidance) } else { String::new() }
    );
    let prediction = Prediction { model: &model, parameterisation: spec.train.target };
    let what = Batches {
        n: args.n,
        shape: model.sample_shape(),
        batch: args.batch,
        classes: classes.as_deref(),
        guidance: args.guidance,
        null_class: model.null_class(),
    };
    let steps = config.timesteps(&schedule)?.len();
    let progress = crate::progress::sampling(args.n, args.batch, steps, steps / 10);
    let (x, trajectory) = sample_batched(&prediction, &schedule, &what, &config, &device, progress)?;
    write_outputs(&args, &model, &x, &trajectory, (&strip_steps, &animation_steps))
}

/// The class of each sample: --class for all, or 0, 1, ..., 9 in turn; None when unconditional.
fn classes(model: &Model, args: &SampleArgs) -> Result<Option<Vec<u32>>> {
    match (model.num_classes(), args.class) {
        (None, Some(_)) => {
            Err(ddpm::invalid!("--class needs a class-conditional run (ddpm train --class-conditional)"))
        }
        (None, None) if args.guidance != 0.0 => Err(ddpm::invalid!("--guidance needs a class-conditional run")),
        (None, None) => Ok(None),
        (Some(k), Some(c)) if c as usize >= k => Err(ddpm::invalid!("--class must be in 0..{k}, got {c}")),
        (Some(_), Some(c)) => Ok(Some(vec![c; args.n])),
        (Some(k), None) => Ok(Some((0..args.n).map(|i| (i % k) as u32).collect())),
    }
}

fn write_outputs(
    args: &SampleArgs,
    model: &Model,
    x: &Tensor,
    trajectory: &Trajectory,
    (strip_steps, animation_steps): (&[usize], &[usize]),
) -> Result<()> {
    match model {
        Model::Unet(_) => {
            let images = output::to_images(x)?;
            let cols = (images.len() as f64).sqrt().ceil() as usize;
            grid(&images, cols, None, 2)?.save(&args.out)?;
        }
        Model::Mlp(_) => {
            let points = output::to_points(x)?;
            let xy: Vec<(f64, f64)> = points.iter().map(|p| (p[0], p.get(1).copied().unwrap_or(0.0))).collect();
            Scatter::new(format!("{} samples", xy.len())).points("samples", &xy).to_png(700, 700)?.save(&args.out)?;
        }
    }
    println!("wrote {}", args.out.display());
    if let Some(path) = &args.npy {
        println!("{}", output::save_npy(path, x)?);
    }
    if let Some(path) = &args.trajectory {
        let trajectory = trajectory.only(strip_steps);
        let show = x.dim(0)?.min(8);
        let captions: Vec<String> = trajectory.t.iter().map(|t| format!("t = {t}")).collect();
        let mut rows = Vec::new();
        for i in 0..show {
            let pick = |ts: &[Tensor]| -> Result<Vec<_>> {
                ts.iter().map(|x| Ok(output::to_images(&x.narrow(0, i, 1)?)?.remove(0))).collect()
            };
            rows.push((format!("x_t #{}", i + 1), pick(&trajectory.xt)?));
            rows.push((format!("x0_pred #{}", i + 1), pick(&trajectory.x0_pred)?));
        }
        strip(&rows, &captions, 2)?.save(path)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.animation {
        let frames = output::reverse_process_frames(&trajectory.only(animation_steps), 8, 2)?;
        ddpm::display::animation(&frames, 100)?.save(path)?;
        println!("wrote {} ({} frames)", path.display(), frames.len());
    }
    Ok(())
}
