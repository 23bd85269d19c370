//! `ddpm train`: Algorithm 1 on MNIST or toy data, with checkpoints, Ctrl-C and --resume.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ddpm::device::{describe, select};
use ddpm::run::{DataSpec, ModelSpec, Run, RunEnd, RunOptions, RunSpec};
use ddpm::schedule::ScheduleKind;
use ddpm::train::{LossWeighting, ProgressStyle};
use ddpm::Result;

use crate::choices::{Data, Device, LrDecay, Schedule, Target};

/// Train a DDPM (Algorithm 1 of Ho et al. 2020) and write checkpoints into --out.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// The data.
    #[arg(long, value_enum, default_value_t = Data::Mnist)]
    data: Data,
    /// The run's folder (default runs/DATA): checkpoints and loss.csv go there.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train up to this step (default: 8000 for mnist, 3000 for toy data). With --resume, a larger
    /// number extends the run.
    #[arg(long)]
    steps: Option<usize>,
    /// Samples per step (default: 32 for mnist, 256 for toy data).
    #[arg(long)]
    batch: Option<usize>,
    /// Peak learning rate of AdamW (default 2e-3 for mnist, 1e-3 for toy data).
    #[arg(long)]
    lr: Option<f64>,
    /// After the warm-up, keep the learning rate (constant) or let it fall along a half cosine to
    /// 0 at the last step, --steps (cosine). Default: cosine for mnist, constant for toy data.
    /// With --resume, cosine moves the end of the decay to the new --steps (the rate climbs back
    /// up: a warm restart).
    #[arg(long, value_enum)]
    lr_decay: Option<LrDecay>,
    /// Decay of the exponential moving average of the weights that sample and eval use, in
    /// [0, 1] (default 0.995).
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Where the network trains.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    device: Device,
    /// Seed of the weights, the batches, t and eps (default 0). With --resume it must be the
    /// run's own, as must --target, --loss-weighting, --schedule and --class-conditional.
    #[arg(long)]
    seed: Option<u64>,
    /// Continue the run in --out from its last checkpoint, with its own settings (the flags
    /// that define the run may be repeated with the run's values, not changed).
    #[arg(long)]
    resume: bool,
    /// MNIST only: condition on the digit (its label dropped for one sample in ten, for
    /// classifier-free guidance).
    #[arg(long)]
    class_conditional: bool,
    /// What the network predicts (default eps).
    #[arg(long, value_enum)]
    target: Option<Target>,
    /// How the loss weighs the timesteps: uniform (L_simple for eps; default), min-snr
    /// (Min-SNR-gamma of Hang et al. 2023, gamma 5) or min-snr-G (gamma G > 0, e.g. min-snr-1.5).
    #[arg(long, value_parser = parse_loss_weighting)]
    loss_weighting: Option<LossWeighting>,
    /// The noise schedule (default linear).
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    /// A checkpoint every this many steps (default 500 for mnist; 0: only at the end).
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// A progress line every this many steps when stderr is not a terminal (0: none).
    #[arg(long)]
    log_every: Option<usize>,
    /// The folder holding mnist/ (default: the project's data/).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn train(args: TrainArgs) -> Result<()> {
    let data = DataSpec::from(args.data);
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(data.to_string()));
    let device = select(args.device.into())?;
    let existing = if args.resume { Run::open_if_any(&out)? } else { None };
    let resuming = existing.is_some();
    let (mut spec, model) = if let Some(run) = existing {
        if run.spec().data != data.to_string() {
            return Err(ddpm::invalid!("{} holds a run on {}, not {data}", out.display(), run.spec().data));
        }
        let (spec, model) = (run.spec().clone(), run.model_spec().clone());
        refuse_changes(&args, &spec, &model, &out)?;
        println!("resuming {} from step {}", out.display(), run.step());
        (spec, model)
    } else {
        let (mut spec, model) = RunSpec::default_for(data, args.class_conditional)?;
        if let Some(kind) = args.schedule {
            spec.schedule.kind = ScheduleKind::from(kind).to_string();
        }
        if let Some(target) = args.target {
            spec.train.target = target.into();
        }
        if let Some(weighting) = args.loss_weighting {
            spec.train.loss_weighting = weighting;
        }
        if let Some(seed) = args.seed {
            spec.train.seed = seed;
        }
        (spec, model)
    };
    apply_overrides(&mut spec, &args, resuming)?;
    spec.train.validate()?;
    spec.schedule.build()?;

    let stop = stop_on_ctrl_c()?;
    println!("{}", header(&spec, &model, &describe(&device), &out));
    let options = RunOptions {
        resume: args.resume,
        data_dir: args.data_dir.clone(),
        stop: Some(stop),
        progress: ProgressStyle::auto(spec.train.log_every),
    };
    let report = Run::train(&out, &spec, &model, &device, &options)?;
    if report.resumed_exactly == Some(false) {
        println!("(no train state for this checkpoint, e.g. from an older ddpm: AdamW restarted from zero moments)");
    }
    let tail = &report.losses[report.losses.len().saturating_sub(50)..];
    let tail_mean = tail.iter().map(|&l| l as f64).sum::<f64>() / tail.len().max(1) as f64;
    let what = match report.end {
        RunEnd::Finished => "done",
        RunEnd::Interrupted => "interrupted",
    };
    println!(
        "{what}: steps {}..={} in {:.0} s, mean loss of the last {} steps {tail_mean:.5}; checkpoint (step {}) in {}",
        report.first_step,
        report.last_step,
        report.seconds,
        tail.len(),
        report.last_step,
        out.display()
    );
    match report.end {
        RunEnd::Finished => println!("sample from it: ddpm sample --run {} --n 64 --out samples.png", out.display()),
        RunEnd::Interrupted => println!("continue it: ddpm train --data {data} --out {} --resume", out.display()),
    }
    Ok(())
}

/// A flag that the first Ctrl-C sets (training stops after the current step, with a
/// checkpoint); a second one exits at once.
pub fn stop_on_ctrl_c() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting without a last checkpoint");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)");
    })
    .map_err(|e| ddpm::Error::io("<Ctrl-C handler>", std::io::Error::other(e)))?;
    Ok(stop)
}

fn apply_overrides(spec: &mut RunSpec, args: &TrainArgs, resuming: bool) -> Result<()> {
    // A new run's decay ends at its last step; a resumed run keeps its schedule.
    match args.steps {
        Some(steps) if resuming => spec.train.steps = steps,
        Some(steps) => spec.train.set_length(steps),
        None => {}
    }
    if let Some(batch) = args.batch {
        spec.train.batch_size = batch;
    }
    if let Some(lr) = args.lr {
        spec.train.lr = lr;
    }
    if let Some(decay) = args.ema_decay {
        spec.train.ema_decay = decay;
    }
    if let Some(kind) = args.lr_decay {
        spec.train.lr_decay_end = match kind {
            LrDecay::Constant => None,
            LrDecay::Cosine => Some(spec.train.steps),
        };
    }
    if let Some(every) = args.checkpoint_every {
        spec.checkpoint_every = every;
    }
    if let Some(every) = args.log_every {
        spec.train.log_every = every;
    }
    Ok(())
}

/// The flags that define a run may come with --resume only with the run's own values: each one
/// that differs is named with the run's value and the one given.
fn refuse_changes(args: &TrainArgs, spec: &RunSpec, model: &ModelSpec, out: &std::path::Path) -> Result<()> {
    let saved_kind = spec.schedule.kind.parse::<ScheduleKind>()?;
    let conditional = matches!(model, ModelSpec::Unet(c) if c.num_classes.is_some());
    let mut changed = Vec::new();
    if let Some(kind) = args.schedule.map(ScheduleKind::from).filter(|k| *k != saved_kind) {
        changed.push(format!("--schedule {kind} (the run's: {saved_kind})"));
    }
    if let Some(target) = args.target.map(ddpm::posterior::Parameterisation::from).filter(|t| *t != spec.train.target) {
        changed.push(format!("--target {target} (the run's: {})", spec.train.target));
    }
    if let Some(w) = args.loss_weighting.filter(|w| *w != spec.train.loss_weighting) {
        changed.push(format!("--loss-weighting {w} (the run's: {})", spec.train.loss_weighting));
    }
    if let Some(seed) = args.seed.filter(|s| *s != spec.train.seed) {
        changed.push(format!("--seed {seed} (the run's: {})", spec.train.seed));
    }
    if args.class_conditional && !conditional {
        changed.push("--class-conditional (the run is unconditional)".to_string());
    }
    if !changed.is_empty() {
        return Err(ddpm::invalid!(
            "--resume continues {} with its own settings; these flags would change them: {}",
            out.display(),
            changed.join(", ")
        ));
    }
    Ok(())
}

/// `--loss-weighting`: uniform, min-snr or min-snr-G, read by the library's parser (G is a
/// number, so the values are not a fixed list).
fn parse_loss_weighting(text: &str) -> Result<LossWeighting> {
    text.parse()
}

fn header(spec: &RunSpec, model: &ModelSpec, device: &str, out: &std::path::Path) -> String {
    let network = match model {
        ModelSpec::Unet(c) => format!(
            "a U-Net (channels {} x {:?}, {} block(s) a level, attention at {:?}{})",
            c.base_channels,
            c.channel_mults,
            c.blocks_per_level,
            c.attention_resolutions,
            if c.num_classes.is_some() { ", class-conditional" } else { "" }
        ),
        ModelSpec::Mlp(c) => format!("an MLP ({} layers of {})", c.layers, c.hidden),
    };
    let t = &spec.train;
    format!(
        "training {network} on {} to step {}, batch {}, lr {:e}{}, EMA {}, target {} ({} loss weighting), {} schedule T = {}, seed {}, on {device}; checkpoints in {}",
        spec.data, t.steps, t.batch_size, t.lr, t.lr_decay_end.map(|end| format!(" (cosine decay to step {end})")).unwrap_or_default(), t.ema_decay, t.target, t.loss_weighting, spec.schedule.kind, spec.schedule.steps, t.seed, out.display()
    )
}
