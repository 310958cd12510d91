//! Inputs found while fuzzing the dataplane (fuzz/, docs/fuzzing.md), kept
//! as tests so that they stay fixed without cargo-fuzz.

use mailgate_dataplane::decode::{decode_ethernet, Decoded};
use mailgate_dataplane::engine::{Engine, EngineConfig, SessionEnd, SessionSink};
use mailgate_dataplane::verdict::{load_policy, Verdicts};

/// Bytes that would read as a TCP header (port 1234 → 25, PSH+ACK) and an
/// `EHLO`: the data of a non-first IPv6 fragment, as an attacker may craft it.
fn tcp_lookalike() -> Vec<u8> {
    let mut t = vec![0x04, 0xd2, 0x00, 0x19, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0];
    t.extend_from_slice(b"EHLO approved.example.org\r\n");
    t
}

/// An IPv6 packet whose only extension header is a fragment header
/// (next header TCP) at byte offset `offset`, carrying `data`.
fn ipv6_fragment(offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let payload_len = (8 + data.len()) as u16;
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&payload_len.to_be_bytes());
    p.extend_from_slice(&[44, 64]); // next header: fragment; hop limit
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    // The offset in 8-byte units, in the top 13 bits; the M flag in bit 0.
    let field = ((offset / 8) << 3) | u16::from(more);
    p.extend_from_slice(&[6, 0]);
    p.extend_from_slice(&field.to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(data);
    p
}

fn ethernet(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// `inner` in IPv4 protocol 41 (6in4).
fn six_in_four(inner: &[u8]) -> Vec<u8> {
    let total = (20 + inner.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 41, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    ip.extend_from_slice(inner);
    ethernet(0x0800, &ip)
}

/// `inner` in a PPPoE session as PPP protocol IPv6.
fn pppoe(inner: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0x00, 0x00, 0x01];
    p.extend_from_slice(&((inner.len() + 2) as u16).to_be_bytes());
    p.extend_from_slice(&[0x00, 0x57]);
    p.extend_from_slice(inner);
    ethernet(0x8864, &p)
}

struct Count(usize);

impl SessionSink for Count {
    fn emit(&mut self, _: &mut SessionEnd<'_>) {
        self.0 += 1;
    }
}

/// Found by reading `decode_ipv6` while writing the `decode` target: an
/// IPv6 fragment inside 6in4 or PPPoE fell through the fragment check and
/// its data was decoded as a TCP header. A non-first fragment could so
/// inject bytes into a tracked session (an EHLO name, say) that the host,
/// which reassembles the datagram, never sees as stream data.
#[test]
fn tunnelled_ipv6_fragments_are_not_read_as_tcp() {
    let data = tcp_lookalike();
    for more in [false, true] {
        let fragment = ipv6_fragment(64, more, &data);
        for frame in [six_in_four(&fragment), pppoe(&fragment)] {
            let decoded = decode_ethernet(&frame);
            assert!(matches!(decoded, Decoded::Other), "tunnelled fragment decoded as {decoded:?}");
        }
    }
    // A first fragment is not a whole segment either.
    let first = ipv6_fragment(0, true, &data);
    assert!(matches!(decode_ethernet(&six_in_four(&first)), Decoded::Other));

    // Outside a tunnel the same packet is a fragment for reassembly.
    match decode_ethernet(&ethernet(0x86dd, &ipv6_fragment(64, false, &data))) {
        Decoded::Fragment(f) => assert_eq!((f.offset, f.more, f.protocol, f.data), (64, false, 6, &data[..])),
        other => panic!("untunnelled fragment decoded as {other:?}"),
    }
}

#[test]
fn tunnelled_ipv6_fragments_create_no_flow() {
    let policy = load_policy(None).unwrap();
    let config =
        EngineConfig { flow_capacity: 64, session_capacity: 16, stream_capacity: 16, ..EngineConfig::default() };
    let mut engine = Engine::new(&config, Verdicts::new(policy));
    let mut sink = Count(0);
    let fragment = ipv6_fragment(64, false, &tcp_lookalike());
    for (i, frame) in [six_in_four(&fragment), pppoe(&fragment)].iter().enumerate() {
        let _ = engine.process(frame, 1_000_000 * i as u64, &mut sink);
    }
    assert_eq!(engine.flows_active(), 0, "a fragment's data was tracked as a TCP session");
    engine.finish_all(&mut sink);
    assert_eq!(sink.0, 0);
}
