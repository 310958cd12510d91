//! Heap allocations counted by the `mailgate-bench` binary's global
//! allocator ([`stats_alloc`] over the system allocator), so the pipeline
//! benchmark can report allocations per packet in steady state.
//!
//! Only a binary that installs [`COUNTING_ALLOCATOR`] as its global
//! allocator counts; [`active`] tells, so that a process without it (a
//! criterion bench, a test) reports "not counted" rather than a false zero.

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

/// The allocator `mailgate-bench` installs with `#[global_allocator]`.
pub static COUNTING_ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (and reallocations) made so far by the whole process.
pub fn allocations() -> u64 {
    let stats = COUNTING_ALLOCATOR.stats();
    (stats.allocations + stats.reallocations) as u64
}

/// True when this process's global allocator is the counting one.
pub fn active() -> bool {
    let before = allocations();
    drop(std::hint::black_box(Box::new(0u64)));
    allocations() > before
}
