//! In-memory packet I/O for tests and benchmarks: frames come from a list
//! (optionally looped forever) and what is sent is kept or just counted.

use super::{Burst, Frame, PacketIo};
use std::sync::Arc;

/// Room of a crafted frame (an RST is at most 86 bytes).
const CRAFTED_FRAME: usize = 128;
/// Crafted frames that can be in flight at once.
const CRAFTED_POOL: usize = 256;

/// A frame of the in-memory backend: bytes shared with the test that made
/// them, or borrowed from a capture held in memory (benchmarks: handing one
/// out then costs no reference count, so no write to the frame's cache line,
/// as with a NIC's receive ring).
#[derive(Debug, Clone)]
pub struct MemFrame<'a> {
    bytes: FrameBytes<'a>,
    len: usize,
    ts_ns: Option<u64>,
}

#[derive(Debug, Clone)]
enum FrameBytes<'a> {
    Shared(Arc<[u8]>),
    Borrowed(&'a [u8]),
}

impl MemFrame<'static> {
    /// A frame holding `bytes`, optionally with a capture time.
    pub fn new(bytes: Arc<[u8]>, ts_ns: Option<u64>) -> Self {
        MemFrame { len: bytes.len(), bytes: FrameBytes::Shared(bytes), ts_ns }
    }
}

impl<'a> MemFrame<'a> {
    /// A frame of `bytes`, which outlive the backend (a capture in memory).
    pub fn borrowed(bytes: &'a [u8], ts_ns: Option<u64>) -> Self {
        MemFrame { len: bytes.len(), bytes: FrameBytes::Borrowed(bytes), ts_ns }
    }
}

impl Frame for MemFrame<'_> {
    fn data(&self) -> &[u8] {
        let bytes: &[u8] = match &self.bytes {
            FrameBytes::Shared(shared) => shared,
            FrameBytes::Borrowed(borrowed) => borrowed,
        };
        bytes.get(..self.len).unwrap_or(bytes)
    }
    fn timestamp_ns(&self) -> Option<u64> {
        self.ts_ns
    }
}

/// Ports fed from per-port frame lists; transmitted frames are recorded per
/// port (`keep_tx`) or only counted (benchmarks).
pub struct MemIo<'a> {
    rx: Vec<Vec<MemFrame<'a>>>,
    rx_pos: Vec<usize>,
    looped: bool,
    keep_tx: bool,
    /// Frames sent per port, in order (when `keep_tx`).
    pub tx: Vec<Vec<MemFrame<'a>>>,
    /// Frames sent per port.
    pub tx_count: Vec<u64>,
    /// TX ring room per call (`usize::MAX` = unlimited), to test TX-full handling.
    pub tx_room: usize,
    /// Buffers for crafted frames, reused once every frame made from them is gone
    /// (like a mempool: crafting allocates nothing).
    crafted: Vec<Arc<[u8]>>,
    next_crafted: usize,
}

impl<'a> MemIo<'a> {
    /// A backend with `rx[port]` as each port's input.
    pub fn new(rx: Vec<Vec<MemFrame<'a>>>, looped: bool, keep_tx: bool) -> Self {
        let ports = rx.len();
        MemIo {
            rx_pos: vec![0; ports],
            rx,
            looped,
            keep_tx,
            tx: vec![Vec::new(); ports],
            tx_count: vec![0; ports],
            tx_room: usize::MAX,
            crafted: (0..CRAFTED_POOL).map(|_| Arc::from([0u8; CRAFTED_FRAME])).collect(),
            next_crafted: 0,
        }
    }
}

impl MemIo<'_> {
    /// Frames in `port`'s input list.
    pub fn rx_len(&self, port: u16) -> usize {
        self.rx.get(usize::from(port)).map_or(0, Vec::len)
    }
}

impl<'a> PacketIo for MemIo<'a> {
    type Frame = MemFrame<'a>;

    fn port_count(&self) -> u16 {
        u16::try_from(self.rx.len()).unwrap_or(u16::MAX)
    }

    fn rx_burst(&mut self, port: u16, out: &mut Burst<MemFrame<'a>>) {
        let p = usize::from(port);
        let (Some(frames), Some(pos)) = (self.rx.get(p), self.rx_pos.get_mut(p)) else {
            return;
        };
        while !out.is_full() {
            if *pos >= frames.len() {
                if !self.looped || frames.is_empty() {
                    return;
                }
                *pos = 0;
            }
            if let Some(f) = frames.get(*pos) {
                out.push(f.clone());
            }
            *pos += 1;
        }
    }

    fn tx_burst(&mut self, port: u16, frames: &mut Burst<MemFrame<'a>>) -> usize {
        let n = frames.len().min(self.tx_room);
        let p = usize::from(port);
        if let Some(count) = self.tx_count.get_mut(p) {
            *count += n as u64;
        }
        let sent = frames.drain(..n);
        match self.tx.get_mut(p) {
            Some(kept) if self.keep_tx => kept.extend(sent),
            _ => drop(sent),
        }
        n
    }

    fn alloc_frame(&mut self, bytes: &[u8]) -> Option<MemFrame<'a>> {
        if bytes.len() > CRAFTED_FRAME {
            return None;
        }
        for _ in 0..self.crafted.len() {
            let i = self.next_crafted;
            self.next_crafted = (i + 1) % self.crafted.len().max(1);
            let Some(buf) = self.crafted.get_mut(i) else { continue };
            // A buffer no frame refers to any more is free.
            if let Some(room) = Arc::get_mut(buf) {
                room.get_mut(..bytes.len())?.copy_from_slice(bytes);
                return Some(MemFrame { bytes: FrameBytes::Shared(Arc::clone(buf)), len: bytes.len(), ts_ns: None });
            }
        }
        None // pool exhausted, as a mempool would be
    }

    fn exhausted(&self) -> bool {
        !self.looped && self.rx.iter().zip(&self.rx_pos).all(|(f, p)| *p >= f.len())
    }
}
