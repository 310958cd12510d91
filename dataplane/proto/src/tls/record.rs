//! The TLS record layer, as far as a client's first flight needs it: walking
//! handshake records and joining the ClientHello message they carry.
//!
//! A ClientHello may be cut into any number of records (RFC 8446 §5.1 allows
//! fragments down to one byte), so the message is joined into caller-owned
//! scratch memory when it spans records. The common case, one record holding
//! the whole message, borrows it from the stream and copies nothing.

use super::reader::Reader;

/// Record content type of handshake messages.
const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Largest plaintext fragment a record may carry (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;
/// Handshake header: message type and 24-bit body length.
pub(crate) const HANDSHAKE_HEADER: usize = 4;

/// What a cheap look at the first bytes of a direction says about TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A TLS handshake record starting a ClientHello.
    Yes,
    /// Too few bytes to tell yet; every byte so far fits a ClientHello.
    Maybe,
    /// Not the start of a TLS ClientHello.
    No,
}

/// Looks at the first bytes of a direction and says whether they start a
/// TLS ClientHello: handshake records (type 22, version 3.x with x ≤ 4, a
/// fragment length of 1..=16384) whose first handshake bytes are a
/// ClientHello type (1) and a client version of 3.x. The handshake bytes may
/// be spread over several tiny records; they are followed across them.
/// Answers [`Probe::Yes`] as soon as the first 6 handshake bytes are seen.
pub fn probe(prefix: &[u8]) -> Probe {
    // Handshake type, 24-bit length, and the ClientHello's legacy_version.
    const NEEDED: usize = 6;
    let mut seen = 0;
    let mut records = Records::new(prefix);
    while seen < NEEDED {
        let fragment = match records.next_fragment() {
            Next::Fragment { fragment } => fragment,
            Next::Partial(Some(fragment)) => fragment,
            Next::Partial(None) => return Probe::Maybe,
            Next::Malformed => return Probe::No,
        };
        for &byte in fragment.iter().take(NEEDED - seen) {
            let plausible = match seen {
                0 => byte == HANDSHAKE_CLIENT_HELLO,
                4 => byte == 3,
                _ => true,
            };
            if !plausible {
                return Probe::No;
            }
            seen += 1;
        }
        if records.is_partial() && seen < NEEDED {
            return Probe::Maybe;
        }
    }
    Probe::Yes
}

/// The outcome of joining the ClientHello message from the stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Joined<'a> {
    /// The stream ends before the message does.
    NeedMore,
    /// The whole message (handshake header included), and how many stream
    /// bytes the records carrying it take.
    Message { message: &'a [u8], consumed: usize },
    /// The records break the rules (a non-handshake record inside the
    /// message, a bad record header), or the message spans records and does
    /// not fit in the scratch memory.
    Invalid,
}

/// Joins the handshake message that starts in the first record of `stream`.
/// The caller has checked with [`probe`] that the stream starts a ClientHello.
pub(crate) fn join_handshake_message<'a>(stream: &'a [u8], scratch: &'a mut [u8]) -> Joined<'a> {
    let mut records = Records::new(stream);
    let first = match records.next_fragment() {
        Next::Fragment { fragment } => fragment,
        Next::Partial(_) => return Joined::NeedMore,
        Next::Malformed => return Joined::Invalid,
    };
    // Fast path: the first record holds the whole message.
    if let Some(len) = message_len(first) {
        if let Some(message) = first.get(..len) {
            return Joined::Message { message, consumed: records.consumed() };
        }
        if len > scratch.len() {
            return Joined::Invalid;
        }
    }
    join_into(stream, scratch)
}

/// The length (header included) of the handshake message starting `bytes`,
/// once its header is there.
fn message_len(bytes: &[u8]) -> Option<usize> {
    let mut r = Reader::new(bytes);
    let _msg_type = r.u8().ok()?;
    let body = usize::try_from(r.u24().ok()?).ok()?;
    Some(body + HANDSHAKE_HEADER)
}

/// The slow path: copies fragments into `scratch` until the message is whole.
fn join_into<'a>(stream: &'a [u8], scratch: &'a mut [u8]) -> Joined<'a> {
    let mut records = Records::new(stream);
    let mut filled = 0;
    // The message length, once its header (which may itself be split over
    // records) has been copied.
    let mut needed = None;
    loop {
        let mut rest = match records.next_fragment() {
            Next::Fragment { fragment } => fragment,
            Next::Partial(_) => return Joined::NeedMore,
            Next::Malformed => return Joined::Invalid,
        };
        while !rest.is_empty() {
            let target: usize = needed.unwrap_or(HANDSHAKE_HEADER);
            let Some((src, tail)) = rest.split_at_checked(rest.len().min(target - filled)) else {
                return Joined::Invalid;
            };
            let Some(dst) = scratch.get_mut(filled..filled + src.len()) else {
                return Joined::Invalid;
            };
            dst.copy_from_slice(src);
            filled += src.len();
            rest = tail;
            if needed.is_none() && filled == HANDSHAKE_HEADER {
                match scratch.get(..filled).and_then(message_len) {
                    Some(len) if len <= scratch.len() => needed = Some(len),
                    _ => return Joined::Invalid,
                }
            }
            if needed == Some(filled) {
                return match scratch.get(..filled) {
                    Some(message) => Joined::Message { message, consumed: records.consumed() },
                    None => Joined::Invalid,
                };
            }
        }
    }
}

/// One step of the record walk.
enum Next<'a> {
    /// A whole record's fragment.
    Fragment { fragment: &'a [u8] },
    /// The stream ends inside a record: its header is not all there (`None`)
    /// or only this part of its fragment is.
    Partial(Option<&'a [u8]>),
    /// The record header is not a TLS handshake record header.
    Malformed,
}

/// Walks handshake records from the start of a stream.
struct Records<'a> {
    reader: Reader<'a>,
    total: usize,
    partial: bool,
}

impl<'a> Records<'a> {
    fn new(stream: &'a [u8]) -> Self {
        Records { reader: Reader::new(stream), total: stream.len(), partial: false }
    }

    /// Stream bytes taken by the records walked so far.
    fn consumed(&self) -> usize {
        self.total - self.reader.remaining()
    }

    /// True once the walk hit the end of the stream inside a record.
    fn is_partial(&self) -> bool {
        self.partial
    }

    fn next_fragment(&mut self) -> Next<'a> {
        let mut header = self.reader;
        // Check each header byte as soon as it is there, so that a stream
        // that is plainly not TLS is told apart without waiting for more.
        let checks: [fn(u8) -> bool; 3] = [|b| b == CONTENT_HANDSHAKE, |b| b == 3, |b| b <= 4];
        for check in checks {
            match header.u8() {
                Ok(b) if check(b) => {}
                Ok(_) => return Next::Malformed,
                Err(_) => return self.end(None),
            }
        }
        let Ok(len) = header.u16() else {
            return self.end(None);
        };
        let len = usize::from(len);
        if len == 0 || len > MAX_FRAGMENT {
            return Next::Malformed;
        }
        match header.take(len) {
            Ok(fragment) => {
                self.reader = header;
                Next::Fragment { fragment }
            }
            Err(_) => {
                let rest = header.take(header.remaining()).unwrap_or(&[]);
                self.end(Some(rest).filter(|r| !r.is_empty()))
            }
        }
    }

    fn end(&mut self, part: Option<&'a [u8]>) -> Next<'a> {
        self.partial = true;
        Next::Partial(part)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// `body` cut into handshake records of at most `size` bytes.
    fn records(body: &[u8], size: usize) -> Vec<u8> {
        body.chunks(size)
            .flat_map(|c| {
                let len = u16::try_from(c.len()).unwrap_or(u16::MAX).to_be_bytes();
                [22, 3, 1, len[0], len[1]].into_iter().chain(c.iter().copied())
            })
            .collect()
    }

    /// A handshake message of type ClientHello with a body of `n` bytes
    /// starting with a TLS 1.2 client version.
    fn message(n: usize) -> Vec<u8> {
        let len = u32::try_from(n).unwrap_or(0).to_be_bytes();
        let mut m = vec![1, len[1], len[2], len[3], 3, 3];
        m.extend((0..n.saturating_sub(2)).map(|i| i as u8));
        m
    }

    #[test]
    fn probe_answers_yes_maybe_no() {
        let hello = records(&message(100), 1000);
        assert_eq!(probe(&hello), Probe::Yes);
        assert_eq!(probe(&hello[..11]), Probe::Yes);
        for n in 0..11 {
            assert_eq!(probe(&hello[..n]), Probe::Maybe, "prefix {n}");
        }
        assert_eq!(probe(b"EHLO example.org\r\n"), Probe::No);
        assert_eq!(probe(&[22, 2]), Probe::No, "SSL 2 record version");
        assert_eq!(probe(&[22, 3, 5]), Probe::No, "unknown minor version");
        assert_eq!(probe(&[22, 3, 1, 0, 0]), Probe::No, "empty record");
        assert_eq!(probe(&[22, 3, 1, 0x40, 1]), Probe::No, "record over 2^14");
        assert_eq!(probe(&[22, 3, 3, 0, 50, 2]), Probe::No, "ServerHello");
        assert_eq!(probe(&[23, 3, 3, 0, 50]), Probe::No, "application data");
        assert_eq!(probe(&[22, 3, 1, 0, 50, 1, 0, 0, 46, 2, 0]), Probe::No, "SSL 2 client version");
    }

    #[test]
    fn probe_follows_one_byte_records() {
        let hello = records(&message(100), 1);
        assert_eq!(probe(&hello), Probe::Yes);
        assert_eq!(probe(&hello[..6 * 5]), Probe::Maybe);
        assert_eq!(probe(&hello[..6 * 6]), Probe::Yes);
        // A non-handshake record inside the ClientHello's header.
        let mut bad = hello.clone();
        bad[6] = 23;
        assert_eq!(probe(&bad), Probe::No);
    }

    #[test]
    fn one_record_is_borrowed_and_trailing_bytes_are_not_consumed() {
        let msg = message(200);
        let mut stream = records(&msg, 1 << 14);
        let len = stream.len();
        stream.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
        let mut scratch = [0u8; 0];
        assert_eq!(join_handshake_message(&stream, &mut scratch), Joined::Message { message: &msg[..], consumed: len });
    }

    #[test]
    fn split_records_are_joined_in_scratch() {
        let msg = message(700);
        for size in [1, 2, 3, 4, 5, 100, 703] {
            let stream = records(&msg, size);
            let mut scratch = [0u8; 1024];
            assert_eq!(
                join_handshake_message(&stream, &mut scratch),
                Joined::Message { message: &msg[..], consumed: stream.len() },
                "records of {size}"
            );
            for cut in 0..stream.len() {
                assert_eq!(
                    join_handshake_message(&stream[..cut], &mut scratch),
                    Joined::NeedMore,
                    "records of {size} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_message_larger_than_scratch_is_invalid_at_once() {
        let stream = records(&message(700), 100);
        let mut scratch = [0u8; 600];
        assert_eq!(join_handshake_message(&stream[..105], &mut scratch), Joined::Invalid);
        let stream = records(&message(700), 1);
        assert_eq!(join_handshake_message(&stream[..30], &mut scratch), Joined::Invalid);
    }

    #[test]
    fn a_foreign_record_inside_the_message_is_invalid() {
        let mut stream = records(&message(300), 100);
        stream[105] = 21; // the second record becomes an alert
        let mut scratch = [0u8; 1024];
        assert_eq!(join_handshake_message(&stream, &mut scratch), Joined::Invalid);
        let mut stream = records(&message(300), 100);
        stream[108..110].copy_from_slice(&[0, 0]); // an empty second record
        assert_eq!(join_handshake_message(&stream, &mut scratch), Joined::Invalid);
    }
}
