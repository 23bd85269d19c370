//! The crate's error type: every message says what was wrong and what is allowed.
//!
//! The variants a caller can act on carry their facts as fields: a value out of its range
//! ([`Error::OutOfRange`]), a file that cannot be read or is damaged ([`Error::Io`],
//! [`Error::Format`]), weights that are not finite ([`Error::NotFinite`]), a training run that
//! diverged ([`Error::Diverged`]), a run folder that another process is training
//! ([`Error::Busy`]). [`Error::Internal`] is a fault of this crate, not of its input.

use std::path::PathBuf;

/// Everything that can go wrong in `ddpm`. Library functions return these instead of panicking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter or input that is not allowed, with the reason.
    #[error("{0}")]
    Invalid(String),
    /// A number outside its allowed range: "beta_end must be in (0, 1), got 1.5".
    #[error("{name} must be {allowed}, got {value}")]
    OutOfRange {
        /// The parameter's name, as the caller spells it.
        name: String,
        /// The value given, as text.
        value: String,
        /// The allowed values, e.g. "in (0, 1)" or "a finite number > 0".
        allowed: String,
    },
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that was read but whose contents are wrong (bad magic number, truncated, ...).
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// A tensor of a weights file holds NaN or infinity: a network built from it would give NaN.
    #[error(
        "{path}: tensor `{tensor}` holds {count} NaN or infinite value(s): a network built from it would \
         give NaN (a damaged file, or one saved by a run that diverged: train it again)"
    )]
    NotFinite {
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// How many of its values are not finite.
        count: usize,
    },
    /// Training stopped because the loss or the gradient norm became NaN or infinite.
    #[error(
        "training stopped at step {step}: the {quantity} is {value} (NaN/inf); lower lr (now {lr:e}) or check \
         the data{}",
        kept.as_ref().map(|(dir, step)| format!("; the last checkpoint (step {step}) in {} is kept", dir.display()))
            .unwrap_or_default()
    )]
    Diverged {
        /// The step whose loss or gradient was not finite (its update was not applied).
        step: usize,
        /// "loss" or "gradient norm".
        quantity: &'static str,
        /// Its value: NaN or an infinity.
        value: f64,
        /// The learning rate of the run.
        lr: f64,
        /// The run folder and the step of its last checkpoint, which stays as it was.
        kept: Option<(PathBuf, usize)>,
    },
    /// A run folder that another process is training: one process at a time.
    #[error(
        "{} is being trained by {}; one process at a time: wait for it to finish or stop it",
        dir.display(),
        pid.map_or("another process".to_string(), |pid| format!("process {pid}"))
    )]
    Busy {
        dir: PathBuf,
        /// The process holding the folder's lock, as it wrote into the lock file (None if it
        /// has not written it yet).
        pid: Option<u32>,
    },
    /// A fault of this crate rather than of its input (a poisoned lock, a broken invariant).
    #[error("internal error in ddpm: {0}")]
    Internal(String),
    /// An error from candle's tensors.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// An error while drawing or encoding a figure or an image.
    #[error("drawing error: {0}")]
    Draw(String),
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format { path: path.into(), message: message.into() }
    }

    /// An [`Error::OutOfRange`]: `name` must be `allowed`, got `value`.
    ///
    /// ```
    /// let e = ddpm::Error::out_of_range("beta_end", 1.5, "in (0, 1)");
    /// assert_eq!(e.to_string(), "beta_end must be in (0, 1), got 1.5");
    /// ```
    pub fn out_of_range(name: impl Into<String>, value: impl std::fmt::Display, allowed: impl Into<String>) -> Self {
        Error::OutOfRange { name: name.into(), value: value.to_string(), allowed: allowed.into() }
    }
}

/// An [`Error::Invalid`] with a formatted message: `return Err(invalid!("steps must be >= 1, got {steps}"))`.
/// The macro builds the error; the caller writes the `return`, so every early exit is visible.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::Error::Invalid(format!($($arg)*))
    };
}

/// Checks that `value` lies in the open interval (lo, hi); NaN fails with [`Error::OutOfRange`].
pub(crate) fn check_open(name: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if value > lo && value < hi {
        Ok(())
    } else {
        Err(Error::out_of_range(name, value, format!("in ({lo}, {hi})")))
    }
}

/// Checks that `value` is finite and strictly positive; otherwise [`Error::OutOfRange`].
pub(crate) fn check_positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::out_of_range(name, value, "a finite number > 0"))
    }
}
