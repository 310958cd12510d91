//! The ClientHellos are rustls's: an independent parser (tls-parser) reads
//! them, the post-quantum key share is a well-formed ML-KEM-768 key that
//! aws-lc-rs encapsulates to, and the post-quantum hello spans two TCP
//! segments, in a crafted session and in generated captures.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use aws_lc_rs::kem::{EncapsulationKey, ML_KEM_768};
use common::{decode, gen, truth_key, L4};
use mailgate_bench::hello::{HelloMaker, HelloSpec, MLKEM768_ENCAPSULATION_KEY_LEN};
use mailgate_bench::mix::Mix;
use mailgate_bench::synth::{Dir, SessionSpec, TcpSession};
use smoltcp::wire::TcpControl;
use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_plaintext, TlsExtension, TlsMessage, TlsMessageHandshake,
};

const X25519MLKEM768: u16 = 0x11ec;
const X25519: u16 = 0x001d;

/// What tls-parser finds in a ClientHello record.
#[derive(Debug)]
struct Parsed {
    sni: Option<String>,
    alpn: Vec<String>,
    /// (group, key exchange bytes) in order.
    shares: Vec<(u16, Vec<u8>)>,
    random: Vec<u8>,
}

fn parse(record: &[u8]) -> Parsed {
    let (rest, plaintext) = parse_tls_plaintext(record).expect("tls-parser reads the record");
    assert!(rest.is_empty(), "one record");
    let Some(TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch))) = plaintext.msg.first() else {
        panic!("not a ClientHello: {:?}", plaintext.msg);
    };
    let (_, extensions) = parse_tls_client_hello_extensions(ch.ext.expect("extensions")).expect("extensions parse");
    let mut parsed = Parsed { sni: None, alpn: Vec::new(), shares: Vec::new(), random: ch.random.to_vec() };
    for ext in extensions {
        match ext {
            TlsExtension::SNI(names) => {
                parsed.sni = names.first().map(|(_, n)| String::from_utf8(n.to_vec()).expect("ASCII name"));
            }
            TlsExtension::ALPN(protocols) => {
                parsed.alpn = protocols.iter().map(|p| String::from_utf8(p.to_vec()).expect("ALPN")).collect();
            }
            TlsExtension::KeyShare(raw) => {
                let total = usize::from(u16::from_be_bytes([raw[0], raw[1]]));
                let mut entries = &raw[2..2 + total];
                while !entries.is_empty() {
                    let group = u16::from_be_bytes([entries[0], entries[1]]);
                    let len = usize::from(u16::from_be_bytes([entries[2], entries[3]]));
                    parsed.shares.push((group, entries[4..4 + len].to_vec()));
                    entries = &entries[4 + len..];
                }
            }
            _ => {}
        }
    }
    parsed
}

fn hello(maker: &HelloMaker, name: Option<&str>, pq: bool, alpn: &[&str], seed: u8) -> Vec<u8> {
    let spec = HelloSpec { server_name: name, server_ip: "203.0.113.143".parse().unwrap(), alpn, post_quantum: pq };
    maker.client_hello(&spec, [seed; 32]).expect("rustls makes a ClientHello")
}

#[test]
fn hellos_carry_what_was_asked_and_are_reproducible() {
    let maker = HelloMaker::new();
    let a = hello(&maker, Some("imap.mailhost.test"), false, &["imap"], 1);
    let p = parse(&a);
    assert_eq!(p.sni.as_deref(), Some("imap.mailhost.test"));
    assert_eq!(p.alpn, ["imap"]);
    assert_eq!(p.shares.iter().map(|s| s.0).collect::<Vec<_>>(), [X25519]);
    assert_eq!(a, hello(&maker, Some("imap.mailhost.test"), false, &["imap"], 1), "same seed, same bytes");
    let b = hello(&maker, Some("imap.mailhost.test"), false, &["imap"], 2);
    assert_ne!(p.random, parse(&b).random, "another seed, another client random");
    assert_ne!(p.shares, parse(&b).shares, "another seed, another key share");

    let anonymous = parse(&hello(&maker, None, false, &[], 3));
    assert_eq!(anonymous.sni, None, "connecting by address sends no SNI");
    assert!(anonymous.alpn.is_empty());
}

#[test]
fn post_quantum_share_is_a_real_mlkem768_key_next_to_x25519() {
    let maker = HelloMaker::new();
    let p = parse(&hello(&maker, Some("mx.corp.test"), true, &[], 4));
    let groups: Vec<u16> = p.shares.iter().map(|s| s.0).collect();
    assert_eq!(groups, [X25519MLKEM768, X25519], "rustls sends the hybrid share and the X25519 one");
    let hybrid = &p.shares[0].1;
    assert_eq!(hybrid.len(), MLKEM768_ENCAPSULATION_KEY_LEN + 32);
    let (mlkem, x25519) = hybrid.split_at(MLKEM768_ENCAPSULATION_KEY_LEN);
    assert_eq!(x25519, p.shares[1].1.as_slice(), "the X25519 half is shared, as rustls does");
    let key = EncapsulationKey::new(&ML_KEM_768, mlkem).expect("aws-lc-rs accepts the encapsulation key");
    key.encapsulate().expect("and encapsulates to it");
}

#[test]
fn post_quantum_hello_spans_two_segments_in_a_crafted_session() {
    let maker = HelloMaker::new();
    for pq in [true, false] {
        let record = hello(&maker, Some("mx.corp.test"), pq, &[], 5);
        let spec = SessionSpec::new("198.51.100.10:40000".parse().unwrap(), "203.0.113.50:465".parse().unwrap());
        let mut session = TcpSession::new(spec, 0).unwrap();
        session.handshake();
        session.send(Dir::ToServer, &record);
        let segments: Vec<Vec<u8>> = session
            .into_frames()
            .iter()
            .filter_map(|f| decode(&f.data).ok())
            .filter_map(|p| match p.l4 {
                L4::Tcp(t) if t.dport == 465 && !t.payload.is_empty() => Some(t.payload),
                _ => None,
            })
            .collect();
        assert_eq!(segments.len(), if pq { 2 } else { 1 }, "pq={pq}: {} bytes", record.len());
        assert_eq!(segments.concat(), record);
    }
}

#[test]
fn generated_hellos_parse_and_span_the_segments_the_truth_says() {
    let capture = gen(Mix::Realistic, 800, 77);
    let truth: BTreeMap<_, _> = capture
        .truth()
        .into_iter()
        .filter(|t| t.expected.contains_key("tls.sni"))
        .map(|t| (truth_key(&t), t))
        .collect();

    // Client payload segments of every TLS flow, in order.
    let mut streams: BTreeMap<(IpAddr, u16, IpAddr, u16), Vec<Vec<u8>>> = BTreeMap::new();
    for (_, frame) in capture.frames() {
        let p = decode(&frame).expect("frame decodes");
        if let L4::Tcp(t) = p.l4 {
            let key = (p.src, t.sport, p.dst, t.dport);
            if truth.contains_key(&key) && !t.payload.is_empty() && t.control != TcpControl::Syn {
                streams.entry(key).or_default().push(t.payload);
            }
        }
    }
    assert_eq!(streams.len(), truth.len(), "every TLS flow of the truth has client data");
    let (mut pq_with_sni, mut classical) = (0, 0);
    for (key, segments) in &streams {
        let t = &truth[key];
        let stream = segments.concat();
        // The ClientHello record: 0x16 0x03 0x01, handshake type 1.
        let start = stream
            .windows(6)
            .position(|w| w[0] == 0x16 && w[1] == 3 && w[2] == 1 && w[5] == 1)
            .unwrap_or_else(|| panic!("{key:?}: no ClientHello"));
        let len = 5 + usize::from(u16::from_be_bytes([stream[start + 3], stream[start + 4]]));
        let parsed = parse(&stream[start..start + len]);
        assert_eq!(parsed.sni.as_deref(), t.expected["tls.sni"].as_str(), "{key:?}: SNI");
        // Segments the record touches.
        let mut offset = 0;
        let mut spanned = 0;
        for s in segments {
            if offset < start + len && offset + s.len() > start {
                spanned += 1;
            }
            offset += s.len();
        }
        assert_eq!(Some(spanned), t.client_hello_segments, "{key:?}: segments of a {len}-byte hello");
        let post_quantum = parsed.shares.first().map(|s| s.0) == Some(X25519MLKEM768);
        if post_quantum && parsed.sni.is_some() {
            // 1464 bytes and more: always longer than one Ethernet segment.
            pq_with_sni += 1;
            assert_eq!(spanned, 2, "{key:?}: a post-quantum hello of {len} bytes spans two segments");
        }
        if !post_quantum {
            classical += 1;
            assert_eq!(spanned, 1, "{key:?}: a classical hello fits one segment");
        }
    }
    assert!(
        pq_with_sni > 100 && classical > 100,
        "both kinds are common: {pq_with_sni} post-quantum with SNI, {classical} classical"
    );
}
