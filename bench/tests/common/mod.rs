//! Helpers shared by the integration tests: generate a capture in memory,
//! read it back with pcap-parser (not the crate's own writer), decode every
//! frame with smoltcp with its checksums verified.

// Each test binary uses only part of these helpers.
#![allow(dead_code)]

use std::net::IpAddr;

use mailgate_bench::gen::{generate, GenConfig, Summary};
use mailgate_bench::mix::Mix;
use mailgate_bench::pcap::Writer;
use mailgate_bench::truth::FlowTruth;
use pcap_parser::{Linktype, PcapCapture};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpControl,
    TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

/// A generated capture.
pub struct Capture {
    pub pcap: Vec<u8>,
    pub truth_jsonl: Vec<u8>,
    pub summary: Summary,
}

impl Capture {
    pub fn truth(&self) -> Vec<FlowTruth> {
        std::str::from_utf8(&self.truth_jsonl)
            .expect("truth is UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("truth line parses"))
            .collect()
    }

    /// Every frame with its timestamp, read by pcap-parser.
    pub fn frames(&self) -> Vec<(u64, Vec<u8>)> {
        let capture = PcapCapture::from_file(&self.pcap).expect("pcap-parser reads the capture");
        assert_eq!(capture.header.magic_number, 0xa1b2_c3d4, "classic pcap, microseconds");
        assert_eq!(capture.header.network, Linktype::ETHERNET);
        capture
            .blocks
            .iter()
            .map(|b| {
                assert_eq!(b.caplen, b.origlen, "frames are never cut");
                (u64::from(b.ts_sec) * 1_000_000 + u64::from(b.ts_usec), b.data.to_vec())
            })
            .collect()
    }
}

pub fn gen(mix: Mix, flows: u64, seed: u64) -> Capture {
    let mut pcap = Writer::new(Vec::new()).expect("pcap header");
    let mut truth_jsonl = Vec::new();
    let config = GenConfig { flows, seed, mix };
    let summary = generate(&config, &mut pcap, &mut truth_jsonl, &mut |_| {}).expect("generation succeeds");
    Capture { pcap: pcap.finish().expect("flush"), truth_jsonl, summary }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: Option<u32>,
    pub control: TcpControl,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamp: Option<(u32, u32)>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L4 {
    Tcp(Tcp),
    Udp { sport: u16, dport: u16, payload: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub vlan: Option<u16>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub hop_limit: u8,
    pub l4: L4,
}

impl Packet {
    pub fn tcp(&self) -> Option<&Tcp> {
        match &self.l4 {
            L4::Tcp(t) => Some(t),
            L4::Udp { .. } => None,
        }
    }
}

/// Decodes a frame with smoltcp, verifying the IPv4, TCP and UDP checksums
/// and that anything after the IP packet is zero padding up to 60 bytes.
pub fn decode(frame: &[u8]) -> Result<Packet, String> {
    let eth = EthernetFrame::new_checked(frame).map_err(|e| format!("ethernet: {e}"))?;
    let (vlan, ethertype, l3) = match eth.ethertype() {
        EthernetProtocol::Unknown(0x8100) => {
            let tci = u16::from_be_bytes([frame[14], frame[15]]);
            let inner = EthernetProtocol::from(u16::from_be_bytes([frame[16], frame[17]]));
            (Some(tci & 0x0fff), inner, &frame[18..])
        }
        other => (None, other, eth.payload()),
    };
    let caps = ChecksumCapabilities::default();
    let (src, dst, hop_limit, protocol, l4, ip_len) = match ethertype {
        EthernetProtocol::Ipv4 => {
            let p = Ipv4Packet::new_checked(l3).map_err(|e| format!("ipv4: {e}"))?;
            if !p.verify_checksum() {
                return Err("bad IPv4 header checksum".into());
            }
            let repr = Ipv4Repr::parse(&p, &caps).map_err(|e| format!("ipv4 repr: {e}"))?;
            (
                IpAddr::V4(repr.src_addr),
                IpAddr::V4(repr.dst_addr),
                repr.hop_limit,
                repr.next_header,
                p.payload(),
                usize::from(p.total_len()),
            )
        }
        EthernetProtocol::Ipv6 => {
            let p = Ipv6Packet::new_checked(l3).map_err(|e| format!("ipv6: {e}"))?;
            let repr = Ipv6Repr::parse(&p).map_err(|e| format!("ipv6 repr: {e}"))?;
            (
                IpAddr::V6(repr.src_addr),
                IpAddr::V6(repr.dst_addr),
                repr.hop_limit,
                repr.next_header,
                p.payload(),
                40 + usize::from(p.payload_len()),
            )
        }
        other => return Err(format!("unexpected ethertype {other}")),
    };
    let padding = &l3[ip_len..];
    if padding.iter().any(|&b| b != 0) || (!padding.is_empty() && frame.len() != 60) {
        return Err(format!("{} bytes after the IP packet in a {}-byte frame", padding.len(), frame.len()));
    }
    let (s, d) = (IpAddress::from(src), IpAddress::from(dst));
    let l4 = match protocol {
        IpProtocol::Tcp => {
            let p = TcpPacket::new_checked(l4).map_err(|e| format!("tcp: {e}"))?;
            if !p.verify_checksum(&s, &d) {
                return Err("bad TCP checksum".into());
            }
            let r = TcpRepr::parse(&p, &s, &d, &caps).map_err(|e| format!("tcp repr: {e}"))?;
            L4::Tcp(Tcp {
                sport: r.src_port,
                dport: r.dst_port,
                seq: r.seq_number.0 as u32,
                ack: r.ack_number.map(|a| a.0 as u32),
                control: r.control,
                mss: r.max_seg_size,
                window_scale: r.window_scale,
                sack_permitted: r.sack_permitted,
                timestamp: r.timestamp.map(|t| (t.tsval, t.tsecr)),
                payload: r.payload.to_vec(),
            })
        }
        IpProtocol::Udp => {
            let p = UdpPacket::new_checked(l4).map_err(|e| format!("udp: {e}"))?;
            if !p.verify_checksum(&s, &d) {
                return Err("bad UDP checksum".into());
            }
            let r = UdpRepr::parse(&p, &s, &d, &caps).map_err(|e| format!("udp repr: {e}"))?;
            L4::Udp { sport: r.src_port, dport: r.dst_port, payload: p.payload().to_vec() }
        }
        other => return Err(format!("unexpected IP protocol {other}")),
    };
    Ok(Packet { vlan, src, dst, hop_limit, l4 })
}

/// The flow key of a truth line: client address and port, server address and port.
pub fn truth_key(t: &FlowTruth) -> (IpAddr, u16, IpAddr, u16) {
    (t.src_ip.parse().expect("src_ip"), t.src_port, t.dest_ip.parse().expect("dest_ip"), t.dest_port)
}
