//! `ddpm inpaint`: complete hidden parts of MNIST test digits with a trained unconditional run
//! (RePaint, Lugmayr et al. 2022), as a picture of original, masked and completed digits, and
//! optionally the evaluation classifier's rate of completions recognised as the original digit.

use std::path::PathBuf;

use candle_core::Tensor;
use ddpm::data::{Mnist, Pretrained, Split};
use ddpm::device::{describe, select};
use ddpm::eval::{classified_as, Classifier, Share};
use ddpm::run::{Model, Run};
use ddpm::sample::{inpaint, output, Prediction, Repaint, SampleConfig};
use ddpm::Result;

use crate::choices::{Device, MaskKind, SamplerKind};
use crate::sampler_flags::{Defaults, SamplerFlags};

/// Complete hidden pixels of MNIST test digits with a trained unconditional run (RePaint).
#[derive(clap::Args)]
pub struct InpaintArgs {
    /// The run's folder (an unconditional MNIST run of ddpm train; data/pretrained/mnist ships trained).
    #[arg(long)]
    run: PathBuf,
    /// The first test digit (index into the 10 000 MNIST test images).
    #[arg(long, default_value_t = 0)]
    image_index: usize,
    /// How many test digits, from --image-index on.
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// The region to hide and complete.
    #[arg(long, value_enum, default_value_t = MaskKind::BottomHalf)]
    mask: MaskKind,
    /// --mask random only: the probability that a pixel is hidden, in [0, 1].
    #[arg(long, default_value_t = 0.5)]
    hidden_fraction: f64,
    /// RePaint's resampling: the steps walked down before jumping back up (j; 10 in the paper).
    #[arg(long, default_value_t = 10)]
    jump: usize,
    /// RePaint's resampling: how many times each stretch of --jump steps is walked (r; 10 in the
    /// paper); 1 is no resampling.
    #[arg(long, default_value_t = 1)]
    resamplings: usize,
    #[command(flatten)]
    how: SamplerFlags,
    /// Seed of x_T, of every z, of the known pixels' noise and of a random mask.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Digits completed at once (memory); each chunk of them has its own seed.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Also judge the completions with the evaluation classifier cached in --classifier (trained
    /// there on first use): the share recognised as the original digit.
    #[arg(long)]
    judge: bool,
    /// The judge's folder (default: the shipped one, data/pretrained/mnist-classifier); a
    /// classifier is trained there first if the folder holds none (minutes on a CPU).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// The folder holding mnist/ (default: the project's data/).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where the network runs.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    device: Device,
    /// The picture: the originals, the masked digits and the completions (PNG; the first 16).
    #[arg(long, default_value = "inpaint.png")]
    out: PathBuf,
}

pub fn inpaint_digits(args: InpaintArgs) -> Result<()> {
    if args.count == 0 || args.batch == 0 {
        return Err(ddpm::invalid!("--count and --batch must be at least 1, got {} and {}", args.count, args.batch));
    }
    let device = select(args.device.into())?;
    let run = Run::open(&args.run)?;
    let model = run.model(&device)?;
    let schedule = run.spec().schedule.build()?;
    let (size, channels) = match &model {
        Model::Unet(unet) if unet.config().num_classes.is_none() => {
            (unet.config().image_size, unet.config().in_channels)
        }
        _ => {
            return Err(ddpm::invalid!(
                "ddpm inpaint needs an unconditional image run; {} holds a {} run{}",
                args.run.display(),
                run.spec().data,
                if model.num_classes().is_some() { " with classes" } else { "" }
            ))
        }
    };
    let data_dir = match args.data_dir.clone() {
        Some(d) => d,
        None => ddpm::data::default_data_dir()?,
    };
    let test = Mnist::load(data_dir.join("mnist"), Split::Test)?;
    if (size, channels) != (28, 1) {
        return Err(ddpm::invalid!(
            "ddpm inpaint completes MNIST digits (1 x 28 x 28); this run makes {channels} x {size} x {size} images"
        ));
    }
    let end = args.image_index.checked_add(args.count).filter(|&e| e <= test.len()).ok_or_else(|| {
        ddpm::Error::out_of_range(
            "--image-index + --count",
            format!("{} + {}", args.image_index, args.count),
            format!("at most {} (the MNIST test images)", test.len()),
        )
    })?;
    let sampler = args.how.sampler(Defaults { sampler: SamplerKind::Ddpm, ddim_steps: 50 }, &schedule)?;
    let config = SampleConfig { sampler, clip_x0: !args.how.no_clip, seed: args.seed, ..Default::default() };
    config.validate(&schedule)?;
    let known = args.mask.mask(args.hidden_fraction).known(size, size, args.seed, &device)?;
    let repaint = Repaint { jump: args.jump, resamplings: args.resamplings };
    println!(
        "inpainting test digits {}..{end} ({:?} hidden) with {} (step {}), {sampler}, {} resampling(s) of {} steps, on {}",
        args.image_index,
        args.mask,
        args.run.display(),
        run.step(),
        args.resamplings,
        args.jump,
        describe(&device)
    );
    let prediction = Prediction { model: &model, parameterisation: run.spec().train.target };
    let indices: Vec<usize> = (args.image_index..end).collect();
    let (mut originals, mut done) = (Vec::new(), Vec::new());
    for (i, chunk) in indices.chunks(args.batch).enumerate() {
        let x0 = test.batch_tensor(chunk, &device)?;
        let chunk_config = SampleConfig { seed: config.seed.wrapping_add(i as u64 * 0x9E37_79B9), ..config.clone() };
        let (x, _) = inpaint(&prediction, &schedule, &x0, &known, &chunk_config, Some(repaint))?;
        println!("  {} of {} digits done", chunk.len() + i * args.batch, indices.len());
        originals.push(x0);
        done.push(x);
    }
    let (x0, x) = (Tensor::cat(&originals, 0)?, Tensor::cat(&done, 0)?);
    write_picture(&args, &x0, &known, &x)?;
    if args.judge {
        let train = Mnist::load(data_dir.join("mnist"), Split::Train)?;
        let judge_dir = args.classifier.clone().map_or_else(|| Pretrained::Classifier.path(), Ok)?;
        let (classifier, _) = Classifier::load_or_train(&judge_dir, &train, &test, &device)?;
        let labels = test.labels_u32(&indices);
        let completed: Share = classified_as(&classifier, &x, &labels)?;
        let masked = known.broadcast_as(x0.dims())?.where_cond(&x0, &x0.zeros_like()?)?;
        let baseline = classified_as(&classifier, &masked, &labels)?;
        println!("recognised as the original digit: completed {completed}; masked (hidden pixels grey) {baseline}");
    }
    Ok(())
}

/// Three rows: the originals, the masked digits (hidden pixels grey), the completions.
fn write_picture(args: &InpaintArgs, x0: &Tensor, known: &Tensor, x: &Tensor) -> Result<()> {
    let show = x0.dim(0)?.min(16);
    let (x0, x) = (x0.narrow(0, 0, show)?, x.narrow(0, 0, show)?);
    let masked = known.broadcast_as(x0.dims())?.where_cond(&x0, &x0.zeros_like()?)?;
    let mut images = output::to_images(&x0)?;
    images.extend(output::to_images(&masked)?);
    images.extend(output::to_images(&x)?);
    ddpm::display::grid(&images, show, None, 2)?.save(&args.out)?;
    println!("wrote {} (rows: originals, masked, completed)", args.out.display());
    Ok(())
}
