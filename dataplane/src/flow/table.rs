//! A per-worker flow table of fixed capacity: open addressing with linear
//! probing over an index array, entries in a pre-allocated slab, and one
//! intrusive LRU list per flow class for idle expiry and eviction. Nothing
//! is allocated after construction; a full table refuses new flows.

use super::key::FlowKey;
use crate::io::prefetch;
use std::hash::BuildHasher;

/// Index of a flow in its table (stable while the flow lives).
pub type FlowIdx = u32;

const NONE: u32 = u32::MAX;

/// The table is full: the caller handles the flow statelessly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

struct Entry<V> {
    key: FlowKey,
    hash: u64,
    prev: u32,
    next: u32,
    class: u8,
    value: V,
}

/// Fixed-capacity flow table; `CLASSES` LRU lists (least recently used first).
pub struct FlowTable<V, const CLASSES: usize> {
    slots: Box<[u32]>,
    mask: usize,
    entries: Vec<Entry<V>>,
    free: Vec<u32>,
    lists: [List; CLASSES],
    len: usize,
    hasher: foldhash::fast::RandomState,
    /// Changes whenever a flow is added or removed, so that a lookup made
    /// earlier can be reused while the table is unchanged.
    generation: u64,
}

impl<V: Default, const CLASSES: usize> FlowTable<V, CLASSES> {
    /// A table for `capacity` flows (≥ 1). The index array has at least twice
    /// as many slots, so probe sequences stay short at full load.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, NONE as usize - 1);
        let slots = (capacity * 2).next_power_of_two();
        let entries = (0..capacity)
            .map(|_| Entry { key: FlowKey::default(), hash: 0, prev: NONE, next: NONE, class: 0, value: V::default() })
            .collect();
        FlowTable {
            slots: vec![NONE; slots].into_boxed_slice(),
            mask: slots - 1,
            entries,
            // Pop from the end: hand out low indices first.
            free: (0..capacity as u32).rev().collect(),
            lists: [List { head: NONE, tail: NONE }; CLASSES],
            len: 0,
            hasher: foldhash::fast::RandomState::default(),
            generation: 0,
        }
    }
}

impl<V, const CLASSES: usize> FlowTable<V, CLASSES> {
    /// Flows in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The list (class) the flow at `idx` is linked in.
    pub fn class_of(&self, idx: FlowIdx) -> Option<usize> {
        self.entries.get(idx as usize).map(|e| usize::from(e.class))
    }

    /// Bytes of table memory per flow it can hold: one entry (key, hash, LRU
    /// links, value), its share of the index array, and its free-list slot.
    /// Everything is allocated at construction, so this times the capacity
    /// is the table's size (for sizing `flow_capacity` and the benchmarks).
    pub fn bytes_per_flow(&self) -> usize {
        let capacity = self.entries.len().max(1);
        let index = (self.slots.len() * std::mem::size_of::<u32>()).div_ceil(capacity);
        std::mem::size_of::<Entry<V>>() + index + std::mem::size_of::<u32>()
    }

    /// The table's generation: a [`FlowTable::find`] answer stays right
    /// while this is unchanged.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// True when a new flow would be refused.
    pub fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    /// The hash of `key` in this table (keyed per table, so that no one
    /// can aim flows at one probe run): computed once per packet, then
    /// passed to [`FlowTable::find_hashed`] and [`FlowTable::insert_hashed`].
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Starts loading `hash`'s home slot of the index array (see
    /// [`crate::io::prefetch`]): the first of a lookup's two cache misses.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        if let Some(slot) = self.slots.get(hash as usize & self.mask) {
            prefetch(slot);
        }
    }

    /// Starts loading the key and hash of the entry that `hash`'s home slot names
    /// (the lookup's second miss; the slot should be on its way already).
    #[inline]
    pub fn prefetch_home_entry(&self, hash: u64) {
        let home = self.slots.get(hash as usize & self.mask).copied().unwrap_or(NONE);
        if let Some(e) = self.entries.get(home as usize) {
            // The two may lie on different lines.
            prefetch(&e.key);
            prefetch(&e.hash);
        }
    }

    /// Starts loading the entry the `n`-th next insert will take (all of
    /// it: the insert writes key, links and value).
    #[inline]
    pub fn prefetch_free(&self, n: usize) {
        let free = self.free.len().checked_sub(n + 1).and_then(|i| self.free.get(i));
        if let Some(e) = free.and_then(|&idx| self.entries.get(idx as usize)) {
            prefetch(&e.key);
            prefetch(&e.hash);
            prefetch(&e.value);
        }
    }

    /// Finds the flow of `key`.
    pub fn find(&self, key: &FlowKey) -> Option<FlowIdx> {
        self.find_hashed(key, self.hash(key))
    }

    /// Finds the flow of `key`, whose [`FlowTable::hash`] is `hash`.
    #[inline]
    pub fn find_hashed(&self, key: &FlowKey, hash: u64) -> Option<FlowIdx> {
        let mut i = hash as usize & self.mask;
        loop {
            let idx = *self.slots.get(i)?;
            if idx == NONE {
                return None;
            }
            if let Some(e) = self.entries.get(idx as usize) {
                if e.hash == hash && e.key == *key {
                    return Some(idx);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds a flow (the caller has checked it is not present) at the
    /// most-recent end of list `class`.
    pub fn insert(&mut self, key: FlowKey, value: V, class: usize) -> Result<FlowIdx, TableFull> {
        self.insert_hashed(key, self.hash(&key), value, class)
    }

    /// [`FlowTable::insert`] for a key whose [`FlowTable::hash`] is `hash`.
    pub fn insert_hashed(&mut self, key: FlowKey, hash: u64, value: V, class: usize) -> Result<FlowIdx, TableFull> {
        let idx = self.free.pop().ok_or(TableFull)?;
        self.generation += 1;
        let mut i = hash as usize & self.mask;
        // The index array is at least twice the capacity, so a free slot exists.
        while self.slots.get(i).is_some_and(|s| *s != NONE) {
            i = (i + 1) & self.mask;
        }
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = idx;
        }
        if let Some(e) = self.entries.get_mut(idx as usize) {
            e.key = key;
            e.hash = hash;
            e.value = value;
        }
        self.link_tail(idx, class);
        self.len += 1;
        Ok(idx)
    }

    /// The flow at `idx`.
    #[inline]
    pub fn get(&self, idx: FlowIdx) -> Option<&V> {
        self.entries.get(idx as usize).map(|e| &e.value)
    }

    /// The flow at `idx`, mutably.
    #[inline]
    pub fn get_mut(&mut self, idx: FlowIdx) -> Option<&mut V> {
        self.entries.get_mut(idx as usize).map(|e| &mut e.value)
    }

    /// The key of the flow at `idx`.
    pub fn key(&self, idx: FlowIdx) -> Option<&FlowKey> {
        self.entries.get(idx as usize).map(|e| &e.key)
    }

    /// Marks the flow as just used, in list `class` (moving it if its class changed).
    #[inline]
    pub fn touch(&mut self, idx: FlowIdx, class: usize) {
        self.unlink(idx);
        self.link_tail(idx, class);
    }

    /// The least recently used flow of list `class`.
    pub fn oldest(&self, class: usize) -> Option<FlowIdx> {
        self.lists.get(class).map(|l| l.head).filter(|h| *h != NONE)
    }

    /// Removes the flow at `idx`; its value stays readable through the
    /// returned reference until the next insert.
    pub fn remove(&mut self, idx: FlowIdx) -> Option<&V> {
        let hash = self.entries.get(idx as usize)?.hash;
        // Find the slot that points at idx.
        let mut i = hash as usize & self.mask;
        loop {
            match self.slots.get(i) {
                Some(s) if *s == idx => break,
                Some(s) if *s != NONE => i = (i + 1) & self.mask,
                _ => return None,
            }
        }
        self.unlink(idx);
        self.backward_shift(i);
        self.generation += 1;
        self.free.push(idx);
        self.len -= 1;
        self.entries.get(idx as usize).map(|e| &e.value)
    }

    /// Removes slot `hole` and shifts later members of its probe run back, so
    /// lookups never need tombstones.
    fn backward_shift(&mut self, mut hole: usize) {
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let Some(&idx) = self.slots.get(j) else { break };
            if idx == NONE {
                break;
            }
            let home = self.entries.get(idx as usize).map_or(j, |e| e.hash as usize & self.mask);
            // Move idx into the hole unless its home lies cyclically in (hole, j].
            let dist_home = j.wrapping_sub(home) & self.mask;
            let dist_hole = j.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                if let Some(s) = self.slots.get_mut(hole) {
                    *s = idx;
                }
                hole = j;
            }
        }
        if let Some(s) = self.slots.get_mut(hole) {
            *s = NONE;
        }
    }

    fn link_tail(&mut self, idx: FlowIdx, class: usize) {
        let Some(list) = self.lists.get_mut(class) else { return };
        let old_tail = list.tail;
        list.tail = idx;
        if old_tail == NONE {
            list.head = idx;
        }
        if let Some(e) = self.entries.get_mut(old_tail as usize) {
            e.next = idx;
        }
        if let Some(e) = self.entries.get_mut(idx as usize) {
            e.prev = old_tail;
            e.next = NONE;
            e.class = class as u8;
        }
    }

    fn unlink(&mut self, idx: FlowIdx) {
        let Some(e) = self.entries.get(idx as usize) else { return };
        let (prev, next, class) = (e.prev, e.next, usize::from(e.class));
        match self.entries.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => {
                if let Some(l) = self.lists.get_mut(class) {
                    l.head = next;
                }
            }
        }
        match self.entries.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => {
                if let Some(l) = self.lists.get_mut(class) {
                    l.tail = prev;
                }
            }
        }
        if let Some(e) = self.entries.get_mut(idx as usize) {
            e.prev = NONE;
            e.next = NONE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::key::Endpoint;
    use super::*;
    use proptest::prelude::*;

    fn key(n: u32) -> FlowKey {
        let a = Endpoint::new(std::net::Ipv4Addr::from(0xc633_6400 | (n & 0xff)).into(), (n >> 8) as u16);
        let b = Endpoint::new("203.0.113.9".parse().unwrap(), 25);
        FlowKey::new(a, b).0
    }

    #[test]
    fn full_table_refuses_and_recovers_after_remove() {
        let mut t: FlowTable<u32, 1> = FlowTable::new(2);
        let a = t.insert(key(1), 1, 0).unwrap();
        t.insert(key(2), 2, 0).unwrap();
        assert_eq!(t.insert(key(3), 3, 0), Err(TableFull));
        assert_eq!(t.remove(a), Some(&1));
        assert!(t.find(&key(1)).is_none());
        let c = t.insert(key(3), 3, 0).unwrap();
        assert_eq!(t.find(&key(3)), Some(c));
    }

    #[test]
    fn the_generation_changes_exactly_when_flows_come_or_go() {
        let mut t: FlowTable<u32, 1> = FlowTable::new(4);
        let g0 = t.generation();
        let a = t.insert(key(1), 1, 0).unwrap();
        let g1 = t.generation();
        assert_ne!(g0, g1);
        // Lookups, touches and value updates keep earlier answers right.
        assert_eq!(t.find(&key(1)), Some(a));
        t.touch(a, 0);
        *t.get_mut(a).unwrap() = 5;
        assert_eq!(t.generation(), g1);
        t.remove(a);
        assert_ne!(t.generation(), g1);
    }

    #[test]
    fn lru_order_follows_touches_per_class() {
        let mut t: FlowTable<u32, 2> = FlowTable::new(8);
        let a = t.insert(key(1), 1, 0).unwrap();
        let b = t.insert(key(2), 2, 0).unwrap();
        let c = t.insert(key(3), 3, 1).unwrap();
        assert_eq!(t.oldest(0), Some(a));
        t.touch(a, 0);
        assert_eq!(t.oldest(0), Some(b));
        t.touch(b, 1);
        assert_eq!(t.oldest(0), Some(a));
        assert_eq!(t.oldest(1), Some(c));
        t.remove(c);
        assert_eq!(t.oldest(1), Some(b));
    }

    proptest! {
        /// Any sequence of inserts and removes agrees with a HashMap model.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u32..64, any::<bool>()), 1..400)) {
            let mut t: FlowTable<u32, 1> = FlowTable::new(32);
            let mut model = std::collections::HashMap::new();
            for (k, insert) in ops {
                match (insert, t.find(&key(k))) {
                    (true, None) => {
                        if let Ok(idx) = t.insert(key(k), k, 0) { model.insert(k, idx); }
                        else { prop_assert_eq!(model.len(), 32); }
                    }
                    (false, Some(idx)) => { t.remove(idx); model.remove(&k); }
                    _ => {}
                }
                for (mk, idx) in &model {
                    prop_assert_eq!(t.find(&key(*mk)), Some(*idx));
                    prop_assert_eq!(t.get(*idx), Some(mk));
                }
                prop_assert_eq!(t.len(), model.len());
            }
        }
    }
}
