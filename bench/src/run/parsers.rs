//! Parser and decoder microbenchmarks: the cases, shared by `run` (timed with
//! [`super::timing`]) and `cargo bench` (criterion, `benches/parsers.rs`).
//!
//! - a real rustls 0.23 ClientHello with the X25519MLKEM768 key share (and
//!   one without) through `mailgate_proto::tls::parse_client_hello`;
//! - whole SMTP, IMAP and POP3 handshakes, line by line, through the
//!   `mailgate_proto` session parsers (a new session per run);
//! - `mailgate_dataplane::decode::decode_ethernet` on a 64-byte IPv4 SYN and
//!   on a VLAN-tagged IPv6 data segment.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use mailgate_dataplane::decode::{decode_ethernet, Decoded};
use mailgate_proto::imap::ImapSession;
use mailgate_proto::pop3::Pop3Session;
use mailgate_proto::smtp::SmtpSession;
use mailgate_proto::tls::{parse_client_hello, TlsFacts, TlsStatus};
use mailgate_proto::Anomalies;
use smoltcp::wire::{TcpControl, TcpRepr, TcpSeqNumber};

use crate::frame::{tcp_frame, IpFields, IpPair, Link};
use crate::hello::{HelloError, HelloMaker, HelloSpec};

/// One microbenchmark: an operation on fixed input.
pub struct ParserCase {
    /// Short identifier (`tls_client_hello_pq`, `smtp_session`…).
    pub name: &'static str,
    /// What one operation is.
    pub what: &'static str,
    /// Input bytes per operation (for MB/s).
    pub bytes: usize,
    /// Lines per operation (line protocols), else 0.
    pub lines: usize,
    op: Box<dyn FnMut() -> usize>,
}

impl ParserCase {
    /// Runs the operation once; the result only defeats dead-code elimination.
    #[inline]
    pub fn run_once(&mut self) -> usize {
        (self.op)()
    }
}

/// One measured case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParserResult {
    /// The case's name.
    pub name: &'static str,
    /// What one operation is.
    pub what: &'static str,
    /// Nanoseconds per operation (median batch).
    pub ns_per_op: f64,
    /// Input bytes per operation.
    pub bytes: usize,
    /// Input throughput, MB/s (10^6 bytes).
    pub mb_per_s: f64,
    /// Nanoseconds per line (line protocols).
    pub ns_per_line: Option<f64>,
}

/// A direction-tagged line of a scripted handshake.
enum Line {
    Client(&'static [u8]),
    Server(&'static [u8]),
}
use Line::{Client as C, Server as S};

const SMTP: &[Line] = &[
    S(b"220 mx.corp.test ESMTP Postfix (Debian/GNU)"),
    C(b"EHLO ws-023.office.test"),
    S(b"250-mx.corp.test"),
    S(b"250-PIPELINING"),
    S(b"250-SIZE 10240000"),
    S(b"250-ETRN"),
    S(b"250-AUTH PLAIN LOGIN"),
    S(b"250-ENHANCEDSTATUSCODES"),
    S(b"250-8BITMIME"),
    S(b"250 DSN"),
    C(b"AUTH PLAIN AHRyZW50LnI2QGZyZWVtYWlsLmV4YW1wbGUAUHctc2VjcmV0LXg="),
    S(b"235 2.7.0 Authentication successful"),
    C(b"MAIL FROM:<trent.r6@freemail.example> SIZE=1234"),
    S(b"250 2.1.0 Ok"),
    C(b"RCPT TO:<bob@corp.test>"),
    S(b"250 2.1.5 Ok"),
    C(b"DATA"),
    S(b"354 End data with <CR><LF>.<CR><LF>"),
];

const IMAP: &[Line] = &[
    S(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready."),
    C(b"a1 CAPABILITY"),
    S(b"* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN"),
    S(b"a1 OK Pre-login capabilities listed, post-login capabilities have more."),
    C(b"a2 ID (\"name\" \"Thunderbird\" \"version\" \"115.6.0\" \"os\" \"Linux\")"),
    S(b"* ID (\"name\" \"Dovecot\")"),
    S(b"a2 OK ID completed."),
    C(b"a3 LOGIN \"alice@corp.test\" \"Pw-secret-imap\""),
    S(b"a3 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT] Logged in"),
];

const POP3: &[Line] = &[
    S(b"+OK Dovecot ready."),
    C(b"CAPA"),
    S(b"+OK"),
    S(b"CAPA"),
    S(b"TOP"),
    S(b"UIDL"),
    S(b"RESP-CODES"),
    S(b"PIPELINING"),
    S(b"AUTH-RESP-CODE"),
    S(b"STLS"),
    S(b"USER"),
    S(b"SASL PLAIN LOGIN"),
    S(b"."),
    C(b"USER carol@corp.test"),
    S(b"+OK"),
    C(b"PASS Pw-secret-pop3"),
    S(b"+OK Logged in."),
];

fn script_bytes(script: &[Line]) -> usize {
    script
        .iter()
        .map(|l| match l {
            C(b) | S(b) => b.len() + 2,
        })
        .sum()
}

/// A handshake case: a new session fed every line of `script`.
fn line_case<P: 'static>(
    name: &'static str,
    what: &'static str,
    script: &'static [Line],
    new: fn() -> P,
    client: fn(&mut P, &[u8], &mut Anomalies) -> mailgate_proto::Step,
    server: fn(&mut P, &[u8], &mut Anomalies) -> mailgate_proto::Step,
) -> ParserCase {
    ParserCase {
        name,
        what,
        bytes: script_bytes(script),
        lines: script.len(),
        op: Box::new(move || {
            let mut session = std::hint::black_box(new());
            let mut anomalies = Anomalies::default();
            let mut done = 0;
            for line in script {
                let step = match line {
                    C(l) => client(&mut session, std::hint::black_box(l), &mut anomalies),
                    S(l) => server(&mut session, std::hint::black_box(l), &mut anomalies),
                };
                done += usize::from(step == mailgate_proto::Step::Done);
            }
            std::hint::black_box(&session);
            done
        }),
    }
}

/// A ClientHello case: the whole hello parsed from its first record byte.
fn hello_case(name: &'static str, what: &'static str, hello: Vec<u8>) -> ParserCase {
    let mut scratch = vec![0u8; 16 * 1024];
    ParserCase {
        name,
        what,
        bytes: hello.len(),
        lines: 0,
        op: Box::new(move || {
            let mut facts = TlsFacts::default();
            let mut anomalies = Anomalies::default();
            let status = parse_client_hello(std::hint::black_box(&hello), &mut scratch, &mut facts, &mut anomalies);
            std::hint::black_box(&facts);
            usize::from(matches!(status, TlsStatus::Done { .. }))
        }),
    }
}

/// The record builder's share of a hello: JA3 (string and MD5) and JA4
/// (sorts and SHA-256s) from the inputs the parser kept.
fn fingerprint_case(name: &'static str, what: &'static str, hello: Vec<u8>) -> ParserCase {
    let mut facts = TlsFacts::default();
    let status = parse_client_hello(&hello, &mut vec![0u8; 16 * 1024], &mut facts, &mut Anomalies::default());
    let facts = matches!(status, TlsStatus::Done { .. }).then_some(facts);
    ParserCase {
        name,
        what,
        bytes: hello.len(),
        lines: 0,
        op: Box::new(move || {
            let Some(facts) = std::hint::black_box(&facts) else { return 0 };
            let (ja3, ja4) = (facts.fingerprints.ja3(), facts.fingerprints.ja4());
            std::hint::black_box(&ja3);
            usize::from(!ja3.text.is_empty() && !ja4.is_empty())
        }),
    }
}

/// A decode case.
fn decode_case(name: &'static str, what: &'static str, frame: Vec<u8>) -> ParserCase {
    ParserCase {
        name,
        what,
        bytes: frame.len(),
        lines: 0,
        op: Box::new(move || match decode_ethernet(std::hint::black_box(&frame)) {
            Decoded::Tcp(seg) => usize::from(seg.dst_port) + seg.payload.len(),
            _ => 0,
        }),
    }
}

fn tcp_test_frame(ips: IpPair, vlan: Option<u16>, control: TcpControl, payload: &[u8]) -> Vec<u8> {
    let link = Link { src_mac: [2, 0, 0, 0, 0, 1], dst_mac: [2, 0, 0, 0, 0, 2], vlan };
    let repr = TcpRepr {
        src_port: 40_001,
        dst_port: 587,
        control,
        seq_number: TcpSeqNumber(1_000),
        ack_number: (control != TcpControl::Syn).then_some(TcpSeqNumber(2_000)),
        window_len: 64_240,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    tcp_frame(&link, ips, IpFields { hop_limit: 64, ident: 1 }, &repr)
}

/// Every case, with their inputs made (the hellos by rustls).
pub fn cases() -> Result<Vec<ParserCase>, HelloError> {
    let maker = HelloMaker::new();
    let server_ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 50));
    let spec = |post_quantum| HelloSpec { server_name: Some("mx.corp.test"), server_ip, alpn: &[], post_quantum };
    let pq = maker.client_hello(&spec(true), [7; 32])?;
    let classical = maker.client_hello(&spec(false), [7; 32])?;
    let v4 = IpPair::V4(Ipv4Addr::new(198, 51, 100, 23), Ipv4Addr::new(203, 0, 113, 25));
    let v6 = IpPair::V6(
        Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x23),
        Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x25),
    );
    Ok(vec![
        hello_case(
            "tls_client_hello_pq",
            "rustls ClientHello with X25519MLKEM768 (SNI, ALPN, versions; JA3/JA4 inputs kept)",
            pq.clone(),
        ),
        hello_case("tls_client_hello", "rustls ClientHello without the PQ share", classical),
        fingerprint_case("tls_fingerprints", "JA3 and JA4 of that PQ hello, from the kept inputs (at record time)", pq),
        line_case(
            "smtp_session",
            "SMTP greeting to DATA with AUTH PLAIN",
            SMTP,
            SmtpSession::new,
            SmtpSession::client_line,
            SmtpSession::server_line,
        ),
        line_case(
            "imap_session",
            "IMAP greeting, CAPABILITY, ID, LOGIN",
            IMAP,
            ImapSession::new,
            ImapSession::client_line,
            ImapSession::server_line,
        ),
        line_case(
            "pop3_session",
            "POP3 greeting, CAPA, USER/PASS",
            POP3,
            Pop3Session::new,
            Pop3Session::client_line,
            Pop3Session::server_line,
        ),
        decode_case("decode_ipv4_syn", "64-byte IPv4 TCP SYN", tcp_test_frame(v4, None, TcpControl::Syn, &[])),
        decode_case(
            "decode_vlan_ipv6_data",
            "802.1Q IPv6 TCP segment with 32 bytes of payload",
            tcp_test_frame(v6, Some(100), TcpControl::Psh, b"EHLO ws-023.office.test\r\nNOOP\r\n\r\n"),
        ),
    ])
}

/// Times every case for about `budget` each.
pub fn measure(budget: Duration) -> anyhow::Result<Vec<ParserResult>> {
    let mut results = Vec::new();
    for mut case in cases()? {
        let ns = super::timing::ns_per_op(budget, || {
            std::hint::black_box(case.run_once());
        });
        results.push(ParserResult {
            name: case.name,
            what: case.what,
            ns_per_op: ns,
            bytes: case.bytes,
            mb_per_s: case.bytes as f64 / ns.max(1e-9) * 1e3,
            ns_per_line: (case.lines > 0).then(|| ns / case.lines as f64),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases measure real work: every hello parses, every handshake
    /// reaches its end, every frame decodes as TCP.
    #[test]
    fn every_case_does_what_it_claims() {
        for mut case in cases().unwrap() {
            let got = case.run_once();
            match case.name {
                "tls_client_hello_pq" | "tls_client_hello" | "tls_fingerprints" => assert_eq!(got, 1, "{}", case.name),
                "smtp_session" | "imap_session" | "pop3_session" => assert!(got >= 1, "{} never done", case.name),
                _ => assert!(got >= 587, "{} did not decode: {got}", case.name),
            }
        }
    }
}
