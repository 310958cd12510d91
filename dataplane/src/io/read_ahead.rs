//! Reading a capture file ahead, on a thread of its own.
//!
//! Copying a capture out of the page cache (and inflating a gzip one) is
//! a large share of `inspect`'s time on big frames: it is done here by a
//! reader thread, into a few chunks that go round between the two threads,
//! while the engine's thread inspects. This is `inspect`'s stand-in for a
//! NIC filling a live worker's RX ring by DMA, and like an RX ring it hands
//! over the buffers themselves: the capture is parsed in the chunks the
//! reader filled, and frames point into them, so the engine's thread copies
//! nothing. A chunk comes back ([`ReadAhead::give_back`]) once no frame
//! points into it.

use std::io::{ErrorKind, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Chunks read ahead at most (besides those being parsed).
const CHUNKS_AHEAD: usize = 4;

/// A filled chunk: the buffer, and how many of its first bytes hold data.
pub type Chunk = (Arc<[u8]>, usize);

/// A source read by a thread of its own, `chunk_size` bytes at a time, up
/// to [`CHUNKS_AHEAD`] chunks ahead of the consumer.
pub struct ReadAhead {
    /// Filled chunks, in the source's order; `None` once dropped, which
    /// stops the thread.
    chunks: Option<Receiver<std::io::Result<Chunk>>>,
    /// Chunks handed back, for the reader to fill again.
    emptied: Sender<Arc<[u8]>>,
    /// The source ended or failed: no chunk follows.
    done: bool,
    thread: Option<JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts reading `source` on a new thread.
    pub fn spawn(source: Box<dyn Read + Send>, chunk_size: usize) -> std::io::Result<ReadAhead> {
        let (to_consumer, chunks) = sync_channel(CHUNKS_AHEAD);
        let (emptied, reuse) = channel();
        let chunk_size = chunk_size.max(1);
        let thread = std::thread::Builder::new()
            .name("mailgate-read".into())
            .spawn(move || read_chunks(source, chunk_size, &to_consumer, &reuse))?;
        Ok(ReadAhead { chunks: Some(chunks), emptied, done: false, thread: Some(thread) })
    }

    /// The next chunk of the source (never empty); `None` at its end. A
    /// read error arrives after every chunk read before it, and ends the
    /// chunks.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        match self.chunks.as_ref().map(Receiver::recv) {
            Some(Ok(Ok(chunk))) => Ok(Some(chunk)),
            Some(Ok(Err(e))) => {
                self.done = true;
                Err(e)
            }
            // The reader hung up: the source ended.
            _ => {
                self.done = true;
                Ok(None)
            }
        }
    }

    /// Hands a parsed chunk back to be filled again, once the caller holds
    /// its only reference (the reader allocates a new one for a chunk
    /// still shared, or not of its size).
    pub fn give_back(&self, chunk: Arc<[u8]>) {
        // A reader that has ended no longer needs it.
        let _ = self.emptied.send(chunk);
    }
}

/// The reader thread: fills chunks until the source ends or fails, or the
/// consumer hangs up.
fn read_chunks(
    mut source: Box<dyn Read + Send>,
    chunk_size: usize,
    to_consumer: &SyncSender<std::io::Result<Chunk>>,
    reuse: &Receiver<Arc<[u8]>>,
) {
    loop {
        let mut chunk = writable_chunk(reuse, chunk_size);
        let Some(buf) = Arc::get_mut(&mut chunk) else { continue };
        let chunk = match fill(&mut *source, buf) {
            Ok(0) => return,
            Ok(filled) => Ok((chunk, filled)),
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if to_consumer.send(chunk).is_err() || failed {
            return;
        }
    }
}

/// A chunk handed back that nothing else points into, or a new one.
fn writable_chunk(reuse: &Receiver<Arc<[u8]>>, chunk_size: usize) -> Arc<[u8]> {
    while let Ok(mut chunk) = reuse.try_recv() {
        if chunk.len() == chunk_size && Arc::get_mut(&mut chunk).is_some() {
            return chunk;
        }
    }
    Arc::from(vec![0u8; chunk_size])
}

/// Reads until `buf` is full or the source ends; the bytes read.
fn fill(source: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(space) = buf.get_mut(filled..).filter(|s| !s.is_empty()) {
        match source.read(space) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Hanging up first: a reader waiting for room sees it and ends.
        self.chunks = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that hands out at most `step` bytes per read, then fails
    /// once past `fail_at` bytes if asked to.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        fail_at: Option<usize>,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.fail_at.is_some_and(|at| self.pos >= at) {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.step).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Every chunk's bytes, in order, giving each back when `give_back`.
    fn collect(ahead: &mut ReadAhead, give_back: bool) -> Vec<u8> {
        let mut got = Vec::new();
        while let Some((chunk, len)) = ahead.next_chunk().unwrap() {
            assert!(len > 0 && len <= chunk.len(), "a chunk holds data");
            got.extend_from_slice(&chunk[..len]);
            if give_back {
                ahead.give_back(chunk);
            }
        }
        got
    }

    #[test]
    fn every_byte_arrives_in_order_whatever_the_chunk_and_read_sizes() {
        for (len, chunk, step) in [(0, 8, 3), (1, 8, 3), (1000, 64, 7), (1000, 1000, 1000), (4096, 3, 1)] {
            for give_back in [false, true] {
                let source = Trickle { data: data(len), pos: 0, step, fail_at: None };
                let mut ahead = ReadAhead::spawn(Box::new(source), chunk).unwrap();
                assert_eq!(collect(&mut ahead, give_back), data(len), "len {len} chunk {chunk} step {step}");
                assert!(ahead.next_chunk().unwrap().is_none(), "the end stays the end");
            }
        }
    }

    #[test]
    fn a_read_error_arrives_after_the_bytes_before_it() {
        let source = Trickle { data: data(1000), pos: 0, step: 100, fail_at: Some(300) };
        let mut ahead = ReadAhead::spawn(Box::new(source), 64).unwrap();
        let mut got = Vec::new();
        let error = loop {
            match ahead.next_chunk() {
                Ok(Some((chunk, len))) => got.extend_from_slice(&chunk[..len]),
                Ok(None) => panic!("the error was lost"),
                Err(e) => break e,
            }
        };
        assert_eq!(error.to_string(), "disk on fire");
        // The five whole chunks read before the failing read, then the error.
        assert_eq!(got, data(1000)[..320]);
        assert!(ahead.next_chunk().unwrap().is_none(), "nothing follows the error");
    }

    #[test]
    fn dropping_it_early_stops_the_reader() {
        // Far more than the chunks in flight: the reader is left waiting for room.
        let source = Trickle { data: data(1 << 20), pos: 0, step: 4096, fail_at: None };
        let mut ahead = ReadAhead::spawn(Box::new(source), 1024).unwrap();
        assert!(ahead.next_chunk().unwrap().is_some());
        drop(ahead); // joins the thread, which would hang were it not told
    }
}
