//! Fixed-capacity text and lists for facts taken off the wire.
//!
//! Handshake fields (HELO names, user names, SNI…) are attacker-controlled and
//! of any length; storing them inline with a hard cap keeps every session's
//! facts a fixed size, so they live in pre-allocated pools and move through
//! rings by copy. Input past the cap is dropped and the value marked truncated.

use std::fmt;

/// Up to `N` bytes of wire text (`N` ≤ 65535), kept as received and shown as
/// UTF-8 with invalid sequences replaced.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BoundedStr<const N: usize> {
    len: u16,
    truncated: bool,
    bytes: [u8; N],
}

impl<const N: usize> Default for BoundedStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> BoundedStr<N> {
    /// An empty value.
    pub const fn new() -> Self {
        BoundedStr { len: 0, truncated: false, bytes: [0; N] }
    }

    /// A value holding (the first `N` bytes of) `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut s = Self::new();
        s.push_bytes(bytes);
        s
    }

    /// Appends as much of `bytes` as fits; marks the value truncated if not all did.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        let len = usize::from(self.len);
        let room = N.saturating_sub(len);
        let take = bytes.len().min(room);
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(len..len + take), bytes.get(..take)) {
            dst.copy_from_slice(src);
            // `len + take <= N <= u16::MAX` by construction.
            self.len = u16::try_from(len + take).unwrap_or(u16::MAX);
        }
        if take < bytes.len() {
            self.truncated = true;
        }
    }

    /// Empties the value.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The stored text; invalid UTF-8 is replaced (allocates only then).
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        // Valid text (nearly all of it) through `from_utf8`'s ASCII fast
        // path; `from_utf8_lossy` walks it in chunks, at several times the cost.
        match std::str::from_utf8(self.as_bytes()) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(self.as_bytes()),
        }
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when input was cut at the capacity.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// True when the stored bytes equal `other`, ignoring ASCII case.
    pub fn eq_ignore_ascii_case(&self, other: &[u8]) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other)
    }
}

impl<const N: usize> fmt::Debug for BoundedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_str_lossy(), f)
    }
}

impl<const N: usize> fmt::Display for BoundedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

/// Up to `ITEMS` values of up to `LEN` bytes each (RCPT TO list, ALPN list,
/// capabilities). Items past `ITEMS` are counted, not stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StrList<const ITEMS: usize, const LEN: usize> {
    count: u8,
    dropped: u16,
    items: [BoundedStr<LEN>; ITEMS],
}

impl<const ITEMS: usize, const LEN: usize> Default for StrList<ITEMS, LEN> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const ITEMS: usize, const LEN: usize> StrList<ITEMS, LEN> {
    /// An empty list (`ITEMS` ≤ 255).
    pub const fn new() -> Self {
        StrList { count: 0, dropped: 0, items: [BoundedStr::new(); ITEMS] }
    }

    /// Appends an item; when the list is full, counts it as dropped instead.
    pub fn push(&mut self, bytes: &[u8]) {
        match self.items.get_mut(usize::from(self.count)) {
            Some(slot) => {
                *slot = BoundedStr::from_bytes(bytes);
                self.count = self.count.saturating_add(1);
            }
            None => self.dropped = self.dropped.saturating_add(1),
        }
    }

    /// Appends an item unless an equal one (ignoring ASCII case) is present.
    pub fn push_unique(&mut self, bytes: &[u8]) {
        if !self.contains_ignore_ascii_case(bytes) {
            self.push(bytes);
        }
    }

    /// [`StrList::push_unique`] for each of `items`, in order. Servers
    /// repeat their lists (an IMAP greeting's capabilities, then the
    /// CAPABILITY reply): the `i`-th item is compared with the `i`-th stored
    /// one first, so a repeated list costs one comparison per item, not a scan.
    pub fn push_unique_all<'a>(&mut self, items: impl Iterator<Item = &'a [u8]>) {
        for (i, bytes) in items.enumerate() {
            let same_place = self.iter().nth(i).is_some_and(|item| item.eq_ignore_ascii_case(bytes));
            if !same_place {
                self.push_unique(bytes);
            }
        }
    }

    /// True when an item equals `bytes`, ignoring ASCII case.
    pub fn contains_ignore_ascii_case(&self, bytes: &[u8]) -> bool {
        self.iter().any(|item| item.eq_ignore_ascii_case(bytes))
    }

    /// The stored items, in order.
    pub fn iter(&self) -> impl Iterator<Item = &BoundedStr<LEN>> {
        self.items.iter().take(usize::from(self.count))
    }

    /// How many items are stored.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True when no item is stored.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many items did not fit.
    pub fn dropped(&self) -> usize {
        usize::from(self.dropped)
    }

    /// Empties the list.
    pub fn clear(&mut self) {
        self.count = 0;
        self.dropped = 0;
    }
}

impl<const ITEMS: usize, const LEN: usize> fmt::Debug for StrList<ITEMS, LEN> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_str_truncates_and_marks() {
        let mut s = BoundedStr::<4>::from_bytes(b"ab");
        assert!(!s.truncated());
        s.push_bytes(b"cdef");
        assert_eq!(s.as_bytes(), b"abcd");
        assert!(s.truncated());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        let s = BoundedStr::<8>::from_bytes(b"a\xffb");
        assert_eq!(s.to_str_lossy(), "a\u{fffd}b");
    }

    #[test]
    fn list_counts_what_does_not_fit() {
        let mut l = StrList::<2, 8>::new();
        l.push(b"one");
        l.push_unique(b"ONE");
        l.push(b"two");
        l.push(b"three");
        assert_eq!(l.len(), 2);
        assert_eq!(l.dropped(), 1);
        assert_eq!(l.iter().map(|s| s.to_string()).collect::<Vec<_>>(), ["one", "two"]);
    }

    #[test]
    fn a_list_pushed_again_adds_only_what_is_new() {
        let mut l = StrList::<8, 16>::new();
        l.push_unique_all([&b"IMAP4rev1"[..], b"STARTTLS", b"IDLE"].into_iter());
        l.push_unique_all([&b"imap4rev1"[..], b"STARTTLS", b"IDLE", b"AUTH=PLAIN"].into_iter());
        // Reordered, with a duplicate inside the list itself.
        l.push_unique_all([&b"IDLE"[..], b"ID", b"ID", b"STARTTLS"].into_iter());
        let got: Vec<String> = l.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, ["IMAP4rev1", "STARTTLS", "IDLE", "AUTH=PLAIN", "ID"]);
    }
}
