//! Frame decoding (Ethernet, VLAN/QinQ, PPPoE, IPv4, IPv6 extension
//! headers, 6in4, TCP) on any bytes, and the RSTs crafted for every TCP
//! segment found: each must itself decode as a RST of the same flow.
//!
//! Input: one Ethernet frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_dataplane::decode::{decode_ethernet, Decoded, TcpSegment};
use mailgate_dataplane::rst::RstPair;

/// `rst` must decode as a RST going `reverse`d or not relative to `seg`.
fn check_rst(rst: &[u8], seg: &TcpSegment<'_>, reverse: bool) {
    let Decoded::Tcp(r) = decode_ethernet(rst) else { panic!("crafted RST does not decode: {rst:02x?}") };
    assert!(r.flags.rst && r.payload.is_empty(), "{r:?}");
    let expected = if reverse {
        (seg.dst, seg.dst_port, seg.src, seg.src_port)
    } else {
        (seg.src, seg.src_port, seg.dst, seg.dst_port)
    };
    assert_eq!((r.src, r.src_port, r.dst, r.dst_port), expected, "RST of another flow");
    assert_eq!(r.layout.ip_offset, seg.layout.ip_offset, "RST with other L2 headers");
}

fuzz_target!(|frame: &[u8]| {
    let Decoded::Tcp(seg) = decode_ethernet(frame) else { return };
    let range = frame.as_ptr_range();
    let payload = seg.payload.as_ptr_range();
    assert!(range.start <= payload.start && payload.end <= range.end, "payload outside the frame");
    assert!(seg.layout.ip_offset < frame.len());

    let rst = RstPair::for_segment(frame, &seg);
    if seg.layout.encapsulated {
        assert!(rst.to_sender().is_empty() && rst.to_receiver().is_empty(), "RST crafted inside a tunnel");
        return;
    }
    check_rst(rst.to_sender(), &seg, true);
    if seg.flags.syn && !seg.flags.ack {
        assert!(rst.to_receiver().is_empty(), "RST to a server that never saw the SYN");
    } else {
        check_rst(rst.to_receiver(), &seg, false);
    }
});
