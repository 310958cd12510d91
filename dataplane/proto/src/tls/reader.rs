//! A borrowed byte cursor for TLS's length-prefixed wire syntax.
//!
//! Every read either returns bytes that really are there or fails with
//! [`Short`]; nothing indexes the buffer directly, so no input can make a
//! read panic. Slices handed out borrow the input, so parsing copies nothing.

/// The input ended before a field did (or a length prefix pointed past it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short;

/// A cursor over bytes that are consumed front to back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(Short)?;
        self.rest = tail;
        Ok(head)
    }

    /// Takes the next `N` bytes as an array.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        self.take(N)?.try_into().map_err(|_| Short)
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        self.array::<1>().map(|[b]| b)
    }

    /// Reads a big-endian 16-bit number.
    pub(crate) fn u16(&mut self) -> Result<u16, Short> {
        self.array().map(u16::from_be_bytes)
    }

    /// Reads a big-endian 24-bit number.
    pub(crate) fn u24(&mut self) -> Result<u32, Short> {
        self.array().map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    /// Reads a vector with a one-byte length prefix (TLS `opaque x<0..2^8-1>`).
    pub(crate) fn vec_u8(&mut self) -> Result<&'a [u8], Short> {
        let len = self.u8()?;
        self.take(usize::from(len))
    }

    /// Reads a vector with a two-byte length prefix (TLS `opaque x<0..2^16-1>`).
    pub(crate) fn vec_u16(&mut self) -> Result<&'a [u8], Short> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// True when every byte was consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// How many bytes are left.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }
}

/// The big-endian 16-bit values of a TLS `uint16 list<..>`; a trailing odd
/// byte is ignored (callers check the length where it matters).
pub(crate) fn u16s(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes.chunks_exact(2).filter_map(|pair| <[u8; 2]>::try_from(pair).ok()).map(u16::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_in_order_and_stops_at_the_end() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 3, 2, 9, 9, 7]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.u24(), Ok(3));
        assert_eq!(r.vec_u8(), Ok(&[9u8, 9][..]));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.u16(), Err(Short));
        // A failed read consumes nothing.
        assert_eq!(r.u8(), Ok(7));
        assert!(r.is_empty());
        assert_eq!(r.u8(), Err(Short));
    }

    #[test]
    fn a_length_prefix_past_the_end_is_short() {
        assert_eq!(Reader::new(&[0, 3, 1, 2]).vec_u16(), Err(Short));
        assert_eq!(Reader::new(&[5]).vec_u8(), Err(Short));
        assert_eq!(Reader::new(&[0, 0]).vec_u16(), Ok(&[][..]));
    }

    #[test]
    fn u16_lists_are_big_endian() {
        assert_eq!(u16s(&[0x13, 0x01, 0xc0, 0x2b, 0xff]).collect::<Vec<_>>(), [0x1301, 0xc02b]);
    }
}
