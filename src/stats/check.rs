//! The [`Check`] record: one numeric check, printed as "seen / expected / match" with where its
//! tolerance comes from ([`Basis`]). A notebook's sections show and assert them in a
//! [`super::CheckTable`].

use std::fmt;

use super::Basis;

/// How `seen` is compared with `expected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// |seen - expected| <= tolerance.
    Close,
    /// seen <= expected (an upper bound, e.g. a KS statistic under its critical value).
    AtMost,
    /// seen >= expected (a lower bound).
    AtLeast,
    /// Not run here (e.g. needs a fully trained model in quick mode); `what` says why.
    Skipped,
}

/// One numeric check of an equation: what was seen, what theory expects, and whether they match.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The equation's id in EQUATIONS.md, e.g. "E5".
    pub id: String,
    /// What is compared, in words.
    pub what: String,
    pub seen: f64,
    pub expected: f64,
    /// The allowed distance for [`Relation::Close`] (0 for the bounds).
    pub tolerance: f64,
    pub relation: Relation,
    /// Whether the check holds (NaN never does). A skipped check neither passes nor fails: `pass` is true.
    pub pass: bool,
    /// Where the tolerance comes from.
    pub basis: Basis,
}

impl Check {
    /// A check of `seen` against `expected` under `relation`; for [`Relation::Close`] use
    /// [`Check::close`], which also takes the tolerance.
    pub fn new(id: &str, what: &str, seen: f64, expected: f64, relation: Relation) -> Self {
        let pass = match relation {
            Relation::Close => seen == expected,
            Relation::AtMost => seen <= expected,
            Relation::AtLeast => seen >= expected,
            Relation::Skipped => true,
        };
        Check {
            id: id.into(),
            what: what.into(),
            seen,
            expected,
            tolerance: 0.0,
            relation,
            pass,
            basis: Basis::Unstated,
        }
    }

    /// |seen - expected| <= tolerance.
    ///
    /// ```
    /// use ddpm::stats::Check;
    /// assert!(Check::close("E6", "beta_1", 1e-4, 1e-4, 0.0).pass);
    /// assert!(!Check::close("E6", "beta_1", f64::NAN, 1e-4, 1.0).pass);
    /// ```
    pub fn close(id: &str, what: &str, seen: f64, expected: f64, tolerance: f64) -> Self {
        let pass = (seen - expected).abs() <= tolerance;
        let relation = Relation::Close;
        Check { id: id.into(), what: what.into(), seen, expected, tolerance, relation, pass, basis: Basis::Unstated }
    }

    /// The same check, with its tolerance from `basis`.
    pub fn with_basis(mut self, basis: Basis) -> Self {
        self.basis = basis;
        self
    }

    /// The same check, its tolerance marked as floating-point agreement.
    ///
    /// ```
    /// use ddpm::stats::{Basis, Check};
    /// let c = Check::close("E6", "alpha_bar_T by hand vs table", 4.0358e-5, 4.0358e-5, 1e-15).exact();
    /// assert_eq!((c.basis, c.pass), (Basis::Exact, true));
    /// ```
    pub fn exact(self) -> Self {
        self.with_basis(Basis::Exact)
    }

    /// The same check, its tolerance marked as `k` standard errors of the sample.
    pub fn n_derived(self, k: f64) -> Self {
        self.with_basis(Basis::sigmas(k))
    }

    /// The same check, its tolerance marked as a regression threshold from the run `run`.
    pub fn guard(self, run: &str) -> Self {
        self.with_basis(Basis::Guard(run.into()))
    }

    /// |seen - expected| <= rel_tol |expected|.
    pub fn rel_close(id: &str, what: &str, seen: f64, expected: f64, rel_tol: f64) -> Self {
        Self::close(id, what, seen, expected, rel_tol * expected.abs())
    }

    /// seen <= bound.
    pub fn at_most(id: &str, what: &str, seen: f64, bound: f64) -> Self {
        Self::new(id, what, seen, bound, Relation::AtMost)
    }

    /// seen >= bound.
    pub fn at_least(id: &str, what: &str, seen: f64, bound: f64) -> Self {
        Self::new(id, what, seen, bound, Relation::AtLeast)
    }

    /// A yes/no property, shown as 1 (true) against the expected 1.
    pub fn holds(id: &str, what: &str, holds: bool) -> Self {
        Self::close(id, what, if holds { 1.0 } else { 0.0 }, 1.0, 0.0)
    }

    /// A check that was not run here; `why` says why and where it runs.
    pub fn skipped(id: &str, what: &str, why: &str) -> Self {
        let mut c = Self::new(id, &format!("{what} (skipped: {why})"), f64::NAN, f64::NAN, Relation::Skipped);
        c.pass = true;
        c
    }

    /// "match", "MISMATCH" or "skipped".
    pub fn verdict(&self) -> &'static str {
        match (self.relation, self.pass) {
            (Relation::Skipped, _) => "skipped",
            (_, true) => "match",
            (_, false) => "MISMATCH",
        }
    }

    /// The expected column as text: "0.5 ± 1e-3", "<= 0.05", ">= 0.8".
    pub fn expected_text(&self) -> String {
        match self.relation {
            Relation::Close if self.tolerance == 0.0 => fmt_num(self.expected),
            Relation::Close => format!("{} ± {}", fmt_num(self.expected), fmt_num(self.tolerance)),
            Relation::AtMost => format!("<= {}", fmt_num(self.expected)),
            Relation::AtLeast => format!(">= {}", fmt_num(self.expected)),
            Relation::Skipped => "-".into(),
        }
    }

    /// The seen column as text.
    pub fn seen_text(&self) -> String {
        if self.relation == Relation::Skipped {
            "-".into()
        } else {
            fmt_num(self.seen)
        }
    }
}

/// A number in a short form that keeps 6 significant digits.
pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || (1e-3..1e5).contains(&a) {
        let s = format!("{x:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s.is_empty() || s == "-" {
            "0".into()
        } else {
            s.into()
        }
    } else {
        format!("{x:.5e}")
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<4} {:<58} seen {:<14} expected {:<24} {:<9} [{}]",
            self.id,
            self.what,
            self.seen_text(),
            self.expected_text(),
            self.verdict(),
            self.basis
        )
    }
}
