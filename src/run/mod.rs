//! Training runs on disk, as `ddpm train` and `ddpm sample` use them: the run's description
//! ([`RunSpec`], [`ModelSpec`]), its network ([`Model`]), and [`train_run`] with checkpoints,
//! Ctrl-C and `--resume`.
//!
//! ```no_run
//! use ddpm::run::{train_run, DataSpec, RunOptions, RunSpec};
//! let (spec, model) = RunSpec::default_for(DataSpec::Toy(ddpm::data::ToyData::Ring), false)?;
//! let report = train_run("runs/ring".as_ref(), &spec, &model, &ddpm::device::best(), &RunOptions::default())?;
//! println!("trained to step {} in {:.0} s", report.last_step, report.seconds);
//! # Ok::<(), ddpm::Error>(())
//! ```

pub mod model;
pub mod session;
pub mod spec;

pub use model::Model;
pub use session::{
    ensure_trained, load_model, load_model_as, load_run_spec, train_run, RunEnd, RunOptions, RunReport, LOSS_FILE,
};
pub use spec::{DataSpec, ModelSpec, RunSpec, ScheduleSpec};
