//! Scratch memory for the CPU kernels: each thread keeps one buffer of f32 values and lends it to
//! the kernel running on it, so that a convolution's column matrices are allocated once per
//! thread, not for every call (where the allocator would zero them first, and the kernel then
//! write every value again).

use std::any::Any;
use std::cell::RefCell;

use candle_core::WithDType;

thread_local! {
    /// This thread's scratch values, as long as the longest ever asked for.
    static BUFFER: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` values of scratch memory that hold whatever an earlier call left there:
/// `f` must set each value before it reads it. For f32, the calling thread's buffer (grown when
/// `len` is longer than before); for another type, or while the thread's buffer is lent already
/// (a kernel's task run by the same thread while it waits inside another's matrix product), a
/// new allocation.
pub(super) fn with_scratch<T: WithDType, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    BUFFER.with(|cell| {
        if let Ok(mut buffer) = cell.try_borrow_mut() {
            if let Some(buffer) = (&mut *buffer as &mut dyn Any).downcast_mut::<Vec<T>>() {
                if buffer.len() < len {
                    buffer.resize(len, T::from_f64(0.0));
                }
                return f(&mut buffer[..len]);
            }
        }
        f(&mut vec![T::from_f64(0.0); len])
    })
}
