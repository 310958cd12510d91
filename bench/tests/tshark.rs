//! tshark, the reference dissector, reads the generated capture and finds
//! exactly the HELO names, SMTP AUTH users, IMAP LOGIN and POP3 USER names,
//! TLS server names and ALPN lists the truth file lists, flow by flow.
//!
//! Needs `tshark` on PATH (`apt-get install -y tshark`).

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;

use common::{gen, truth_key};
use mailgate_bench::mix::Mix;
use mailgate_bench::truth::FlowTruth;
use serde_json::Value;

type Key = (IpAddr, u16, IpAddr, u16);

const FIELDS: &[&str] = &[
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "smtp.req.command",
    "smtp.req.parameter",
    "smtp.auth.username",
    "imap.request.username",
    "pop.request.command",
    "pop.request.parameter",
    "tls.handshake.type",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
];

/// What tshark found, per flow.
#[derive(Default)]
struct Seen {
    helo: BTreeMap<Key, String>,
    smtp_user: BTreeMap<Key, String>,
    imap_user: BTreeMap<Key, String>,
    pop3_user: BTreeMap<Key, String>,
    sni: BTreeMap<Key, Option<String>>,
    alpn: BTreeMap<Key, Vec<String>>,
}

fn run_tshark(path: &std::path::Path) -> Seen {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(path).args([
        "-n",
        // Decode AUTH PLAIN / LOGIN user names; SMTP on its non-registered ports.
        "-o",
        "smtp.decryption:TRUE",
        "-d",
        "tcp.port==2525,smtp",
        "-d",
        "tcp.port==8025,smtp",
        "-Y",
        "smtp.req.command or smtp.auth.username or imap.request.username or pop.request.command or tls.handshake.type == 1",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out =
        cmd.output().unwrap_or_else(|e| panic!("cannot run tshark ({e}); install it with `apt-get install -y tshark`"));
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut seen = Seen::default();
    for line in String::from_utf8(out.stdout).expect("UTF-8").lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), FIELDS.len(), "{line}");
        let values =
            |i: usize| -> Vec<String> { cols[i].split('|').filter(|s| !s.is_empty()).map(str::to_string).collect() };
        let addr = |v4: usize, v6: usize| -> IpAddr {
            let text = if cols[v4].is_empty() { cols[v6] } else { cols[v4] };
            text.parse().unwrap_or_else(|_| panic!("address in {line}"))
        };
        let key: Key = (addr(0, 1), cols[2].parse().expect("port"), addr(3, 4), cols[5].parse().expect("port"));
        let commands = values(6);
        if commands.len() == 1 && (commands[0] == "EHLO" || commands[0] == "HELO") {
            let helo = values(7).pop().unwrap_or_default();
            assert!(seen.helo.insert(key, helo).is_none(), "two HELOs in {key:?}");
        }
        if let Some(user) = values(8).pop() {
            seen.smtp_user.insert(key, user);
        }
        if let Some(user) = values(9).pop() {
            seen.imap_user.insert(key, user.trim_matches('"').to_string());
        }
        if values(10) == ["USER"] {
            seen.pop3_user.insert(key, values(11).pop().unwrap_or_default());
        }
        if values(12).iter().any(|t| t == "1") {
            assert!(seen.sni.insert(key, values(13).pop()).is_none(), "two ClientHellos in {key:?}");
            seen.alpn.insert(key, values(14));
        }
    }
    seen
}

fn expected_str(t: &FlowTruth, path: &str) -> Option<String> {
    t.expected.get(path).and_then(Value::as_str).map(str::to_string)
}

#[test]
fn tshark_agrees_with_the_truth() {
    let capture = gen(Mix::Realistic, 1500, 20_250_106);
    let path = std::env::temp_dir().join(format!("mailgate-bench-tshark-{}.pcap", std::process::id()));
    std::fs::write(&path, &capture.pcap).expect("write capture");
    let seen = run_tshark(&path);
    std::fs::remove_file(&path).ok();

    let truth = capture.truth();
    let mut want = Seen::default();
    for t in &truth {
        let key = truth_key(t);
        if let Some(helo) = expected_str(t, "smtp.helo") {
            want.helo.insert(key, helo);
        }
        if let Some(user) = expected_str(t, "smtp.user") {
            want.smtp_user.insert(key, user);
        }
        // tshark names the user of LOGIN and USER, not of SASL PLAIN.
        if expected_str(t, "imap.auth_mech").as_deref() == Some("LOGIN") {
            want.imap_user.insert(key, expected_str(t, "imap.user").expect("imap.user"));
        }
        if expected_str(t, "pop3.auth_mech").as_deref() == Some("USER") {
            want.pop3_user.insert(key, expected_str(t, "pop3.user").expect("pop3.user"));
        }
        if t.expected.contains_key("tls.sni") {
            want.sni.insert(key, expected_str(t, "tls.sni"));
            let alpn: Vec<String> = t.expected["tls.alpn"]
                .as_array()
                .expect("tls.alpn is a list")
                .iter()
                .map(|v| v.as_str().expect("ALPN string").to_string())
                .collect();
            want.alpn.insert(key, alpn);
        }
    }
    // The comparison is only meaningful if every kind is well represented.
    assert!(want.helo.len() > 150, "HELOs: {}", want.helo.len());
    assert!(want.smtp_user.len() > 40, "SMTP users: {}", want.smtp_user.len());
    assert!(want.imap_user.len() > 15, "IMAP users: {}", want.imap_user.len());
    assert!(want.pop3_user.len() > 15, "POP3 users: {}", want.pop3_user.len());
    assert!(want.sni.values().filter(|s| s.is_none()).count() > 10, "hellos without SNI");
    assert!(want.sni.len() > 900, "ClientHellos: {}", want.sni.len());

    assert_eq!(seen.helo, want.helo, "HELO names");
    assert_eq!(seen.smtp_user, want.smtp_user, "SMTP AUTH users");
    assert_eq!(seen.imap_user, want.imap_user, "IMAP LOGIN users");
    assert_eq!(seen.pop3_user, want.pop3_user, "POP3 USER names");
    assert_eq!(seen.sni, want.sni, "TLS server names");
    assert_eq!(seen.alpn, want.alpn, "ALPN lists");
}
