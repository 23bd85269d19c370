//! Progress of `ddpm sample` and `ddpm eval` while they draw samples: a bar on stderr when
//! stderr is a terminal, else a plain line on stdout every `every` steps of each chunk (what a
//! log file or a notebook shows).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The `on_step(first, last, done, total)` callback of `sample_batched` for `n` samples drawn
/// `batch` at a time, each chunk `steps` steps long.
pub fn sampling(n: usize, batch: usize, steps: usize, every: usize) -> impl FnMut(usize, usize, usize, usize) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let chunks = n.div_ceil(batch.max(1));
        let bar = ProgressBar::with_draw_target(Some((chunks * steps) as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("[{bar:24}] {pos}/{len} steps, {msg}, ETA {eta}") {
            bar.set_style(style.progress_chars("#>-"));
        }
        bar
    });
    let every = every.max(1);
    move |first, last, done, total| match &bar {
        Some(bar) => {
            bar.set_message(format!("samples {}..{last} of {n}", first + 1));
            bar.set_position(((first / batch.max(1)) * total + done) as u64);
            if last == n && done == total {
                bar.finish();
                // indicatif leaves the cursor at the end of the bar's line.
                eprintln!();
            }
        }
        None => {
            if done % every == 0 || done == total {
                println!("  samples {}..{last}: step {done}/{total}", first + 1);
            }
        }
    }
}
