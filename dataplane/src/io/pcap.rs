//! Capture-file packet I/O (the `inspect` path): pcap and pcapng, plain or
//! gzip-compressed, with link types Ethernet, raw IP, BSD loopback and Linux
//! cooked v1/v2. Every frame is handed to the worker as Ethernet (a
//! synthetic header is put in front of non-Ethernet link types), so the
//! engine has one input format. Port 0 reads the file; port 1 is a sink.

use super::{Burst, Frame, PacketIo};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, Block, Linktype, PcapBlockOwned, PcapError};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Reader buffer size; a single block larger than this is an error.
const READ_BUFFER: usize = 1 << 20;
/// The largest frame kept (longer ones are cut, as a snap length would).
const MAX_FRAME: usize = 65535 + 14;

/// A capture that could not be read: names the file and the byte offset.
#[derive(Debug, thiserror::Error)]
#[error("{}: offset {offset}: {message}", file.display())]
pub struct CaptureError {
    /// The capture file.
    pub file: PathBuf,
    /// Byte offset in the (decompressed) file where reading failed.
    pub offset: u64,
    /// What was wrong.
    pub message: String,
}

/// A frame read from a capture, normalised to Ethernet.
#[derive(Debug)]
pub struct PcapFrame {
    data: Vec<u8>,
    ts_ns: u64,
}

impl Frame for PcapFrame {
    fn data(&self) -> &[u8] {
        &self.data
    }
    fn timestamp_ns(&self) -> Option<u64> {
        Some(self.ts_ns)
    }
}

/// Per-interface facts of a pcapng section (link type, time resolution).
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    /// Timestamp units per second.
    resolution: u64,
    offset_s: i64,
}

/// A capture file as a one-port packet source.
pub struct PcapIo {
    path: PathBuf,
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Legacy pcap: the file's link type and whether stamps are in ns.
    legacy: Option<(Linktype, bool)>,
    interfaces: Vec<Interface>,
    /// Buffers of frames already sent, reused for the next reads.
    spare: Vec<Vec<u8>>,
    done: bool,
    error: Option<CaptureError>,
    packets: u64,
    last_ts_ns: u64,
}

impl PcapIo {
    /// Opens a capture; gzip is recognised by its magic bytes.
    pub fn open(path: &Path) -> Result<PcapIo, CaptureError> {
        let err = |offset, message: String| CaptureError { file: path.to_path_buf(), offset, message };
        let mut file = BufReader::new(File::open(path).map_err(|e| err(0, format!("cannot open: {e}")))?);
        let mut magic = [0u8; 2];
        let gz = file.get_mut().read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        let file = File::open(path).map_err(|e| err(0, format!("cannot open: {e}")))?;
        let source: Box<dyn Read + Send> =
            if gz { Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))) } else { Box::new(file) };
        let reader = create_reader(READ_BUFFER, source).map_err(|e| match e {
            PcapError::Eof => err(0, "empty file, not a capture".into()),
            PcapError::Incomplete(_) => err(0, "truncated file header".into()),
            _ => err(0, "not a pcap or pcapng capture".into()),
        })?;
        Ok(PcapIo {
            path: path.to_path_buf(),
            reader,
            legacy: None,
            interfaces: Vec::new(),
            spare: Vec::new(),
            done: false,
            error: None,
            packets: 0,
            last_ts_ns: 0,
        })
    }

    /// The error that ended reading early, if any (frames read before it were delivered).
    pub fn take_error(&mut self) -> Option<CaptureError> {
        self.error.take()
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Capture time of the last packet read, in ns since the epoch.
    pub fn last_ts_ns(&self) -> u64 {
        self.last_ts_ns
    }

    fn fail(&mut self, message: String) {
        let offset = self.reader.consumed() as u64;
        self.error = Some(CaptureError { file: self.path.clone(), offset, message });
        self.done = true;
    }

    /// Reads the next packet into a frame; `None` at the end or on error.
    fn read_frame(&mut self) -> Option<PcapFrame> {
        loop {
            if self.done {
                return None;
            }
            let mut buf = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(2048));
            buf.clear();
            let step = match self.reader.next() {
                Ok((consumed, block)) => {
                    let got = match block {
                        PcapBlockOwned::LegacyHeader(hdr) => {
                            self.legacy = Some((hdr.network, hdr.is_nanosecond_precision()));
                            Ok(None)
                        }
                        PcapBlockOwned::Legacy(pkt) => {
                            let (linktype, ns) = self.legacy.unwrap_or((Linktype::ETHERNET, false));
                            let frac = if ns { u64::from(pkt.ts_usec) } else { u64::from(pkt.ts_usec) * 1000 };
                            let ts = u64::from(pkt.ts_sec) * 1_000_000_000 + frac;
                            to_ethernet(linktype, pkt.data, &mut buf).map(|()| Some(ts))
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            self.interfaces.clear();
                            Ok(None)
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            self.interfaces.push(Interface {
                                linktype: idb.linktype,
                                resolution: idb.ts_resolution().unwrap_or(1_000_000),
                                offset_s: idb.ts_offset(),
                            });
                            Ok(None)
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            match self.interfaces.get(epb.if_id as usize).copied() {
                                Some(ifc) => {
                                    let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                    let ns = (u128::from(raw) * 1_000_000_000 / u128::from(ifc.resolution.max(1)))
                                        as i128
                                        + i128::from(ifc.offset_s) * 1_000_000_000;
                                    let ts = u64::try_from(ns).unwrap_or(0);
                                    to_ethernet(ifc.linktype, epb.data, &mut buf).map(|()| Some(ts))
                                }
                                None => Err(format!("packet for undeclared interface {}", epb.if_id)),
                            }
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => match self.interfaces.first().copied() {
                            Some(ifc) => to_ethernet(ifc.linktype, spb.data, &mut buf).map(|()| Some(self.last_ts_ns)),
                            None => Err("simple packet before any interface description".into()),
                        },
                        PcapBlockOwned::NG(_) => Ok(None),
                    };
                    Ok((consumed, got))
                }
                Err(PcapError::Eof) => {
                    self.done = true;
                    return None;
                }
                Err(PcapError::Incomplete(_)) => Err(None),
                Err(PcapError::BufferTooSmall) => Err(Some("a block is larger than 1 MiB".to_string())),
                Err(e) => Err(Some(format!("malformed block: {e:?}"))),
            };
            match step {
                Ok((consumed, got)) => {
                    self.reader.consume(consumed);
                    match got {
                        Ok(Some(ts)) => {
                            self.packets += 1;
                            self.last_ts_ns = ts;
                            return Some(PcapFrame { data: buf, ts_ns: ts });
                        }
                        Ok(None) => self.spare.push(buf),
                        Err(message) => {
                            self.fail(message);
                            return None;
                        }
                    }
                }
                Err(None) => {
                    self.spare.push(buf);
                    let before = self.reader.data().len();
                    let refilled = self.reader.refill().is_ok() && self.reader.data().len() > before;
                    if !refilled {
                        if self.reader.data().is_empty() {
                            self.done = true; // a clean end between two blocks
                        } else {
                            let message = format!("truncated packet after {} packets", self.packets);
                            self.fail(message);
                        }
                        return None;
                    }
                }
                Err(Some(message)) => {
                    self.fail(message);
                    return None;
                }
            }
        }
    }
}

/// Copies a packet of link type `linktype` into `out` as an Ethernet frame.
fn to_ethernet(linktype: Linktype, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let data = data.get(..data.len().min(MAX_FRAME)).unwrap_or(data);
    let ip_ethertype = |ip: &[u8]| match ip.first().map(|b| b >> 4) {
        Some(4) => Some(0x0800u16),
        Some(6) => Some(0x86dd),
        _ => None,
    };
    let (ethertype, ip) = match linktype {
        Linktype::ETHERNET => {
            out.extend_from_slice(data);
            return Ok(());
        }
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => (ip_ethertype(data), data),
        Linktype::NULL | Linktype::LOOP => {
            // 4-byte address family: host order for NULL, network order for LOOP.
            let rest = data.get(4..).unwrap_or(&[]);
            (ip_ethertype(rest), rest)
        }
        Linktype::LINUX_SLL => {
            let proto = data.get(14..16).map(|p| u16::from_be_bytes([p[0], p[1]]));
            (proto, data.get(16..).unwrap_or(&[]))
        }
        Linktype(276) => {
            // LINUX_SLL2: protocol type first, 20-byte header.
            let proto = data.get(0..2).map(|p| u16::from_be_bytes([p[0], p[1]]));
            (proto, data.get(20..).unwrap_or(&[]))
        }
        Linktype(other) => return Err(format!("unsupported link type {other}")),
    };
    // Locally administered MACs mark the header as synthetic.
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
    out.extend_from_slice(&ethertype.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(ip);
    Ok(())
}

impl PacketIo for PcapIo {
    type Frame = PcapFrame;

    fn port_count(&self) -> u16 {
        2
    }

    fn rx_burst(&mut self, port: u16, out: &mut Burst<PcapFrame>) {
        if port != 0 {
            return;
        }
        while !out.is_full() {
            match self.read_frame() {
                Some(frame) => out.push(frame),
                None => return,
            }
        }
    }

    fn tx_burst(&mut self, _port: u16, frames: &mut Burst<PcapFrame>) -> usize {
        let n = frames.len();
        self.spare.extend(frames.drain(..).map(|f| f.data));
        n
    }

    fn alloc_frame(&mut self, bytes: &[u8]) -> Option<PcapFrame> {
        let mut data = self.spare.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(bytes);
        Some(PcapFrame { data, ts_ns: self.last_ts_ns })
    }

    fn exhausted(&self) -> bool {
        self.done
    }
}
