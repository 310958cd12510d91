//! IP fragment reassembly (`FragmentTable`) fed arbitrary fragments of a
//! few datagrams: any order, overlaps with other bytes, gaps, oversized
//! datagrams, slots running out and expiring. Every datagram it declares
//! whole must be a well-formed unfragmented packet of that datagram's
//! addresses and protocol, as long as its last fragment said, whose every
//! payload byte was sent at that position in a fragment of that datagram.
//!
//! Input: a header (slot count byte, big-endian u16 maximum payload size),
//! then fragments: a flag byte (bit 0: more fragments; bit 1: IPv6; bits
//! 2–3: which of four datagram ids), a big-endian u16 offset in 8-byte
//! units, a length byte, a time delta byte (ms), and the data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_dataplane::decode::Fragment;
use mailgate_dataplane::flow::fragments::{FragmentTable, Reassembly};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Fragments sent for one datagram: (offset, data).
type Sent = Vec<(usize, Vec<u8>)>;

/// The first fragment's link-layer header: Ethernet II, ethertype IPv4 or IPv6.
fn l2(v6: bool) -> [u8; 14] {
    let mut h = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    if v6 {
        h[12..].copy_from_slice(&[0x86, 0xdd]);
    }
    h
}

/// Checks a reassembled frame against what was sent for its datagram.
fn check(frame: &[u8], src: IpAddr, dst: IpAddr, protocol: u8, total: usize, sent: &Sent) {
    let v6 = src.is_ipv6();
    assert_eq!(frame.get(..14), Some(&l2(v6)[..]), "link-layer header not the first fragment's");
    let ip = &frame[14..];
    let payload = if v6 {
        assert_eq!(ip[0] >> 4, 6);
        assert_eq!(usize::from(u16::from_be_bytes([ip[4], ip[5]])), total, "IPv6 payload length");
        assert_eq!(ip[6], protocol);
        assert_eq!(<[u8; 16]>::try_from(&ip[8..24]).map(Ipv6Addr::from).ok().map(IpAddr::V6), Some(src));
        assert_eq!(<[u8; 16]>::try_from(&ip[24..40]).map(Ipv6Addr::from).ok().map(IpAddr::V6), Some(dst));
        &ip[40..]
    } else {
        assert_eq!(ip[0], 0x45);
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), 20 + total, "IPv4 total length");
        assert_eq!(u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff, 0, "reassembled packet still fragmented");
        assert_eq!(ip[9], protocol);
        assert_eq!(IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])), src);
        assert_eq!(IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])), dst);
        &ip[20..]
    };
    assert_eq!(payload.len(), total, "payload length");
    for (pos, &b) in payload.iter().enumerate() {
        let sent_here = sent.iter().any(|(off, data)| pos >= *off && data.get(pos - off) == Some(&b));
        assert!(sent_here, "byte {pos} of the datagram was never sent there");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((header, mut rest)) = data.split_at_checked(3) else { return };
    let slots = usize::from(header[0] % 5);
    let max_bytes = usize::from(u16::from_be_bytes([header[1], header[2]]) % 9000);
    let mut table = FragmentTable::new(slots, max_bytes, 50);
    let mut now = 1_700_000_000_000_000_000u64;
    // Per datagram (v6, id): every fragment sent, and where the latest last fragment ended.
    let mut sent: HashMap<(bool, u32), (Sent, usize)> = HashMap::new();
    let (v4_src, v4_dst) = (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    let (v6_src, v6_dst) = (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    );
    while let Some((head, after)) = rest.split_at_checked(5) {
        let (flags, len) = (head[0], usize::from(head[3]));
        let offset = usize::from(u16::from_be_bytes([head[1], head[2]]) & 0x1fff) * 8;
        let (payload, after) = after.split_at_checked(len).unwrap_or((after, &[]));
        rest = after;
        now += u64::from(head[4]) * 1_000_000;
        let (more, v6, id) = (flags & 1 != 0, flags & 2 != 0, u32::from(flags >> 2 & 3));
        let (src, dst) = if v6 { (v6_src, v6_dst) } else { (v4_src, v4_dst) };
        let link = l2(v6);
        let frag = Fragment { src, dst, id, offset, more, protocol: 6, data: payload, l2: &link };
        let (history, total) = sent.entry((v6, id)).or_default();
        history.push((offset, payload.to_vec()));
        if !more {
            *total = offset + payload.len();
        }
        if let Reassembly::Complete { frame, .. } = table.add(&frag, now) {
            // Whole once the last fragment (no "more") told the length.
            check(frame, src, dst, 6, *total, history);
            history.clear();
        }
    }
});
