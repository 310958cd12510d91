//! The hand-off from a worker to the reporter: one single-producer ring per
//! worker, written with `try_push` only, so a slow reporter costs records
//! (counted) and never worker time.
//!
//! A finished session's facts are kilobytes, and cold by the time a closed
//! flow's linger ends: copying them into the ring was the worker's largest
//! cost per reported session. So they do not travel by copy. Each ring
//! comes with a second one running back, pre-filled with spare boxes of
//! facts: the worker swaps a spare into the session's pool slot and sends
//! the facts' box on; the reporter, once it has built the record, sends the
//! box back to be a spare again. Nothing is allocated after start-up.

use crate::engine::{ReportedSession, SessionEnd, SessionSink};
use crate::session::SessionFacts;
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An item a worker hands the reporter, and the storage in it that goes
/// back to the worker for reuse once the reporter has converted it.
pub trait RingItem: Send + 'static {
    /// What goes back (for a session, its facts' box).
    type Spare: Send + 'static;
    /// Takes the reusable storage out of a converted item, if it has any.
    fn into_spare(self) -> Option<Self::Spare>;
}

impl RingItem for ReportedSession {
    type Spare = Box<SessionFacts>;
    fn into_spare(self) -> Option<Box<SessionFacts>> {
        self.facts
    }
}

/// Creates a ring of `capacity` items and its return ring, which starts
/// with `spares`: the worker keeps the [`RingSink`], the reporter gets the
/// [`RingSource`]. Both rings are allocated here, once.
pub fn session_ring<T: RingItem>(
    capacity: usize,
    spares: impl IntoIterator<Item = T::Spare>,
) -> (RingSink<T>, RingSource<T>) {
    let capacity = capacity.max(1);
    let (producer, consumer) = HeapRb::<T>::new(capacity).split();
    let (mut give_back, returned) = HeapRb::<T::Spare>::new(capacity).split();
    for spare in spares.into_iter().take(capacity) {
        let _ = give_back.try_push(spare);
    }
    let dropped = Arc::new(AtomicU64::new(0));
    let sink = RingSink { producer, returned, dropped: Arc::clone(&dropped), wait_until: None };
    (sink, RingSource { consumer, give_back, dropped })
}

/// A worker's ring of finished sessions, with one spare box of facts per
/// place in the ring (so every session that fits in the ring finds one).
pub fn facts_ring(capacity: usize) -> (RingSink<ReportedSession>, RingSource<ReportedSession>) {
    session_ring(capacity, std::iter::repeat_with(Box::<SessionFacts>::default).take(capacity.max(1)))
}

/// How long a worker that is ending its flows at shutdown waits, in all,
/// for the reporter to make room (it keeps draining the rings meanwhile).
const ENDING_PATIENCE: Duration = Duration::from_secs(10);

/// The worker's end of its ring.
pub struct RingSink<T: RingItem> {
    producer: HeapProd<T>,
    returned: HeapCons<T::Spare>,
    dropped: Arc<AtomicU64>,
    /// Set once the worker ends its flows (see [`SessionSink::ending`]):
    /// until then a full ring drops at once, after it waits until this.
    wait_until: Option<Instant>,
}

impl<T: RingItem> RingSink<T> {
    /// Moves `item` into the ring; when the ring is full the item is
    /// counted as dropped instead. Never blocks, never allocates.
    pub fn push_value(&mut self, item: T) -> bool {
        let pushed = self.producer.try_push(item).is_ok();
        if !pushed {
            self.count_drop();
        }
        pushed
    }

    fn count_drop(&mut self) {
        // Single writer: a relaxed load+store avoids a locked RMW on the worker.
        self.dropped.store(self.dropped.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    /// Sleeps until the ring has a free place, and a spare when one is
    /// needed, or until `deadline`.
    fn wait_for_room(&self, needs_spare: bool, deadline: Instant) {
        while (self.producer.is_full() || (needs_spare && self.returned.is_empty())) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl<T: RingItem + Clone> RingSink<T> {
    /// Copies `item` into the ring (see [`RingSink::push_value`]).
    pub fn push(&mut self, item: &T) -> bool {
        self.push_value(item.clone())
    }
}

impl RingSink<ReportedSession> {
    /// Like the worker's [`SessionSink::emit`], but waits up to `patience`
    /// for room and copies the facts into a spare box instead of taking
    /// them, so `session` keeps them for the caller's other uses. Offline
    /// producers only (`inspect` importing a capture).
    pub fn push_copy_or_wait(&mut self, session: &SessionEnd<'_>, patience: Duration) -> bool {
        self.wait_for_room(session.facts().is_some(), Instant::now() + patience);
        let facts = match session.facts() {
            None => None,
            Some(facts) => match self.returned.try_pop() {
                Some(mut spare) => {
                    *spare = *facts;
                    Some(spare)
                }
                None => {
                    self.count_drop();
                    return false;
                }
            },
        };
        self.push_value(session.with_facts(facts))
    }
}

impl SessionSink for RingSink<ReportedSession> {
    /// Takes the session's facts out of the pool in exchange for a spare
    /// and pushes the session; counts it as dropped when the ring is full
    /// or no spare is back yet (the reporter is that far behind) — once the
    /// worker is ending its flows, only after waiting for room in vain.
    fn emit(&mut self, session: &mut SessionEnd<'_>) {
        if let Some(deadline) = self.wait_until {
            self.wait_for_room(session.facts().is_some(), deadline);
        }
        if self.producer.is_full() {
            self.count_drop();
            return;
        }
        match session.take_facts(|| self.returned.try_pop()) {
            // Room was checked above, and this is the ring's only producer.
            Some(item) => _ = self.push_value(item),
            None => self.count_drop(),
        }
    }

    /// At shutdown every flow ends at once, more than the ring may hold:
    /// the worker no longer forwards packets, so it waits (up to
    /// [`ENDING_PATIENCE`] in all) for the reporter instead of dropping.
    fn ending(&mut self) {
        self.wait_until = Some(Instant::now() + ENDING_PATIENCE);
    }
}

/// The reporter's end of one worker's ring.
pub struct RingSource<T: RingItem> {
    consumer: HeapCons<T>,
    give_back: HeapProd<T::Spare>,
    dropped: Arc<AtomicU64>,
}

impl<T: RingItem> RingSource<T> {
    /// The oldest item not yet taken, if any. Hand it to
    /// [`RingSource::recycle`] once converted.
    pub fn pop(&mut self) -> Option<T> {
        self.consumer.try_pop()
    }

    /// Sends a converted item's storage back to the worker, to be reused.
    pub fn recycle(&mut self, item: T) {
        if let Some(spare) = item.into_spare() {
            // The spares and the items in flight never outnumber the ring's
            // places, so there is room; were there none, the spare is freed.
            let _ = self.give_back.try_push(spare);
        }
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

    /// A test item with storage to recycle: its payload.
    #[derive(Clone, Debug, PartialEq)]
    struct Numbered(u32);

    impl RingItem for Numbered {
        type Spare = u32;
        fn into_spare(self) -> Option<u32> {
            Some(self.0)
        }
    }

    #[test]
    fn full_ring_counts_drops_and_keeps_order() {
        let (mut sink, mut source) = session_ring::<Numbered>(2, []);
        assert!(sink.push(&Numbered(1)));
        assert!(sink.push(&Numbered(2)));
        assert!(!sink.push(&Numbered(3)));
        assert_eq!(source.dropped(), 1);
        assert_eq!(source.pop(), Some(Numbered(1)));
        assert!(sink.push(&Numbered(4)));
        assert_eq!(source.pop(), Some(Numbered(2)));
        assert_eq!(source.pop(), Some(Numbered(4)));
        assert_eq!(source.pop(), None);
    }

    #[test]
    fn recycled_storage_comes_back_to_the_worker_in_order() {
        let (mut sink, mut source) = session_ring::<Numbered>(3, [7]);
        assert!(sink.push(&Numbered(1)));
        let item = source.pop().unwrap_or(Numbered(0));
        source.recycle(item);
        assert_eq!(sink.returned.try_pop(), Some(7));
        assert_eq!(sink.returned.try_pop(), Some(1));
        assert_eq!(sink.returned.try_pop(), None);
    }
}
