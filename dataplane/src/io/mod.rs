//! Packet I/O: the one small trait every packet source implements, so that
//! the worker loop is the same code over DPDK ports, capture files and memory.

use arrayvec::ArrayVec;

#[cfg(feature = "dpdk")]
#[allow(unsafe_code)]
pub mod dpdk;
pub mod mem;
pub mod pcap;
pub mod read_ahead;

#[cfg(feature = "dpdk")]
pub use dpdk::prefetch;

/// Without the DPDK binding there is no prefetch to call: a no-op, so the
/// engine reads the same either way (only slower on cache misses).
#[cfg(not(feature = "dpdk"))]
#[inline(always)]
pub fn prefetch<T: ?Sized>(_value: &T) {}

/// Frames moved per RX/TX call (DPDK's customary burst size).
pub const BURST: usize = 32;

/// A fixed-capacity burst of frames, kept on the worker's stack.
pub type Burst<F> = ArrayVec<F, BURST>;

/// A frame owned by a backend (an mbuf, a buffer of a capture file…);
/// dropping it gives its memory back to the backend.
pub trait Frame {
    /// The frame's bytes, from the Ethernet header on.
    fn data(&self) -> &[u8];
    /// When the frame was captured, in ns since the Unix epoch, for backends
    /// that know (capture files); `None` means "now" by the worker's clock.
    fn timestamp_ns(&self) -> Option<u64> {
        None
    }
}

/// A packet source and sink with numbered ports, used by exactly one worker.
pub trait PacketIo {
    /// The frames this backend hands out.
    type Frame: Frame;

    /// How many ports the backend has.
    fn port_count(&self) -> u16;

    /// Appends up to `out.remaining_capacity()` received frames of `port` to `out`.
    fn rx_burst(&mut self, port: u16, out: &mut Burst<Self::Frame>);

    /// Sends the frames in `frames` out of `port`, removing those sent from
    /// the front of `frames`; what remains could not be sent (TX ring full)
    /// and is the caller's to retry or drop. Returns how many were sent.
    fn tx_burst(&mut self, port: u16, frames: &mut Burst<Self::Frame>) -> usize;

    /// A new frame holding a copy of `bytes` (for crafted RSTs), or `None`
    /// when the backend's pool is exhausted.
    fn alloc_frame(&mut self, bytes: &[u8]) -> Option<Self::Frame>;

    /// True when the source has nothing more to give (end of a capture file);
    /// live backends never end.
    fn exhausted(&self) -> bool {
        false
    }
}
