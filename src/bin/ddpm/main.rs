//! `ddpm`: the command line of the course library. See `ddpm --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc instead of the system allocator, keeping the memory it frees (`main` calls
/// [`alloc::keep_freed_memory`]): candle allocates and frees a buffer for every tensor op, and
/// fresh memory costs the kernel's zeroing of every page (see alloc.rs).
mod alloc;
mod choices;
mod eval_cmd;
mod guide_cmd;
mod inpaint_cmd;
mod progress;
mod sample_cmd;
mod sampler_flags;
/// candle's element-wise operations on the calling thread, so that its thread pool does not
/// compete with rayon's, and rayon's pool size written down once (see threads.rs).
mod threads;
mod train_cmd;

use choices::Schedule;
use ddpm::data::Color;
use ddpm::schedule::{ScheduleKind, TABLE_COLUMNS};
use ddpm::{figures, verify, Error, NoiseSchedule, Result};

/// Denoising Diffusion Probabilistic Models (Ho et al. 2020), computed and checked.
///
/// Print and plot noise schedules, noise a photo as in Figure 1 of the course notes, train a
/// DDPM on MNIST or toy data (Algorithm 1), draw samples from it (Algorithm 2 or DDIM, with
/// classifier-free guidance or with classifier guidance by a classifier of noisy digits, which
/// noisy-classifier trains), evaluate it (bits/dim, a classifier's verdict, a Fréchet distance),
/// complete hidden parts of digits with it (inpaint), and check every equation of the notes
/// numerically. A trained run ships in data/pretrained/mnist. The notebooks in notebooks/ explain
/// each one.
///
/// Exit status: 0 on success, 1 when a command fails while it runs (a file missing or damaged,
/// a computation that fails, a check of `verify` that fails), 2 for a usage error (an unknown
/// flag, a value outside the allowed ones or out of range, a combination of flags that does not
/// fit the run).
#[derive(Parser)]
#[command(name = "ddpm", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a noise schedule: one row per step t = 1..=T with beta_t, alpha_bar_t, beta_tilde_t, SNR...
    ///
    /// Columns: t,beta,alpha,alpha_bar,sqrt_alpha_bar,sqrt_one_minus_alpha_bar,beta_tilde,
    /// mu_tilde_coef_x0,mu_tilde_coef_xt,snr. Every number parses back to the same f64.
    Schedule {
        /// Which schedule.
        #[arg(long, value_enum, default_value_t = Schedule::Linear)]
        kind: Schedule,
        /// The number of steps T.
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        /// beta_1, the first beta (linear, quadratic, sigmoid; default 1e-4).
        #[arg(long)]
        beta_start: Option<f64>,
        /// beta_T, the last beta (linear, quadratic, sigmoid; default 0.02).
        #[arg(long)]
        beta_end: Option<f64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
    },
    /// Draw figures.
    Plot {
        #[command(subcommand)]
        what: PlotWhat,
    },
    /// Noise one photo at chosen steps under several schedules (Figure 1 of note 000) and save the strip as PNG.
    Forward {
        /// The photo (JPEG or PNG), e.g. data/photos/china.jpg.
        #[arg(long)]
        image: PathBuf,
        /// Schedules, one row each, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "linear,cosine")]
        kind: Vec<Schedule>,
        /// The number of steps T.
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        /// The steps t to show, comma-separated, each in 0..=T (0 is the photo itself).
        #[arg(long, value_delimiter = ',', default_value = "0,250,500,750,1000")]
        at: Vec<usize>,
        /// Height in pixels each image is resized to (the width keeps the aspect ratio).
        #[arg(long, default_value_t = 96)]
        height: u32,
        /// Use grey levels instead of colour.
        #[arg(long)]
        grey: bool,
        /// Seed of the noise eps (the same eps is used for every t and every row).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the PNG.
        #[arg(long, default_value = "strip.png")]
        out: PathBuf,
    },
    /// Train a DDPM (Algorithm 1) on MNIST or toy data, with checkpoints; Ctrl-C saves one and stops.
    Train(train_cmd::TrainArgs),
    /// Draw samples from a trained run (Algorithm 2, or DDIM), as a picture and optionally .npy.
    Sample(sample_cmd::SampleArgs),
    /// Evaluate a trained MNIST run: bits/dim, a classifier's verdict on its samples, and their
    /// Fréchet distance to the test set beside those of real, blurred, noise and one-class sets.
    ///
    /// The samples are drawn by default with DDIM, 250 steps and eta = 1, which judges a run
    /// close to how Algorithm 2's own samples are judged at a quarter of the network
    /// evaluations; deterministic DDIM (--eta 0) with fewer steps is cheaper and judges a run
    /// lower; --sampler ddpm is Algorithm 2 itself.
    Eval(eval_cmd::EvalArgs),
    /// Complete hidden parts of MNIST test digits with a trained unconditional run (RePaint:
    /// the known pixels from q(x_{t-1} | x_0) at every step, the rest from the network).
    Inpaint(inpaint_cmd::InpaintArgs),
    /// Train a classifier of noisy MNIST digits p_phi(y | x_t, t), for `ddpm sample
    /// --classifier-guidance` (Dhariwal and Nichol 2021), with checkpoints (Ctrl-C saves one and
    /// stops; --resume continues); prints its accuracy against t.
    NoisyClassifier(guide_cmd::NoisyClassifierArgs),
    /// Check every equation of the course notes numerically; exit status 1 if any check fails.
    Verify {
        /// The seed of every random draw (the default gives the documented table).
        #[arg(long, default_value_t = verify::DEFAULT_SEED)]
        seed: u64,
        /// Show only the rows whose id starts with this, e.g. E5 or err.
        #[arg(long)]
        only: Option<String>,
    },
}

#[derive(Subcommand)]
enum PlotWhat {
    /// alpha_bar_t, beta_t, log-SNR and sqrt(alpha_bar_t) against t for all four schedules, as SVG and PNG.
    Schedules {
        /// The folder to write into (created if missing).
        #[arg(long, default_value = "plots")]
        out: PathBuf,
        /// The number of steps T.
        #[arg(long, default_value_t = 1000)]
        steps: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
}

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    threads::set_thread_counts();
    // clap exits with status 2 on a usage error it finds (an unknown flag or value).
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_status(&e))
        }
    }
}

/// 2 for a value the user typed that the library refuses (out of range, or not fitting the run:
/// [`Error::Invalid`], [`Error::OutOfRange`]), as clap does for the values it checks itself; 1 for a failure while
/// running: a file missing or damaged, a tensor operation, a figure that cannot be drawn.
fn exit_status(e: &Error) -> u8 {
    match e {
        Error::Invalid(_) | Error::OutOfRange { .. } => 2,
        _ => 1,
    }
}

fn execute(command: Command) -> Result<ExitCode> {
    match command {
        Command::Schedule { kind, steps, beta_start, beta_end, format } => {
            let schedule = ScheduleKind::from(kind).with_betas(beta_start, beta_end)?;
            print_schedule(&NoiseSchedule::new(schedule, steps)?, format)?;
        }
        Command::Plot { what: PlotWhat::Schedules { out, steps } } => {
            for (name, plot) in figures::schedule_plots(steps)? {
                for ext in ["svg", "png"] {
                    let path = out.join(format!("{name}.{ext}"));
                    let figure = if ext == "svg" { plot.to_svg()? } else { plot.to_png(900, 560)? };
                    figure.save(&path)?;
                    println!("wrote {}", path.display());
                }
            }
        }
        Command::Forward { image, kind, steps, at, height, grey, seed, out } => {
            if kind.is_empty() || at.is_empty() {
                return Err(ddpm::invalid!("--kind and --at need at least one value each"));
            }
            let kinds: Vec<ScheduleKind> = kind.into_iter().map(ScheduleKind::from).collect();
            let photo = figures::load_photo_height(&image, if grey { Color::Grey } else { Color::Rgb }, height)?;
            let strip = figures::forward_strip(&photo, &kinds, steps, &at, seed)?;
            save(&strip, &out)?;
        }
        Command::Train(args) => train_cmd::train(args)?,
        Command::Sample(args) => sample_cmd::sample(args)?,
        Command::Eval(args) => eval_cmd::eval(args)?,
        Command::Inpaint(args) => inpaint_cmd::inpaint_digits(args)?,
        Command::NoisyClassifier(args) => guide_cmd::train_noisy(args)?,
        Command::Verify { seed, only } => {
            let mut table = verify::all(seed)?;
            if let Some(prefix) = only {
                table.0.retain(|c| c.id.starts_with(&prefix));
            }
            println!("{table}");
            return Ok(if table.all_pass() { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn save(figure: &ddpm::display::Figure, out: &Path) -> Result<()> {
    figure.save(out)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn print_schedule(s: &NoiseSchedule, format: Format) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e| ddpm::Error::io("<stdout>", e);
    match format {
        Format::Csv => {
            writeln!(out, "{}", TABLE_COLUMNS.join(",")).map_err(io)?;
            for t in 1..=s.steps() {
                let row = s.row(t)?;
                // `{:?}` prints the shortest text that parses back to the same f64.
                let cells: Vec<String> =
                    std::iter::once(t.to_string()).chain(row[1..].iter().map(|v| format!("{v:?}"))).collect();
                writeln!(out, "{}", cells.join(",")).map_err(io)?;
            }
        }
        Format::Json => {
            let rows: Vec<serde_json::Value> = (1..=s.steps())
                .map(|t| {
                    let row = s.row(t)?;
                    let mut map = serde_json::Map::new();
                    map.insert("t".into(), t.into());
                    for (name, v) in TABLE_COLUMNS.iter().zip(row).skip(1) {
                        map.insert((*name).into(), v.into());
                    }
                    Ok(serde_json::Value::Object(map))
                })
                .collect::<Result<_>>()?;
            serde_json::to_writer_pretty(&mut out, &rows).map_err(|e| ddpm::Error::Invalid(e.to_string()))?;
            writeln!(out).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}
