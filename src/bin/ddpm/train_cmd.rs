//! `ddpm train`: Algorithm 1 on MNIST or toy data, with checkpoints, Ctrl-C and --resume.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ddpm::device::{describe, select, DeviceChoice};
use ddpm::run::{DataSpec, ModelSpec, Run, RunEnd, RunOptions, RunSpec};
use ddpm::train::ProgressStyle;
use ddpm::Result;

/// Train a DDPM (Algorithm 1 of Ho et al. 2020) and write checkpoints into --out.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// The data: mnist, toy-ring, toy-moons or toy-swiss-roll.
    #[arg(long, default_value = "mnist")]
    data: String,
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
    #[arg(long)]
    lr_decay: Option<String>,
    /// Decay of the exponential moving average of the weights that sample and eval use, in
    /// [0, 1] (default 0.995).
    #[arg(long)]
    ema_decay: Option<f64>,
    /// auto (a GPU when the build has one and it is present), cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Seed of the weights, the batches, t and eps (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Continue the run in --out from its last checkpoint, with its own settings.
    #[arg(long)]
    resume: bool,
    /// MNIST only: condition on the digit (with 10 % label dropout, for classifier-free guidance).
    #[arg(long)]
    class_conditional: bool,
    /// What the network predicts: eps (default), x0 or v.
    #[arg(long)]
    target: Option<String>,
    /// How the loss weighs the timesteps: uniform (L_simple for eps; default), min-snr
    /// (Min-SNR-gamma of Hang et al. 2023, gamma 5) or min-snr-G (gamma G).
    #[arg(long)]
    loss_weighting: Option<String>,
    /// The noise schedule: linear (default), cosine, quadratic or sigmoid.
    #[arg(long)]
    schedule: Option<String>,
    /// A checkpoint every this many steps (default 500 for mnist; 0: only at the end).
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// A progress line every this many steps when stdout is not a terminal.
    #[arg(long)]
    log_every: Option<usize>,
    /// The folder holding mnist/ (default: the project's data/).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn train(args: TrainArgs) -> Result<()> {
    let data: DataSpec = args.data.parse()?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(data.to_string()));
    let device = select(args.device.parse::<DeviceChoice>()?)?;
    let existing = if args.resume { Run::open_if_any(&out)? } else { None };
    let resuming = existing.is_some();
    let (mut spec, model) = if let Some(run) = existing {
        if run.spec().data != data.to_string() {
            ddpm::invalid!("{} holds a run on {}, not {data}", out.display(), run.spec().data);
        }
        println!("resuming {} from step {}", out.display(), run.step());
        (run.spec().clone(), run.model_spec().clone())
    } else {
        let (mut spec, model) = RunSpec::default_for(data, args.class_conditional)?;
        if let Some(kind) = &args.schedule {
            spec.schedule.kind = kind.clone();
        }
        if let Some(target) = &args.target {
            spec.train.target = target.parse()?;
        }
        if let Some(weighting) = &args.loss_weighting {
            spec.train.loss_weighting = weighting.parse()?;
        }
        if let Some(seed) = args.seed {
            spec.train.seed = seed;
        }
        (spec, model)
    };
    let fixed = [
        args.schedule.is_some(),
        args.target.is_some(),
        args.loss_weighting.is_some(),
        args.seed.is_some(),
        args.class_conditional,
    ];
    if resuming && fixed.contains(&true) {
        ddpm::invalid!(
            "--schedule, --target, --loss-weighting, --seed and --class-conditional cannot change a run being resumed"
        );
    }
    apply_overrides(&mut spec, &args, resuming)?;
    spec.train.validate()?;
    spec.schedule.build()?;

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting without a last checkpoint");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)");
    })
    .map_err(|e| ddpm::Error::Invalid(format!("cannot install the Ctrl-C handler: {e}")))?;

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
    if let Some(kind) = &args.lr_decay {
        spec.train.lr_decay_end = match kind.as_str() {
            "constant" => None,
            "cosine" => Some(spec.train.steps),
            other => ddpm::invalid!("unknown --lr-decay {other:?}; allowed: constant, cosine"),
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
