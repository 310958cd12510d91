//! Fixed-size pools of per-session state, handed out by index: memory is
//! taken once at start-up, and an exhausted pool says so instead of growing.

/// Index meaning "no slot".
pub const NO_SLOT: u32 = u32::MAX;

/// `capacity` values of `T`, each either free or owned by one flow.
pub struct Pool<T> {
    slots: Vec<T>,
    free: Vec<u32>,
}

impl<T: Default + Clone> Pool<T> {
    /// A pool of `capacity` default values.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(NO_SLOT as usize - 1);
        Pool { slots: vec![T::default(); capacity], free: (0..capacity as u32).rev().collect() }
    }
}

impl<T> Pool<T> {
    /// Takes a free slot and lets `reset` prepare it in place (values can be
    /// kilobytes: building one and moving it in would copy it whole);
    /// `None` when all are in use.
    pub fn take_with(&mut self, reset: impl FnOnce(&mut T)) -> Option<u32> {
        let idx = self.free.pop()?;
        if let Some(slot) = self.slots.get_mut(idx as usize) {
            reset(slot);
        }
        Some(idx)
    }

    /// Gives slot `idx` back (no-op for `NO_SLOT`).
    pub fn give_back(&mut self, idx: u32) {
        if (idx as usize) < self.slots.len() {
            self.free.push(idx);
        }
    }

    /// The value in slot `idx`.
    pub fn get(&self, idx: u32) -> Option<&T> {
        self.slots.get(idx as usize)
    }

    /// The value in slot `idx`, mutably.
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut T> {
        self.slots.get_mut(idx as usize)
    }

    /// Hands the slot the `n`-th next take will give out to `lines`, which
    /// prefetches the parts the take writes, so they are cached by then.
    #[inline]
    pub fn prefetch_free(&self, n: usize, lines: impl Fn(&T)) {
        let free = self.free.len().checked_sub(n + 1).and_then(|i| self.free.get(i));
        if let Some(slot) = free.and_then(|&idx| self.slots.get(idx as usize)) {
            lines(slot);
        }
    }

    /// True when every slot is in use.
    pub fn is_exhausted(&self) -> bool {
        self.free.is_empty()
    }
}
