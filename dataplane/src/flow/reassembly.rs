//! Bounded in-order reassembly of the first bytes of one TCP direction.
//!
//! Only the handshake phase matters, so each direction keeps a fixed window
//! of stream bytes from its first byte on (the budget, 4 KiB by default).
//! Segments may come out of order, repeated or overlapping: the first copy of
//! every byte wins, and a later copy whose bytes differ is flagged
//! `overlap_mismatch` — the classic evasion where the monitor and the host
//! would otherwise see different streams (Ptacek & Newsham 1998).

use crate::io::prefetch;
use mailgate_proto::Anomalies;

/// Reassembly state of one direction; the bytes and the received-bitmap
/// live in a pooled slot and are passed in.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirStream {
    /// Sequence number of stream byte 0.
    base: u32,
    /// Whether `base` is known yet.
    has_base: bool,
    /// Bytes `[0, contiguous)` are all present.
    contiguous: u32,
    /// One past the highest byte received.
    high: u32,
    /// Bytes dropped because they fell past the budget.
    beyond_budget: bool,
}

/// The stream storage of one direction: `budget` bytes and their bitmap.
pub struct DirBuf<'a> {
    /// Stream bytes `[0, budget)`.
    pub bytes: &'a mut [u8],
    /// One bit per byte of `bytes`: received or not.
    pub bits: &'a mut [u64],
}

impl DirStream {
    /// Sets stream byte 0 to sequence number `seq` (ISN + 1 after a SYN, or
    /// the first payload seen on a flow picked up mid-stream).
    pub fn set_base(&mut self, seq: u32) {
        if !self.has_base {
            self.base = seq;
            self.has_base = true;
        }
    }

    /// Whether stream byte 0 is known.
    pub fn has_base(&self) -> bool {
        self.has_base
    }

    /// How many bytes from byte 0 on are present in order.
    pub fn contiguous(&self) -> usize {
        self.contiguous as usize
    }

    /// True when bytes beyond the budget arrived (the window is spent).
    pub fn beyond_budget(&self) -> bool {
        self.beyond_budget
    }

    /// The stream offset of sequence number `seq`, if it is at or after byte 0.
    pub fn offset_of(&self, seq: u32) -> Option<u32> {
        let off = seq.wrapping_sub(self.base);
        // Offsets past 2^31 are sequence numbers before the base.
        (self.has_base && off < 1 << 31).then_some(off)
    }

    /// Adds a segment's payload starting at sequence number `seq`. Returns
    /// true when the in-order prefix grew.
    pub fn insert(&mut self, buf: &mut DirBuf<'_>, seq: u32, payload: &[u8], anomalies: &mut Anomalies) -> bool {
        if payload.is_empty() || !self.has_base {
            return false;
        }
        let budget = buf.bytes.len();
        // Trim what lies before byte 0 (retransmitted SYN data, old bytes).
        let (start, payload) = match self.offset_of(seq) {
            Some(off) => (off as usize, payload),
            None => {
                let behind = self.base.wrapping_sub(seq) as usize;
                match payload.get(behind..) {
                    Some(rest) if !rest.is_empty() => (0, rest),
                    _ => return false,
                }
            }
        };
        let end = start.saturating_add(payload.len());
        if end > budget {
            self.beyond_budget = true;
        }
        let end = end.min(budget);
        if start >= end {
            return false;
        }
        let Some(payload) = payload.get(..end - start) else { return false };
        if start == self.contiguous as usize && start >= self.high as usize {
            // In order with nothing beyond it: a plain append.
            if let Some(dst) = buf.bytes.get_mut(start..end) {
                dst.copy_from_slice(payload);
            }
            set_bits(buf.bits, start, end);
        } else {
            for (i, &b) in payload.iter().enumerate() {
                let pos = start + i;
                if bit(buf.bits, pos) {
                    if buf.bytes.get(pos) != Some(&b) {
                        anomalies.insert(Anomalies::OVERLAP_MISMATCH);
                    }
                } else if let Some(dst) = buf.bytes.get_mut(pos) {
                    *dst = b;
                    set_bits(buf.bits, pos, pos + 1);
                }
            }
        }
        self.high = self.high.max(end as u32);
        let before = self.contiguous;
        self.contiguous = first_clear_bit(buf.bits, self.contiguous as usize, self.high as usize) as u32;
        self.contiguous > before
    }
}

/// Both directions of one flow's reassembly window: state, bytes, bitmaps.
pub struct Streams<'a> {
    /// Reassembly state per direction.
    pub dirs: &'a mut [DirStream; 2],
    /// Stream bytes per direction.
    pub bytes: [&'a mut [u8]; 2],
    /// Received-bitmaps per direction.
    pub bits: [&'a mut [u64]; 2],
}

/// Reassembly windows for the flows under inspection: `slots` pairs of
/// directions, `budget` bytes each, allocated once.
pub struct StreamStore {
    budget: usize,
    bytes: Vec<u8>,
    bits: Vec<u64>,
    dirs: Vec<[DirStream; 2]>,
    free: Vec<u32>,
}

impl StreamStore {
    /// Storage for `slots` flows with `budget` bytes per direction.
    pub fn new(slots: usize, budget: usize) -> Self {
        let budget = budget.max(64);
        let words = budget.div_ceil(64);
        let mut store = StreamStore {
            budget,
            bytes: vec![0; slots * 2 * budget],
            bits: vec![0; slots * 2 * words],
            dirs: vec![[DirStream::default(); 2]; slots],
            free: (0..slots as u32).rev().collect(),
        };
        store.prefault();
        store
    }

    /// Writes every page of the (zero-initialised, so lazily mapped) byte
    /// and bitmap arrays once, so that the first sessions take no page
    /// faults on the worker. The value written is an opaque zero: the
    /// compiler may not drop a store it cannot prove redundant.
    fn prefault(&mut self) {
        const PAGE: usize = 4096;
        for b in self.bytes.iter_mut().step_by(PAGE) {
            *b = std::hint::black_box(0);
        }
        for w in self.bits.iter_mut().step_by(PAGE / 8) {
            *w = std::hint::black_box(0);
        }
    }

    /// Takes a free slot with both directions empty; `None` when all are in use.
    pub fn take(&mut self) -> Option<u32> {
        let idx = self.free.pop()?;
        let words = self.budget.div_ceil(64);
        let i = idx as usize;
        if let Some(dirs) = self.dirs.get_mut(i) {
            for (d, state) in dirs.iter_mut().enumerate() {
                // No bit at or past `high` was ever set: clear only the words
                // the last session used (usually one), not the whole bitmap.
                let used = (state.high as usize).div_ceil(64).min(words);
                let start = (i * 2 + d) * words;
                if let Some(bits) = self.bits.get_mut(start..start + used) {
                    bits.fill(0);
                }
                *state = DirStream::default();
            }
        }
        Some(idx)
    }

    /// Gives a slot back.
    pub fn give_back(&mut self, idx: u32) {
        if (idx as usize) < self.dirs.len() {
            self.free.push(idx);
        }
    }

    /// Starts loading the state and first bitmap words of the slot the
    /// `n`-th next take will hand out, ahead of the take.
    #[inline]
    pub fn prefetch_free(&self, n: usize) {
        let words = self.budget.div_ceil(64);
        let free = self.free.len().checked_sub(n + 1).and_then(|i| self.free.get(i));
        if let Some(&idx) = free {
            let i = idx as usize;
            if let Some(d) = self.dirs.get(i) {
                prefetch(d);
            }
            for d in 0..2 {
                if let Some(w) = self.bits.get((i * 2 + d) * words) {
                    prefetch(w);
                }
            }
        }
    }

    /// True when every slot is in use.
    pub fn is_exhausted(&self) -> bool {
        self.free.is_empty()
    }

    /// The state of direction `d` (0 or 1) of slot `idx` alone (a SYN
    /// sets where the stream starts and touches neither bytes nor bitmap).
    pub fn dir_mut(&mut self, idx: u32, d: usize) -> Option<&mut DirStream> {
        self.dirs.get_mut(idx as usize)?.get_mut(d)
    }

    /// Both directions of slot `idx`: state, bytes and bitmaps.
    pub fn get(&mut self, idx: u32) -> Option<Streams<'_>> {
        let i = idx as usize;
        let words = self.budget.div_ceil(64);
        let bytes = self.bytes.get_mut(i * 2 * self.budget..(i + 1) * 2 * self.budget)?;
        let bits = self.bits.get_mut(i * 2 * words..(i + 1) * 2 * words)?;
        let dirs = self.dirs.get_mut(i)?;
        let (b0, b1) = bytes.split_at_mut(self.budget);
        let (m0, m1) = bits.split_at_mut(words);
        Some(Streams { dirs, bytes: [b0, b1], bits: [m0, m1] })
    }
}

fn bit(bits: &[u64], pos: usize) -> bool {
    bits.get(pos / 64).is_some_and(|w| w & (1 << (pos % 64)) != 0)
}

fn set_bits(bits: &mut [u64], start: usize, end: usize) {
    let mut pos = start;
    while pos < end {
        let word = pos / 64;
        let lo = pos % 64;
        let hi = (end - word * 64).min(64);
        let mask = if hi - lo == 64 { u64::MAX } else { ((1u64 << (hi - lo)) - 1) << lo };
        if let Some(w) = bits.get_mut(word) {
            *w |= mask;
        }
        pos = word * 64 + hi;
    }
}

/// The first position in `[from, limit)` whose bit is clear, or `limit`.
fn first_clear_bit(bits: &[u64], from: usize, limit: usize) -> usize {
    let mut pos = from;
    while pos < limit {
        let word = bits.get(pos / 64).copied().unwrap_or(0);
        let shifted = !word >> (pos % 64);
        if shifted != 0 {
            return (pos + shifted.trailing_zeros() as usize).min(limit);
        }
        pos = (pos / 64 + 1) * 64;
    }
    limit
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Owned {
        bytes: Vec<u8>,
        bits: Vec<u64>,
    }
    impl Owned {
        fn new(budget: usize) -> Self {
            Owned { bytes: vec![0; budget], bits: vec![0; budget.div_ceil(64)] }
        }
        fn buf(&mut self) -> DirBuf<'_> {
            DirBuf { bytes: &mut self.bytes, bits: &mut self.bits }
        }
    }

    #[test]
    fn a_reused_slot_starts_empty_whatever_its_last_session_left() {
        let mut store = StreamStore::new(1, 256);
        let mut anomalies = Anomalies::NONE;
        let idx = store.take().unwrap();
        {
            let mut s = store.get(idx).unwrap();
            let (dirs, [b0, _], [m0, _]) = (&mut s.dirs, &mut s.bytes, &mut s.bits);
            dirs[0].set_base(1000);
            // Bytes 0..10 and, out of order, 130..140 (a later bitmap word).
            dirs[0].insert(&mut DirBuf { bytes: b0, bits: m0 }, 1000, b"0123456789", &mut anomalies);
            dirs[0].insert(&mut DirBuf { bytes: b0, bits: m0 }, 1130, b"abcdefghij", &mut anomalies);
            assert_eq!(dirs[0].contiguous(), 10);
        }
        store.give_back(idx);
        let idx = store.take().unwrap();
        let mut s = store.get(idx).unwrap();
        let (dirs, [b0, _], [m0, _]) = (&mut s.dirs, &mut s.bytes, &mut s.bits);
        assert!(m0.iter().all(|w| *w == 0), "no byte of the last session counts as received");
        dirs[0].set_base(5000);
        // New bytes at the same offsets are taken as they are: no mismatch with the old ones.
        dirs[0].insert(&mut DirBuf { bytes: b0, bits: m0 }, 5130, b"ABCDEFGHIJ", &mut anomalies);
        assert!(!anomalies.contains(Anomalies::OVERLAP_MISMATCH));
        assert_eq!(dirs[0].contiguous(), 0);
    }

    #[test]
    fn out_of_order_segments_join() {
        let mut o = Owned::new(64);
        let mut s = DirStream::default();
        let mut a = Anomalies::NONE;
        s.set_base(1000);
        assert!(!s.insert(&mut o.buf(), 1004, b" x", &mut a));
        assert_eq!(s.contiguous(), 0);
        assert!(s.insert(&mut o.buf(), 1000, b"EHL", &mut a));
        assert_eq!(s.contiguous(), 3);
        assert!(s.insert(&mut o.buf(), 1003, b"O", &mut a));
        assert_eq!(&o.bytes[..s.contiguous()], b"EHLO x");
        assert!(a.is_empty());
    }

    #[test]
    fn first_copy_wins_and_mismatch_is_flagged() {
        let mut o = Owned::new(64);
        let mut s = DirStream::default();
        let mut a = Anomalies::NONE;
        s.set_base(0);
        s.insert(&mut o.buf(), 0, b"EHLO good", &mut a);
        s.insert(&mut o.buf(), 5, b"good", &mut a);
        assert!(a.is_empty(), "identical retransmission is not an anomaly");
        s.insert(&mut o.buf(), 5, b"evil!", &mut a);
        assert!(a.contains(Anomalies::OVERLAP_MISMATCH));
        assert_eq!(&o.bytes[..s.contiguous()], b"EHLO good!");
    }

    #[test]
    fn budget_bounds_the_window_and_sequence_wraps() {
        let mut o = Owned::new(8);
        let mut s = DirStream::default();
        let mut a = Anomalies::NONE;
        s.set_base(u32::MAX - 2);
        s.insert(&mut o.buf(), u32::MAX - 2, b"0123456789", &mut a);
        assert_eq!(&o.bytes[..s.contiguous()], b"01234567");
        assert!(s.beyond_budget());
        // Bytes before the base are trimmed.
        let mut s = DirStream::default();
        let mut o = Owned::new(8);
        s.set_base(10);
        s.insert(&mut o.buf(), 8, b"xxab", &mut a);
        assert_eq!(&o.bytes[..s.contiguous()], b"ab");
    }

    proptest! {
        /// Any split of a stream into segments, delivered in any order with
        /// duplicates, reassembles to the same bytes with no anomaly.
        #[test]
        fn any_segmentation_and_order_reassembles(
            data in proptest::collection::vec(any::<u8>(), 1..300),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
            order in any::<prop::sample::Index>(),
            dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
            isn in any::<u32>(),
        ) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len())).collect();
            points.extend([0, data.len()]);
            points.sort_unstable();
            points.dedup();
            let mut segs: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            for d in &dups { let s = segs[d.index(segs.len())]; segs.push(s); }
            let rot = order.index(segs.len());
            segs.rotate_left(rot);
            let mut o = Owned::new(512);
            let mut s = DirStream::default();
            let mut a = Anomalies::NONE;
            s.set_base(isn);
            for (from, to) in segs {
                s.insert(&mut o.buf(), isn.wrapping_add(from as u32), &data[from..to], &mut a);
            }
            prop_assert_eq!(&o.bytes[..s.contiguous()], &data[..]);
            prop_assert!(a.is_empty());
        }
    }
}
