//! The allocator of the `ddpm` binary and of the benchmarks (which include this file with
//! `#[path]`): mimalloc, told to keep the memory it frees.
//!
//! candle allocates a new buffer for every tensor operation, and a training step of the default
//! U-Net frees and allocates gigabytes of them. With glibc's malloc the large ones are mapped and
//! unmapped each time; mimalloc reuses them, but by default returns freed memory to the operating
//! system after a delay ("purging"), so the next buffer is fresh memory again, which the kernel
//! zeroes page by page on first touch (the profiles are in benches/NOTES.md).
//! [`keep_freed_memory`] turns purging off: the process keeps its peak memory.
//!
//! This file must stay out of the library. evcxr compiles every notebook cell into a shared
//! object that links the library statically and loads it with `dlopen`, one per cell, all kept
//! loaded. mimalloc's C code is built with the initial-exec TLS model, which takes a slice of
//! the process's small reserve of static TLS per loaded copy: with the library linking mimalloc,
//! a notebook's later cells fail with "dlopen failed" once that reserve is spent. Notebooks run
//! with the system allocator.

/// mimalloc's `mi_option_purge_delay` (its `mimalloc.h`, v2 and v3), not named by libmimalloc-sys.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Never return freed memory to the operating system (purge delay -1). Call it first in `main`.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an option value; any option number and value are accepted.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
