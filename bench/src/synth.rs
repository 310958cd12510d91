//! Scripted TCP sessions turned into frames.
//!
//! A [`TcpSession`] is a conversation between a client and a server written
//! as calls: [`TcpSession::handshake`], then [`TcpSession::send`] of byte
//! chunks in either [`Dir`]ection, then [`TcpSession::close`]. It keeps the
//! sequence and acknowledgement numbers, TCP timestamps, windows and IPv4
//! identifiers right, acknowledges data the way a real receiver would
//! (every second segment; otherwise on its reply if that comes within the
//! 40 ms delayed-ACK time, or alone), grows a congestion window on bulk
//! transfers, and stamps every frame with the time a capture point next to
//! the client would see it: the server's frames arrive
//! [`Endpoint::delay_us`] after the client's frame they answer.
//!
//! For evasion tests the segmentation is the caller's choice:
//! [`Segmentation::EveryByte`], explicit [`Segmentation::Sizes`], byte
//! ranges in any order with overlaps and repeats
//! ([`TcpSession::send_ranges`]: out-of-order delivery, retransmissions),
//! and arbitrary segments at any sequence offset that change no state
//! ([`TcpSession::inject`]: conflicting overlaps). A session that skips the
//! handshake starts mid-stream.

use std::net::SocketAddr;
use std::ops::Range;

use smoltcp::wire::{TcpControl, TcpRepr, TcpSeqNumber, TcpTimestampRepr};

use crate::frame::{tcp_frame, Frame, IpFields, IpPair, Link};

/// A direction of a session, named by who receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

impl Dir {
    /// The other direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }
}

/// The TCP options a side offers in its SYN; those both sides offer are then
/// used on every segment (timestamps) or govern the session (scaling, SACK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    /// Maximum segment size announced in the SYN.
    pub mss: u16,
    /// Window scale shift announced in the SYN; `None` = not offered.
    pub window_scale: Option<u8>,
    /// SACK-permitted offered in the SYN.
    pub sack_permitted: bool,
    /// RFC 7323 timestamps offered (and, if both offer, on every segment).
    pub timestamps: bool,
}

impl TcpOptions {
    /// What a modern Linux or Windows stack offers: MSS, window scale 7, SACK, timestamps.
    pub const fn full(mss: u16) -> TcpOptions {
        TcpOptions { mss, window_scale: Some(7), sack_permitted: true, timestamps: true }
    }

    /// Only an MSS: the smallest SYN (used for 64-byte frame traffic).
    pub const fn minimal(mss: u16) -> TcpOptions {
        TcpOptions { mss, window_scale: None, sack_permitted: false, timestamps: false }
    }
}

/// One side of a session: its address and how its TCP stack behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// IP address and port.
    pub addr: SocketAddr,
    /// MAC address its frames carry as source.
    pub mac: [u8; 6],
    /// Initial sequence number.
    pub isn: u32,
    /// Options offered in its SYN.
    pub options: TcpOptions,
    /// Window announced in its SYN (unscaled, as in the header).
    pub window: u16,
    /// How long after the other side's frame this side's answer is seen at
    /// the capture point: a few hundred µs for the client, about the round
    /// trip time for the server.
    pub delay_us: u64,
    /// IPv4 TTL / IPv6 hop limit of its packets as captured.
    pub ttl: u8,
    /// Its TCP timestamp clock (milliseconds) at the Unix epoch.
    pub ts_base: u32,
    /// IPv4 identification of its first packet (then counts up).
    pub ip_id: u16,
}

/// Everything that fixes a session's frames apart from its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpec {
    /// The initiator.
    pub client: Endpoint,
    /// The responder.
    pub server: Endpoint,
    /// 802.1Q VLAN of every frame; `None` = untagged.
    pub vlan: Option<u16>,
    /// Time between back-to-back segments of one sender, on top of the
    /// 1 Gbit/s serialisation time.
    pub segment_gap_us: u64,
    /// Initial congestion window in segments; doubles per round trip up to 64.
    pub initial_window_segments: u32,
}

impl SessionSpec {
    /// A session between `client` and `server` with typical defaults: full
    /// options with the family's Ethernet MSS (1460 / 1440), a client 300 µs
    /// and a server 20 ms away from the capture point, fixed ISNs, untagged.
    /// Change any field before [`TcpSession::new`].
    pub fn new(client: SocketAddr, server: SocketAddr) -> SessionSpec {
        let mss = if client.is_ipv4() { 1460 } else { 1440 };
        SessionSpec {
            client: Endpoint {
                addr: client,
                mac: [0x02, 0, 0, 0, 0, 0x01],
                isn: 0x1000_0000,
                options: TcpOptions::full(mss),
                window: 64_240,
                delay_us: 300,
                ttl: 64,
                ts_base: 100_000,
                ip_id: 1,
            },
            server: Endpoint {
                addr: server,
                mac: [0x02, 0, 0x5e, 0x10, 0, 0x01],
                isn: 0x2000_0000,
                options: TcpOptions::full(mss),
                window: 65_160,
                delay_us: 20_000,
                ttl: 52,
                ts_base: 2_000_000,
                ip_id: 1,
            },
            vlan: None,
            segment_gap_us: 10,
            initial_window_segments: 10,
        }
    }
}

/// How [`TcpSession::send_with`] cuts a chunk into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segmentation {
    /// Full-size segments (the negotiated MSS less options), the last one shorter.
    Mss,
    /// These payload sizes in turn; bytes left over go out in full-size
    /// segments, a size past the end is cut short.
    Sizes(Vec<usize>),
    /// One byte per segment.
    EveryByte,
}

/// A script step the session cannot turn into frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SynthError {
    /// Client and server addresses are of different IP families.
    #[error("client {client} and server {server} are not of the same IP family")]
    MixedFamilies {
        /// The client address.
        client: SocketAddr,
        /// The server address.
        server: SocketAddr,
    },
    /// A segment size of zero in [`Segmentation::Sizes`].
    #[error("segment size 0 in an explicit segmentation")]
    ZeroSegment,
    /// A payload too long for one IP packet.
    #[error("segment payload of {0} bytes does not fit in one IP packet")]
    SegmentTooLong(usize),
    /// A range of [`TcpSession::send_ranges`] outside the chunk, or empty.
    #[error("range {start}..{end} is empty or outside a chunk of {len} bytes")]
    BadRange {
        /// Range start.
        start: usize,
        /// Range end.
        end: usize,
        /// Length of the chunk.
        len: usize,
    },
}

/// The longest payload a segment may carry (IPv6 header and TCP options included).
const MAX_PAYLOAD: usize = 65_535 - 40 - 60;
/// Congestion window ceiling in segments.
const MAX_CWND: u32 = 64;
/// How many of the peer's latest segments are searched for a TSecr.
const TSECR_LOOKBACK: usize = 64;
/// How long a receiver holds an ACK hoping to send it with data (Linux's minimum delayed-ACK time).
const DELAYED_ACK_US: u64 = 40_000;

/// Per-side sequence state.
#[derive(Debug, Clone)]
struct Side {
    snd_nxt: u32,
    rcv_nxt: u32,
    ip_id: u16,
    /// (time, TSval) of the peer's segments, in the order they were made.
    peer_tsvals: Vec<(u64, u32)>,
    window_field: u16,
    cwnd: u32,
}

impl Side {
    /// The TSecr of a segment sent at `t`: the newest TSval the peer sent before it.
    fn tsecr(&self, t: u64) -> u32 {
        // Segments are made nearly in time order (only ACKs run ahead), so
        // the newest one before `t` is among the last few made.
        self.peer_tsvals
            .iter()
            .rev()
            .take(TSECR_LOOKBACK)
            .filter(|&&(at, _)| at <= t)
            .map(|&(_, tsval)| tsval)
            .max()
            .unwrap_or(0)
    }
}

/// A pure ACK a receiver still owes for data it got.
#[derive(Debug, Clone, Copy)]
struct OwedAck {
    /// The direction the ACK travels in.
    dir: Dir,
    due_us: u64,
}

/// A scripted TCP session; see the module documentation.
#[derive(Debug, Clone)]
pub struct TcpSession {
    spec: SessionSpec,
    ips: IpPair,
    client: Side,
    server: Side,
    timestamps: bool,
    window_scale: bool,
    sack: bool,
    now_us: u64,
    last_sender: Option<Dir>,
    owed: Option<OwedAck>,
    frames: Vec<Frame>,
}

impl TcpSession {
    /// A session whose first frame is at `start_us` (µs since the Unix epoch).
    pub fn new(spec: SessionSpec, start_us: u64) -> Result<TcpSession, SynthError> {
        let ips = IpPair::new(spec.client.addr.ip(), spec.server.addr.ip())
            .ok_or(SynthError::MixedFamilies { client: spec.client.addr, server: spec.server.addr })?;
        let (c, s) = (spec.client.options, spec.server.options);
        let window_scale = c.window_scale.is_some() && s.window_scale.is_some();
        let side = |me: &Endpoint, peer: &Endpoint| Side {
            snd_nxt: me.isn,
            rcv_nxt: peer.isn,
            ip_id: me.ip_id,
            peer_tsvals: Vec::new(),
            window_field: steady_window(me, window_scale),
            cwnd: spec.initial_window_segments.max(1),
        };
        Ok(TcpSession {
            client: side(&spec.client, &spec.server),
            server: side(&spec.server, &spec.client),
            spec,
            ips,
            timestamps: c.timestamps && s.timestamps,
            window_scale,
            sack: c.sack_permitted && s.sack_permitted,
            now_us: start_us,
            last_sender: None,
            owed: None,
            frames: Vec::new(),
        })
    }

    /// The time of the latest step (µs since the Unix epoch).
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The sequence number the next new byte in `dir` will carry.
    pub fn next_seq(&self, dir: Dir) -> u32 {
        self.side(dir).snd_nxt
    }

    /// The session's parameters.
    pub fn spec(&self) -> &SessionSpec {
        &self.spec
    }

    /// The largest payload of a full-size segment.
    pub fn max_payload(&self) -> usize {
        let mss = self.spec.client.options.mss.min(self.spec.server.options.mss) as usize;
        let options = if self.timestamps { 12 } else { 0 };
        mss.saturating_sub(options).max(1)
    }

    /// SYN, SYN-ACK, ACK. The SYN is at the session's start time.
    pub fn handshake(&mut self) {
        let t = self.now_us;
        let isn = self.client.snd_nxt;
        self.emit(Dir::ToServer, t, TcpControl::Syn, isn, false, &[]);
        self.client.snd_nxt = isn.wrapping_add(1);
        self.server.rcv_nxt = self.client.snd_nxt;

        let t = t + self.spec.server.delay_us;
        let isn = self.server.snd_nxt;
        self.emit(Dir::ToClient, t, TcpControl::Syn, isn, true, &[]);
        self.server.snd_nxt = isn.wrapping_add(1);
        self.client.rcv_nxt = self.server.snd_nxt;

        let t = t + self.spec.client.delay_us;
        self.emit_ack(Dir::ToServer, t);
        self.now_us = t;
        self.last_sender = Some(Dir::ToServer);
    }

    /// Sends `data` in full-size segments (PSH on the last).
    pub fn send(&mut self, dir: Dir, data: &[u8]) {
        let sizes = std::iter::repeat(self.max_payload());
        self.send_sized(dir, data, sizes);
    }

    /// Sends `data` cut as `segmentation` says.
    pub fn send_with(&mut self, dir: Dir, data: &[u8], segmentation: &Segmentation) -> Result<(), SynthError> {
        let full = self.max_payload();
        match segmentation {
            Segmentation::Mss => self.send_sized(dir, data, std::iter::repeat(full)),
            Segmentation::EveryByte => self.send_sized(dir, data, std::iter::repeat(1)),
            Segmentation::Sizes(sizes) => {
                if sizes.contains(&0) {
                    return Err(SynthError::ZeroSegment);
                }
                if let Some(&big) = sizes.iter().find(|&&s| s > MAX_PAYLOAD) {
                    return Err(SynthError::SegmentTooLong(big));
                }
                let sizes = sizes.clone();
                self.send_sized(dir, data, sizes.into_iter().chain(std::iter::repeat(full)));
            }
        }
        Ok(())
    }

    /// Sends the byte `ranges` of `data`, each as one segment at its place in
    /// the stream, in the order given: out of order, overlapping and repeated
    /// ranges all allowed. The sender then counts the whole chunk as sent; the
    /// receiver acknowledges, once at the end, as far as the ranges cover the
    /// chunk without a hole.
    pub fn send_ranges(&mut self, dir: Dir, data: &[u8], ranges: &[Range<usize>]) -> Result<(), SynthError> {
        for r in ranges {
            if r.start >= r.end || r.end > data.len() {
                return Err(SynthError::BadRange { start: r.start, end: r.end, len: data.len() });
            }
            if r.len() > MAX_PAYLOAD {
                return Err(SynthError::SegmentTooLong(r.len()));
            }
        }
        self.settle_owed(dir);
        let mut t = self.start_time(dir);
        let base = self.side(dir).snd_nxt;
        let mut last_t = t;
        for (i, r) in ranges.iter().enumerate() {
            let control = if i + 1 == ranges.len() { TcpControl::Psh } else { TcpControl::None };
            let seq = base.wrapping_add(r.start as u32);
            self.emit(dir, t, control, seq, true, &data[r.clone()]);
            last_t = t;
            t += self.spec.segment_gap_us + serialisation_us(r.len());
        }
        let covered = covered_prefix(ranges);
        let receiver = self.side_mut(dir.reverse());
        if receiver.rcv_nxt == base {
            receiver.rcv_nxt = base.wrapping_add(covered as u32);
        }
        self.side_mut(dir).snd_nxt = base.wrapping_add(data.len() as u32);
        if covered > 0 {
            self.owe_ack(dir.reverse(), last_t);
        }
        self.now_us = last_t;
        self.last_sender = Some(dir);
        Ok(())
    }

    /// Sends one segment at `offset` bytes from the next new sequence number
    /// in `dir` (negative = already sent data) without changing any state:
    /// the stream goes on as if it had not been sent, and nobody acknowledges
    /// it. For conflicting overlaps and stray segments.
    pub fn inject(&mut self, dir: Dir, offset: i64, payload: &[u8]) -> Result<(), SynthError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(SynthError::SegmentTooLong(payload.len()));
        }
        self.settle_owed(dir);
        let t = self.start_time(dir);
        let seq = self.side(dir).snd_nxt.wrapping_add(offset as u32);
        self.emit(dir, t, TcpControl::Psh, seq, true, payload);
        self.now_us = t;
        self.last_sender = Some(dir);
        Ok(())
    }

    /// A pure ACK in `dir` now (or when an ACK it owes is due).
    pub fn ack(&mut self, dir: Dir) {
        let t = match self.owed {
            Some(owed) if owed.dir == dir => {
                self.owed = None;
                owed.due_us
            }
            _ => {
                self.settle_owed(dir);
                self.now_us + self.spec.segment_gap_us
            }
        };
        self.emit_ack(dir, t);
        self.now_us = self.now_us.max(t);
    }

    /// Lets `us` microseconds pass (think time, processing time). An ACK
    /// still owed rides on the receiver's next data if that comes within the
    /// delayed-ACK time, and goes out alone otherwise.
    pub fn pause(&mut self, us: u64) {
        self.now_us += us;
    }

    /// FIN from `initiator`, FIN-ACK from the other side, final ACK.
    pub fn close(&mut self, initiator: Dir) {
        self.settle_owed(initiator);
        let peer = initiator.reverse();
        let t1 = self.start_time(initiator);
        self.fin(initiator, t1);
        let t2 = t1 + self.delay(peer);
        self.fin(peer, t2);
        let t3 = t2 + self.delay(initiator);
        self.emit_ack(initiator, t3);
        self.now_us = t3;
        self.last_sender = Some(initiator);
    }

    /// RST-ACK from the side sending in `dir`.
    pub fn reset(&mut self, dir: Dir) {
        self.settle_owed(dir);
        let t = self.start_time(dir);
        let seq = self.side(dir).snd_nxt;
        self.emit(dir, t, TcpControl::Rst, seq, true, &[]);
        self.now_us = t;
        self.last_sender = Some(dir);
    }

    /// The session's frames in time order (an ACK still owed is sent first).
    pub fn into_frames(mut self) -> Vec<Frame> {
        self.flush_owed();
        // Stable: frames of one instant keep the order they were made in.
        self.frames.sort_by_key(|f| f.ts_us);
        self.frames
    }

    fn fin(&mut self, dir: Dir, t: u64) {
        let seq = self.side(dir).snd_nxt;
        self.emit(dir, t, TcpControl::Fin, seq, true, &[]);
        self.side_mut(dir).snd_nxt = seq.wrapping_add(1);
        let receiver = self.side_mut(dir.reverse());
        if receiver.rcv_nxt == seq {
            receiver.rcv_nxt = seq.wrapping_add(1);
        }
    }

    /// In-order data in segments of the given sizes, with ACKs every second
    /// segment and a congestion window that waits a round trip per burst.
    fn send_sized(&mut self, dir: Dir, data: &[u8], sizes: impl Iterator<Item = usize>) {
        if data.is_empty() {
            return;
        }
        self.settle_owed(dir);
        let receiver = dir.reverse();
        let mut t = self.start_time(dir);
        let mut last_t = t;
        let mut cwnd = self.side(dir).cwnd;
        let (mut in_burst, mut unacked, mut offset) = (0u32, 0u32, 0usize);
        for size in sizes {
            if offset >= data.len() {
                break;
            }
            if in_burst == cwnd {
                let ack_t = last_t + self.delay(receiver);
                if unacked > 0 {
                    self.emit_ack(receiver, ack_t);
                    unacked = 0;
                }
                t = t.max(ack_t + self.delay(dir));
                in_burst = 0;
                cwnd = (cwnd * 2).min(MAX_CWND);
            }
            let end = (offset + size).min(data.len());
            let control = if end == data.len() { TcpControl::Psh } else { TcpControl::None };
            let seq = self.side(dir).snd_nxt;
            self.emit(dir, t, control, seq, true, &data[offset..end]);
            let next = seq.wrapping_add((end - offset) as u32);
            self.side_mut(dir).snd_nxt = next;
            let rx = self.side_mut(receiver);
            if rx.rcv_nxt == seq {
                rx.rcv_nxt = next;
            }
            last_t = t;
            t += self.spec.segment_gap_us + serialisation_us(end - offset);
            offset = end;
            in_burst += 1;
            unacked += 1;
            if unacked == 2 {
                let ack_t = last_t + self.delay(receiver);
                self.emit_ack(receiver, ack_t);
                unacked = 0;
            }
        }
        self.side_mut(dir).cwnd = cwnd;
        if unacked > 0 {
            self.owe_ack(receiver, last_t);
        }
        self.now_us = last_t;
        self.last_sender = Some(dir);
    }

    fn owe_ack(&mut self, dir: Dir, data_seen_us: u64) {
        self.owed = Some(OwedAck { dir, due_us: data_seen_us + self.delay(dir) });
    }

    /// Before `dir` sends: an ACK owed in `dir` rides on the data if the data
    /// comes within the delayed-ACK time, and goes out alone when that time
    /// runs out otherwise; one owed the other way goes out on its own.
    fn settle_owed(&mut self, dir: Dir) {
        match self.owed {
            Some(owed) if owed.dir == dir => {
                self.owed = None;
                let deadline = owed.due_us + DELAYED_ACK_US;
                if self.start_time(dir) > deadline {
                    self.emit_ack(dir, deadline);
                }
            }
            Some(_) => self.flush_owed(),
            None => {}
        }
    }

    fn flush_owed(&mut self) {
        if let Some(owed) = self.owed.take() {
            self.emit_ack(owed.dir, owed.due_us);
        }
    }

    /// When the next segment in `dir` is seen: right after the previous one
    /// when the same side keeps sending, after its delay when it answers.
    fn start_time(&self, dir: Dir) -> u64 {
        match self.last_sender {
            Some(d) if d != dir => self.now_us + self.delay(dir),
            _ => self.now_us + self.spec.segment_gap_us,
        }
    }

    fn delay(&self, dir: Dir) -> u64 {
        self.endpoint(dir).delay_us
    }

    fn endpoint(&self, dir: Dir) -> &Endpoint {
        match dir {
            Dir::ToServer => &self.spec.client,
            Dir::ToClient => &self.spec.server,
        }
    }

    fn side(&self, dir: Dir) -> &Side {
        match dir {
            Dir::ToServer => &self.client,
            Dir::ToClient => &self.server,
        }
    }

    fn side_mut(&mut self, dir: Dir) -> &mut Side {
        match dir {
            Dir::ToServer => &mut self.client,
            Dir::ToClient => &mut self.server,
        }
    }

    fn emit_ack(&mut self, dir: Dir, t: u64) {
        let seq = self.side(dir).snd_nxt;
        self.emit(dir, t, TcpControl::None, seq, true, &[]);
    }

    /// Builds one segment sent in `dir` at `t` and records it.
    fn emit(&mut self, dir: Dir, t: u64, control: TcpControl, seq: u32, with_ack: bool, payload: &[u8]) {
        let ep = *self.endpoint(dir);
        let syn = control == TcpControl::Syn;
        // A SYN offers what the stack has; the SYN-ACK answers only what both have.
        let (window_scale, sack_permitted, timestamps) = match (syn, with_ack) {
            (true, false) => (ep.options.window_scale, ep.options.sack_permitted, ep.options.timestamps),
            (true, true) => (ep.options.window_scale.filter(|_| self.window_scale), self.sack, self.timestamps),
            (false, _) => (None, false, self.timestamps),
        };
        let tsval = ep.ts_base.wrapping_add((t / 1000) as u32);
        let side = self.side(dir);
        let tsecr = if syn && !with_ack { 0 } else { side.tsecr(t) };
        let (rcv_nxt, window_field, ip_id) = (side.rcv_nxt, side.window_field, side.ip_id);
        let repr = TcpRepr {
            src_port: ep.addr.port(),
            dst_port: self.endpoint(dir.reverse()).addr.port(),
            control,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: with_ack.then_some(TcpSeqNumber(rcv_nxt as i32)),
            window_len: if syn { ep.window } else { window_field },
            window_scale,
            max_seg_size: syn.then_some(ep.options.mss),
            sack_permitted,
            sack_ranges: [None; 3],
            timestamp: timestamps.then_some(TcpTimestampRepr::new(tsval, tsecr)),
            payload,
        };
        let client_link = Link { src_mac: self.spec.client.mac, dst_mac: self.spec.server.mac, vlan: self.spec.vlan };
        let (link, ips) = match dir {
            Dir::ToServer => (client_link, self.ips),
            Dir::ToClient => (client_link.reversed(), self.ips.reversed()),
        };
        let ip = IpFields { hop_limit: ep.ttl, ident: ip_id };
        let data = tcp_frame(&link, ips, ip, &repr);
        self.side_mut(dir).ip_id = ip_id.wrapping_add(1);
        if timestamps {
            self.side_mut(dir.reverse()).peer_tsvals.push((t, tsval));
        }
        self.frames.push(Frame { ts_us: t, data });
    }
}

/// The window field after the SYN: four times the SYN's window, scaled.
fn steady_window(ep: &Endpoint, scaled: bool) -> u16 {
    match ep.options.window_scale {
        Some(shift) if scaled => ((u32::from(ep.window) * 4) >> shift.min(14)).min(65_535) as u16,
        _ => ep.window,
    }
}

/// Time to put `len` payload bytes on a 1 Gbit/s link, in µs.
fn serialisation_us(len: usize) -> u64 {
    (len as u64 * 8) / 1000
}

/// How far from 0 the ranges cover the chunk without a hole.
fn covered_prefix(ranges: &[Range<usize>]) -> usize {
    let mut sorted: Vec<&Range<usize>> = ranges.iter().collect();
    sorted.sort_by_key(|r| r.start);
    let mut end = 0;
    for r in sorted {
        if r.start > end {
            break;
        }
        end = end.max(r.end);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_prefix_stops_at_the_first_hole() {
        assert_eq!(covered_prefix(&[3..5, 0..3, 7..9]), 5);
        assert_eq!(covered_prefix(&[1..4, 6..9]), 0);
        assert_eq!(covered_prefix(&[0..4, 2..6, 6..8]), 8);
    }

    #[test]
    fn mixed_families_are_refused() {
        let spec = SessionSpec::new("198.51.100.20:40000".parse().unwrap(), "[2001:db8:2::1]:25".parse().unwrap());
        assert!(matches!(TcpSession::new(spec, 0), Err(SynthError::MixedFamilies { .. })));
    }
}
