//! ClientHellos written by a real TLS client (rustls 0.23 on aws-lc-rs), as
//! a mail client using it would send them: ALPN `imap`/`smtp`/`pop3`, with
//! and without SNI, with the post-quantum X25519MLKEM768 key share (1216
//! bytes of key share: the hello is larger than one Ethernet TCP segment)
//! and without.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::corpus_tests::assert_agrees_with_tls_parser;
use super::tests::{assert_every_prefix, parse_all};
use super::{Fingerprints, TlsFacts, TlsStatus};

/// The aws-lc-rs provider, post-quantum first (`prefer-post-quantum`) or
/// with X25519 alone.
fn provider(post_quantum: bool) -> CryptoProvider {
    let mut provider = aws_lc_rs::default_provider();
    if post_quantum {
        assert_eq!(provider.kx_groups[0].name(), aws_lc_rs::kx_group::X25519MLKEM768.name());
    } else {
        provider.kx_groups = vec![aws_lc_rs::kx_group::X25519];
    }
    provider
}

/// The first flight of a rustls client connecting to `server`.
fn client_hello(post_quantum: bool, alpn: &[u8], server: &str, max_fragment: Option<usize>) -> Vec<u8> {
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider(post_quantum)))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    config.max_fragment_size = max_fragment;
    let name = ServerName::try_from(server.to_string()).unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

#[test]
fn rustls_hellos_give_their_sni_alpn_and_version() {
    for post_quantum in [false, true] {
        for (alpn, code) in [(&b"imap"[..], "ip"), (b"smtp", "sp"), (b"pop3", "p3")] {
            for server in ["mail.example.org", "192.0.2.25"] {
                let stream = client_hello(post_quantum, alpn, server, None);
                let what = format!("pq={post_quantum} {alpn:?} {server}");
                let facts = assert_every_prefix(&stream);
                assert_agrees_with_tls_parser(&stream, &facts);
                let by_name = server.starts_with("mail");
                assert_eq!(facts.sni.map(|s| s.to_string()), by_name.then(|| server.to_string()), "{what}");
                assert_eq!(facts.alpn.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>(), [alpn.to_vec()]);
                assert_eq!(facts.version_name(), Some("TLSv1.3"), "{what}");
                assert_eq!(facts.legacy_version, 0x0303);
                let prefix = format!("t13{}", if by_name { 'd' } else { 'i' });
                let ja4 = facts.fingerprints.ja4().to_string();
                assert!(ja4.starts_with(&prefix) && ja4[8..10] == *code, "{what}: {ja4}");
                assert!(!facts.ech && !facts.psk && !facts.early_data);
                // supported_groups lists X25519MLKEM768 (4588) first when preferred.
                let groups = facts.fingerprints.ja3().text.to_string().split(',').nth(3).unwrap().to_string();
                assert_eq!(groups.starts_with("4588-"), post_quantum, "{what}: {groups}");
            }
        }
    }
}

#[test]
fn the_post_quantum_hello_spans_two_segments() {
    let stream = client_hello(true, b"imap", "imap.example.org", None);
    // 1484 bytes with rustls 0.23.46: more than an IPv4 Ethernet MSS (1460).
    assert!(stream.len() > 1460, "{} bytes", stream.len());
    // As two TCP segments of an Ethernet MSS: the first alone is not enough.
    assert_eq!(parse_all(&stream[..1460]).0, TlsStatus::NeedMore);
    let (status, facts, anomalies) = parse_all(&stream);
    assert_eq!(status, TlsStatus::Done { consumed: stream.len() });
    assert!(anomalies.is_empty());
    assert_eq!(facts.sni.unwrap().to_string(), "imap.example.org");
}

#[test]
fn a_rustls_hello_fragmented_into_records_gives_the_same_facts() {
    let whole = client_hello(true, b"smtp", "smtp.example.org", None);
    let fragmented = client_hello(true, b"smtp", "smtp.example.org", Some(300));
    // The same hello in at least five records (five bytes of header each).
    assert!(fragmented.len() >= whole.len() + 5 * 4, "{} vs {}", fragmented.len(), whole.len());
    let (status, facts, _) = parse_all(&fragmented);
    assert_eq!(status, TlsStatus::Done { consumed: fragmented.len() });
    let (_, one_record, _) = parse_all(&whole);
    // rustls shuffles its extension order per connection, so the JA3 string
    // differs; JA4 sorts the extensions and the other facts do not depend on
    // the order.
    let unordered = |f: &TlsFacts| TlsFacts { fingerprints: Fingerprints::None, ..*f };
    assert_eq!(unordered(&facts), unordered(&one_record));
    assert_eq!(facts.fingerprints.ja4(), one_record.fingerprints.ja4());
    assert!(!facts.fingerprints.ja4().is_empty());
    assert_every_prefix(&fragmented);
}
