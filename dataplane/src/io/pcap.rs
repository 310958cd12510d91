//! Capture-file packet I/O (the `inspect` path): pcap and pcapng, plain or
//! gzip-compressed, with link types Ethernet, raw IP, BSD loopback and Linux
//! cooked v1/v2. Every frame is handed to the worker as Ethernet (a
//! synthetic header is put in front of non-Ethernet link types), so the
//! engine has one input format. Port 0 reads the file; port 1 is a sink.
//!
//! The file is read (and inflated) ahead by a thread of its own
//! ([`super::read_ahead`]) into reference-counted chunks, and an Ethernet
//! frame is a view into the chunk it was read into: no copy, no allocation
//! and no system call per frame on the engine's thread. A chunk goes back
//! to the reader once every frame that points into it has been sent or
//! dropped; a record cut by the end of a chunk is copied, with the bytes it
//! needs of the next, into a stitch block of its own. Legacy pcap records
//! are parsed here (a 16-byte header); pcapng blocks are parsed in place by
//! `pcap_parser`. Other link types, and crafted RSTs, are copied into
//! buffers of their own.

use super::read_ahead::ReadAhead;
use super::{Burst, Frame, PacketIo};
use pcap_parser::nom;
use pcap_parser::{parse_block_be, parse_block_le, parse_pcap_header, parse_sectionheaderblock, Block, Linktype};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Size of a read chunk: small enough that what the kernel copied in is
/// still in the CPU cache when the frames are parsed (4 MiB blocks made
/// `inspect` slower than copying every frame out of a 1 MiB buffer).
const BLOCK_SIZE: usize = 256 << 10;
/// The largest pcap record or pcapng block read (a bigger one is an error).
const MAX_BLOCK: usize = 1 << 20;
/// Parsed chunks, and stitch blocks, that frames may still point into,
/// kept for reuse besides the block being parsed.
const SPARE_BLOCKS: usize = 4;
/// The least size of a stitch block: any record up to a whole
/// `MAX_FRAME` frame with its header, so that one is reused for the next.
const STITCH_SIZE: usize = 128 << 10;
/// The largest frame kept (longer ones are cut, as a snap length would).
const MAX_FRAME: usize = 65535 + 14;
/// A legacy pcap file header.
const FILE_HEADER: usize = 24;

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
pub struct PcapFrame {
    bytes: Bytes,
    ts_ns: u64,
}

/// Where a frame's bytes live.
enum Bytes {
    /// In place in a read block (Ethernet frames).
    Block { block: Arc<[u8]>, start: usize, end: usize },
    /// In a buffer of its own (other link types, with their synthetic
    /// Ethernet header; crafted RSTs).
    Owned(Vec<u8>),
}

impl Frame for PcapFrame {
    fn data(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Block { block, start, end } => block.get(*start..*end).unwrap_or_default(),
            Bytes::Owned(data) => data,
        }
    }
    fn timestamp_ns(&self) -> Option<u64> {
        Some(self.ts_ns)
    }
}

impl std::fmt::Debug for PcapFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapFrame").field("data", &self.data()).field("ts_ns", &self.ts_ns).finish()
    }
}

/// Bytes `from..to` of a chunk, not parsed yet.
type ChunkPart = (Arc<[u8]>, usize, usize);

/// The file's bytes, in the chunks the reader thread filled; frames point
/// into them.
struct Blocks {
    source: ReadAhead,
    /// The block being parsed: a chunk, or a stitch (below).
    block: Arc<[u8]>,
    /// `block` is a stitch block, not a chunk.
    block_is_stitch: bool,
    /// Unparsed bytes are `block[pos..end]`.
    pos: usize,
    end: usize,
    /// Offset in the (decompressed) file of `pos`.
    offset: u64,
    /// A record cut by a chunk's end is parsed from a stitch block, which
    /// holds its start and the bytes it needs of the next chunk; the rest
    /// of that chunk, `(chunk, from, to)`, is parsed next.
    next: Option<ChunkPart>,
    /// Chunks parsed earlier, going back to the reader once no frame
    /// points into them.
    parsed: Vec<Arc<[u8]>>,
    /// Stitch blocks parsed earlier, reused once no frame points into them.
    stitches: Vec<Arc<[u8]>>,
}

impl Blocks {
    /// A reader of the chunks of `source`.
    fn new(source: ReadAhead) -> Blocks {
        Blocks {
            source,
            block: Arc::from([]),
            block_is_stitch: false,
            pos: 0,
            end: 0,
            offset: 0,
            next: None,
            parsed: Vec::with_capacity(SPARE_BLOCKS + 1),
            stitches: Vec::with_capacity(SPARE_BLOCKS + 1),
        }
    }

    /// The bytes read but not parsed yet.
    fn data(&self) -> &[u8] {
        self.block.get(self.pos..self.end).unwrap_or_default()
    }

    /// Marks `n` bytes of [`Blocks::data`] as parsed.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.pos);
        self.pos += n;
        self.offset += n as u64;
    }

    /// `len` bytes of the current block from `start`, without a copy.
    fn view(&self, start: usize, len: usize) -> Bytes {
        Bytes::Block { block: Arc::clone(&self.block), start, end: start.saturating_add(len) }
    }

    /// Makes more bytes available, towards `need` from the current
    /// position: the next chunk as it is when the current block is parsed
    /// to its end, else a stitch of the unparsed bytes and as many of the
    /// next chunk's as make up `need`. False when nothing more could be read.
    fn refill(&mut self, need: usize) -> std::io::Result<bool> {
        self.give_back_unused();
        let Some((chunk, from, to)) = self.next_chunk()? else { return Ok(false) };
        let kept = self.end - self.pos;
        if kept == 0 {
            self.replace_block(chunk, false);
            (self.pos, self.end) = (from, to);
            return Ok(true);
        }
        let room = need.max(kept + 1);
        let take = (room - kept).min(to - from);
        let mut stitch = self.writable_stitch(room);
        if let (Some(buf), Some(unparsed), Some(taken)) =
            (Arc::get_mut(&mut stitch), self.block.get(self.pos..self.end), chunk.get(from..from + take))
        {
            if let Some((head, tail)) = buf.get_mut(..kept + take).map(|b| b.split_at_mut(kept)) {
                head.copy_from_slice(unparsed);
                tail.copy_from_slice(taken);
            }
        }
        self.replace_block(stitch, true);
        (self.pos, self.end) = (0, kept + take);
        if from + take < to {
            self.next = Some((chunk, from + take, to));
        } else {
            retire(&mut self.parsed, chunk);
        }
        Ok(true)
    }

    /// The rest of the chunk a stitch began, else the reader's next chunk.
    fn next_chunk(&mut self) -> std::io::Result<Option<ChunkPart>> {
        if let Some(next) = self.next.take() {
            return Ok(Some(next));
        }
        Ok(self.source.next_chunk()?.map(|(chunk, len)| (chunk, 0, len)))
    }

    /// Makes `block` the one parsed; the old one waits for its frames to go.
    fn replace_block(&mut self, block: Arc<[u8]>, is_stitch: bool) {
        let old = std::mem::replace(&mut self.block, block);
        let old_is_stitch = std::mem::replace(&mut self.block_is_stitch, is_stitch);
        if !old.is_empty() {
            retire(if old_is_stitch { &mut self.stitches } else { &mut self.parsed }, old);
        }
    }

    /// Hands the reader back the parsed chunks no frame points into.
    fn give_back_unused(&mut self) {
        let mut i = 0;
        while let Some(chunk) = self.parsed.get_mut(i) {
            if Arc::get_mut(chunk).is_some() {
                self.source.give_back(self.parsed.swap_remove(i));
            } else {
                i += 1;
            }
        }
    }

    /// A stitch block of at least `room` bytes that no frame points into:
    /// a used one if there is one, else a new one.
    fn writable_stitch(&mut self, room: usize) -> Arc<[u8]> {
        match self.stitches.iter_mut().position(|b| b.len() >= room && Arc::get_mut(b).is_some()) {
            Some(i) => self.stitches.swap_remove(i),
            None => zeroed(room.max(STITCH_SIZE)),
        }
    }
}

/// Keeps a parsed block in `list` until no frame points into it. When
/// frames still point into all [`SPARE_BLOCKS`] kept, the oldest is let go:
/// its last frame frees it (and the reader fills a new chunk meanwhile).
fn retire(list: &mut Vec<Arc<[u8]>>, block: Arc<[u8]>) {
    if list.len() >= SPARE_BLOCKS {
        list.remove(0);
    }
    list.push(block);
}

/// A new zero-filled block of `len` bytes.
fn zeroed(len: usize) -> Arc<[u8]> {
    Arc::from(vec![0u8; len])
}

/// Per-interface facts of a pcapng section (link type, time resolution).
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    /// Timestamp units per second.
    resolution: u64,
    offset_s: i64,
}

/// The layout of a legacy pcap file, from its header.
#[derive(Debug, Clone, Copy)]
struct Legacy {
    linktype: Linktype,
    /// Stamps in ns (magic a1b23c4d) rather than µs.
    nanos: bool,
    big_endian: bool,
    /// 16 bytes, or 24 in the "modified" format (magic a1b2cd34).
    record_header: usize,
}

/// What is known of a pcapng capture so far.
#[derive(Debug, Default)]
struct Ng {
    /// Byte order of the current section.
    big_endian: bool,
    /// The current section's interfaces, by id.
    interfaces: Vec<Interface>,
}

/// The capture's format.
enum Format {
    Legacy(Legacy),
    Ng(Ng),
}

/// The outcome of parsing at the current position.
enum Next {
    /// A packet (already consumed).
    Packet(Bytes, u64),
    /// A block that is not a packet (already consumed).
    Skip,
    /// This many bytes from the current position are needed to go on.
    More(usize),
    /// The capture cannot be read further.
    Fail(String),
}

/// A capture file as a one-port packet source.
pub struct PcapIo {
    path: PathBuf,
    blocks: Blocks,
    format: Format,
    /// Buffers of copied frames already sent, reused for the next copies.
    spare: Vec<Vec<u8>>,
    done: bool,
    error: Option<CaptureError>,
    packets: u64,
    last_ts_ns: u64,
}

impl PcapIo {
    /// Opens a capture; gzip is recognised by its magic bytes.
    pub fn open(path: &Path) -> Result<PcapIo, CaptureError> {
        PcapIo::open_with_blocks(path, BLOCK_SIZE)
    }

    /// [`PcapIo::open`] with read chunks of `block_size` bytes (tests cut
    /// records at every offset with small ones).
    fn open_with_blocks(path: &Path, block_size: usize) -> Result<PcapIo, CaptureError> {
        let err = |offset, message: String| CaptureError { file: path.to_path_buf(), offset, message };
        let mut file = File::open(path).map_err(|e| err(0, format!("cannot open: {e}")))?;
        let mut magic = [0u8; 2];
        let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        let file_len = file.metadata().map_or(u64::MAX, |m| m.len());
        file.rewind().map_err(|e| err(0, format!("cannot read: {e}")))?;
        let source: Box<dyn Read + Send> =
            if gz { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
        // A small file needs a chunk no bigger than itself.
        let len = if gz { u64::MAX } else { file_len };
        let chunk_size = usize::try_from(len).unwrap_or(usize::MAX).clamp(1, block_size);
        // Read (and inflated) on a thread of its own, ahead of the parsing.
        let source =
            ReadAhead::spawn(source, chunk_size).map_err(|e| err(0, format!("cannot start the reader thread: {e}")))?;
        let mut blocks = Blocks::new(source);
        let cannot_read = |e: std::io::Error| err(0, format!("cannot read: {e}"));
        // Whether reading on may still complete a header cut by the block end.
        let mut more = blocks.refill(1).map_err(cannot_read)?;
        let format = loop {
            let data = blocks.data();
            if data.is_empty() {
                return Err(err(0, "empty file, not a capture".into()));
            }
            let need = match parse_sectionheaderblock(data) {
                // The section header is parsed again as the first block.
                Ok(_) => break Format::Ng(Ng::default()),
                Err(nom::Err::Incomplete(n)) if more => needed(data.len(), n),
                Err(_) => match parse_pcap_header(data) {
                    Ok((_, hdr)) => {
                        blocks.consume(FILE_HEADER);
                        break Format::Legacy(Legacy {
                            linktype: hdr.network,
                            nanos: hdr.is_nanosecond_precision(),
                            big_endian: hdr.is_bigendian(),
                            record_header: if hdr.is_modified_format() { 24 } else { 16 },
                        });
                    }
                    Err(nom::Err::Incomplete(n)) if more => needed(data.len(), n),
                    Err(nom::Err::Incomplete(_)) => return Err(err(0, "truncated file header".into())),
                    Err(_) => return Err(err(0, "not a pcap or pcapng capture".into())),
                },
            };
            more = need <= MAX_BLOCK && blocks.refill(need).map_err(cannot_read)?;
        };
        Ok(PcapIo {
            path: path.to_path_buf(),
            blocks,
            format,
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
        let offset = self.blocks.offset;
        self.error = Some(CaptureError { file: self.path.clone(), offset, message });
        self.done = true;
    }

    /// Reads the next packet into a frame; `None` at the end or on error.
    fn read_frame(&mut self) -> Option<PcapFrame> {
        while !self.done {
            let next = match &mut self.format {
                Format::Legacy(legacy) => next_legacy(*legacy, &mut self.blocks, &mut self.spare),
                Format::Ng(ng) => next_ng(ng, &mut self.blocks, &mut self.spare, self.last_ts_ns),
            };
            match next {
                Next::Packet(bytes, ts_ns) => {
                    self.packets += 1;
                    self.last_ts_ns = ts_ns;
                    return Some(PcapFrame { bytes, ts_ns });
                }
                Next::Skip => {}
                Next::More(need) => self.read_more(need),
                Next::Fail(message) => self.fail(message),
            }
        }
        None
    }

    /// Reads on until `need` bytes are available from the current position
    /// or the file ends (cleanly between two records, or cut in one).
    fn read_more(&mut self, need: usize) {
        if need > MAX_BLOCK {
            return self.fail(format!("a block of {need} bytes is larger than 1 MiB"));
        }
        match self.blocks.refill(need) {
            Ok(true) => {}
            Ok(false) if self.blocks.data().is_empty() => self.done = true,
            Ok(false) => self.fail(format!("truncated packet after {} packets", self.packets)),
            Err(e) => self.fail(format!("read error: {e}")),
        }
    }
}

/// Parses the legacy pcap record at the current position.
fn next_legacy(legacy: Legacy, blocks: &mut Blocks, spare: &mut Vec<Vec<u8>>) -> Next {
    let data = blocks.data();
    let Some(hdr) = data.first_chunk::<16>() else { return Next::More(legacy.record_header) };
    let field = |at: usize| {
        let bytes = [hdr[at], hdr[at + 1], hdr[at + 2], hdr[at + 3]];
        if legacy.big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    };
    let caplen = field(8) as usize;
    let total = legacy.record_header.saturating_add(caplen);
    if total > data.len() {
        return Next::More(total);
    }
    let frac = u64::from(field(4));
    let ts_ns = u64::from(field(0)) * 1_000_000_000 + if legacy.nanos { frac } else { frac * 1000 };
    let packet = packet(blocks, spare, legacy.linktype, blocks.pos + legacy.record_header, caplen);
    blocks.consume(total);
    match packet {
        Ok(bytes) => Next::Packet(bytes, ts_ns),
        Err(message) => Next::Fail(message),
    }
}

/// Parses the pcapng block at the current position.
fn next_ng(ng: &mut Ng, blocks: &mut Blocks, spare: &mut Vec<Vec<u8>>, last_ts_ns: u64) -> Next {
    let data = blocks.data();
    let parsed = if ng.big_endian { parse_block_be(data) } else { parse_block_le(data) };
    let (rest, block) = match parsed {
        Ok(parsed) => parsed,
        Err(nom::Err::Incomplete(n)) => return Next::More(needed(data.len(), n)),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => return Next::Fail(format!("malformed block: {e:?}")),
    };
    let size = data.len() - rest.len();
    // Where a packet's bytes are in the current block.
    let at = |part: &[u8]| {
        let start = (part.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
        (start + part.len() <= data.len()).then_some(blocks.pos + start)
    };
    let next = match block {
        Block::SectionHeader(shb) => {
            ng.big_endian = shb.big_endian();
            ng.interfaces.clear();
            Next::Skip
        }
        Block::InterfaceDescription(idb) => {
            ng.interfaces.push(Interface {
                linktype: idb.linktype,
                resolution: idb.ts_resolution().unwrap_or(1_000_000),
                offset_s: idb.ts_offset(),
            });
            Next::Skip
        }
        Block::EnhancedPacket(epb) => match (ng.interfaces.get(epb.if_id as usize), at(epb.data)) {
            (Some(ifc), Some(start)) => {
                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let ns = (u128::from(raw) * 1_000_000_000 / u128::from(ifc.resolution.max(1))) as i128
                    + i128::from(ifc.offset_s) * 1_000_000_000;
                let ts_ns = u64::try_from(ns).unwrap_or(0);
                match packet(blocks, spare, ifc.linktype, start, epb.data.len()) {
                    Ok(bytes) => Next::Packet(bytes, ts_ns),
                    Err(message) => Next::Fail(message),
                }
            }
            (None, _) => Next::Fail(format!("packet for undeclared interface {}", epb.if_id)),
            (_, None) => Next::Fail("packet data outside its block".into()),
        },
        Block::SimplePacket(spb) => match (ng.interfaces.first(), at(spb.data)) {
            (Some(ifc), Some(start)) => match packet(blocks, spare, ifc.linktype, start, spb.data.len()) {
                Ok(bytes) => Next::Packet(bytes, last_ts_ns),
                Err(message) => Next::Fail(message),
            },
            (None, _) => Next::Fail("simple packet before any interface description".into()),
            (_, None) => Next::Fail("packet data outside its block".into()),
        },
        _ => Next::Skip,
    };
    blocks.consume(size);
    next
}

/// How many bytes a parser that has `have` and says it needs `n` more wants.
fn needed(have: usize, n: nom::Needed) -> usize {
    match n {
        nom::Needed::Size(n) => have.saturating_add(n.get()),
        nom::Needed::Unknown => have + 1,
    }
}

/// The `len` bytes at `start` in the current block, of link type
/// `linktype`, as an Ethernet frame: a view for Ethernet, else a copy
/// behind a synthetic Ethernet header.
fn packet(
    blocks: &Blocks,
    spare: &mut Vec<Vec<u8>>,
    linktype: Linktype,
    start: usize,
    len: usize,
) -> Result<Bytes, String> {
    let len = len.min(MAX_FRAME);
    if linktype == Linktype::ETHERNET {
        return Ok(blocks.view(start, len));
    }
    let data = blocks.block.get(start..start.saturating_add(len)).unwrap_or_default();
    let mut out = spare.pop().unwrap_or_else(|| Vec::with_capacity(2048));
    out.clear();
    to_ethernet(linktype, data, &mut out)?;
    Ok(Bytes::Owned(out))
}

/// Copies a packet of a link type other than Ethernet into `out`, behind
/// a synthetic Ethernet header.
fn to_ethernet(linktype: Linktype, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let ip_ethertype = |ip: &[u8]| match ip.first().map(|b| b >> 4) {
        Some(4) => Some(0x0800u16),
        Some(6) => Some(0x86dd),
        _ => None,
    };
    let (ethertype, ip) = match linktype {
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
        for frame in frames.drain(..) {
            // A frame in a read block frees its share of the block as it drops.
            if let Bytes::Owned(data) = frame.bytes {
                self.spare.push(data);
            }
        }
        n
    }

    fn alloc_frame(&mut self, bytes: &[u8]) -> Option<PcapFrame> {
        let mut data = self.spare.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(bytes);
        Some(PcapFrame { bytes: Bytes::Owned(data), ts_ns: self.last_ts_ns })
    }

    fn exhausted(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::{create_reader, PcapBlockOwned, PcapError};
    use std::io::Write;

    /// A frame's bytes and capture time.
    type Got = (Vec<u8>, u64);

    fn corpus() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
    }

    /// Writes `bytes` to a file of this test's own.
    fn file_of(name: &str, bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("mailgate-pcap-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Every frame of `io`, read in bursts that are then sent on (as the
    /// worker does, so that blocks are reused), and the error that ended
    /// reading.
    fn read_all(mut io: PcapIo) -> (Vec<Got>, Option<CaptureError>) {
        let mut frames = Vec::new();
        loop {
            let mut burst = Burst::new();
            io.rx_burst(0, &mut burst);
            if burst.is_empty() {
                assert!(io.exhausted(), "an empty burst before the end");
                break;
            }
            frames.extend(burst.iter().map(|f| (f.data().to_vec(), f.timestamp_ns().unwrap())));
            let n = burst.len();
            assert_eq!(io.tx_burst(1, &mut burst), n);
        }
        assert_eq!(io.packets(), frames.len() as u64);
        (frames, io.take_error())
    }

    fn read_file(path: &Path, block_size: usize) -> (Vec<Got>, Option<CaptureError>) {
        read_all(PcapIo::open_with_blocks(path, block_size).unwrap())
    }

    /// Every frame of a capture (decompressed) as `pcap_parser`'s own
    /// streaming reader sees it, normalised to Ethernet the same way; it
    /// stops at the first error.
    fn reference(bytes: &[u8]) -> Vec<Got> {
        let mut reader = create_reader(bytes.len() + 64, bytes).unwrap();
        let (mut legacy, mut interfaces, mut frames) = (None, Vec::new(), Vec::new());
        let ethernet = |linktype: Linktype, data: &[u8]| {
            let data = &data[..data.len().min(MAX_FRAME)];
            if linktype == Linktype::ETHERNET {
                return data.to_vec();
            }
            let mut out = Vec::new();
            to_ethernet(linktype, data, &mut out).unwrap();
            out
        };
        loop {
            match reader.next() {
                Ok((n, block)) => {
                    match block {
                        PcapBlockOwned::LegacyHeader(hdr) => legacy = Some(hdr),
                        PcapBlockOwned::Legacy(pkt) => {
                            let hdr = legacy.as_ref().unwrap();
                            let unit = if hdr.is_nanosecond_precision() { 1 } else { 1000 };
                            let ts = u64::from(pkt.ts_sec) * 1_000_000_000 + u64::from(pkt.ts_usec) * unit;
                            frames.push((ethernet(hdr.network, pkt.data), ts));
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            interfaces.push((idb.linktype, idb.ts_resolution().unwrap(), idb.ts_offset()))
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let (linktype, resolution, offset) = interfaces[epb.if_id as usize];
                            let (s, frac) = epb.decode_ts(offset as u64, resolution);
                            let ts = u64::from(s) * 1_000_000_000 + u64::from(frac) * 1_000_000_000 / resolution;
                            frames.push((ethernet(linktype, epb.data), ts));
                        }
                        PcapBlockOwned::NG(_) => {}
                    }
                    reader.consume(n);
                }
                Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
                Err(_) => break,
            }
        }
        frames
    }

    /// Records of every size from 0 to 150 bytes, in a scrambled order.
    fn records() -> Vec<(u32, u32, Vec<u8>)> {
        (0..200u32)
            .map(|i| {
                let len = (i * 37 % 151) as usize;
                let data = (0..len).map(|j| (i as usize * 7 + j) as u8).collect();
                (1_700_000_000 + i, i * 4_999 % 1_000_000, data)
            })
            .collect()
    }

    /// A legacy pcap: `magic` (a1b2c3d4, a1b23c4d or a1b2cd34) written in
    /// the file's byte order, then the records.
    fn legacy_file(magic: u32, big_endian: bool, linktype: u32, records: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let word = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let half = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut out = Vec::new();
        out.extend(word(magic));
        out.extend(half(2));
        out.extend(half(4));
        out.extend(word(0));
        out.extend(word(0));
        out.extend(word(65535));
        out.extend(word(linktype));
        for (s, frac, data) in records {
            for v in [*s, *frac, data.len() as u32, data.len() as u32 + 4] {
                out.extend(word(v));
            }
            if magic == 0xa1b2_cd34 {
                out.extend([0u8; 8]); // ifindex, protocol, packet type, padding
            }
            out.extend(data);
        }
        out
    }

    fn expected(records: &[(u32, u32, Vec<u8>)], unit: u64) -> Vec<Got> {
        records.iter().map(|(s, f, d)| (d.clone(), u64::from(*s) * 1_000_000_000 + u64::from(*f) * unit)).collect()
    }

    #[test]
    fn legacy_records_are_read_in_both_byte_orders_and_time_units() {
        let records = records();
        for (name, magic, big_endian, unit) in [
            ("le-us", 0xa1b2_c3d4, false, 1000),
            ("be-us", 0xa1b2_c3d4, true, 1000),
            ("le-ns", 0xa1b2_3c4d, false, 1),
            ("be-ns", 0xa1b2_3c4d, true, 1),
            ("modified", 0xa1b2_cd34, false, 1000),
        ] {
            let bytes = legacy_file(magic, big_endian, 1, &records);
            let path = file_of(&format!("orders-{name}.pcap"), &bytes);
            let (frames, error) = read_file(&path, BLOCK_SIZE);
            assert!(error.is_none(), "{name}: {error:?}");
            assert_eq!(frames, expected(&records, unit), "{name}");
            assert_eq!(frames, reference(&bytes), "{name}");
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn records_straddling_read_blocks_are_read_whole() {
        let records = records();
        let bytes = legacy_file(0xa1b2_3c4d, true, 1, &records);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let plain = file_of("straddle.pcap", &bytes);
        let gzipped = file_of("straddle.pcap.gz", &gz.finish().unwrap());
        let want = expected(&records, 1);
        // Every record boundary falls at every place in a block, and blocks
        // smaller than a record are grown for it.
        assert!(bytes.len() > 20 * 420);
        for block_size in (1..420).chain([1000, 4096]) {
            for path in [&plain, &gzipped] {
                let (frames, error) = read_file(path, block_size);
                assert!(error.is_none(), "block size {block_size}: {error:?}");
                assert_eq!(frames, want, "block size {block_size}, {}", path.display());
            }
        }
        std::fs::remove_file(plain).unwrap();
        std::fs::remove_file(gzipped).unwrap();
    }

    #[test]
    fn frames_kept_while_reading_on_keep_their_bytes() {
        let records = records();
        let bytes = legacy_file(0xa1b2_c3d4, false, 1, &records);
        let path = file_of("kept.pcap", &bytes);
        let mut io = PcapIo::open_with_blocks(&path, 400).unwrap();
        let mut kept = Vec::new();
        loop {
            let mut burst = Burst::new();
            io.rx_burst(0, &mut burst);
            if burst.is_empty() {
                break;
            }
            kept.extend(burst);
        }
        // Frames are views into many blocks, none overwritten by later reads.
        let blocks: Vec<_> = kept
            .iter()
            .filter_map(|f| match &f.bytes {
                Bytes::Block { block, .. } => Some(block),
                Bytes::Owned(_) => None,
            })
            .collect();
        assert_eq!(blocks.len(), records.len(), "every Ethernet frame is a view");
        assert!(blocks.windows(2).filter(|w| !Arc::ptr_eq(w[0], w[1])).count() > 20);
        let got: Vec<Got> = kept.iter().map(|f| (f.data().to_vec(), f.ts_ns)).collect();
        assert_eq!(got, expected(&records, 1000));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_truncated_last_record_ends_reading_with_its_offset() {
        let records = records();
        let bytes = legacy_file(0xa1b2_c3d4, false, 1, &records);
        let last = records.last().unwrap().2.len();
        let last_at = (bytes.len() - 16 - last) as u64;
        // Cut in the record's data, in its header, and right after its header.
        for cut in [bytes.len() - 1, bytes.len() - last - 10, bytes.len() - last] {
            let path = file_of("cut.pcap", &bytes[..cut]);
            for block_size in [200, BLOCK_SIZE] {
                let (frames, error) = read_file(&path, block_size);
                assert_eq!(frames, expected(&records[..records.len() - 1], 1000), "cut at {cut}");
                let error = error.expect("an error");
                assert_eq!(error.offset, last_at, "cut at {cut}");
                assert_eq!(error.message, "truncated packet after 199 packets");
                assert!(error.to_string().contains("cut.pcap: offset "), "{error}");
            }
            std::fs::remove_file(path).unwrap();
        }
        // A cut between two records is a clean end.
        let path = file_of("cut-between.pcap", &bytes[..last_at as usize]);
        let (frames, error) = read_file(&path, 200);
        assert_eq!((frames.len(), error.map(|e| e.message)), (199, None));
        std::fs::remove_file(path).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Where chunks end never shows: damaged or not, a capture read in
        /// small chunks (every record stitched across them) gives the frames
        /// and the error, with its offset, of one read in a single chunk.
        #[test]
        fn chunk_boundaries_never_change_what_is_read(
            sizes in proptest::collection::vec(0usize..300, 1..40),
            big_endian: bool,
            damage in proptest::option::of((0usize..4000, proptest::prelude::any::<u8>())),
            cut in proptest::option::of(0usize..4000),
            chunk in 1usize..200,
        ) {
            let records: Vec<(u32, u32, Vec<u8>)> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| (i as u32, 7 * i as u32, (0..n).map(|b| (b * 31 + i) as u8).collect()))
                .collect();
            let mut bytes = legacy_file(0xa1b2_c3d4, big_endian, 1, &records);
            if let Some((at, byte)) = damage {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.min(bytes.len()));
            }
            let path = file_of(&format!("chunks-{chunk}.pcap"), &bytes);
            let whole = PcapIo::open_with_blocks(&path, BLOCK_SIZE).map(read_all);
            let chunked = PcapIo::open_with_blocks(&path, chunk).map(read_all);
            std::fs::remove_file(&path).unwrap();
            let summary = |r: Result<(Vec<Got>, Option<CaptureError>), CaptureError>| match r {
                Ok((frames, error)) => (Some(frames), error.map(|e| (e.offset, e.message))),
                Err(e) => (None, Some((e.offset, e.message))),
            };
            proptest::prop_assert_eq!(summary(chunked), summary(whole));
        }
    }

    #[test]
    fn a_record_larger_than_a_read_block_is_read_whole_up_to_1_mib() {
        let mut records = records();
        records.insert(3, (1, 2, vec![7; 300]));
        // Longer than any frame: cut, as a snap length would.
        records.insert(9, (3, 4, vec![8; MAX_FRAME + 100]));
        let path = file_of("large.pcap", &legacy_file(0xa1b2_c3d4, false, 1, &records));
        let mut want = expected(&records, 1000);
        want[9].0.truncate(MAX_FRAME);
        for block_size in [256, 4096, BLOCK_SIZE] {
            let (frames, error) = read_file(&path, block_size);
            assert!(error.is_none(), "{error:?}");
            assert!(frames == want, "block size {block_size}");
        }
        // A record of more than 1 MiB is refused, after the frames before it.
        records.insert(12, (5, 6, vec![9; MAX_BLOCK]));
        let path = file_of("huge.pcap", &legacy_file(0xa1b2_c3d4, false, 1, &records));
        let (frames, error) = read_file(&path, 256);
        assert!(frames == want[..12]);
        let error = error.expect("an error");
        assert_eq!(error.message, format!("a block of {} bytes is larger than 1 MiB", MAX_BLOCK + 16));
        let offset: usize = 24 + records[..12].iter().map(|r| 16 + r.2.len()).sum::<usize>();
        assert_eq!(error.offset, offset as u64);
        std::fs::remove_file(path).unwrap();
        std::fs::remove_file(file_of("large.pcap", b"")).unwrap();
    }

    /// A pcapng block of type `kind` around `body`, in either byte order.
    fn ng_block(big_endian: bool, kind: u32, body: &[u8]) -> Vec<u8> {
        let word = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        let mut out = Vec::new();
        out.extend(word(kind));
        out.extend(word(len));
        out.extend(body);
        out.resize(8 + padded, 0);
        out.extend(word(len));
        out
    }

    /// A pcapng section: header, one raw-IP interface in ns and one
    /// Ethernet interface in µs, then packets alternating between them.
    fn ng_section(big_endian: bool, packets: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let word = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let half = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut shb = word(0x1a2b_3c4d).to_vec();
        shb.extend(half(1));
        shb.extend(half(0));
        shb.extend([0xff; 8]);
        let mut out = ng_block(big_endian, 0x0a0d_0d0a, &shb);
        // if_tsresol = 9 (ns), then the end of options.
        let mut raw = [&half(101)[..], &half(0), &word(0)].concat();
        raw.extend([half(9), half(1), [9, 0], [0, 0], half(0), half(0)].concat());
        out.extend(ng_block(big_endian, 1, &raw));
        out.extend(ng_block(big_endian, 1, &[&half(1)[..], &half(0), &word(0)].concat()));
        for (i, (ts, data)) in packets.iter().enumerate() {
            let mut epb = [word(i as u32 % 2), word(0), word(*ts), word(data.len() as u32)].concat();
            epb.extend(word(data.len() as u32));
            epb.extend(data);
            out.extend(ng_block(big_endian, 6, &epb));
        }
        out
    }

    #[test]
    fn pcapng_sections_of_either_byte_order_are_read_in_place() {
        let packets: Vec<(u32, Vec<u8>)> = records()
            .into_iter()
            .map(|(_, ts, mut data)| (ts, [vec![0x45], std::mem::take(&mut data)].concat()))
            .collect();
        let (first, second) = packets.split_at(77);
        let bytes = [ng_section(false, first), ng_section(true, second)].concat();
        let path = file_of("sections.pcapng", &bytes);
        let want = reference(&bytes);
        assert_eq!(want.len(), packets.len());
        // Raw IP (ns) gets a synthetic Ethernet header; Ethernet (µs) is as written.
        assert_eq!(want[0].0[12..15], [0x08, 0x00, 0x45]);
        assert_eq!(want[0].1, u64::from(first[0].0));
        assert_eq!(want[1].1, u64::from(first[1].0) * 1000);
        for block_size in (200..400).chain([BLOCK_SIZE]) {
            let (frames, error) = read_file(&path, block_size);
            assert!(error.is_none(), "{error:?}");
            assert_eq!(frames, want, "block size {block_size}");
        }
        // A packet of an interface the section did not declare.
        let mut bad = bytes.clone();
        let mut epb = [7u32.to_le_bytes(), [0; 4], [0; 4], 1u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
        epb.push(0x45);
        let at = ng_section(false, first).len();
        bad.splice(at..at, ng_block(false, 6, &epb));
        let path = file_of("undeclared.pcapng", &bad);
        let (frames, error) = read_file(&path, 300);
        assert_eq!(frames, want[..77]);
        let error = error.expect("an error");
        assert_eq!(error.message, "packet for undeclared interface 7");
        assert_eq!(error.offset, (at + 36) as u64);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn every_corpus_capture_reads_as_pcap_parser_reads_it() {
        let mut checked = 0;
        for entry in std::fs::read_dir(corpus()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".pcap.gz")) {
                continue;
            }
            let raw = std::fs::read(&path).unwrap();
            let bytes = if name.ends_with(".gz") {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
                out
            } else {
                raw
            };
            let want = reference(&bytes);
            assert!(!want.is_empty(), "{name}");
            for block_size in [1_000, BLOCK_SIZE] {
                let (frames, error) = read_file(&path, block_size);
                assert!(error.is_none(), "{name}: {error:?}");
                assert!(frames == want, "{name}, block size {block_size}: frames differ");
            }
            checked += 1;
        }
        assert!(checked > 50, "{checked} captures");
    }

    #[test]
    fn not_a_capture_is_refused_at_offset_0() {
        for (name, bytes, message) in [
            ("empty", &b""[..], "empty file, not a capture"),
            ("text", b"EHLO this is not a capture\n", "not a pcap or pcapng capture"),
            ("short", &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0], "truncated file header"),
        ] {
            let path = file_of(name, bytes);
            let error = PcapIo::open(&path).err().expect("an error");
            assert_eq!((error.offset, error.message.as_str()), (0, message));
            std::fs::remove_file(path).unwrap();
        }
    }
}
