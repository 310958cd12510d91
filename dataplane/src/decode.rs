//! Frame decoding: Ethernet II (with 802.1Q / QinQ tags), IPv4 (options),
//! IPv6 (extension headers), TCP — headers by `smoltcp::wire`, which checks
//! every length before any accessor runs. Only the 802.1Q tag, which
//! smoltcp does not know, is read here by hand.

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, Ipv6ExtHeader, Ipv6FragmentHeader, Ipv6Packet, TcpPacket,
};
use std::net::IpAddr;

/// 802.1Q customer tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service tag (QinQ outer tag).
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Legacy QinQ tag some switches still send.
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// IP protocol number of IPv6 encapsulated in IPv4 (6in4).
const IPPROTO_IPV6: u8 = 41;
/// PPPoE session stage (RFC 2516).
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// PPP protocol numbers of IPv4 and IPv6.
const PPP_IPV4: u16 = 0x0021;
/// PPP protocol number of IPv6.
const PPP_IPV6: u16 = 0x0057;
/// VLAN tags followed at most (two is QinQ; a third is tolerated).
const MAX_VLAN_TAGS: usize = 3;
/// IPv6 extension headers walked at most before giving up (evasion bound).
const MAX_IPV6_EXT_HEADERS: usize = 8;

/// TCP flags the engine acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN
    pub syn: bool,
    /// ACK
    pub ack: bool,
    /// FIN
    pub fin: bool,
    /// RST
    pub rst: bool,
}

/// Where the headers sit in the frame, for crafting RSTs that look like the
/// flow's own packets (same MACs and VLAN tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the IP header (after Ethernet and VLAN tags).
    pub ip_offset: usize,
    /// The TCP segment was inside a tunnel or PPPoE session: the RST cannot
    /// simply reuse the outer headers, so a reset flow is only dropped.
    pub encapsulated: bool,
}

/// A decoded TCP segment: borrowed from the frame, nothing copied.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when `flags.ack`).
    pub ack: u32,
    /// Receive window.
    pub window: u16,
    /// The flags.
    pub flags: TcpFlags,
    /// The segment's payload.
    pub payload: &'a [u8],
    /// Header positions in the frame.
    pub layout: Layout,
}

/// One IP fragment of a datagram, for reassembly before inspection.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The datagram's identification (IPv4: 16 bits; IPv6: 32).
    pub id: u32,
    /// Where this fragment's data goes in the datagram's payload, in bytes.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// The protocol of the reassembled payload.
    pub protocol: u8,
    /// This fragment's share of the payload.
    pub data: &'a [u8],
    /// Frame bytes before the IP header (Ethernet and VLAN tags).
    pub l2: &'a [u8],
}

/// What a frame is, as far as the engine cares.
#[derive(Debug, Clone, Copy)]
pub enum Decoded<'a> {
    /// A TCP segment the engine tracks.
    Tcp(TcpSegment<'a>),
    /// An IP fragment (not the whole datagram): reassembled before inspection, forwarded as it is.
    Fragment(Fragment<'a>),
    /// Anything else (ARP, LLDP, ND, UDP, non-IP, malformed): forwarded untouched.
    Other,
}

/// Decodes an Ethernet frame. Never panics; anything it cannot read as TCP is `Other`.
#[inline]
pub fn decode_ethernet(frame: &[u8]) -> Decoded<'_> {
    match ipv4_tcp_fast(frame) {
        Some(seg) => Decoded::Tcp(seg),
        None => decode_with_smoltcp(frame),
    }
}

/// The first `N` bytes of `b` as an array (so that reads at constant
/// offsets need no further bounds check).
#[inline]
fn head<const N: usize>(b: &[u8]) -> Option<&[u8; N]> {
    b.get(..N)?.try_into().ok()
}

/// The common case by hand, for speed: an untagged or single-tagged
/// Ethernet frame with an unfragmented IPv4 datagram carrying TCP, every
/// length consistent. Anything else is `None` and goes to smoltcp's
/// decoder, whose answer this one must equal wherever it answers (a
/// differential property test checks that).
#[inline(always)]
fn ipv4_tcp_fast(frame: &[u8]) -> Option<TcpSegment<'_>> {
    let eth: &[u8; 18] = head(frame)?;
    let ip_offset = match [eth[12], eth[13]] {
        [0x08, 0x00] => 14,
        [0x81, 0x00] if [eth[16], eth[17]] == [0x08, 0x00] => 18,
        _ => return None,
    };
    let ip = frame.get(ip_offset..)?;
    let h: &[u8; 20] = head(ip)?;
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // At least a whole header, all of the datagram present, no fragment, TCP.
    if header_len < 20 || total_len < header_len || ip.len() < total_len || (h[6] & 0x3f) | h[7] != 0 || h[9] != 6 {
        return None;
    }
    let tcp = ip.get(header_len..total_len)?;
    let t: &[u8; 20] = head(tcp)?;
    let data_offset = usize::from(t[12] >> 4) * 4;
    if data_offset < 20 {
        return None;
    }
    let flags = t[13];
    Some(TcpSegment {
        src: IpAddr::V4([h[12], h[13], h[14], h[15]].into()),
        dst: IpAddr::V4([h[16], h[17], h[18], h[19]].into()),
        src_port: u16::from_be_bytes([t[0], t[1]]),
        dst_port: u16::from_be_bytes([t[2], t[3]]),
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
        window: u16::from_be_bytes([t[14], t[15]]),
        flags: TcpFlags {
            syn: flags & 0x02 != 0,
            ack: flags & 0x10 != 0,
            fin: flags & 0x01 != 0,
            rst: flags & 0x04 != 0,
        },
        payload: tcp.get(data_offset..)?,
        layout: Layout { ip_offset, encapsulated: false },
    })
}

/// Every frame the fast path declines: VLAN stacks, PPPoE, IPv6, tunnels,
/// fragments, options of any kind, all through `smoltcp::wire`.
fn decode_with_smoltcp(frame: &[u8]) -> Decoded<'_> {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Decoded::Other;
    };
    let mut ethertype = u16::from(eth.ethertype());
    let mut offset = EthernetFrame::<&[u8]>::header_len();
    for _ in 0..MAX_VLAN_TAGS {
        if !matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
            break;
        }
        // A tag is 2 bytes of TCI then the inner ethertype.
        let Some(inner) = frame.get(offset + 2..offset + 4) else {
            return Decoded::Other;
        };
        ethertype = u16::from_be_bytes([inner[0], inner[1]]);
        offset += 4;
    }
    let mut encapsulated = false;
    if ethertype == ETHERTYPE_PPPOE_SESSION {
        // 6 bytes of PPPoE header, then the 2-byte PPP protocol.
        let Some(proto) = frame.get(offset + 6..offset + 8) else {
            return Decoded::Other;
        };
        ethertype = match u16::from_be_bytes([proto[0], proto[1]]) {
            PPP_IPV4 => 0x0800,
            PPP_IPV6 => 0x86dd,
            _ => return Decoded::Other,
        };
        offset += 8;
        encapsulated = true;
    }
    let Some(ip) = frame.get(offset..) else {
        return Decoded::Other;
    };
    let layout = Layout { ip_offset: offset, encapsulated };
    let l2 = frame.get(..offset).unwrap_or(&[]);
    match EthernetProtocol::from(ethertype) {
        EthernetProtocol::Ipv4 => decode_ipv4(ip, layout, l2),
        EthernetProtocol::Ipv6 => decode_ipv6(ip, layout, l2),
        _ => Decoded::Other,
    }
}

fn decode_ipv4<'a>(buf: &'a [u8], layout: Layout, l2: &'a [u8]) -> Decoded<'a> {
    let Ok(ip) = Ipv4Packet::new_checked(buf) else {
        return Decoded::Other;
    };
    if ip.more_frags() || ip.frag_offset() != 0 {
        if layout.encapsulated {
            return Decoded::Other;
        }
        return Decoded::Fragment(Fragment {
            src: IpAddr::V4(ip.src_addr()),
            dst: IpAddr::V4(ip.dst_addr()),
            id: u32::from(ip.ident()),
            offset: usize::from(ip.frag_offset()),
            more: ip.more_frags(),
            protocol: u8::from(ip.next_header()),
            data: ip.payload(),
            l2,
        });
    }
    match ip.next_header() {
        IpProtocol::Tcp => decode_tcp(IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()), ip.payload(), layout),
        // 6in4 (RFC 4213): the session is the inner IPv6 packet's.
        IpProtocol::Unknown(IPPROTO_IPV6) if !layout.encapsulated => {
            decode_ipv6(ip.payload(), Layout { encapsulated: true, ..layout }, l2)
        }
        _ => Decoded::Other,
    }
}

fn decode_ipv6<'a>(buf: &'a [u8], layout: Layout, l2: &'a [u8]) -> Decoded<'a> {
    let Ok(ip) = Ipv6Packet::new_checked(buf) else {
        return Decoded::Other;
    };
    let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
    let mut next = ip.next_header();
    let mut rest = ip.payload();
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            IpProtocol::Tcp => return decode_tcp(src, dst, rest, layout),
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts | IpProtocol::Ipv6Frag => {
                let Ok(ext) = Ipv6ExtHeader::new_checked(rest) else {
                    return Decoded::Other;
                };
                if next == IpProtocol::Ipv6Frag {
                    let Ok(frag) = Ipv6FragmentHeader::new_checked(ext.payload()) else {
                        return Decoded::Other;
                    };
                    if frag.more_frags() || frag.frag_offset() != 0 {
                        // Inside a tunnel a fragment is not reassembled (as for
                        // IPv4); its data is no TCP header either way.
                        if layout.encapsulated {
                            return Decoded::Other;
                        }
                        return Decoded::Fragment(Fragment {
                            src,
                            dst,
                            id: frag.ident(),
                            offset: usize::from(frag.frag_offset()) * 8,
                            more: frag.more_frags(),
                            protocol: u8::from(ext.next_header()),
                            data: rest.get(8..).unwrap_or(&[]),
                            l2,
                        });
                    }
                }
                next = ext.next_header();
                let len = 8 * (usize::from(ext.header_len()) + 1);
                let Some(after) = rest.get(len..) else {
                    return Decoded::Other;
                };
                rest = after;
            }
            _ => return Decoded::Other,
        }
    }
    Decoded::Other
}

fn decode_tcp(src: IpAddr, dst: IpAddr, buf: &[u8], layout: Layout) -> Decoded<'_> {
    let Ok(tcp) = TcpPacket::new_checked(buf) else {
        return Decoded::Other;
    };
    Decoded::Tcp(TcpSegment {
        src,
        dst,
        src_port: tcp.src_port(),
        dst_port: tcp.dst_port(),
        seq: tcp.seq_number().0 as u32,
        ack: tcp.ack_number().0 as u32,
        window: tcp.window_len(),
        flags: TcpFlags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst() },
        payload: tcp.payload(),
        layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + optional VLAN tags + IPv4 + TCP with `payload`.
    pub(crate) fn frame_v4(tags: &[u16], payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        for _ in tags {
            f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            f.extend_from_slice(&[0, 10]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let total = 20 + 20 + payload.len();
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&[198, 51, 100, 23, 203, 0, 113, 9]);
        f.extend_from_slice(&[0xc3, 0x50, 0, 25, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn decodes_tcp_under_qinq() {
        let f = frame_v4(&[1, 2], b"EHLO x\r\n");
        let Decoded::Tcp(seg) = decode_ethernet(&f) else { panic!("not tcp") };
        assert_eq!(seg.dst_port, 25);
        assert_eq!(seg.src.to_string(), "198.51.100.23");
        assert_eq!(seg.payload, b"EHLO x\r\n");
        assert_eq!(seg.seq, 100);
        assert_eq!(seg.layout.ip_offset, 22);
    }

    #[test]
    fn truncated_frames_are_other_not_panics() {
        let f = frame_v4(&[1], b"EHLO x\r\n");
        for len in 0..f.len() - 8 {
            assert!(!matches!(decode_ethernet(&f[..len]), Decoded::Tcp(_)), "len {len}");
        }
    }

    proptest::proptest! {
        /// Wherever the fast path answers, it answers what smoltcp's decoder
        /// does: on valid frames with any flags, options and VLAN tag, and on
        /// the same frames with any byte changed or cut short.
        #[test]
        fn the_fast_path_agrees_with_smoltcp(
            tags in proptest::collection::vec(0u16..4096, 0..3),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            flags in proptest::prelude::any::<u8>(),
            (pos, byte) in (0usize..200, proptest::prelude::any::<u8>()),
            cut in 0usize..200,
            mutate in proptest::prelude::any::<bool>(),
        ) {
            let mut f = frame_v4(&tags, &payload);
            let tcp = 14 + 4 * tags.len() + 20;
            f[tcp + 13] = flags;
            if mutate && pos < f.len() {
                f[pos] = byte;
            }
            // Half the cases whole, the others cut short by up to 100 bytes.
            let keep = if cut < 100 { f.len() } else { f.len().saturating_sub(cut - 100) };
            let f = &f[..keep];
            if let Some(fast) = ipv4_tcp_fast(f) {
                let reference = decode_with_smoltcp(f);
                proptest::prop_assert_eq!(format!("{:?}", Decoded::Tcp(fast)), format!("{reference:?}"));
            }
            proptest::prop_assert_eq!(format!("{:?}", decode_ethernet(f)), format!("{:?}", match ipv4_tcp_fast(f) {
                Some(seg) => Decoded::Tcp(seg),
                None => decode_with_smoltcp(f),
            }));
        }
    }

    #[test]
    fn the_fast_path_takes_plain_and_tagged_ipv4_tcp_only() {
        assert!(ipv4_tcp_fast(&frame_v4(&[], b"x")).is_some());
        assert!(ipv4_tcp_fast(&frame_v4(&[7], b"x")).is_some());
        assert!(ipv4_tcp_fast(&frame_v4(&[1, 2], b"x")).is_none(), "QinQ goes to smoltcp");
        let mut frag = frame_v4(&[], b"x");
        frag[14 + 6] = 0x20;
        assert!(ipv4_tcp_fast(&frag).is_none());
    }

    #[test]
    fn ipv4_fragments_are_reported() {
        let mut f = frame_v4(&[], b"x");
        f[14 + 6] = 0x20; // more fragments
        let Decoded::Fragment(frag) = decode_ethernet(&f) else { panic!("not a fragment") };
        assert!(frag.more && frag.offset == 0 && frag.protocol == 6 && frag.data.len() == 21);
    }
}
