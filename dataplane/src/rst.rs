//! TCP RST crafting for `reset` verdicts, with `smoltcp::wire`.
//!
//! The offending segment is dropped, so the receiver never saw it: an RST
//! with the segment's own sequence number is exactly what the receiver
//! expects next (RFC 5961 §3 accepts it without a challenge ACK). The sender
//! gets an RST from the receiver's side carrying the sender's acknowledged
//! sequence number. Each RST reuses the frame's Ethernet and VLAN header
//! (MACs swapped for the one going back), so it takes the flow's own path.

use crate::decode::TcpSegment;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};
use std::net::IpAddr;

/// Room for Ethernet + 3 VLAN tags + IPv6 + TCP.
const MAX_RST_FRAME: usize = 14 + 12 + 40 + 20;
/// Ethernet frames shorter than this are padded.
const MIN_FRAME: usize = 60;

/// The two RST frames that end a reset flow on both sides.
#[derive(Debug, Clone)]
pub struct RstPair {
    to_sender: ([u8; MAX_RST_FRAME], u8),
    to_receiver: ([u8; MAX_RST_FRAME], u8),
}

impl RstPair {
    /// No RST to send either way (a reset inside a tunnel, or none yet).
    pub const fn none() -> RstPair {
        RstPair { to_sender: ([0; MAX_RST_FRAME], 0), to_receiver: ([0; MAX_RST_FRAME], 0) }
    }

    /// The RST sent back out of the port the offending frame came in on
    /// (empty when there is none to send).
    pub fn to_sender(&self) -> &[u8] {
        self.to_sender.0.get(..usize::from(self.to_sender.1)).unwrap_or(&[])
    }

    /// The RST sent on to the other side (empty when there is none to send,
    /// as for a SYN the server never received).
    pub fn to_receiver(&self) -> &[u8] {
        self.to_receiver.0.get(..usize::from(self.to_receiver.1)).unwrap_or(&[])
    }

    /// The RSTs answering `seg`, which came in `frame`.
    pub fn for_segment(frame: &[u8], seg: &TcpSegment<'_>) -> RstPair {
        if seg.layout.encapsulated {
            // Inside a tunnel or PPPoE: drop only (see `Layout::encapsulated`).
            return RstPair::none();
        }
        let len = seg.payload.len() as u32;
        let seg_end = seg.seq.wrapping_add(len).wrapping_add(u32::from(seg.flags.syn) + u32::from(seg.flags.fin));
        // Back to the sender, from the receiver: sequence = what the sender
        // acknowledged; for a bare SYN, RST+ACK of the SYN (RFC 793 reset generation).
        let back =
            if seg.flags.ack { Rst { seq: seg.ack, ack: Some(seg_end) } } else { Rst { seq: 0, ack: Some(seg_end) } };
        let to_sender = craft(frame, seg, true, back);
        // On to the receiver: it expects exactly the dropped segment's sequence number.
        let to_receiver = if seg.flags.syn && !seg.flags.ack {
            ([0; MAX_RST_FRAME], 0)
        } else {
            craft(frame, seg, false, Rst { seq: seg.seq, ack: seg.flags.ack.then_some(seg.ack) })
        };
        RstPair { to_sender, to_receiver }
    }
}

#[derive(Clone, Copy)]
struct Rst {
    seq: u32,
    ack: Option<u32>,
}

/// One RST frame; `reverse` swaps addresses, ports and MACs.
fn craft(frame: &[u8], seg: &TcpSegment<'_>, reverse: bool, rst: Rst) -> ([u8; MAX_RST_FRAME], u8) {
    let mut out = [0u8; MAX_RST_FRAME];
    let l2 = seg.layout.ip_offset;
    let (Some(hdr), Some(dst_hdr)) = (frame.get(..l2), out.get_mut(..l2)) else {
        return (out, 0);
    };
    dst_hdr.copy_from_slice(hdr);
    if reverse {
        if let (Some(d), Some(s)) = (frame.get(0..6), frame.get(6..12)) {
            out[0..6].copy_from_slice(s);
            out[6..12].copy_from_slice(d);
        }
    }
    let (src, dst, sport, dport) = if reverse {
        (seg.dst, seg.src, seg.dst_port, seg.src_port)
    } else {
        (seg.src, seg.dst, seg.src_port, seg.dst_port)
    };
    let tcp = TcpRepr {
        src_port: sport,
        dst_port: dport,
        control: TcpControl::Rst,
        seq_number: TcpSeqNumber(rst.seq as i32),
        ack_number: rst.ack.map(|a| TcpSeqNumber(a as i32)),
        window_len: 0,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let caps = ChecksumCapabilities::default();
    let ip_len = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = Ipv4Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.header_len(),
                hop_limit: 64,
            };
            let total = ip.buffer_len() + tcp.header_len();
            let Some(buf) = out.get_mut(l2..l2 + total) else { return (out, 0) };
            let mut pkt = Ipv4Packet::new_unchecked(&mut *buf);
            ip.emit(&mut pkt, &caps);
            let mut tp = TcpPacket::new_unchecked(pkt.payload_mut());
            tcp.emit(&mut tp, &IpAddress::Ipv4(s), &IpAddress::Ipv4(d), &caps);
            total
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.header_len(),
                hop_limit: 64,
            };
            let total = ip.buffer_len() + tcp.header_len();
            let Some(buf) = out.get_mut(l2..l2 + total) else { return (out, 0) };
            let mut pkt = Ipv6Packet::new_unchecked(&mut *buf);
            ip.emit(&mut pkt);
            let mut tp = TcpPacket::new_unchecked(pkt.payload_mut());
            tcp.emit(&mut tp, &IpAddress::Ipv6(s), &IpAddress::Ipv6(d), &caps);
            total
        }
        _ => return (out, 0),
    };
    let len = (l2 + ip_len).clamp(MIN_FRAME, MAX_RST_FRAME);
    (out, len as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode_ethernet, Decoded};

    fn frame(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00];
        let total = 40 + payload.len();
        f.extend_from_slice(&[0x45, 0, 0, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 23, 203, 0, 113, 9]);
        f.extend_from_slice(&[0xc3, 0x50, 0, 25, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn rsts_carry_sequence_numbers_the_receivers_accept() {
        let f = frame(0x18, b"EHLO x\r\n");
        let Decoded::Tcp(seg) = decode_ethernet(&f) else { panic!() };
        let rst = RstPair::for_segment(&f, &seg);
        let Decoded::Tcp(on) = decode_ethernet(rst.to_receiver()) else { panic!("bad RST") };
        assert!(on.flags.rst);
        assert_eq!((on.src_port, on.dst_port, on.seq), (50000, 25, 0x1000));
        assert_eq!(&rst.to_receiver()[12..16], &[0x81, 0, 0, 0x0a], "VLAN tag kept");
        let Decoded::Tcp(back) = decode_ethernet(rst.to_sender()) else { panic!("bad RST") };
        assert_eq!((back.src_port, back.dst_port, back.seq, back.ack), (25, 50000, 0x2000, 0x1008));
        assert_eq!(back.src.to_string(), "203.0.113.9");
        assert_eq!(&rst.to_sender()[0..6], &f[6..12], "MACs swapped");
        // Checksums are valid (smoltcp verifies them in Repr::parse).
        let ip = Ipv4Packet::new_checked(&rst.to_sender()[18..]).unwrap();
        assert!(ip.verify_checksum());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(&IpAddress::Ipv4(ip.src_addr()), &IpAddress::Ipv4(ip.dst_addr())));
    }

    #[test]
    fn a_syn_gets_one_rst_ack_back() {
        let f = frame(0x02, b"");
        let Decoded::Tcp(seg) = decode_ethernet(&f) else { panic!() };
        let rst = RstPair::for_segment(&f, &seg);
        assert!(rst.to_receiver().is_empty());
        let Decoded::Tcp(back) = decode_ethernet(rst.to_sender()) else { panic!() };
        assert!(back.flags.rst && back.flags.ack);
        assert_eq!(back.ack, 0x1001);
    }
}
