//! Splitting a reassembled byte stream into protocol lines, and the small
//! word-level helpers the line-oriented mail parsers share.
//!
//! SMTP, IMAP and POP3 are all CRLF-terminated line protocols. The engine
//! keeps each direction's bytes in order and asks for one line at a time;
//! nothing here copies or allocates. A bare LF is accepted as a line end (and
//! reported, since servers disagree about it and smugglers rely on that), and
//! a line longer than the engine's limit is cut rather than buffered forever.

use crate::text::BoundedStr;

/// What [`next_line`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineResult<'a> {
    /// A complete line.
    Line {
        /// The line without its CR LF (or bare LF).
        line: &'a [u8],
        /// Bytes to drop from the buffer, terminator included.
        consumed: usize,
        /// The line ended with LF alone, not CR LF.
        bare_lf: bool,
    },
    /// No line end yet: wait for more bytes (nothing is consumed).
    NeedMore,
    /// No LF within `max_len` bytes. `buf[..consumed]` is the first
    /// `max_len` bytes of an over-long line: the caller drops them and flags
    /// `LONG_LINE`. The rest of that line, up to and including its LF, is
    /// still in the stream and is *not* a line of its own: [`next_line`]
    /// alone cannot know that, so a caller using it directly must discard
    /// bytes up to the next LF before splitting again. [`LineSplitter`] does
    /// that bookkeeping and is what the engine should use.
    TooLong {
        /// Bytes to drop from the buffer (at least 1).
        consumed: usize,
    },
}

/// Finds the first line in `buf`, a line being at most `max_len` bytes
/// before its terminator.
///
/// A line of exactly `max_len` bytes followed by CR LF is complete; a
/// decision is never made on fewer bytes than needed, so the result does not
/// depend on how the stream was segmented.
pub fn next_line(buf: &[u8], max_len: usize) -> LineResult<'_> {
    // The terminator of a line of `max_len` bytes ends at `max_len + 2`.
    let window = buf.get(..max_len.saturating_add(2)).unwrap_or(buf);
    let too_long = LineResult::TooLong { consumed: max_len.max(1) };
    match memchr::memchr(b'\n', window) {
        Some(lf) => {
            let raw = window.get(..lf).unwrap_or_default();
            let (line, bare_lf) = match raw.strip_suffix(b"\r") {
                Some(line) => (line, false),
                None => (raw, true),
            };
            if line.len() > max_len {
                too_long
            } else {
                LineResult::Line { line, consumed: lf + 1, bare_lf }
            }
        }
        // `max_len + 2` bytes without LF, or `max_len + 1` whose last byte is
        // not the CR of a CR LF: the line cannot end in time.
        None if window.len() >= max_len.saturating_add(2) || (buf.len() > max_len && buf.last() != Some(&b'\r')) => {
            too_long
        }
        None => LineResult::NeedMore,
    }
}

/// What [`LineSplitter::next`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split<'a> {
    /// A line to hand to the protocol session.
    Line {
        /// The line without its terminator; for a truncated line, its first
        /// `max_len` bytes.
        line: &'a [u8],
        /// Bytes to drop from the buffer.
        consumed: usize,
        /// The line ended with LF alone (never set on a truncated line).
        bare_lf: bool,
        /// The line was longer than `max_len` and was cut: flag `LONG_LINE`.
        /// Its remainder will come back as [`Split::Skip`].
        truncated: bool,
    },
    /// The remainder of a truncated line: drop `consumed` bytes, parse nothing.
    Skip {
        /// Bytes to drop from the buffer (at least 1).
        consumed: usize,
    },
    /// No line end yet: wait for more bytes (nothing is consumed).
    NeedMore,
}

/// Per-direction line splitter that resynchronises after an over-long line.
///
/// An over-long line is delivered once, cut to `max_len` bytes and marked
/// `truncated` (so a 5000-byte `EHLO` still yields a HELO name, capped by
/// the fact's own limit); everything after the cut up to and including the
/// next LF is then skipped, so the tail of a long line is never mistaken for
/// a command. Keep one splitter per direction of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSplitter {
    max_len: usize,
    in_long_line: bool,
}

impl LineSplitter {
    /// A splitter for lines of at most `max_len` bytes (at least 1 is used).
    pub const fn new(max_len: usize) -> Self {
        LineSplitter { max_len, in_long_line: false }
    }

    /// Finds the next line (or skippable tail) at the start of `buf`; the
    /// caller drops `consumed` bytes and calls again until [`Split::NeedMore`].
    pub fn next<'a>(&mut self, buf: &'a [u8]) -> Split<'a> {
        if self.in_long_line {
            return match memchr::memchr(b'\n', buf) {
                Some(lf) => {
                    self.in_long_line = false;
                    Split::Skip { consumed: lf + 1 }
                }
                None if buf.is_empty() => Split::NeedMore,
                None => Split::Skip { consumed: buf.len() },
            };
        }
        match next_line(buf, self.max_len) {
            LineResult::Line { line, consumed, bare_lf } => Split::Line { line, consumed, bare_lf, truncated: false },
            LineResult::NeedMore => Split::NeedMore,
            LineResult::TooLong { consumed } => {
                self.in_long_line = true;
                Split::Line { line: buf.get(..consumed).unwrap_or(buf), consumed, bare_lf: false, truncated: true }
            }
        }
    }
}

/// Splits off the first whitespace-delimited word: `(word, rest)`, with
/// leading whitespace removed from both.
pub(crate) fn split_word(line: &[u8]) -> (&[u8], &[u8]) {
    let line = line.trim_ascii_start();
    match line.iter().position(u8::is_ascii_whitespace) {
        Some(end) => {
            let (word, rest) = line.split_at(end);
            (word, rest.trim_ascii_start())
        }
        None => (line, &[]),
    }
}

/// `bytes`, upper-cased (ASCII), as a fact.
pub(crate) fn upper<const N: usize>(bytes: &[u8]) -> BoundedStr<N> {
    let mut buf = [0u8; N];
    let take = bytes.len().min(N);
    for (dst, src) in buf.iter_mut().zip(bytes) {
        *dst = src.to_ascii_uppercase();
    }
    let mut s = BoundedStr::new();
    s.push_bytes(buf.get(..take).unwrap_or_default());
    if take < bytes.len() {
        // What did not fit marks the value truncated, as a longer push would.
        s.push_bytes(bytes.get(take..take + 1).unwrap_or_default());
    }
    s
}

/// True when `line` starts with `prefix`, ignoring ASCII case.
pub(crate) fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// True when `haystack` contains `needle`, ignoring ASCII case.
pub(crate) fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    /// Drains `stream`, fed to a splitter in pieces cut at `cuts`, into
    /// (line, bare_lf, truncated) triples, the way the engine does it.
    fn split_all(stream: &[u8], cuts: &[usize], max_len: usize) -> Vec<(Vec<u8>, bool, bool)> {
        let mut splitter = LineSplitter::new(max_len);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
            buf.extend_from_slice(&stream[start..end]);
            start = end;
            loop {
                match splitter.next(&buf) {
                    Split::Line { line, consumed, bare_lf, truncated } => {
                        out.push((line.to_vec(), bare_lf, truncated));
                        buf.drain(..consumed);
                    }
                    Split::Skip { consumed } => {
                        assert!(consumed > 0);
                        buf.drain(..consumed);
                    }
                    Split::NeedMore => break,
                }
            }
        }
        out
    }

    #[test]
    fn crlf_and_bare_lf_lines() {
        assert_eq!(
            next_line(b"EHLO a\r\nMAIL", 512),
            LineResult::Line { line: b"EHLO a", consumed: 8, bare_lf: false }
        );
        assert_eq!(next_line(b"QUIT\n", 512), LineResult::Line { line: b"QUIT", consumed: 5, bare_lf: true });
        assert_eq!(next_line(b"\r\n", 512), LineResult::Line { line: b"", consumed: 2, bare_lf: false });
        assert_eq!(next_line(b"EHLO a\r", 512), LineResult::NeedMore);
        assert_eq!(next_line(b"", 512), LineResult::NeedMore);
    }

    #[test]
    fn a_cr_inside_a_line_is_kept() {
        assert_eq!(next_line(b"a\rb\r\n", 16), LineResult::Line { line: b"a\rb", consumed: 5, bare_lf: false });
    }

    #[test]
    fn line_of_exactly_max_len_is_complete_and_one_more_byte_is_too_long() {
        assert_eq!(next_line(b"abcd\r\n", 4), LineResult::Line { line: b"abcd", consumed: 6, bare_lf: false });
        assert_eq!(next_line(b"abcd\n", 4), LineResult::Line { line: b"abcd", consumed: 5, bare_lf: true });
        // Undecided until the byte after the CR arrives.
        assert_eq!(next_line(b"abcd\r", 4), LineResult::NeedMore);
        assert_eq!(next_line(b"abcde", 4), LineResult::TooLong { consumed: 4 });
        assert_eq!(next_line(b"abcde\n", 4), LineResult::TooLong { consumed: 4 });
        assert_eq!(next_line(b"abcd\rx", 4), LineResult::TooLong { consumed: 4 });
        assert_eq!(next_line(b"x", 0), LineResult::TooLong { consumed: 1 });
    }

    #[test]
    fn splitter_truncates_then_skips_the_tail_of_a_long_line() {
        let stream = b"EHLO aaaaaaaaaaaaaaaaaaaa\r\nAUTH PLAIN\r\nQUIT\r\n";
        let lines = split_all(stream, &[], 10);
        assert_eq!(
            lines,
            vec![
                (b"EHLO aaaaa".to_vec(), false, true),
                (b"AUTH PLAIN".to_vec(), false, false),
                (b"QUIT".to_vec(), false, false)
            ]
        );
    }

    #[test]
    fn splitter_skips_a_tail_that_arrives_in_many_pieces() {
        let stream = b"0123456789abcdefghijklmnopqrstuvwxyz\nok\n";
        let cuts: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(
            split_all(stream, &cuts, 8),
            vec![(b"01234567".to_vec(), false, true), (b"ok".to_vec(), true, false)]
        );
    }

    #[test]
    fn split_at_every_offset_gives_the_same_lines() {
        let stream: &[u8] =
            b"220 mx ESMTP\r\nEHLO client\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n\r\n0123456789012345678901234567890123\r\nx\r\r\nQUIT\r\n";
        for max_len in [1, 5, 12, 13, 14, 32, 33, 34, 35, 512] {
            let whole = split_all(stream, &[], max_len);
            for cut in 0..=stream.len() {
                assert_eq!(split_all(stream, &[cut], max_len), whole, "cut {cut}, max_len {max_len}");
            }
            for cut in 0..stream.len() {
                for cut2 in cut..=stream.len() {
                    assert_eq!(split_all(stream, &[cut, cut2], max_len), whole, "cuts {cut},{cut2}");
                }
            }
        }
        let whole = split_all(stream, &[], 512);
        assert_eq!(whole.len(), 7);
        assert_eq!(whole[1], (b"EHLO client".to_vec(), true, false));
        assert_eq!(whole[5], (b"x\r".to_vec(), false, false));
    }

    #[test]
    fn word_helpers() {
        assert_eq!(split_word(b"  MAIL   FROM:<a>  "), (&b"MAIL"[..], &b"FROM:<a>  "[..]));
        assert_eq!(split_word(b"QUIT"), (&b"QUIT"[..], &b""[..]));
        assert_eq!(split_word(b""), (&b""[..], &b""[..]));
        assert_eq!(upper::<4>(b"eHlOx").as_bytes(), b"EHLO");
        assert!(upper::<4>(b"eHlOx").truncated());
        assert!(starts_with_ignore_case(b"+ok hi", b"+OK"));
        assert!(!starts_with_ignore_case(b"+o", b"+OK"));
        assert!(contains_ignore_case(b"220 mx Esmtp", b"ESMTP"));
        assert!(!contains_ignore_case(b"abc", b""));
    }

    proptest::proptest! {
        #[test]
        fn random_streams_never_panic_and_always_progress(
            stream in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            max_len in 0usize..40,
            cut in 0usize..300,
        ) {
            let cut = cut.min(stream.len());
            let a = split_all(&stream, &[], max_len);
            let b = split_all(&stream, &[cut], max_len);
            proptest::prop_assert_eq!(a, b);
        }
    }
}
