//! How the fuzz targets cut one libFuzzer input into the pieces their code
//! under test takes: frames with timestamps, client/server lines, lengths.
//!
//! The formats are simple on purpose, so that `fuzz/seeds.py` can write
//! seeds in them from real captures and libFuzzer's mutations stay
//! meaningful. docs/fuzzing.md describes each target's format.

/// Which side of a session sent a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client (the session's initiator).
    Client,
    /// The server.
    Server,
}

/// A session transcript: a header line (target-specific options), then
/// one line per piece, each starting with `S` (from the server) or any
/// other byte (from the client), up to the next `\n`.
#[derive(Debug, Clone, Copy)]
pub struct Transcript<'a> {
    /// The first line, without its `\n`.
    pub header: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Transcript<'a> {
    /// Splits `data` into its header and lines.
    pub fn new(data: &'a [u8]) -> Self {
        let mut pieces = data.splitn(2, |&b| b == b'\n');
        let header = pieces.next().unwrap_or_default();
        Transcript { header, rest: pieces.next().unwrap_or_default() }
    }

    /// The lines after the header, with their sides. Lines never contain
    /// `\n`, as the engine's line splitter guarantees.
    pub fn lines(&self) -> impl Iterator<Item = (Side, &'a [u8])> {
        self.rest.split(|&b| b == b'\n').filter_map(|piece| match piece.split_first() {
            Some((b'S', line)) => Some((Side::Server, line)),
            Some((_, line)) => Some((Side::Client, line)),
            None => None,
        })
    }
}

impl Transcript<'_> {
    /// True when the header asks for a session picked up mid-stream (`mid` anywhere in it).
    pub fn mid_stream(&self) -> bool {
        self.header.windows(3).any(|w| w == b"mid")
    }

    /// Feeds every line to `parser` on its side (lines after `Done` too:
    /// a parser must take anything) and returns the anomalies it flagged.
    pub fn feed(&self, parser: &mut impl mailgate_proto::LineParser) -> mailgate_proto::Anomalies {
        let mut anomalies = mailgate_proto::Anomalies::NONE;
        for (side, line) in self.lines() {
            let _ = match side {
                Side::Client => parser.client_line(line, &mut anomalies),
                Side::Server => parser.server_line(line, &mut anomalies),
            };
        }
        anomalies
    }
}

/// One frame of a frame sequence and the time since the previous one.
#[derive(Debug, Clone, Copy)]
pub struct TimedFrame<'a> {
    /// Microseconds since the previous frame.
    pub delta_us: u32,
    /// The frame, from its Ethernet header on.
    pub frame: &'a [u8],
}

/// Bytes before each frame: a big-endian u16 length, then a big-endian u32
/// time delta in microseconds.
pub const FRAME_HEADER: usize = 6;

/// Iterates over a frame sequence: records of [`FRAME_HEADER`] bytes and the
/// frame; a record cut short by the end of the input keeps what is there.
pub fn frames(data: &[u8]) -> impl Iterator<Item = TimedFrame<'_>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (header, body) = rest.split_at_checked(FRAME_HEADER)?;
        let len = usize::from(u16::from_be_bytes([header[0], header[1]]));
        let delta_us = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        let (frame, after) = body.split_at_checked(len).unwrap_or((body, &[]));
        rest = after;
        Some(TimedFrame { delta_us, frame })
    })
}

/// Splits `data` after a big-endian u16 length prefix: `(first, second)`,
/// the first part cut short when the input is.
pub fn two_parts(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, body)) = data.split_at_checked(2) else { return (&[], &[]) };
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    body.split_at_checked(len).unwrap_or((body, &[]))
}

/// Prefix lengths of a `len`-byte stream to try as the bytes received so
/// far: every length up to 64, then 32 more spread evenly, then `len`.
/// Enough to catch a decision taken on too few bytes without making each
/// run quadratic.
pub fn prefix_lengths(len: usize) -> impl Iterator<Item = usize> {
    let short = 0..len.min(64);
    let step = (len / 32).max(1);
    let long = (64..len).step_by(step);
    short.chain(long).chain(std::iter::once(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_sides_and_header() {
        let t = Transcript::new(b"mid\nS220 hi\nCEHLO a\n\nxQUIT");
        assert_eq!(t.header, b"mid");
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines, [(Side::Server, &b"220 hi"[..]), (Side::Client, b"EHLO a"), (Side::Client, b"QUIT")]);
        assert!(t.mid_stream());
        assert!(!Transcript::new(b"start\nS220 hi").mid_stream());
    }

    #[test]
    fn a_transcript_reaches_the_parser_on_both_sides() {
        let t = Transcript::new(b"\nS220 mx ESMTP\nCEHLO client.example\nS250 mx\nCAUTH PLAIN AGFsaWNlAHNlY3JldA==");
        let mut session = mailgate_proto::smtp::SmtpSession::new();
        let _ = t.feed(&mut session);
        assert_eq!(session.facts.helo.map(|h| h.as_bytes().to_vec()), Some(b"client.example".to_vec()));
        assert_eq!(session.facts.user.map(|u| u.as_bytes().to_vec()), Some(b"alice".to_vec()));
    }

    #[test]
    fn frames_keep_a_short_last_record() {
        let data = [0, 2, 0, 0, 0, 5, b'a', b'b', 0, 9, 0, 0, 0, 1, b'c'];
        let got: Vec<_> = frames(&data).map(|f| (f.delta_us, f.frame)).collect();
        assert_eq!(got, [(5, &b"ab"[..]), (1, b"c")]);
    }

    #[test]
    fn two_parts_splits_at_the_prefix() {
        assert_eq!(two_parts(&[0, 1, 7, 8, 9]), (&[7u8][..], &[8u8, 9][..]));
        assert_eq!(two_parts(&[0, 9, 7]), (&[7u8][..], &[][..]));
        assert_eq!(two_parts(&[1]), (&[][..], &[][..]));
    }

    #[test]
    fn prefix_lengths_end_with_the_whole_stream() {
        let all: Vec<_> = prefix_lengths(10).collect();
        assert_eq!(all, (0..=10).collect::<Vec<_>>());
        let long: Vec<_> = prefix_lengths(1000).collect();
        assert!(long.len() < 64 + 40 && long.last() == Some(&1000) && long.contains(&63));
    }
}
