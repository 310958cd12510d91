//! The session builder does what its documentation promises: chosen
//! segmentation, out-of-order and overlapping ranges, injected segments,
//! mid-stream starts, ACK timing, congestion-window bursts, VLAN and IPv6
//! framing, and errors for scripts it cannot honour.

mod common;

use common::{decode, Packet, Tcp, L4};
use mailgate_bench::frame::Frame;
use mailgate_bench::synth::{Dir, Segmentation, SessionSpec, SynthError, TcpSession};
use smoltcp::wire::TcpControl;

const CLIENT: &str = "198.51.100.23:40001";
const SERVER: &str = "203.0.113.25:25";

fn session() -> TcpSession {
    let spec = SessionSpec::new(CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    TcpSession::new(spec, 1_000_000).unwrap()
}

fn packets(frames: &[Frame]) -> Vec<(u64, Packet)> {
    frames.iter().map(|f| (f.ts_us, decode(&f.data).expect("frame decodes"))).collect()
}

fn tcp(p: &Packet) -> &Tcp {
    p.tcp().expect("TCP")
}

/// Data segments sent by the client (destination port 25).
fn client_data(packets: &[(u64, Packet)]) -> Vec<&Tcp> {
    packets.iter().map(|(_, p)| tcp(p)).filter(|t| t.dport == 25 && !t.payload.is_empty()).collect()
}

#[test]
fn one_byte_per_segment_and_explicit_sizes() {
    let mut s = session();
    s.handshake();
    let base = s.next_seq(Dir::ToServer);
    s.send_with(Dir::ToServer, b"EHLO a.test\r\n", &Segmentation::EveryByte).unwrap();
    s.send_with(Dir::ToServer, &[b'x'; 4000], &Segmentation::Sizes(vec![3, 5])).unwrap();
    let frames = s.into_frames();
    let data = client_data(&packets(&frames)).into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(data.len(), 13 + 2 + 3, "13 single bytes, 3 + 5, then 1448 + 1448 + 1096");
    for (i, t) in data.iter().take(13).enumerate() {
        assert_eq!(t.payload, &b"EHLO a.test\r\n"[i..i + 1]);
        assert_eq!(t.seq, base.wrapping_add(i as u32));
    }
    let sizes: Vec<usize> = data[13..].iter().map(|t| t.payload.len()).collect();
    assert_eq!(sizes, [3, 5, 1448, 1448, 1096]);
    assert_eq!(data[12].control, TcpControl::Psh, "PSH on the last segment of a write");
    assert_eq!(data[11].control, TcpControl::None);
}

#[test]
fn ranges_go_out_in_the_order_given_and_the_ack_covers_them() {
    let mut s = session();
    s.handshake();
    let base = s.next_seq(Dir::ToServer);
    let line = b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n";
    s.send_ranges(Dir::ToServer, line, &[10..line.len(), 0..10, 5..15]).unwrap();
    assert_eq!(s.next_seq(Dir::ToServer), base.wrapping_add(line.len() as u32));
    s.send(Dir::ToClient, b"235 ok\r\n");
    let frames = s.into_frames();
    let packets = packets(&frames);
    let data = client_data(&packets);
    let got: Vec<(u32, &[u8])> = data.iter().map(|t| (t.seq, t.payload.as_slice())).collect();
    assert_eq!(got, [(base + 10, &line[10..]), (base, &line[..10]), (base + 5, &line[5..15]),]);
    let reply = packets.iter().map(|(_, p)| tcp(p)).find(|t| t.sport == 25 && !t.payload.is_empty()).unwrap();
    assert_eq!(reply.ack, Some(base + line.len() as u32), "the reply acknowledges the whole line");
}

#[test]
fn a_hole_holds_the_acknowledgement_back() {
    let mut s = session();
    s.handshake();
    let base = s.next_seq(Dir::ToServer);
    s.send_ranges(Dir::ToServer, b"0123456789", &[0..4, 6..10]).unwrap();
    s.send(Dir::ToClient, b"500 what\r\n");
    let frames = s.into_frames();
    let packets = packets(&frames);
    let reply = packets.iter().map(|(_, p)| tcp(p)).find(|t| t.sport == 25 && !t.payload.is_empty()).unwrap();
    assert_eq!(reply.ack, Some(base + 4), "bytes 4 and 5 never arrived");
}

#[test]
fn injected_segments_change_nothing() {
    let mut s = session();
    s.handshake();
    let base = s.next_seq(Dir::ToServer);
    s.send(Dir::ToServer, b"EHLO good.test\r\n");
    s.inject(Dir::ToServer, -11, b"evil").unwrap();
    s.send(Dir::ToServer, b"QUIT\r\n");
    let frames = s.into_frames();
    let packets = packets(&frames);
    let data = client_data(&packets);
    let got: Vec<(u32, &[u8])> = data.iter().map(|t| (t.seq, t.payload.as_slice())).collect();
    assert_eq!(
        got,
        [(base, b"EHLO good.test\r\n".as_slice()), (base + 5, b"evil".as_slice()), (base + 16, b"QUIT\r\n".as_slice()),]
    );
}

#[test]
fn without_a_handshake_the_session_starts_mid_stream() {
    let mut s = session();
    s.send(Dir::ToClient, b"250 ok\r\n");
    s.close(Dir::ToServer);
    let frames = s.into_frames();
    let packets = packets(&frames);
    assert!(packets.iter().all(|(_, p)| tcp(p).control != TcpControl::Syn));
    assert_eq!(tcp(&packets[0].1).payload, b"250 ok\r\n");
}

#[test]
fn answers_arrive_one_delay_later_and_carry_the_ack_unless_too_slow() {
    let mut spec = SessionSpec::new(CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    spec.server.delay_us = 30_000;
    let mut s = TcpSession::new(spec, 1_000_000).unwrap();
    s.handshake();
    s.send(Dir::ToServer, b"NOOP\r\n");
    s.send(Dir::ToClient, b"250 ok\r\n");
    s.send(Dir::ToServer, b"NOOP\r\n");
    s.pause(100_000);
    s.send(Dir::ToClient, b"250 ok\r\n");
    let frames = s.into_frames();
    let packets = packets(&frames);
    let times: Vec<u64> = packets.iter().map(|(t, _)| *t).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "frames in time order");
    assert_eq!(times[1] - times[0], 30_000, "SYN-ACK one server delay after the SYN");
    let kinds: Vec<(u16, usize)> = packets[3..].iter().map(|(_, p)| (tcp(p).sport, tcp(p).payload.len())).collect();
    assert_eq!(
        kinds,
        [(40001, 6), (25, 8), (40001, 6), (25, 0), (25, 8), (40001, 0)],
        "a prompt reply carries the ACK; a reply after 100 ms is preceded by a delayed ACK; \
         the last reply is acknowledged when the session ends"
    );
    let data_at = packets[3].0;
    let reply_at = packets[4].0;
    assert_eq!(reply_at - data_at, 30_000, "the reply is seen one server delay after the request");
    let second_request = packets[5].0;
    assert_eq!(packets[6].0 - second_request, 30_000 + 40_000, "delayed ACK after 40 ms");
}

#[test]
fn bulk_transfers_grow_a_congestion_window() {
    let mut s = session();
    s.handshake();
    s.send(Dir::ToServer, b"GET\r\n");
    s.send(Dir::ToClient, &vec![7u8; 200_000]);
    let frames = s.into_frames();
    let packets = packets(&frames);
    let server_data: Vec<u64> =
        packets.iter().filter(|(_, p)| tcp(p).sport == 25 && !tcp(p).payload.is_empty()).map(|(t, _)| *t).collect();
    // Bursts are separated by a round trip (> 10 ms), segments within one by microseconds.
    let mut bursts = vec![1usize];
    for w in server_data.windows(2) {
        if w[1] - w[0] > 10_000 {
            bursts.push(0);
        }
        *bursts.last_mut().unwrap() += 1;
    }
    assert_eq!(&bursts[..3], &[10, 20, 40], "slow start from 10 segments: {bursts:?}");
    let client_acks = packets.iter().filter(|(_, p)| tcp(p).dport == 25 && tcp(p).payload.is_empty()).count();
    let segments = server_data.len();
    assert!(client_acks >= segments / 2, "an ACK every second segment: {client_acks} for {segments}");
}

#[test]
fn vlan_ipv6_reset_and_errors() {
    let mut spec =
        SessionSpec::new("[2001:db8:1::1005]:40001".parse().unwrap(), "[2001:db8:2::25]:587".parse().unwrap());
    spec.vlan = Some(120);
    let mut s = TcpSession::new(spec, 0).unwrap();
    s.handshake();
    s.reset(Dir::ToClient);
    let frames = s.into_frames();
    let packets = packets(&frames);
    assert!(packets.iter().all(|(_, p)| p.vlan == Some(120) && p.src.is_ipv6()));
    assert_eq!(tcp(&packets.last().unwrap().1).control, TcpControl::Rst);
    assert_eq!(tcp(&packets[0].1).mss, Some(1440), "IPv6 MSS");

    let mut s = session();
    assert_eq!(s.send_with(Dir::ToServer, b"abc", &Segmentation::Sizes(vec![1, 0])), Err(SynthError::ZeroSegment));
    assert!(matches!(s.send_ranges(Dir::ToServer, b"abc", &[0..1, 1..5]), Err(SynthError::BadRange { .. })));
    assert!(matches!(s.send_ranges(Dir::ToServer, b"abc", &[0..1, 2..2]), Err(SynthError::BadRange { .. })));
    let mixed = SessionSpec::new(CLIENT.parse().unwrap(), "[2001:db8:2::25]:25".parse().unwrap());
    assert!(matches!(TcpSession::new(mixed, 0), Err(SynthError::MixedFamilies { .. })));
    assert!(matches!(packets[0].1.l4, L4::Tcp(_)));
}

#[test]
fn an_explicit_ack_is_a_pure_ack_of_everything_received() {
    let mut s = session();
    s.handshake();
    s.send(Dir::ToClient, b"220 hi\r\n");
    s.ack(Dir::ToServer);
    let server_next = s.next_seq(Dir::ToClient);
    let frames = s.into_frames();
    let packets = packets(&frames);
    let acks: Vec<&Tcp> = packets
        .iter()
        .map(|(_, p)| tcp(p))
        .filter(|t| t.dport == 25 && t.payload.is_empty() && t.control == TcpControl::None)
        .collect();
    assert_eq!(acks.len(), 2, "the handshake's ACK and the explicit one, nothing owed after it");
    assert_eq!(acks[1].ack, Some(server_next));
}
