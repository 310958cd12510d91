//! The line splitter: any byte stream, fed whole and fed as the engine
//! does (the growing in-order prefix, re-split after every segment), must
//! give the same lines, always make progress and never exceed the limit.
//!
//! Input: one byte choosing the maximum line length (×4), a byte choosing
//! the segment size, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_proto::line::{next_line, LineResult, LineSplitter, Split};

/// A line as a session would receive it: bytes, bare LF, truncated.
type Got = (Vec<u8>, bool, bool);

/// Splits `stream` as the engine would after receiving its first `upto`
/// bytes, resuming at `*pos`; appends the lines found.
fn split_available(
    splitter: &mut LineSplitter,
    max_len: usize,
    stream: &[u8],
    upto: usize,
    pos: &mut usize,
    out: &mut Vec<Got>,
) {
    loop {
        let rest = &stream[*pos..upto];
        match splitter.next(rest) {
            Split::NeedMore => return,
            Split::Skip { consumed } => {
                assert!(consumed >= 1 && consumed <= rest.len(), "skip of {consumed} in {}", rest.len());
                *pos += consumed;
            }
            Split::Line { line, consumed, bare_lf, truncated } => {
                assert!(consumed >= 1 && consumed <= rest.len(), "line consumed {consumed} of {}", rest.len());
                assert!(line.len() <= max_len.max(1), "line of {} > {max_len}", line.len());
                assert!(!line.contains(&b'\n'));
                assert!(!(bare_lf && truncated));
                out.push((line.to_vec(), bare_lf, truncated));
                *pos += consumed;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [len_byte, seg_byte, stream @ ..] = data else { return };
    let max_len = usize::from(*len_byte) * 4;
    let segment = usize::from(*seg_byte).max(1);

    let mut whole = Vec::new();
    let mut pos = 0;
    split_available(&mut LineSplitter::new(max_len), max_len, stream, stream.len(), &mut pos, &mut whole);

    let mut pieces = Vec::new();
    let (mut splitter, mut pos) = (LineSplitter::new(max_len), 0);
    let mut upto = 0;
    while upto < stream.len() {
        upto = (upto + segment).min(stream.len());
        split_available(&mut splitter, max_len, stream, upto, &mut pos, &mut pieces);
    }
    assert_eq!(whole, pieces, "lines depend on segmentation (segments of {segment})");

    // The low-level splitter on its own: never consumes past the buffer.
    match next_line(stream, max_len) {
        LineResult::Line { line, consumed, .. } => assert!(line.len() <= max_len && consumed <= stream.len()),
        LineResult::TooLong { consumed } => assert!(consumed >= 1 && consumed <= stream.len()),
        LineResult::NeedMore => {}
    }
});
