//! The threads of the `ddpm` binary and of the network benchmarks (which include this file with
//! `#[path]`): candle's element-wise operations on the calling thread, everything else on
//! rayon's pool.
//!
//! On the CPU, candle runs its element-wise operations (the residual additions, the broadcasts,
//! AdamW's updates) on a pool of its own, whose workers spin for a while after each operation
//! before they sleep, while the convolution, group norm, SiLU and the matrix products run on
//! rayon's pool. On few cores the two pools take turns and each one's spinning takes time from
//! the other. With `CANDLE_NUM_THREADS=1` candle's pool has no worker and its element-wise
//! operations run on the calling thread, which makes a training step faster and leaves sampling
//! with the default U-Net as it was (the timings are in benches/NOTES.md).

/// Sets `CANDLE_NUM_THREADS=1` unless the user has set it: call it first in `main`, before
/// candle starts its pool (the variable is read once, when the pool is made).
pub fn one_candle_thread() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // main has started no other thread yet, so nothing reads the environment meanwhile.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}
