//! [`Basis`]: where a check's tolerance comes from.

use std::fmt;

/// Where a check's tolerance comes from, printed in its row so that no threshold passes for
/// statistics without saying so.
#[derive(Clone, Debug, PartialEq)]
pub enum Basis {
    /// From the size of the sample the value was computed on: k standard errors, or a test's
    /// level; the text states which (e.g. "k = 5", "KS, alpha = 0.001").
    NDerived(String),
    /// Floating-point agreement: two computations of the same number.
    Exact,
    /// A regression threshold taken from a past run; the text names the run.
    Guard(String),
    /// Not stated by the caller.
    Unstated,
}

impl Basis {
    /// k standard errors of the sample.
    pub fn sigmas(k: f64) -> Self {
        Basis::NDerived(format!("k = {k}"))
    }

    /// The short label counted in a table's summary: "n-derived", "exact", "guard" or "-".
    pub fn label(&self) -> &'static str {
        match self {
            Basis::NDerived(_) => "n-derived",
            Basis::Exact => "exact",
            Basis::Guard(_) => "guard",
            Basis::Unstated => "-",
        }
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Basis::NDerived(how) | Basis::Guard(how) => write!(f, "{} ({how})", self.label()),
            _ => f.write_str(self.label()),
        }
    }
}
