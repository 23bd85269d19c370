//! Progress of a training run: in a terminal one line redrawn in place (a bar with the step,
//! the loss, steps/s and the time left); elsewhere, e.g. in a notebook where `\r` does not work,
//! a plain line every `log_every` steps.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// Nothing.
    Silent,
    /// A line every `n` steps (and at the last).
    Lines(usize),
    /// A bar redrawn in place, at most about ten times a second.
    Bar,
}

impl ProgressStyle {
    /// A bar when stdout is a terminal, else a line every `log_every` steps (0: silent).
    pub fn auto(log_every: usize) -> Self {
        match log_every {
            0 => ProgressStyle::Silent,
            _ if std::io::stdout().is_terminal() => ProgressStyle::Bar,
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
    last_draw: Option<Instant>,
}

impl Progress {
    /// Progress of a run that does steps `first..=total`; the loss shown is the mean of the last
    /// `window` steps.
    pub fn new(style: ProgressStyle, window: usize, first: usize, total: usize) -> Self {
        Self { style, window: window.max(1), first, total, start: Instant::now(), last_draw: None }
    }

    /// Reports that step `step` is done; `history` holds this run's losses so far.
    pub fn update(&mut self, step: usize, history: &[f32]) {
        match self.style {
            ProgressStyle::Silent => {}
            ProgressStyle::Lines(n) => {
                if (step + 1 - self.first) % n == 0 || step == self.total {
                    println!("{}", self.line(step, history));
                }
            }
            ProgressStyle::Bar => {
                let now = Instant::now();
                let due = self.last_draw.is_none_or(|t| now.duration_since(t).as_millis() >= 100);
                if due || step == self.total {
                    self.last_draw = Some(now);
                    let done = (step + 1 - self.first) as f64 / (self.total + 1 - self.first).max(1) as f64;
                    let filled = (done * 24.0).round() as usize;
                    let bar = format!("[{}{}]", "#".repeat(filled), "-".repeat(24 - filled.min(24)));
                    print!("\r{bar} {}\x1b[K", self.line(step, history));
                    if step == self.total {
                        println!();
                    }
                    let _ = std::io::stdout().flush();
                }
            }
        }
    }

    /// Ends a bar's line early (the run stopped before its last step).
    pub fn finish(&self) {
        if self.style == ProgressStyle::Bar {
            println!();
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
