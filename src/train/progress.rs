//! Progress of a training run: in a terminal an `indicatif` bar on stderr (the step, the loss,
//! the rate and the time left); elsewhere, e.g. in a notebook where a redrawn line does not work,
//! a plain line on stdout every `log_every` steps.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// Nothing.
    Silent,
    /// A line every `n` steps (and at the last).
    Lines(usize),
    /// A bar on stderr, redrawn in place.
    Bar,
}

impl ProgressStyle {
    /// A bar when stderr is a terminal, else a line every `log_every` steps (0: silent).
    ///
    /// ```
    /// use ddpm::train::ProgressStyle;
    /// assert_eq!(ProgressStyle::auto(0), ProgressStyle::Silent);
    /// ```
    pub fn auto(log_every: usize) -> Self {
        match log_every {
            0 => ProgressStyle::Silent,
            _ if std::io::stderr().is_terminal() => ProgressStyle::Bar,
            n => ProgressStyle::Lines(n),
        }
    }
}

/// Counts steps and prints progress in the chosen style.
pub struct Progress {
    style: ProgressStyle,
    window: usize,
    first: usize,
    total: usize,
    start: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Progress of a run that does steps `first..=total`; the loss shown is the mean of the last
    /// `window` steps.
    pub fn new(style: ProgressStyle, window: usize, first: usize, total: usize) -> Self {
        let bar = (style == ProgressStyle::Bar).then(|| {
            let steps = (total + 1).saturating_sub(first) as u64;
            let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
            if let Ok(s) = indicatif::ProgressStyle::with_template("[{bar:24}] {msg}") {
                bar.set_style(s.progress_chars("#>-"));
            }
            bar
        });
        Self { style, window: window.max(1), first, total, start: Instant::now(), bar }
    }

    /// Reports that step `step` is done; `history` holds this run's losses so far.
    pub fn update(&mut self, step: usize, history: &[f32]) {
        match self.style {
            ProgressStyle::Silent => {}
            ProgressStyle::Lines(n) => {
                if (step + 1 - self.first).is_multiple_of(n) || step == self.total {
                    println!("{}", self.line(step, history));
                }
            }
            ProgressStyle::Bar => {
                if let Some(bar) = &self.bar {
                    // indicatif redraws at most about twenty times a second, whatever the calls.
                    bar.set_message(self.line(step, history));
                    bar.set_position((step + 1 - self.first) as u64);
                    if step == self.total {
                        bar.finish();
                        // indicatif leaves the cursor at the end of the bar's line.
                        eprintln!();
                    }
                }
            }
        }
    }

    /// Ends a bar early (the run stopped before its last step), leaving its last line shown.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.as_ref().filter(|b| !b.is_finished()) {
            bar.abandon();
            eprintln!();
        }
    }

    /// "step 200/1000  loss 0.08120  12.30 steps/s  ETA 65 s": the loss is the mean of the last
    /// `window` steps of this run.
    pub fn line(&self, step: usize, history: &[f32]) -> String {
        let recent = &history[history.len().saturating_sub(self.window)..];
        let mean = recent.iter().map(|&l| l as f64).sum::<f64>() / recent.len().max(1) as f64;
        let done = step + 1 - self.first;
        let rate = done as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        let eta = (self.total - step) as f64 / rate;
        format!("step {step}/{}  loss {mean:.5}  {rate:.2} steps/s  ETA {eta:.0} s", self.total)
    }
}
