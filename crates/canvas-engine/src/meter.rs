//! QuickJS's memory through a metering allocator. The limit is enforced
//! here, not by QuickJS, so a refusal is recorded as it happens: a script
//! stopped for memory is known from that flag, never from an error's text
//! (a script may well throw `new Error('out of memory')` itself).

use rquickjs::allocator::{Allocator, RustAllocator};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What one runtime's allocator has given out, its limit, and whether it
/// refused an allocation since the block began.
#[derive(Clone, Default)]
pub(crate) struct MemoryMeter(Arc<MeterState>);

#[derive(Default)]
struct MeterState {
    limit: AtomicUsize,
    used: AtomicUsize,
    refused: AtomicBool,
}

impl MemoryMeter {
    /// A new block may use up to `limit` bytes (the runtime's own included).
    pub fn start_block(&self, limit: usize) {
        self.0.limit.store(limit, Ordering::Relaxed);
        self.0.refused.store(false, Ordering::Relaxed);
    }

    /// Bytes given out and not yet freed.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Whether an allocation was refused for the limit since `start_block`.
    pub fn refused(&self) -> bool {
        self.0.refused.load(Ordering::Relaxed)
    }

    /// Takes `bytes` more, or records a refusal.
    fn admit(&self, bytes: usize) -> bool {
        let state = &self.0;
        let limit = state.limit.load(Ordering::Relaxed);
        let admitted = state
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (limit == 0 || used.saturating_add(bytes) <= limit).then(|| used + bytes)
            })
            .is_ok();
        if !admitted {
            state.refused.store(true, Ordering::Relaxed);
        }
        admitted
    }

    fn release(&self, bytes: usize) {
        let _ = self
            .0
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// The size `RustAllocator` keeps for a request (a multiple of `u64`'s
/// alignment), so what is counted in is what `usable_size` counts out.
fn rounded(size: usize) -> usize {
    size.div_ceil(8).saturating_mul(8)
}

/// Rust's allocator (as rquickjs uses it), behind the meter.
pub(crate) struct MeteredAllocator {
    inner: RustAllocator,
    meter: MemoryMeter,
}

impl MeteredAllocator {
    pub fn new(meter: MemoryMeter) -> Self {
        Self {
            inner: RustAllocator,
            meter,
        }
    }
}

// SAFETY: every pointer handed out comes from `RustAllocator` unchanged, and
// every pointer taken back is passed to it unchanged; the meter only counts.
unsafe impl Allocator for MeteredAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        let size = rounded(size);
        if !self.meter.admit(size) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.alloc(size);
        if ptr.is_null() {
            self.meter.release(size);
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size).map(rounded) else {
            return std::ptr::null_mut();
        };
        if !self.meter.admit(total) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.calloc(count, size);
        if ptr.is_null() {
            self.meter.release(total);
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: `ptr` came from `alloc`, `calloc` or `realloc` above.
        let size = unsafe { RustAllocator::usable_size(ptr) };
        unsafe { self.inner.dealloc(ptr) };
        self.meter.release(size);
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // SAFETY: as in `dealloc`.
        let old = unsafe { RustAllocator::usable_size(ptr) };
        let new = rounded(new_size);
        let grow = new.saturating_sub(old);
        if !self.meter.admit(grow) {
            return std::ptr::null_mut();
        }
        let moved = unsafe { self.inner.realloc(ptr, new_size) };
        match moved.is_null() {
            true => self.meter.release(grow),
            false => self.meter.release(old.saturating_sub(new)),
        }
        moved
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: as in `dealloc`.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_past_the_limit_are_refused_and_said_and_frees_make_room() {
        let meter = MemoryMeter::default();
        meter.start_block(1000);
        let mut a = MeteredAllocator::new(meter.clone());

        let first = a.alloc(600);
        assert!(!first.is_null() && !meter.refused());
        assert!(a.alloc(600).is_null(), "1200 > 1000");
        assert!(meter.refused());
        unsafe { a.dealloc(first) };
        meter.start_block(1000);
        let again = a.alloc(600);
        assert!(
            !again.is_null() && !meter.refused(),
            "room again after the free"
        );
        let grown = unsafe { a.realloc(again, 900) };
        assert!(!grown.is_null());
        assert!(unsafe { a.realloc(grown, 1200) }.is_null() && meter.refused());
        unsafe { a.dealloc(grown) };
    }
}
