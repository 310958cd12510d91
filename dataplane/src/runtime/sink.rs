//! The session sink the runtime gives each worker: it counts finished
//! sessions (reported per worker in the stats and the summary) and passes
//! them on to the sink the caller supplied (the reporter's ring).

use crate::engine::{SessionEnd, SessionSink};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counts sessions, then forwards them to `inner`.
pub struct Counted<S> {
    inner: S,
    finished: Arc<CachePadded<AtomicU64>>,
}

impl<S: SessionSink> Counted<S> {
    /// Wraps `inner`; the count is readable from other threads via [`Counted::counter`].
    pub fn new(inner: S) -> Self {
        Counted { inner, finished: Arc::default() }
    }

    /// The shared count of sessions emitted so far.
    pub fn counter(&self) -> Arc<CachePadded<AtomicU64>> {
        Arc::clone(&self.finished)
    }
}

impl<S: SessionSink> SessionSink for Counted<S> {
    #[inline]
    fn emit(&mut self, session: &mut SessionEnd<'_>) {
        // Single writer: load+store, no locked read-modify-write.
        self.finished.store(self.finished.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.inner.emit(session);
    }

    fn ending(&mut self) {
        self.inner.ending();
    }
}

/// A sink that drops sessions, for running before a reporter is attached
/// (they are still counted by [`Counted`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl SessionSink for Discard {
    #[inline]
    fn emit(&mut self, _session: &mut SessionEnd<'_>) {}
}
