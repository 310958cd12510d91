//! Evasion resistance: each class of the list as a crafted session
//! (with `mailgate_bench::synth`, valid checksums), through the engine as the
//! live workers run it, with the record the appliance must write. What the
//! appliance does in each case, and why, is in docs/evasion.md.

use mailgate_bench::frame::Frame;
use mailgate_bench::hello::{HelloMaker, HelloSpec};
use mailgate_bench::synth::{Dir, Segmentation, SessionSpec, TcpSession};
use mailgate_dataplane::engine::{Engine, EngineConfig, SessionEnd, SessionSink};
use mailgate_dataplane::io::mem::{MemFrame, MemIo};
use mailgate_dataplane::io::PacketIo;
use mailgate_dataplane::record::to_record;
use mailgate_dataplane::verdict::{load_policy, PolicyHandle, Verdicts};
use mailgate_dataplane::worker::{PortPair, Worker};
use serde_json::Value;
use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket};
use std::sync::Arc;

const START_US: u64 = 1_736_154_000_000_000;
const BANNER: &[u8] = b"220 mx.corp.test ESMTP ready\r\n";
const EHLO_REPLY: &[u8] = b"250-mx.corp.test\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n";
/// `AUTH PLAIN` for user `alice`, password `Pw-secret-x`.
const AUTH_PLAIN: &[u8] = b"AUTH PLAIN AGFsaWNlAFB3LXNlY3JldC14\r\n";

struct Collect(PolicyHandle, Vec<Value>);
impl SessionSink for Collect {
    fn emit(&mut self, s: &mut SessionEnd<'_>) {
        self.1.push(serde_json::to_value(to_record(s, std::slice::from_ref(&self.0))).unwrap());
    }
}

/// Records for `frames` run through the engine, with `policy` (TOML) or the embedded default.
fn records_with(frames: &[Frame], policy: Option<&str>) -> Vec<Value> {
    let policy = match policy {
        Some(toml) => {
            let path =
                std::env::temp_dir().join(format!("mailgate-evasion-{}-{}.toml", std::process::id(), toml.len()));
            std::fs::write(&path, toml).unwrap();
            load_policy(Some(&path)).unwrap()
        }
        None => load_policy(None).unwrap(),
    };
    let list = frames.iter().map(|f| MemFrame::new(Arc::from(f.data.as_slice()), Some(f.ts_us * 1000))).collect();
    let mut io = MemIo::new(vec![list, Vec::new()], false, false);
    let mut worker =
        Worker::new(Engine::new(&EngineConfig::default(), Verdicts::new(policy.clone())), Collect(policy, Vec::new()));
    while !io.exhausted() {
        worker.poll_once(&mut io, &[PortPair { inside: 0, outside: 1 }], 0);
    }
    worker.finish();
    worker.sink.1
}

fn record(frames: &[Frame]) -> Value {
    let mut all = records_with(frames, None);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn session(port: u16) -> TcpSession {
    let spec =
        SessionSpec::new("198.51.100.23:40001".parse().unwrap(), format!("203.0.113.25:{port}").parse().unwrap());
    TcpSession::new(spec, START_US).unwrap()
}

/// An SMTP session whose client lines come through `client`.
fn smtp(port: u16, client: impl FnOnce(&mut TcpSession)) -> Vec<Frame> {
    let mut s = session(port);
    s.handshake();
    s.send(Dir::ToClient, BANNER);
    client(&mut s);
    s.close(Dir::ToServer);
    s.into_frames()
}

fn assert_smtp_facts(r: &Value) {
    assert_eq!(r["mail_proto"], "smtp", "{r}");
    assert_eq!(r["smtp"]["helo"], "ws-023.office.test", "{r}");
    assert_eq!(r["smtp"]["auth_mech"], "PLAIN", "{r}");
    assert_eq!(r["smtp"]["user"], "alice", "{r}");
    assert!(!r.to_string().contains("Pw-secret"), "a password leaked: {r}");
}

#[test]
fn commands_split_one_byte_per_segment() {
    let frames = smtp(25, |s| {
        s.send_with(Dir::ToServer, b"EHLO ws-023.office.test\r\n", &Segmentation::EveryByte).unwrap();
        s.send(Dir::ToClient, EHLO_REPLY);
        s.send_with(Dir::ToServer, AUTH_PLAIN, &Segmentation::EveryByte).unwrap();
    });
    assert_smtp_facts(&record(&frames));
}

#[test]
fn segments_out_of_order() {
    let frames = smtp(25, |s| {
        let ehlo = b"EHLO ws-023.office.test\r\n";
        s.send_ranges(Dir::ToServer, ehlo, &[12..ehlo.len(), 5..12, 0..5]).unwrap();
        s.send(Dir::ToClient, EHLO_REPLY);
        s.send_ranges(Dir::ToServer, AUTH_PLAIN, &[20..AUTH_PLAIN.len(), 0..20]).unwrap();
    });
    assert_smtp_facts(&record(&frames));
}

#[test]
fn overlapping_segments_with_conflicting_bytes_keep_the_first_copy_and_are_flagged() {
    let frames = smtp(25, |s| {
        // The real EHLO, then a "retransmission" of its middle with other bytes.
        let at = s.next_seq(Dir::ToServer);
        s.send(Dir::ToServer, b"EHLO ws-023.office.test\r\n");
        s.inject(Dir::ToServer, 5 - i64::from(s.next_seq(Dir::ToServer).wrapping_sub(at)), b"evil-host").unwrap();
        s.send(Dir::ToClient, EHLO_REPLY);
        s.send(Dir::ToServer, AUTH_PLAIN);
    });
    let r = record(&frames);
    assert_smtp_facts(&r);
    assert!(r["anomalies"].as_array().unwrap().contains(&"overlap_mismatch".into()), "{r}");
    // …and the policy can block on the anomaly.
    let policy =
        "mode = \"block\"\n[defaults]\nunapproved_mail = \"alert\"\n[anomalies]\noverlap_mismatch = \"reset\"\n";
    let blocked = records_with(&frames, Some(policy));
    assert_eq!(blocked[0]["verdict"]["action"], "reset", "{}", blocked[0]);
    assert_eq!(blocked[0]["verdict"]["rule"], "anomalies.overlap_mismatch");
}

#[test]
fn a_retransmission_with_different_data_sent_first_wins_and_is_flagged() {
    // The attacker's copy arrives first; the host may take the second one.
    // The record follows the first copy (as the stream engine must pick
    // one) and says the copies differed, so policy and analysts know.
    let frames = smtp(25, |s| {
        s.inject(Dir::ToServer, 0, b"EHLO good.example.org\r\n").unwrap();
        s.send(Dir::ToServer, b"EHLO evil.example.org\r\n");
        s.send(Dir::ToClient, EHLO_REPLY);
    });
    let r = record(&frames);
    assert_eq!(r["smtp"]["helo"], "good.example.org");
    assert!(r["anomalies"].as_array().unwrap().contains(&"overlap_mismatch".into()), "{r}");
}

/// Splits an IPv4 frame's IP payload into fragments of `size` bytes (a multiple of 8).
fn fragment_v4(frame: &Frame, size: usize) -> Vec<Frame> {
    let l2 = 14;
    let ip = Ipv4Packet::new_checked(&frame.data[l2..]).unwrap();
    let hlen = usize::from(ip.header_len());
    let payload = ip.payload().to_vec();
    let mut out = Vec::new();
    for (i, chunk) in payload.chunks(size).enumerate() {
        let mut f = frame.data[..l2 + hlen].to_vec();
        f.extend_from_slice(chunk);
        let mut p = Ipv4Packet::new_unchecked(&mut f[l2..]);
        p.set_total_len((hlen + chunk.len()) as u16);
        p.set_frag_offset((i * size) as u16);
        p.set_more_frags((i + 1) * size < payload.len());
        p.set_dont_frag(false);
        p.fill_checksum();
        out.push(Frame { ts_us: frame.ts_us, data: f });
    }
    out
}

fn payload_len(frame: &Frame) -> usize {
    match mailgate_dataplane::decode::decode_ethernet(&frame.data) {
        mailgate_dataplane::decode::Decoded::Tcp(seg) => seg.payload.len(),
        _ => 0,
    }
}

#[test]
fn ipv4_fragments_of_handshake_packets_are_reassembled() {
    let frames = smtp(25, |s| {
        s.send(Dir::ToServer, b"EHLO ws-023.office.test\r\n");
        s.send(Dir::ToClient, EHLO_REPLY);
        s.send(Dir::ToServer, AUTH_PLAIN);
    });
    let fragmented: Vec<Frame> =
        frames.iter().flat_map(|f| if payload_len(f) > 0 { fragment_v4(f, 16) } else { vec![f.clone()] }).collect();
    assert!(fragmented.len() > frames.len() + 6);
    let r = record(&fragmented);
    assert_smtp_facts(&r);
    assert!(!r["anomalies"].as_array().unwrap().contains(&"fragment_overlap".into()));
}

#[test]
fn overlapping_ip_fragments_are_flagged() {
    let frames = smtp(25, |s| {
        s.send(Dir::ToServer, b"EHLO ws-023.office.test\r\n");
        s.send(Dir::ToClient, EHLO_REPLY);
    });
    let mut out = Vec::new();
    for f in &frames {
        if payload_len(f) > 0 && f.data[34..36] == 40001u16.to_be_bytes() {
            let mut frags = fragment_v4(f, 16);
            // A second copy of the first fragment with other bytes, first.
            let mut evil = frags[0].clone();
            let n = evil.data.len();
            evil.data[n - 2] ^= 0x20;
            let mut p = Ipv4Packet::new_unchecked(&mut evil.data[14..]);
            p.fill_checksum();
            frags.insert(1, evil);
            out.extend(frags);
        } else {
            out.push(f.clone());
        }
    }
    let r = record(&out);
    assert!(r["anomalies"].as_array().unwrap().contains(&"fragment_overlap".into()), "{r}");
    assert_eq!(r["smtp"]["helo"], "ws-023.office.test", "the first copy wins: {r}");
}

/// Adds `payload` to a SYN frame (IPv4), fixing lengths and checksums.
fn syn_with_data(frame: &Frame, payload: &[u8]) -> Frame {
    let mut f = frame.data.clone();
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    let total = usize::from(ip.total_len());
    f.truncate(14 + total);
    f.extend_from_slice(payload);
    let hlen = usize::from(Ipv4Packet::new_checked(&f[14..]).unwrap().header_len());
    let mut p = Ipv4Packet::new_unchecked(&mut f[14..]);
    p.set_total_len((total + payload.len()) as u16);
    p.fill_checksum();
    let (src, dst) = (p.src_addr(), p.dst_addr());
    let mut t = TcpPacket::new_unchecked(&mut f[14 + hlen..]);
    t.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
    Frame { ts_us: frame.ts_us, data: f }
}

#[test]
fn syn_with_data_is_inspected_and_flagged() {
    // An IMAP client whose first command rides on the SYN (as TCP Fast Open allows).
    let mut s = session(143);
    s.handshake();
    s.send(Dir::ToClient, b"* OK IMAP4rev1 ready\r\n");
    s.send(Dir::ToServer, b"a2 LOGIN bob Pw-secret-y\r\n");
    s.close(Dir::ToServer);
    let mut frames = s.into_frames();
    // The SYN carries "a1 CAPABILITY"; the client's later sequence numbers follow it.
    let first = b"a1 CAPABILITY\r\n";
    frames[0] = syn_with_data(&frames[0], first);
    let shift = first.len() as u32;
    for f in frames.iter_mut().skip(1) {
        shift_client_seq(f, shift);
    }
    let r = record(&frames);
    assert_eq!(r["mail_proto"], "imap", "{r}");
    assert_eq!(r["imap"]["user"], "bob", "{r}");
    assert!(r["anomalies"].as_array().unwrap().contains(&"syn_with_data".into()), "{r}");
    assert!(!r.to_string().contains("Pw-secret"));
}

/// Moves the client's sequence numbers (and the server's acks of them) by `shift`.
fn shift_client_seq(f: &mut Frame, shift: u32) {
    let hlen = usize::from(Ipv4Packet::new_checked(&f.data[14..]).unwrap().header_len());
    let ip = Ipv4Packet::new_checked(&f.data[14..]).unwrap();
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let from_client = src.octets() == [198, 51, 100, 23];
    let mut t = TcpPacket::new_unchecked(&mut f.data[14 + hlen..]);
    if from_client {
        t.set_seq_number(t.seq_number() + shift as usize);
    } else if t.ack() {
        t.set_ack_number(t.ack_number() + shift as usize);
    }
    t.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
}

#[test]
fn verbs_in_mixed_case_bare_lf_whitespace_and_long_lines() {
    let frames = smtp(587, |s| {
        let long = format!("NOOP {}\r\n", "x".repeat(3000));
        s.send(Dir::ToServer, long.as_bytes());
        s.send(Dir::ToClient, b"250 ok\r\n");
        s.send(Dir::ToServer, b"   eHlO ws-023.office.test  \n");
        s.send(Dir::ToClient, EHLO_REPLY);
        s.send(Dir::ToServer, b"aUtH plain AGFsaWNlAFB3LXNlY3JldC14\n");
    });
    let r = record(&frames);
    assert_smtp_facts(&r);
    let anomalies = r["anomalies"].as_array().unwrap();
    assert!(anomalies.contains(&"bare_lf".into()) && anomalies.contains(&"long_line".into()), "{r}");
}

#[test]
fn pipelined_commands() {
    let frames = smtp(25, |s| {
        s.send(Dir::ToServer, b"EHLO ws-023.office.test\r\nAUTH PLAIN AGFsaWNlAFB3LXNlY3JldC14\r\nMAIL FROM:<alice@office.test>\r\nRCPT TO:<x@provider.test>\r\n");
        s.send(Dir::ToClient, EHLO_REPLY);
        s.send(Dir::ToClient, b"235 ok\r\n250 ok\r\n250 ok\r\n");
    });
    let r = record(&frames);
    assert_smtp_facts(&r);
    assert_eq!(r["smtp"]["mail_from"], "alice@office.test");
    assert_eq!(r["smtp"]["rcpt_to"][0], "x@provider.test");
}

fn client_hello(name: Option<&str>, post_quantum: bool) -> Vec<u8> {
    HelloMaker::new()
        .client_hello(
            &HelloSpec { server_name: name, server_ip: "203.0.113.25".parse().unwrap(), alpn: &[], post_quantum },
            [7; 32],
        )
        .unwrap()
}

/// Re-frames a single-record ClientHello into TLS records of at most `size` body bytes.
fn into_records(hello: &[u8], size: usize) -> Vec<u8> {
    let body = &hello[5..];
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[test]
fn starttls_reply_split_and_a_client_hello_split_across_records_and_segments() {
    let hello = into_records(&client_hello(Some("mx.corp.test"), true), 200);
    let frames = smtp(25, |s| {
        s.send(Dir::ToServer, b"EHLO ws-023.office.test\r\n");
        s.send(Dir::ToClient, EHLO_REPLY);
        s.send(Dir::ToServer, b"STARTTLS\r\n");
        s.send_with(Dir::ToClient, b"220 2.0.0 Ready to start TLS\r\n", &Segmentation::Sizes(vec![2, 5, 7])).unwrap();
        // The SNI lies past the first segment: 40-byte segments, then the rest.
        s.send_with(Dir::ToServer, &hello, &Segmentation::Sizes(vec![40, 40, 40])).unwrap();
    });
    let r = record(&frames);
    assert_eq!(r["smtp"]["starttls"], true, "{r}");
    assert_eq!(r["tls"]["sni"], "mx.corp.test", "{r}");
    assert_eq!(r["tls"]["implicit"], false);
}

#[test]
fn mail_on_a_nonstandard_port_after_a_non_mail_looking_first_segment() {
    let mut s = session(8080);
    s.handshake();
    // The client speaks first with something that is not mail…
    s.send(Dir::ToServer, b"\r\n");
    // …then the server greets as SMTP.
    s.send(Dir::ToClient, BANNER);
    s.send(Dir::ToServer, b"EHLO ws-023.office.test\r\n");
    s.send(Dir::ToClient, EHLO_REPLY);
    s.send(Dir::ToServer, AUTH_PLAIN);
    s.close(Dir::ToServer);
    let r = record(&s.into_frames());
    assert_smtp_facts(&r);
    assert!(r["anomalies"].as_array().unwrap().contains(&"mail_on_nonstandard_port".into()), "{r}");
}

#[test]
fn a_session_picked_up_mid_stream() {
    let mut s = session(25);
    // No handshake: the appliance starts in the middle of the session.
    s.send(Dir::ToClient, EHLO_REPLY);
    s.send(Dir::ToServer, AUTH_PLAIN);
    s.send(Dir::ToClient, b"235 2.7.0 ok\r\n");
    s.send(Dir::ToServer, b"MAIL FROM:<alice@office.test>\r\n");
    s.close(Dir::ToServer);
    let r = record(&s.into_frames());
    assert_eq!(r["direction_inferred"], true, "{r}");
    assert_eq!((r["src_port"].as_u64(), r["dest_port"].as_u64()), (Some(40001), Some(25)), "client found: {r}");
    assert_eq!(r["smtp"]["user"], "alice");
    assert!(r["anomalies"].as_array().unwrap().contains(&"midstream".into()));
}

#[test]
fn tcp_options_do_not_hide_the_handshake() {
    // SessionSpec::new negotiates MSS, window scale, SACK and timestamps;
    // every segment carries the timestamp option.
    let frames = smtp(25, |s| {
        s.send(Dir::ToServer, b"EHLO ws-023.office.test\r\n");
        s.send(Dir::ToClient, EHLO_REPLY);
        s.send(Dir::ToServer, AUTH_PLAIN);
    });
    let data = frames.iter().find(|f| payload_len(f) > 0).unwrap();
    let ip = Ipv4Packet::new_checked(&data.data[14..]).unwrap();
    assert!(TcpPacket::new_checked(ip.payload()).unwrap().header_len() > 20, "options present");
    assert_smtp_facts(&record(&frames));
}
