//! The threads of the `ddpm` binary and of the network benchmarks (which include this file with
//! `#[path]`): candle's element-wise operations on the calling thread, everything else on
//! rayon's pool, whose size is written down once.
//!
//! On the CPU, candle runs its element-wise operations (the residual additions, the broadcasts,
//! AdamW's updates) on a pool of its own, whose workers spin for a while after each operation
//! before they sleep, while the convolution, group norm, SiLU and the matrix products run on
//! rayon's pool. On few cores the two pools take turns and each one's spinning takes time from
//! the other. With `CANDLE_NUM_THREADS=1` candle's pool has no worker and its element-wise
//! operations run on the calling thread, which makes a training step faster and leaves sampling
//! with the default U-Net as it was (the timings are in benches/NOTES.md).
//!
//! candle asks for its number of threads at every matrix product (the time embedding's and each
//! residual block's linear layers: dozens a training step), and unless `RAYON_NUM_THREADS` is
//! set, each answer counts the physical cores again by reading `/proc/cpuinfo`, a file the
//! kernel writes out afresh for every read, on the thread that the rest of the step waits for.
//! Setting `RAYON_NUM_THREADS` to the size rayon's pool has anyway makes the answer an
//! environment lookup. (The notebook kernel does not set it: with it in the kernel's
//! environment, the notebook runner's self-test missed a cell's error on stderr in some runs.)

/// Sets `CANDLE_NUM_THREADS=1`, and `RAYON_NUM_THREADS` to the number of threads the process may
/// run at once (the size rayon gives its pool when the variable is unset), each unless the user
/// has set it: call it first in `main`, before candle or rayon starts a pool (the variables are
/// read once, when a pool is made).
pub fn set_thread_counts() {
    // main has started no other thread yet, so nothing reads the environment meanwhile.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
}
