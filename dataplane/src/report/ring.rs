//! The hand-off from a worker to the reporter: one single-producer ring per
//! worker, written with `try_push` only, so a slow reporter costs records
//! (counted) and never worker time.

use crate::engine::{FinishedSession, SessionEnd, SessionSink};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Creates a ring of `capacity` items: the worker keeps the [`RingSink`],
/// the reporter gets the [`RingSource`]. The ring is allocated here, once.
pub fn session_ring<T>(capacity: usize) -> (RingSink<T>, RingSource<T>) {
    let (producer, consumer) = HeapRb::<T>::new(capacity.max(1)).split();
    let dropped = Arc::new(AtomicU64::new(0));
    (RingSink { producer, dropped: Arc::clone(&dropped) }, RingSource { consumer, dropped })
}

/// The worker's end of its ring.
pub struct RingSink<T> {
    producer: HeapProd<T>,
    dropped: Arc<AtomicU64>,
}

impl<T> RingSink<T> {
    /// Moves `item` into the ring; when the ring is full the item is
    /// counted as dropped instead. Never blocks, never allocates.
    pub fn push_value(&mut self, item: T) -> bool {
        let pushed = self.producer.try_push(item).is_ok();
        if !pushed {
            // Single writer: a relaxed load+store avoids a locked RMW on the worker.
            self.dropped.store(self.dropped.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
        pushed
    }
}

impl<T: Clone> RingSink<T> {
    /// Copies `item` into the ring (see [`RingSink::push_value`]).
    pub fn push(&mut self, item: &T) -> bool {
        self.push_value(item.clone())
    }

    /// Like [`RingSink::push`], but waits up to `patience` for room first.
    /// For offline producers only (`inspect` importing a capture), never a
    /// worker: a worker must not wait.
    pub fn push_or_wait(&mut self, item: &T, patience: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + patience;
        while self.producer.is_full() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.push(item)
    }
}

impl SessionSink for RingSink<FinishedSession> {
    fn emit(&mut self, session: &SessionEnd<'_>) {
        self.push_value(session.to_owned());
    }
}

/// The reporter's end of one worker's ring.
pub struct RingSource<T> {
    consumer: HeapCons<T>,
    dropped: Arc<AtomicU64>,
}

impl<T> RingSource<T> {
    /// The oldest item not yet taken, if any.
    pub fn pop(&mut self) -> Option<T> {
        self.consumer.try_pop()
    }

    /// Whether the ring holds nothing right now.
    pub fn is_empty(&self) -> bool {
        self.consumer.is_empty()
    }

    /// Items the worker could not push because the ring was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_counts_drops_and_keeps_order() {
        let (mut sink, mut source) = session_ring::<u32>(2);
        assert!(sink.push(&1));
        assert!(sink.push(&2));
        assert!(!sink.push(&3));
        assert_eq!(source.dropped(), 1);
        assert_eq!(source.pop(), Some(1));
        assert!(sink.push(&4));
        assert_eq!(source.pop(), Some(2));
        assert_eq!(source.pop(), Some(4));
        assert_eq!(source.pop(), None);
    }
}
