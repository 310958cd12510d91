//! Encoded batches waiting for the control plane's acknowledgement.
//!
//! Bounded by record count and by bytes. When a new batch would exceed a
//! bound, the oldest batches are discarded whole and their records counted
//! (`spool_discarded`): during an outage the newest `max_records` records
//! survive, everything older is lost and counted, never silently.

use std::collections::VecDeque;

/// One encoded `Sessions` frame and what it holds.
#[derive(Debug)]
struct SpooledBatch {
    seq: u64,
    records: usize,
    frame: Vec<u8>,
}

/// The bounded queue of batches not yet acknowledged.
#[derive(Debug)]
pub(crate) struct Spool {
    batches: VecDeque<SpooledBatch>,
    /// Batches at the front already written on the current connection.
    sent: usize,
    records: usize,
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
    discarded: u64,
    acked: u64,
}

impl Spool {
    pub(crate) fn new(max_records: usize, max_bytes: usize) -> Self {
        Spool {
            batches: VecDeque::new(),
            sent: 0,
            records: 0,
            bytes: 0,
            max_records,
            max_bytes,
            discarded: 0,
            acked: 0,
        }
    }

    /// Queues a batch, evicting the oldest ones first if it would not fit.
    pub(crate) fn push(&mut self, seq: u64, records: usize, frame: Vec<u8>) {
        while !self.batches.is_empty()
            && (self.records + records > self.max_records || self.bytes + frame.len() > self.max_bytes)
        {
            if let Some(old) = self.batches.pop_front() {
                self.records -= old.records;
                self.bytes -= old.frame.len();
                self.discarded += old.records as u64;
                self.sent = self.sent.saturating_sub(1);
            }
        }
        self.records += records;
        self.bytes += frame.len();
        self.batches.push_back(SpooledBatch { seq, records, frame });
    }

    /// Forgets every batch numbered `seq` or lower (acknowledgements are cumulative).
    pub(crate) fn ack(&mut self, seq: u64) {
        while let Some(front) = self.batches.front() {
            if front.seq > seq {
                break;
            }
            if let Some(done) = self.batches.pop_front() {
                self.records -= done.records;
                self.bytes -= done.frame.len();
                self.acked += done.records as u64;
                self.sent = self.sent.saturating_sub(1);
            }
        }
    }

    /// The next batch not yet written on this connection; marks it written.
    pub(crate) fn next_unsent(&mut self) -> Option<&[u8]> {
        let batch = self.batches.get(self.sent)?;
        self.sent += 1;
        Some(&batch.frame)
    }

    /// After a disconnect every unacknowledged batch must be sent again.
    pub(crate) fn rewind(&mut self) {
        self.sent = 0;
    }

    pub(crate) fn records(&self) -> usize {
        self.records
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Records discarded to stay within the bounds, since start.
    pub(crate) fn discarded(&self) -> u64 {
        self.discarded
    }

    /// Records acknowledged by the control plane, since start.
    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_whole_batches_and_counts_them() {
        let mut spool = Spool::new(10, 1 << 20);
        spool.push(1, 4, vec![1]);
        spool.push(2, 4, vec![2]);
        spool.push(3, 4, vec![3]);
        assert_eq!(spool.discarded(), 4);
        assert_eq!(spool.records(), 8);
        assert_eq!(spool.next_unsent(), Some(&[2u8][..]));
        assert_eq!(spool.next_unsent(), Some(&[3u8][..]));
        assert_eq!(spool.next_unsent(), None);
    }

    #[test]
    fn byte_bound_applies_too() {
        let mut spool = Spool::new(1000, 5);
        spool.push(1, 1, vec![0; 3]);
        spool.push(2, 1, vec![0; 3]);
        assert_eq!(spool.discarded(), 1);
        assert_eq!(spool.records(), 1);
    }

    #[test]
    fn ack_is_cumulative_and_rewind_resends_the_rest() {
        let mut spool = Spool::new(100, 1 << 20);
        for seq in 1..=3 {
            spool.push(seq, 2, vec![seq as u8]);
        }
        while spool.next_unsent().is_some() {}
        spool.ack(2);
        assert_eq!(spool.acked(), 4);
        assert_eq!(spool.next_unsent(), None);
        spool.rewind();
        assert_eq!(spool.next_unsent(), Some(&[3u8][..]));
        spool.ack(3);
        assert!(spool.is_empty());
    }
}
