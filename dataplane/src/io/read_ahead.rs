//! Reading a capture file ahead, on a thread of its own.
//!
//! Copying a capture out of the page cache (and inflating a gzip one) is
//! a large share of `inspect`'s time on big frames: it is done here by a
//! reader thread, into a few chunks that go round between the two threads,
//! while the engine's thread inspects. This is `inspect`'s stand-in for a
//! NIC filling a live worker's RX ring by DMA.

use std::io::{ErrorKind, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

/// Chunks read ahead at most (besides the one being consumed).
const CHUNKS_AHEAD: usize = 4;

/// A chunk as the reader sends it: the buffer and how much of it holds data.
type Chunk = std::io::Result<(Vec<u8>, usize)>;

/// A [`Read`] whose source is read by a thread of its own, `chunk_size`
/// bytes at a time, up to [`CHUNKS_AHEAD`] chunks ahead of the reader.
pub struct ReadAhead {
    /// `None` once dropped, which stops the thread.
    chunks: Option<Receiver<Chunk>>,
    emptied: Sender<Vec<u8>>,
    current: Vec<u8>,
    /// Unread bytes are `current[pos..filled]`.
    pos: usize,
    filled: usize,
    /// The source ended or failed: reads return 0 from now on.
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
        Ok(ReadAhead {
            chunks: Some(chunks),
            emptied,
            current: Vec::new(),
            pos: 0,
            filled: 0,
            done: false,
            thread: Some(thread),
        })
    }
}

/// The reader thread: fills chunks (reusing the ones given back) until the
/// source ends or fails, or the consumer hangs up.
fn read_chunks(
    mut source: Box<dyn Read + Send>,
    chunk_size: usize,
    to_consumer: &SyncSender<Chunk>,
    reuse: &Receiver<Vec<u8>>,
) {
    loop {
        // A chunk keeps its full length: refilling it writes no zeros.
        let mut chunk = reuse.try_recv().unwrap_or_else(|_| vec![0; chunk_size]);
        let chunk = match fill(&mut *source, &mut chunk) {
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

/// Reads until `buf` is full or the source ends; returns the bytes read.
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

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(unread) = self.current.get(self.pos..self.filled).filter(|u| !u.is_empty()) {
                let n = unread.len().min(buf.len());
                if let (Some(to), Some(from)) = (buf.get_mut(..n), unread.get(..n)) {
                    to.copy_from_slice(from);
                }
                self.pos += n;
                return Ok(n);
            }
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            let used = std::mem::take(&mut self.current);
            if !used.is_empty() {
                // The reader may have finished: then nobody reuses it.
                let _ = self.emptied.send(used);
            }
            let next = match &self.chunks {
                Some(chunks) => chunks.recv(),
                None => return Ok(0),
            };
            match next {
                Ok(Ok((chunk, filled))) => {
                    self.current = chunk;
                    self.pos = 0;
                    self.filled = filled;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The reader hung up: the source ended.
                Err(_) => self.done = true,
            }
        }
    }
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

    #[test]
    fn every_byte_arrives_in_order_whatever_the_chunk_and_read_sizes() {
        for (len, chunk, step, read) in
            [(0, 8, 3, 5), (1, 8, 3, 5), (1000, 64, 7, 13), (1000, 1000, 1000, 1), (4096, 3, 1, 4096)]
        {
            let source = Trickle { data: data(len), pos: 0, step, fail_at: None };
            let mut ahead = ReadAhead::spawn(Box::new(source), chunk).unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0; read];
            loop {
                let n = ahead.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, data(len), "len {len} chunk {chunk} step {step} read {read}");
            assert_eq!(ahead.read(&mut buf).unwrap(), 0, "the end stays the end");
        }
    }

    #[test]
    fn a_read_error_arrives_after_the_bytes_before_it() {
        let source = Trickle { data: data(1000), pos: 0, step: 100, fail_at: Some(300) };
        let mut ahead = ReadAhead::spawn(Box::new(source), 64).unwrap();
        let mut got = Vec::new();
        let error = loop {
            let mut buf = [0; 50];
            match ahead.read(&mut buf) {
                Ok(0) => panic!("the error was lost"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(error.to_string(), "disk on fire");
        // The five whole chunks read before the failing read, then the error.
        assert_eq!(got, data(1000)[..320]);
    }

    #[test]
    fn dropping_it_early_stops_the_reader() {
        // Far more than the chunks in flight: the reader is left waiting for room.
        let source = Trickle { data: data(1 << 20), pos: 0, step: 4096, fail_at: None };
        let mut ahead = ReadAhead::spawn(Box::new(source), 1024).unwrap();
        let mut buf = [0; 10];
        assert_eq!(ahead.read(&mut buf).unwrap(), 10);
        drop(ahead); // joins the thread, which would hang were it not told
    }
}
