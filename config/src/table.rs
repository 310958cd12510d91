//! Address → set of rules, for one address family, looked up without allocating.
//!
//! Every rule and exception is a *slot*; a table maps each address to the
//! bit set of slots whose networks contain it. The networks of all rules
//! cut the address space into elementary intervals, each carrying the
//! union of the sets of every prefix that covers it — the same answer a
//! longest-prefix match gives when each prefix stores its own slots plus
//! those of all shorter prefixes around it. A lookup is one binary search
//! over the interval starts and returns a borrowed slice of words.

/// One family's interval table.
#[derive(Debug, Clone)]
pub(crate) struct AddrTable {
    /// Sorted first addresses of the intervals; the first is always 0.
    starts: Box<[u128]>,
    /// `words` bit-set words per interval, interval after interval.
    bits: Box<[u64]>,
    words: usize,
}

impl AddrTable {
    /// Builds the table from `(slot, first, last)` ranges over `0..=max`;
    /// `words` words hold every slot number.
    pub(crate) fn build(max: u128, words: usize, ranges: &[(usize, u128, u128)]) -> AddrTable {
        let mut events: Vec<(u128, usize, bool)> = Vec::with_capacity(ranges.len() * 2);
        for &(slot, first, last) in ranges {
            events.push((first, slot, true));
            if last < max {
                events.push((last + 1, slot, false));
            }
        }
        events.sort_unstable();
        let mut counts = vec![0u32; words * 64];
        let mut current = vec![0u64; words];
        let mut starts: Vec<u128> = Vec::new();
        let mut bits: Vec<u64> = Vec::new();
        if events.first().is_none_or(|e| e.0 > 0) {
            starts.push(0);
            bits.extend_from_slice(&current);
        }
        let mut i = 0;
        while let Some(&(at, _, _)) = events.get(i) {
            while let Some(&(pos, slot, opens)) = events.get(i) {
                if pos != at {
                    break;
                }
                let count = &mut counts[slot];
                if opens {
                    *count += 1;
                } else {
                    *count -= 1;
                }
                let bit = 1u64 << (slot % 64);
                if *count > 0 {
                    current[slot / 64] |= bit;
                } else {
                    current[slot / 64] &= !bit;
                }
                i += 1;
            }
            let unchanged = !starts.is_empty() && bits[bits.len() - words..] == current[..];
            if !unchanged {
                starts.push(at);
                bits.extend_from_slice(&current);
            }
        }
        AddrTable { starts: starts.into_boxed_slice(), bits: bits.into_boxed_slice(), words }
    }

    /// The slots whose networks contain `key`.
    #[inline]
    pub(crate) fn lookup(&self, key: u128) -> &[u64] {
        let interval = self.starts.partition_point(|&s| s <= key).saturating_sub(1);
        let first = interval * self.words;
        self.bits.get(first..first + self.words).unwrap_or(&[])
    }

    /// The number of elementary intervals (for tests of the construction).
    #[cfg(test)]
    pub(crate) fn intervals(&self) -> usize {
        self.starts.len()
    }
}

/// The slots set in both `a` and `b`, in increasing order, from slot `from` on.
pub(crate) struct Slots<'a> {
    a: &'a [u64],
    b: &'a [u64],
    word: usize,
    current: u64,
}

impl<'a> Slots<'a> {
    #[inline]
    pub(crate) fn new(a: &'a [u64], b: &'a [u64], from: usize) -> Slots<'a> {
        let word = from / 64;
        let current = match (a.get(word), b.get(word)) {
            (Some(x), Some(y)) => x & y & (u64::MAX << (from % 64)),
            _ => 0,
        };
        Slots { a, b, word, current }
    }
}

impl Iterator for Slots<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.current != 0 {
                let bit = self.current.trailing_zeros() as usize;
                self.current &= self.current - 1;
                return Some(self.word * 64 + bit);
            }
            self.word += 1;
            let (Some(x), Some(y)) = (self.a.get(self.word), self.b.get(self.word)) else {
                return None;
            };
            self.current = x & y;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(t: &AddrTable, key: u128) -> Vec<usize> {
        let set = t.lookup(key);
        Slots::new(set, set, 0).collect()
    }

    #[test]
    fn nested_prefixes_give_the_union_of_every_covering_prefix() {
        // slot 0: 10.0.0.0/8, slot 1: 10.1.0.0/16, slot 70: 10.1.2.3/32 (second word).
        let v4 = u128::from(u32::MAX);
        let t = AddrTable::build(
            v4,
            2,
            &[(0, 0x0a00_0000, 0x0aff_ffff), (1, 0x0a01_0000, 0x0a01_ffff), (70, 0x0a01_0203, 0x0a01_0203)],
        );
        assert_eq!(slots(&t, 0x0a01_0203), [0, 1, 70]);
        assert_eq!(slots(&t, 0x0a01_0204), [0, 1]);
        assert_eq!(slots(&t, 0x0a02_0000), [0]);
        assert_eq!(slots(&t, 0x0b00_0000), Vec::<usize>::new());
        assert_eq!(slots(&t, 0), Vec::<usize>::new());
        assert_eq!(slots(&t, v4), Vec::<usize>::new());
    }

    #[test]
    fn whole_space_and_adjacent_equal_intervals_merge() {
        let t = AddrTable::build(u128::MAX, 1, &[(3, 0, u128::MAX), (3, 5, 9)]);
        assert_eq!(t.intervals(), 1);
        assert_eq!(slots(&t, u128::MAX), [3]);
        let empty = AddrTable::build(u128::MAX, 0, &[]);
        assert_eq!(slots(&empty, 42), Vec::<usize>::new());
    }

    #[test]
    fn slots_start_from_the_requested_slot() {
        let a = [u64::MAX, 0b1011];
        let b = [0b1010, u64::MAX];
        assert_eq!(Slots::new(&a, &b, 0).collect::<Vec<_>>(), [1, 3, 64, 65, 67]);
        assert_eq!(Slots::new(&a, &b, 2).collect::<Vec<_>>(), [3, 64, 65, 67]);
        assert_eq!(Slots::new(&a, &b, 65).collect::<Vec<_>>(), [65, 67]);
        assert_eq!(Slots::new(&a, &b, 200).count(), 0);
    }
}
