//! Every frame of every mix parses with smoltcp, every checksum verifies,
//! only documentation addresses appear, time never goes backwards, and each
//! TCP flow of the truth is a complete, consistent session.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{decode, gen, truth_key, Capture, L4};
use mailgate_bench::mix::Mix;
use mailgate_bench::truth::is_documentation_address;
use smoltcp::wire::TcpControl;

type Key = (IpAddr, u16, IpAddr, u16);

/// Per direction of a flow: the sequence space seen so far.
#[derive(Default)]
struct Direction {
    isn: Option<u32>,
    next: Option<u32>,
    syns: u32,
    fins: u32,
    data: usize,
    options_on_syn: Option<(Option<u16>, Option<u8>, bool, bool)>,
}

fn check_capture(capture: &Capture, mix: Mix) {
    let frames = capture.frames();
    assert_eq!(frames.len() as u64, capture.summary.frames);
    let truth = capture.truth();
    assert_eq!(truth.len() as u64, capture.summary.flows);
    let flows: HashMap<Key, usize> = truth.iter().enumerate().map(|(i, t)| (truth_key(t), i)).collect();
    assert_eq!(flows.len(), truth.len(), "flow keys are unique");

    let mut dirs: HashMap<(Key, bool), Direction> = HashMap::new();
    let mut last_ts = 0;
    for (n, (ts, frame)) in frames.iter().enumerate() {
        assert!(*ts >= last_ts, "frame {n}: time goes backwards");
        last_ts = *ts;
        let p = decode(frame).unwrap_or_else(|e| panic!("frame {n}: {e}"));
        assert!(is_documentation_address(p.src) && is_documentation_address(p.dst), "frame {n}: {p:?}");
        if mix == Mix::Nonmail64 {
            assert_eq!(frame.len(), 60, "frame {n}: nonmail64 frames are 60 bytes (64 with FCS)");
        }
        let L4::Tcp(t) = &p.l4 else {
            assert!(matches!(p.l4, L4::Udp { dport: 53, .. } | L4::Udp { sport: 53, .. }), "only DNS over UDP");
            continue;
        };
        let (key, to_server) = if flows.contains_key(&(p.src, t.sport, p.dst, t.dport)) {
            ((p.src, t.sport, p.dst, t.dport), true)
        } else {
            let key = (p.dst, t.dport, p.src, t.sport);
            assert!(flows.contains_key(&key), "frame {n} belongs to no truth flow: {p:?}");
            (key, false)
        };
        let truth_vlan = truth[flows[&key]].vlan;
        assert_eq!(p.vlan, truth_vlan, "frame {n}: VLAN differs from the truth");
        let d = dirs.entry((key, to_server)).or_default();
        match t.control {
            TcpControl::Syn => {
                d.syns += 1;
                d.isn = Some(t.seq);
                d.next = Some(t.seq.wrapping_add(1));
                d.options_on_syn = Some((t.mss, t.window_scale, t.sack_permitted, t.timestamp.is_some()));
                assert_eq!(t.ack.is_some(), !to_server, "frame {n}: SYN from the client, SYN-ACK from the server");
            }
            _ => {
                let next = d.next.unwrap_or_else(|| panic!("frame {n}: data before the SYN"));
                assert_eq!(t.seq, next, "frame {n}: sequence gap or overlap in a generated flow");
                d.next = Some(next.wrapping_add(t.payload.len() as u32 + u32::from(t.control == TcpControl::Fin)));
                d.data += t.payload.len();
                d.fins += u32::from(t.control == TcpControl::Fin);
                assert!(t.ack.is_some(), "frame {n}: every segment after the SYN acknowledges");
            }
        }
        // An ACK never acknowledges what the peer has not sent yet.
        if let Some(ack) = t.ack {
            let peer = dirs.get(&(key, !to_server)).and_then(|d| d.next);
            let peer = peer.unwrap_or_else(|| panic!("frame {n}: ACK before the peer's SYN"));
            assert!(peer.wrapping_sub(ack) < 1 << 30, "frame {n}: ACK {ack} beyond peer's {peer}");
        }
    }
    for t in &truth {
        let key = truth_key(t);
        let c = &dirs[&(key, true)];
        let s = &dirs[&(key, false)];
        assert_eq!((c.syns, s.syns), (1, 1), "flow {}: one SYN each way", t.flow);
        assert_eq!((c.fins, s.fins), (1, 1), "flow {}: one FIN each way", t.flow);
        assert!(c.data > 0 && s.data > 0, "flow {}: both sides speak", t.flow);
        let (mss, ws, sack, ts) = c.options_on_syn.expect("client SYN");
        if mix == Mix::Nonmail64 {
            assert_eq!((mss.is_some(), ws, sack, ts), (true, None, false, false), "minimal SYN");
        } else {
            assert!(mss.is_some() && ws.is_some() && sack && ts, "flow {}: SYN with MSS, WS, SACK, TS", t.flow);
        }
    }
}

#[test]
fn realistic_frames_are_valid() {
    check_capture(&gen(Mix::Realistic, 600, 11), Mix::Realistic);
}

#[test]
fn nonmail64_frames_are_valid_and_minimal() {
    check_capture(&gen(Mix::Nonmail64, 3000, 11), Mix::Nonmail64);
}

#[test]
fn mailstorm_frames_are_valid() {
    check_capture(&gen(Mix::Mailstorm, 1000, 11), Mix::Mailstorm);
}

#[test]
fn truth_secrets_are_carried_by_the_capture() {
    let capture = gen(Mix::Realistic, 600, 5);
    let truth = capture.truth();
    // Secrets are ASCII: searching the lossy text finds exactly the byte strings.
    let text = String::from_utf8_lossy(&capture.pcap);
    let with_secrets: Vec<_> = truth.iter().filter(|t| !t.secrets.is_empty()).collect();
    assert!(with_secrets.len() > 20, "cleartext logins in the mix: {}", with_secrets.len());
    for t in with_secrets {
        assert!(
            t.secrets.iter().any(|s| s.starts_with(mailgate_bench::dialogue::PASSWORD_PREFIX)),
            "flow {}: the password itself is listed",
            t.flow
        );
        let in_capture = |s: &str| text.contains(s);
        let decoded: Vec<Vec<u8>> = t.secrets.iter().filter_map(|s| B64.decode(s).ok()).collect();
        for secret in &t.secrets {
            // In clear (IMAP LOGIN, POP3 PASS, the base64 lines), or inside one of the base64 forms (SMTP AUTH).
            let inside_encoded = decoded.iter().any(|d| d.windows(secret.len()).any(|w| w == secret.as_bytes()));
            assert!(in_capture(secret) || inside_encoded, "flow {}: secret {secret} is not in the capture", t.flow);
        }
        assert!(t.secrets.iter().any(|s| in_capture(s)), "flow {}: no secret in the capture", t.flow);
    }
}
