//! The [`CheckTable`] that a notebook's sections show and assert: its rows as text, as an HTML
//! table, or as HTML under the section's figure.

use std::fmt;

use super::{Check, Relation};
use crate::display::Figure;

/// A list of checks: prints as a text table, shows as an HTML table in a notebook.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckTable(pub Vec<Check>);

impl CheckTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one check.
    pub fn push(&mut self, c: Check) {
        self.0.push(c);
    }

    /// Adds many checks.
    pub fn extend(&mut self, cs: impl IntoIterator<Item = Check>) {
        self.0.extend(cs);
    }

    /// True when no check failed (skipped ones do not fail).
    pub fn all_pass(&self) -> bool {
        self.0.iter().all(|c| c.pass)
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.0.iter().filter(|c| !c.pass).collect()
    }

    /// Counts of (passed, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let skipped = self.0.iter().filter(|c| c.relation == Relation::Skipped).count();
        let failed = self.failures().len();
        (self.0.len() - skipped - failed, failed, skipped)
    }

    /// Counts of the rows by [`Basis`]: (n-derived, exact, guard, unstated).
    pub fn basis_counts(&self) -> (usize, usize, usize, usize) {
        let count = |label: &str| self.0.iter().filter(|c| c.basis.label() == label).count();
        (count("n-derived"), count("exact"), count("guard"), count("-"))
    }

    /// The assertion a notebook's check cell ends with. Panics, listing every failed check,
    /// if any failed: this is the one function in the crate meant to panic.
    pub fn assert_all(&self) {
        let failures = self.failures();
        if !failures.is_empty() {
            let rows: Vec<String> = failures.iter().map(|c| c.to_string()).collect();
            panic!("{} check(s) failed:\n{}", failures.len(), rows.join("\n"));
        }
    }

    /// Shows the table (a section's check cell), then asserts it: the rows are on screen even
    /// when the assertion panics.
    pub fn show_then_assert(&self) {
        self.evcxr_display();
        self.assert_all();
    }

    /// Shows `figure` with the table under it, as one output, then asserts the table. A cell
    /// that draws its section's picture can end with its checks this way: evcxr keeps one output
    /// of each kind a cell, and Jupyter shows the HTML of a cell in place of its pictures.
    pub fn show_with_then_assert(&self, figure: &Figure) {
        println!("EVCXR_BEGIN_CONTENT text/html\n<div>{}</div>\n{}\nEVCXR_END_CONTENT", figure.html(), self.html());
        self.assert_all();
    }

    /// Shows the table as HTML in an evcxr notebook (called by the kernel on a cell's last value).
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.html());
    }

    /// The table as HTML: one row a check, then the counts by verdict and by [`Basis`].
    pub fn html(&self) -> String {
        let mut html = String::from(
            "<table><tr><th>id</th><th>what</th><th>seen</th><th>expected</th><th>match</th><th>tolerance</th></tr>",
        );
        for c in &self.0 {
            let colour = match c.verdict() {
                "match" => "#1a7f37",
                "skipped" => "#9a6700",
                _ => "#cf222e",
            };
            html.push_str(&format!(
                "<tr><td>{}</td><td style=\"text-align:left\">{}</td><td>{}</td><td>{}</td><td style=\"color:{colour}\"><b>{}</b></td><td>{}</td></tr>",
                c.id,
                escape(&c.what),
                c.seen_text(),
                escape(&c.expected_text()),
                c.verdict(),
                escape(&c.basis.to_string())
            ));
        }
        let (p, f, s) = self.counts();
        let (nd, ex, gu, un) = self.basis_counts();
        html.push_str(&format!(
            "</table><p>{p} passed, {f} failed, {s} skipped; tolerances: {nd} n-derived, {ex} exact, {gu} guard, {un} unstated</p>"
        ));
        html
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl fmt::Display for CheckTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.0 {
            writeln!(f, "{c}")?;
        }
        let (p, fl, s) = self.counts();
        write!(f, "{p} passed, {fl} failed, {s} skipped")
    }
}

impl FromIterator<Check> for CheckTable {
    fn from_iter<I: IntoIterator<Item = Check>>(iter: I) -> Self {
        CheckTable(iter.into_iter().collect())
    }
}
