//! One packet as bytes: Ethernet II (optionally 802.1Q-tagged), IPv4 or
//! IPv6, TCP or UDP, every checksum filled in, padded to the Ethernet
//! minimum. The headers are emitted with `smoltcp::wire`, the same code the
//! dataplane decodes with, so a frame that leaves here is one it can parse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    Ipv6Packet, Ipv6Repr, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

/// A frame as a capture holds it: when it was seen and its bytes (from the
/// Ethernet destination address on, without the FCS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Microseconds since the Unix epoch.
    pub ts_us: u64,
    /// The frame's bytes.
    pub data: Vec<u8>,
}

/// The shortest frame Ethernet allows without its FCS (64 bytes on the wire):
/// shorter frames are padded with zeros after the IP packet.
pub const MIN_FRAME_LEN: usize = 60;

/// The EtherType of an 802.1Q tag.
pub const VLAN_TPID: u16 = 0x8100;

/// The layer-2 header of one direction: who sends, who receives, and the
/// 802.1Q VLAN the frame is tagged with, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Source MAC address.
    pub src_mac: [u8; 6],
    /// Destination MAC address.
    pub dst_mac: [u8; 6],
    /// VLAN identifier (1–4094) of an 802.1Q tag, priority 0; `None` = untagged.
    pub vlan: Option<u16>,
}

impl Link {
    /// The same link seen from the other end (addresses swapped, same VLAN).
    pub fn reversed(self) -> Link {
        Link { src_mac: self.dst_mac, dst_mac: self.src_mac, vlan: self.vlan }
    }

    fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            18
        } else {
            14
        }
    }
}

/// The two addresses of an IP packet, of one family by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPair {
    /// IPv4 source and destination.
    V4(Ipv4Addr, Ipv4Addr),
    /// IPv6 source and destination.
    V6(Ipv6Addr, Ipv6Addr),
}

impl IpPair {
    /// Pairs two addresses; `None` when their families differ.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<IpPair> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Some(IpPair::V4(s, d)),
            (IpAddr::V6(s), IpAddr::V6(d)) => Some(IpPair::V6(s, d)),
            _ => None,
        }
    }

    /// The same pair in the other direction.
    pub fn reversed(self) -> IpPair {
        match self {
            IpPair::V4(s, d) => IpPair::V4(d, s),
            IpPair::V6(s, d) => IpPair::V6(d, s),
        }
    }

    fn header_len(&self) -> usize {
        match self {
            IpPair::V4(..) => 20,
            IpPair::V6(..) => 40,
        }
    }

    fn addresses(&self) -> (IpAddress, IpAddress) {
        match *self {
            IpPair::V4(s, d) => (IpAddress::Ipv4(s), IpAddress::Ipv4(d)),
            IpPair::V6(s, d) => (IpAddress::Ipv6(s), IpAddress::Ipv6(d)),
        }
    }
}

/// IP header fields the sender chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFields {
    /// TTL (IPv4) or hop limit (IPv6).
    pub hop_limit: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ident: u16,
}

/// Builds a complete TCP frame.
pub fn tcp_frame(link: &Link, ips: IpPair, ip: IpFields, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let l4_len = tcp.buffer_len();
    let (mut buf, l3) = frame_buffer(link, ips, l4_len);
    emit_ip(&mut buf[l3..], ips, ip, IpProtocol::Tcp, l4_len);
    let (src, dst) = ips.addresses();
    let l4 = l3 + ips.header_len();
    if let Some(segment) = buf.get_mut(l4..l4 + l4_len) {
        tcp.emit(&mut TcpPacket::new_unchecked(segment), &src, &dst, &ChecksumCapabilities::default());
    }
    buf
}

/// Builds a complete UDP frame carrying `payload` from `src` to `dst`; `None`
/// when the two addresses are of different families.
pub fn udp_frame(link: &Link, src: SocketAddr, dst: SocketAddr, ip: IpFields, payload: &[u8]) -> Option<Vec<u8>> {
    let ips = IpPair::new(src.ip(), dst.ip())?;
    let udp = UdpRepr { src_port: src.port(), dst_port: dst.port() };
    let l4_len = udp.header_len() + payload.len();
    let (mut buf, l3) = frame_buffer(link, ips, l4_len);
    emit_ip(&mut buf[l3..], ips, ip, IpProtocol::Udp, l4_len);
    let (s, d) = ips.addresses();
    let l4 = l3 + ips.header_len();
    let datagram = buf.get_mut(l4..l4 + l4_len)?;
    udp.emit(
        &mut UdpPacket::new_unchecked(datagram),
        &s,
        &d,
        payload.len(),
        |out| out.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
    Some(buf)
}

/// A zeroed buffer long enough for the frame (at least [`MIN_FRAME_LEN`])
/// with the Ethernet header written; returns it and the IP header's offset.
fn frame_buffer(link: &Link, ips: IpPair, l4_len: usize) -> (Vec<u8>, usize) {
    let l3 = link.header_len();
    let len = (l3 + ips.header_len() + l4_len).max(MIN_FRAME_LEN);
    let mut buf = vec![0u8; len];
    let ethertype = match ips {
        IpPair::V4(..) => EthernetProtocol::Ipv4,
        IpPair::V6(..) => EthernetProtocol::Ipv6,
    };
    match link.vlan {
        None => {
            let repr = EthernetRepr {
                src_addr: EthernetAddress(link.src_mac),
                dst_addr: EthernetAddress(link.dst_mac),
                ethertype,
            };
            repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        }
        Some(vid) => {
            // smoltcp has no 802.1Q support: the tag is written by hand.
            buf[0..6].copy_from_slice(&link.dst_mac);
            buf[6..12].copy_from_slice(&link.src_mac);
            buf[12..14].copy_from_slice(&VLAN_TPID.to_be_bytes());
            buf[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
            buf[16..18].copy_from_slice(&u16::from(ethertype).to_be_bytes());
        }
    }
    (buf, l3)
}

fn emit_ip(buf: &mut [u8], ips: IpPair, ip: IpFields, next_header: IpProtocol, payload_len: usize) {
    match ips {
        IpPair::V4(src_addr, dst_addr) => {
            let repr = Ipv4Repr { src_addr, dst_addr, next_header, payload_len, hop_limit: ip.hop_limit };
            let mut packet = Ipv4Packet::new_unchecked(buf);
            repr.emit(&mut packet, &ChecksumCapabilities::default());
            // smoltcp always writes identification 0; real stacks count.
            packet.set_ident(ip.ident);
            packet.fill_checksum();
        }
        IpPair::V6(src_addr, dst_addr) => {
            let repr = Ipv6Repr { src_addr, dst_addr, next_header, payload_len, hop_limit: ip.hop_limit };
            repr.emit(&mut Ipv6Packet::new_unchecked(buf));
        }
    }
}
