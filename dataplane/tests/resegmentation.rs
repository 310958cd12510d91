//! Property: however a session's segments are cut up, reordered (within
//! the reassembly window) or repeated, the engine writes the same record.
//! Real sessions from the shared corpus are re-segmented at random points,
//! the pieces of each segment are shuffled and some are sent twice.

use mailgate_dataplane::decode::{decode_ethernet, Decoded};
use mailgate_dataplane::engine::{Engine, EngineConfig, SessionEnd, SessionSink};
use mailgate_dataplane::io::mem::{MemFrame, MemIo};
use mailgate_dataplane::io::pcap::PcapIo;
use mailgate_dataplane::io::{Burst, Frame, PacketIo};
use mailgate_dataplane::record::to_record;
use mailgate_dataplane::verdict::{load_policy, PolicyHandle, Verdicts};
use mailgate_dataplane::worker::{PortPair, Worker};
use proptest::prelude::*;
use serde_json::Value;
use smoltcp::wire::{IpAddress, Ipv4Packet, Ipv6Packet, TcpPacket, TcpSeqNumber};
use std::net::IpAddr;
use std::sync::Arc;

const CAPTURES: &[&str] = &[
    "ndpi-smtp-starttls.pcap",
    "ndpi-imap.pcap",
    "ndpi-pop3.pcap",
    "arkime-smtp-data-250.pcap",
    "suricata-verify-smtp-pipelining.pcap",
    "ndpi-imaps.pcap",
    "ndpi-pops.pcapng",
    "suricata-verify-bug-3616-smtp.pcap",
    "ndpi-pop3_stls.pcap",
    "arkime-socks5-smtp-503.pcap",
];

/// A captured frame with its capture time.
type Captured = (Vec<u8>, u64);

fn load(name: &str) -> Vec<Captured> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus").join(name);
    let mut io = PcapIo::open(&path).unwrap();
    let mut frames = Vec::new();
    loop {
        let mut burst = Burst::new();
        io.rx_burst(0, &mut burst);
        if burst.is_empty() {
            return frames;
        }
        frames.extend(burst.iter().map(|f| (f.data().to_vec(), f.timestamp_ns().unwrap_or(0))));
    }
}

/// A capture's name, frames, and records as captured.
type Baseline = (&'static str, Vec<Captured>, Vec<Value>);

/// Each capture's frames and its records as captured, computed once.
fn baselines() -> &'static [Baseline] {
    static BASE: std::sync::OnceLock<Vec<Baseline>> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        CAPTURES
            .iter()
            .map(|name| {
                let frames = load(name);
                let want = records(&frames);
                (*name, frames, want)
            })
            .collect()
    })
}

struct Collect(PolicyHandle, Vec<Value>);
impl SessionSink for Collect {
    fn emit(&mut self, s: &mut SessionEnd<'_>) {
        if s.is_reportable() {
            let mut v = serde_json::to_value(to_record(s, std::slice::from_ref(&self.0))).unwrap();
            // Counts and the end time follow the segmentation; everything else must not.
            for k in ["pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "ts_end", "flow_id"] {
                v.as_object_mut().unwrap().remove(k);
            }
            self.1.push(v);
        }
    }
}

fn records(frames: &[Captured]) -> Vec<Value> {
    let policy = load_policy(None).unwrap();
    let list = frames.iter().map(|(f, ts)| MemFrame::new(Arc::from(f.as_slice()), Some(*ts))).collect();
    let mut io = MemIo::new(vec![list, Vec::new()], false, false);
    let mut worker =
        Worker::new(Engine::new(&EngineConfig::default(), Verdicts::new(policy.clone())), Collect(policy, Vec::new()));
    while !io.exhausted() {
        worker.poll_once(&mut io, &[PortPair { inside: 0, outside: 1 }], 0);
    }
    worker.finish();
    let mut out = worker.sink.1;
    out.sort_by_key(|r| r.to_string());
    out
}

/// A copy of `frame` (a TCP segment) carrying only `payload[range]`, with
/// the sequence number, lengths and checksums fixed up.
fn piece(frame: &[u8], range: std::ops::Range<usize>) -> Vec<u8> {
    let Decoded::Tcp(seg) = decode_ethernet(frame) else { unreachable!() };
    let payload_at = frame.len() - seg.payload.len() - trailer(frame, &seg);
    let ip = seg.layout.ip_offset;
    let mut out = frame[..payload_at].to_vec();
    out.extend_from_slice(&seg.payload[range.clone()]);
    let tcp_at = payload_at - TcpPacket::new_checked(&frame[tcp_offset(frame, ip)..]).unwrap().header_len() as usize;
    let total = out.len();
    let (src, dst) = match (seg.src, seg.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = Ipv4Packet::new_unchecked(&mut out[ip..]);
            p.set_total_len((total - ip) as u16);
            p.fill_checksum();
            (IpAddress::Ipv4(s), IpAddress::Ipv4(d))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = Ipv6Packet::new_unchecked(&mut out[ip..]);
            p.set_payload_len((total - ip - 40) as u16);
            (IpAddress::Ipv6(s), IpAddress::Ipv6(d))
        }
        _ => unreachable!(),
    };
    let mut tcp = TcpPacket::new_unchecked(&mut out[tcp_at..]);
    tcp.set_seq_number(TcpSeqNumber(seg.seq.wrapping_add(range.start as u32) as i32));
    tcp.fill_checksum(&src, &dst);
    out
}

/// Where the TCP header starts (IPv4 header length, or IPv6 without extension headers).
fn tcp_offset(frame: &[u8], ip: usize) -> usize {
    match frame[ip] >> 4 {
        4 => ip + usize::from(frame[ip] & 0x0f) * 4,
        _ => ip + 40,
    }
}

/// Ethernet padding after the IP packet.
fn trailer(frame: &[u8], seg: &mailgate_dataplane::decode::TcpSegment<'_>) -> usize {
    let ip = seg.layout.ip_offset;
    let ip_len = match frame[ip] >> 4 {
        4 => usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]])),
        _ => 40 + usize::from(u16::from_be_bytes([frame[ip + 4], frame[ip + 5]])),
    };
    frame.len() - ip - ip_len
}

fn simple_tcp(frame: &[u8]) -> bool {
    match decode_ethernet(frame) {
        Decoded::Tcp(seg) => {
            !seg.payload.is_empty()
                && !seg.layout.encapsulated
                && (frame[seg.layout.ip_offset] >> 4 == 4 || frame[seg.layout.ip_offset + 6] == 6)
        }
        _ => false,
    }
}

/// Cuts every data segment at the given points, delivers its pieces in the
/// given order, and repeats the pieces picked for duplication.
fn resegment(frames: &[Captured], plan: &[(Vec<prop::sample::Index>, prop::sample::Index, bool)]) -> Vec<Captured> {
    let mut out = Vec::new();
    for (i, (frame, ts)) in frames.iter().enumerate() {
        let (cuts, rotate, dup) = &plan[i % plan.len()];
        if !simple_tcp(frame) {
            out.push((frame.clone(), *ts));
            continue;
        }
        let Decoded::Tcp(seg) = decode_ethernet(frame) else { unreachable!() };
        let len = seg.payload.len();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(len)).collect();
        points.extend([0, len]);
        points.sort_unstable();
        points.dedup();
        let mut pieces: Vec<_> = points.windows(2).map(|w| piece(frame, w[0]..w[1])).collect();
        let r = rotate.index(pieces.len());
        pieces.rotate_left(r);
        if *dup {
            pieces.push(pieces[0].clone());
        }
        out.extend(pieces.into_iter().map(|p| (p, *ts)));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn any_resegmentation_yields_the_same_records(
        plan in proptest::collection::vec(
            (proptest::collection::vec(any::<prop::sample::Index>(), 0..6), any::<prop::sample::Index>(), any::<bool>()),
            1..16,
        ),
    ) {
        for (name, frames, want) in baselines() {
            prop_assert!(!want.is_empty(), "{name}: no records");
            let got = records(&resegment(frames, &plan));
            prop_assert_eq!(&got, want, "{}", name);
        }
    }
}

#[test]
fn one_byte_segments_yield_the_same_records() {
    for (name, frames, want) in baselines() {
        let mut bytewise = Vec::new();
        for (frame, ts) in frames {
            if !simple_tcp(frame) {
                bytewise.push((frame.clone(), *ts));
                continue;
            }
            let Decoded::Tcp(seg) = decode_ethernet(frame) else { unreachable!() };
            for i in 0..seg.payload.len() {
                bytewise.push((piece(frame, i..i + 1), *ts));
            }
        }
        assert_eq!(&records(&bytewise), want, "{name}");
    }
}
