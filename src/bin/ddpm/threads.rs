//! The threads of the `ddpm` binary and of the network benchmarks (which include this file with
//! `#[path]`): candle's element-wise operations on the calling thread, everything else on
//! rayon's pool.
//!
//! On the CPU, candle 0.11.1 runs its element-wise operations (the residual additions, the
//! broadcasts, AdamW's updates) on a pool of its own, whose workers spin 25 000 times after each
//! operation before they sleep, while the convolution, group norm, SiLU and the matrix products
//! run on rayon's pool. On two cores the two pools take turns and each one's spinning takes time
//! from the other (benches/NOTES.md: about 10 % of a training step). With `CANDLE_NUM_THREADS=1`
//! candle's pool has no worker and its element-wise operations run on the calling thread: the
//! default `ddpm train --data mnist` step went from 0.27 to 0.21 s on two cores (150 steps, two
//! runs each way: 42.4 and 38.3 s against 31.9 and 31.0 s, 2026-12-05), and the default U-Net
//! at batch 64 was unchanged (25 steps: 42.6 and 39.3 s against 39.9 and 39.6 s).

/// Sets `CANDLE_NUM_THREADS=1` unless the user has set it: call it first in `main`, before
/// candle starts its pool (the variable is read once, when the pool is made).
pub fn one_candle_thread() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // main has started no other thread yet, so nothing reads the environment meanwhile.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}
