//! The crate's error type: every message says what was wrong and what is allowed.

use std::path::PathBuf;

/// Everything that can go wrong in `ddpm`. Library functions return these instead of panicking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter outside its allowed range, e.g. "beta_end must be in (0, 1), got 1.5".
    #[error("{0}")]
    Invalid(String),
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
}

/// Returns `Err(Error::Invalid(format!(...)))` from the enclosing function.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::Error::Invalid(format!($($arg)*)))
    };
}

/// Checks that `value` lies in the open interval (lo, hi); NaN fails.
pub(crate) fn check_open(name: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if value > lo && value < hi {
        Ok(())
    } else {
        invalid!("{name} must be in ({lo}, {hi}), got {value}")
    }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn check_positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        invalid!("{name} must be a finite number > 0, got {value}")
    }
}
