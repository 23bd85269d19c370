//! Training runs on disk, as `ddpm train` and `ddpm sample` use them: a run folder as a value
//! ([`Run`]: its spec, weights, EMA, train state and loss history), the run's description
//! ([`RunSpec`], [`ModelSpec`]), its network ([`Model`]), and [`Run::train`] with checkpoints,
//! Ctrl-C, `--resume` and one process at a time per folder.
//!
//! ```no_run
//! use ddpm::run::{DataSpec, Run, RunOptions, RunSpec};
//! let (spec, model) = RunSpec::default_for(DataSpec::Toy(ddpm::data::ToyData::Ring), false)?;
//! let report = Run::train("runs/ring", &spec, &model, &ddpm::device::best(), &RunOptions::default())?;
//! println!("trained to step {} in {:.0} s", report.last_step, report.seconds);
//! let run = Run::open("runs/ring")?;
//! println!("{} losses, the last {:?}", run.loss_history()?.len(), run.loss_history()?.last());
//! # Ok::<(), ddpm::Error>(())
//! ```

pub mod folder;
pub(crate) mod lock;
pub mod model;
pub mod spec;
pub mod train;

pub use folder::{Run, LOSS_FILE};
pub use lock::LOCK_FILE;
pub use model::Model;
pub use spec::{DataSpec, ModelSpec, RunSpec, ScheduleSpec};
pub use train::{RunEnd, RunOptions, RunReport};
