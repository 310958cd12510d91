//! A classic pcap writer (the `tcpdump` format: little-endian, microsecond
//! timestamps, Ethernet link type), small enough to write by hand and read
//! by every tool the project uses (`inspect`, tshark, tcpreplay, DPDK's
//! `net_pcap`).

use std::io::{self, Write};

use crate::frame::Frame;

/// The classic pcap magic number for microsecond timestamps.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The snapshot length written in the header; no frame is cut shorter.
pub const SNAPLEN: u32 = 262_144;

/// Writes frames to a classic pcap stream.
///
/// The file header goes out in [`Writer::new`]; each [`Writer::write`] adds
/// one record. Wrap files in a `BufWriter`: every record is two writes.
#[derive(Debug)]
pub struct Writer<W: Write> {
    inner: W,
    frames: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the pcap file header to `inner`.
    pub fn new(mut inner: W) -> io::Result<Writer<W>> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        inner.write_all(&header)?;
        Ok(Writer { inner, frames: 0 })
    }

    /// Appends one frame with its timestamp.
    pub fn write(&mut self, frame: &Frame) -> io::Result<()> {
        self.write_raw(frame.ts_us, &frame.data)
    }

    /// Appends every frame of `frames`, in order.
    pub fn write_all(&mut self, frames: &[Frame]) -> io::Result<()> {
        frames.iter().try_for_each(|f| self.write(f))
    }

    /// Appends the frame `data` seen at `ts_us` (microseconds since the Unix epoch).
    pub fn write_raw(&mut self, ts_us: u64, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len())
            .ok()
            .filter(|&len| len <= SNAPLEN)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than the snapshot length"))?;
        let secs = u32::try_from(ts_us / 1_000_000)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp past 2106"))?;
        let micros = (ts_us % 1_000_000) as u32;
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&micros.to_le_bytes());
        record[8..12].copy_from_slice(&len.to_le_bytes());
        record[12..16].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&record)?;
        self.inner.write_all(data)?;
        self.frames += 1;
        Ok(())
    }

    /// How many frames were written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}
