//! Classifier guidance on the command line: `ddpm noisy-classifier` trains the classifier of
//! noisy digits p_phi(y | x_t, t) (with checkpoints, Ctrl-C and --resume), and
//! `ddpm sample --classifier-guidance DIR --class C --scale S` steers an unconditional run with
//! it (Dhariwal and Nichol 2021).

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use ddpm::data::{Mnist, Split};
use ddpm::device::{describe, select};
use ddpm::guidance::{Guided, NoisyClassifierRun, NoisyClassify, NoisyOptions, TrainNoisy};
use ddpm::posterior::Parameterisation;
use ddpm::run::{Model, Run, ScheduleSpec};
use ddpm::sample::{sample_batched, Batches, Prediction, SampleConfig};
use ddpm::{NoiseSchedule, Result};

use crate::choices::Device;
use crate::sample_cmd::SampleArgs;

/// Train a classifier of noisy MNIST digits p_phi(y | x_t, t) for classifier guidance, with a
/// checkpoint every --checkpoint-every steps and at the end; Ctrl-C saves one and stops, and
/// --resume continues it.
#[derive(clap::Args)]
pub struct NoisyClassifierArgs {
    /// The diffusion run it will guide: its noise schedule is the one the digits are noised by.
    #[arg(long)]
    run: PathBuf,
    /// The classifier's folder (created if missing).
    #[arg(long, default_value = "runs/mnist-noisy-classifier")]
    out: PathBuf,
    /// Train up to this step (default 1500). With --resume, a larger number extends the training.
    #[arg(long)]
    steps: Option<usize>,
    /// Digits per step, each noised at its own t uniform in 1..=T (default 64).
    #[arg(long)]
    batch: Option<usize>,
    /// AdamW's learning rate, without weight decay (default 2e-3).
    #[arg(long)]
    lr: Option<f64>,
    /// Seed of the weights, the order of the digits, t and the noise (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// A checkpoint every this many steps (default 500; 0: only at the end and on Ctrl-C).
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Continue the classifier in --out from its last checkpoint, with its own settings: --batch,
    /// --lr and --seed may be repeated with its values, not changed, and --run must have the
    /// schedule it was trained on.
    #[arg(long)]
    resume: bool,
    /// The folder holding mnist/ (default: the project's data/); with --resume, the same data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where the network runs.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    device: Device,
}

pub fn train_noisy(args: NoisyClassifierArgs) -> Result<()> {
    let device = select(args.device.into())?;
    let run = Run::open(&args.run)?;
    let schedule = run.spec().schedule.clone();
    let big_t = schedule.build()?.steps();
    let existing = if args.resume {
        NoisyClassifierRun::open_if_any(&args.out, &candle_core::Device::Cpu)?.map(|(_, info)| info)
    } else {
        None
    };
    // A resume starts from the classifier's own settings; the library refuses any flag that changes one.
    let mut how = existing.as_ref().map_or_else(TrainNoisy::default, |info| info.train.clone());
    how.steps = args.steps.unwrap_or(how.steps);
    how.batch = args.batch.unwrap_or(how.batch);
    how.lr = args.lr.unwrap_or(how.lr);
    how.seed = args.seed.unwrap_or(how.seed);
    how.checkpoint_every = args.checkpoint_every.unwrap_or(how.checkpoint_every);
    let data_dir = match args.data_dir.clone() {
        Some(d) => d,
        None => ddpm::data::default_data_dir()?,
    };
    let train = Mnist::load(data_dir.join("mnist"), Split::Train)?;
    let test = Mnist::load(data_dir.join("mnist"), Split::Test)?;
    if let Some(info) = &existing {
        println!("resuming {} from step {}", args.out.display(), info.step);
    }
    println!(
        "training a noisy classifier for {} ({} steps of {}) on {}",
        args.run.display(),
        how.steps,
        how.batch,
        describe(&device)
    );
    let mut ts: Vec<usize> = vec![1, 10, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, big_t];
    ts.retain(|&t| t <= big_t);
    ts.dedup();
    let options = NoisyOptions { resume: args.resume, stop: Some(crate::train_cmd::stop_on_ctrl_c()?) };
    let started = std::time::Instant::now();
    let every = (how.steps / 10).max(1);
    let (_, info) =
        NoisyClassifierRun::train(&args.out, &train, &test, &schedule, &how, &ts, &device, &options, |step, loss| {
            if step % every == 0 {
                eprintln!("  step {step}: loss {loss:.4}");
            }
        })?;
    if !info.is_finished() {
        println!("interrupted: checkpoint (step {}) in {}", info.step, args.out.display());
        println!(
            "continue it: ddpm noisy-classifier --run {} --out {} --resume",
            args.run.display(),
            args.out.display()
        );
        return Ok(());
    }
    if existing.is_some_and(|old| old.is_finished() && old.step == how.steps) {
        println!(
            "{} is trained to step {} already; its accuracy on 1000 test digits noised to t:",
            args.out.display(),
            info.step
        );
    } else {
        println!(
            "wrote {} in {:.0} s; accuracy on 1000 test digits noised to t:",
            args.out.display(),
            started.elapsed().as_secs_f64()
        );
    }
    println!("t,accuracy");
    for (t, acc) in &info.accuracy_by_t {
        println!("{t},{acc:.4}");
    }
    Ok(())
}

/// `args.n` samples of the unconditional `model` guided towards `--class` by the classifier in
/// `dir`, with scale `--scale`.
#[allow(clippy::too_many_arguments)]
pub fn sample_guided(
    dir: &Path,
    args: &SampleArgs,
    model: &Model,
    target: Parameterisation,
    spec: &ScheduleSpec,
    schedule: &NoiseSchedule,
    config: &SampleConfig,
    device: &candle_core::Device,
    progress: impl FnMut(usize, usize, usize, usize),
) -> Result<Tensor> {
    if model.num_classes().is_some() || !matches!(model, Model::Unet(_)) {
        return Err(ddpm::invalid!(
            "--classifier-guidance steers an unconditional image run; for a class-conditional run use --guidance (classifier-free)"
        ));
    }
    if args.guidance != 0.0 {
        return Err(ddpm::invalid!(
            "--guidance (classifier-free) needs a class-conditional run; use --scale with --classifier-guidance"
        ));
    }
    let Some(class) = args.class else {
        return Err(ddpm::invalid!("--classifier-guidance needs --class C, the digit to steer towards"));
    };
    let (classifier, info) = NoisyClassifierRun::open(dir, device)?;
    if class as usize >= info.config.classes {
        return Err(ddpm::invalid!("--class must be in 0..{}, got {class}", info.config.classes));
    }
    if &info.schedule != spec {
        return Err(ddpm::invalid!(
            "the noisy classifier in {} was trained on another noise schedule than this run's ({:?}, not {:?})",
            dir.display(),
            info.schedule,
            spec
        ));
    }
    println!("classifier guidance towards {class} with scale s = {} by {}", args.scale, dir.display());
    let guided = Guided {
        prediction: Prediction { model, parameterisation: target },
        classifier: &classifier,
        schedule,
        class: Tensor::new(&[class], device)?,
        scale: args.scale,
    };
    let what = Batches {
        n: args.n,
        shape: model.sample_shape(),
        batch: args.batch,
        classes: None,
        guidance: 0.0,
        null_class: None,
    };
    let x = sample_batched(&Prediction::eps(guided), schedule, &what, config, device, progress)?.0;
    if args.judge {
        judge(&classifier, &x, class, device)?;
    }
    Ok(x)
}

/// Prints the guide's mean p(class | x_0, t = 1) and the share the evaluation classifier calls
/// `class`, side by side: a sampler pushed hard pleases its guide more than an independent judge.
fn judge(guide: &impl NoisyClassify, x: &Tensor, class: u32, device: &candle_core::Device) -> Result<()> {
    let n = x.dim(0)?;
    let p = ddpm::candle_nn::ops::softmax(&guide.logits(x, &Tensor::full(1u32, n, device)?)?, 1)?;
    let own: f32 = p.narrow(1, class as usize, 1)?.mean_all()?.to_scalar()?;
    let data = ddpm::data::default_data_dir()?.join("mnist");
    let (train, test) = (Mnist::load(&data, Split::Train)?, Mnist::load(&data, Split::Test)?);
    let (judge, _) =
        ddpm::eval::Classifier::load_or_train(&ddpm::data::Pretrained::Classifier.path()?, &train, &test, device)?;
    let share = ddpm::eval::classified_as(&judge, x, &vec![class; n])?;
    println!(
        "the guide's own mean p({class} | x_0): {:.1} %; ddpm eval's classifier calls {class}: {share}",
        100.0 * own
    );
    Ok(())
}
