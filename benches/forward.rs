//! Forward-process benchmarks (`make bench`): the closed form q(x_t | x_0) against iterating the
//! per-step process on an MNIST-sized batch, building a schedule, and the whole `ddpm verify`.
//! The network's training- and sampling-step benchmarks join these with the U-Net.
//!
//! Prints the median of several runs of each, and ratios measured in the same run.

mod common;

use common::{median_time, ms};

use ddpm::forward::{q_iterate, q_sample};
use ddpm::rng::{normal, seeded};
use ddpm::{verify, NoiseSchedule};
use ndarray::ArrayD;

/// The `ddpm` binary's allocator: mimalloc, keeping the memory it frees. With the system's
/// malloc, q_sample's three 400 KB results came from fresh pages on every call (glibc returns
/// the top of its heap to the system), and the benchmark timed the page faults.
#[path = "../src/bin/ddpm/alloc.rs"]
mod alloc;

fn main() {
    alloc::keep_freed_memory();
    let s = NoiseSchedule::linear(1000).expect("valid schedule");
    let mut rng = seeded(0);
    let x0: ArrayD<f64> = normal(&mut rng, &[64, 1, 28, 28]);
    let eps: ArrayD<f64> = normal(&mut rng, &[64, 1, 28, 28]);

    let closed = median_time(21, || {
        std::hint::black_box(q_sample(&s, &x0, 500, &eps).expect("shapes match"));
    });
    let iterated = median_time(3, || {
        std::hint::black_box(q_iterate(&s, &x0, 500, &mut rng).expect("t in range"));
    });
    let schedule = median_time(21, || {
        std::hint::black_box(NoiseSchedule::cosine(1000).expect("valid schedule"));
    });
    let verify_all = median_time(3, || {
        std::hint::black_box(verify::all(verify::DEFAULT_SEED).expect("checks run"));
    });

    println!("benchmark                                   median");
    println!("q_sample, batch 64x1x28x28, t = 500        {:>9.3} ms", ms(closed));
    println!(
        "q_iterate (500 steps), same batch          {:>9.3} ms  ({:.0}x the closed form)",
        ms(iterated),
        ms(iterated) / ms(closed)
    );
    println!("NoiseSchedule::cosine(1000)                {:>9.3} ms", ms(schedule));
    println!("ddpm verify (every check)                  {:>9.3} ms", ms(verify_all));
}
