//! Real ClientHellos from the shared corpus (as hex fixtures, see
//! `tests/fixtures/README.md`) checked against what other tools made of the
//! same bytes: tshark's SNI, ALPN and JA3, FoxIO's reference JA4, nDPI's
//! JA4; and every parsed field checked against the `tls-parser` crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use proptest::prelude::*;
use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_message_handshake, SNIType, TlsExtension, TlsExtensionType,
    TlsMessage, TlsMessageHandshake,
};

use super::client_hello::is_grease;
use super::testing::{
    alpn_data, from_hex, join_records, point_formats_data, records, sni_data, u16_list_data, versions_data, Hello,
};
use super::tests::{assert_every_prefix, parse_all};
use super::{TlsFacts, TlsStatus};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// One row of `references.tsv`.
struct Reference {
    fixture: String,
    sni: Option<String>,
    alpn: Vec<String>,
    ja3_md5: String,
    ja3: String,
    ja4_foxio: String,
    ja4_ndpi: Option<String>,
}

fn references() -> Vec<Reference> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/references.tsv")).unwrap();
    let dash = |s: &str| (s != "-").then(|| s.to_string());
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "{line}");
            Reference {
                fixture: f[0].to_string(),
                sni: dash(f[3]),
                alpn: dash(f[4]).map(|a| a.split(',').map(str::to_string).collect()).unwrap_or_default(),
                ja3_md5: f[5].to_string(),
                ja3: f[6].to_string(),
                ja4_foxio: f[7].to_string(),
                ja4_ndpi: dash(f[8]),
            }
        })
        .collect()
}

fn fixture(name: &str) -> Vec<u8> {
    from_hex(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap())
}

/// The parts after the version/SNI/count/ALPN prefix.
fn hashes(ja4: &str) -> &str {
    ja4.split_once('_').map_or("", |(_, rest)| rest)
}

#[test]
fn corpus_hellos_match_tshark_foxio_and_ndpi() {
    let refs = references();
    assert!(refs.len() >= 40, "fixtures missing: {}", refs.len());
    for r in &refs {
        let stream = fixture(&r.fixture);
        let (status, facts, anomalies) = parse_all(&stream);
        let name = &r.fixture;
        assert_eq!(status, TlsStatus::Done { consumed: stream.len() }, "{name}");
        assert!(anomalies.is_empty(), "{name}: {anomalies:?}");
        assert_eq!(facts.sni.map(|s| s.to_string()), r.sni, "{name}");
        assert_eq!(facts.alpn.iter().map(|a| a.to_string()).collect::<Vec<_>>(), r.alpn, "{name}");
        let (ja3, ja4) = (facts.fingerprints.ja3(), facts.fingerprints.ja4());
        assert_eq!(ja3.text.to_string(), r.ja3, "{name}");
        assert_eq!(ja3.hash_hex().to_string(), r.ja3_md5, "{name}");
        assert_eq!(ja4.to_string(), r.ja4_foxio, "{name}");
        if let Some(ndpi) = &r.ja4_ndpi {
            // nDPI (2024-10) differs from the JA4 spec in the prefix only; see README.
            assert_eq!(hashes(&ja4.to_string()), hashes(ndpi), "{name}");
        }
        assert_eq!(facts.ech, r.ja3.split(',').nth(2).unwrap().split('-').any(|e| e == "65037"), "{name}");
    }
}

#[test]
fn corpus_ech_hellos_are_flagged() {
    for name in ["ndpi-tls_ech-1.hex", "zeek-tls-tls13-ech-1.hex", "zeek-tls-tls13-ech-2.hex"] {
        let (_, facts, _) = parse_all(&fixture(name));
        assert!(facts.ech, "{name}");
        assert!(facts.sni.is_some(), "{name}: the outer SNI is still there");
    }
    let (_, facts, _) = parse_all(&fixture("ndpi-imaps-1.hex"));
    assert!(!facts.ech);
}

#[test]
fn corpus_hellos_parse_at_every_offset_and_over_many_records() {
    for r in references() {
        let stream = fixture(&r.fixture);
        let whole = assert_every_prefix(&stream);
        let message = join_records(&stream);
        for size in [1, 7, 100, message.len() / 2 + 1] {
            let split = records(&message, size);
            let (status, facts, _) = parse_all(&split);
            assert_eq!(status, TlsStatus::Done { consumed: split.len() }, "{} in {size}", r.fixture);
            assert_eq!(facts, whole, "{} in records of {size}", r.fixture);
        }
    }
}

#[test]
fn the_post_quantum_corpus_hello_spans_two_segments() {
    // Chrome 131 with an X25519MLKEM768 key share (group 4588), one record of
    // 1724 bytes that the capture carries in two TCP segments.
    let stream = fixture("arkime-tls-split-client-hello-1.hex");
    assert!(stream.len() > 1500);
    assert_eq!(parse_all(&stream[..1448]).0, TlsStatus::NeedMore);
    let (status, facts, _) = parse_all(&stream);
    assert_eq!(status, TlsStatus::Done { consumed: stream.len() });
    assert!(facts.fingerprints.ja3().text.to_string().ends_with(",4588-29-23-24,0"));
}

/// Checks our facts against `tls-parser`'s reading of the same message.
pub(crate) fn assert_agrees_with_tls_parser(stream: &[u8], facts: &TlsFacts) {
    let message = join_records(stream);
    let (_, parsed) = parse_tls_message_handshake(&message).expect("tls-parser reads the message");
    let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) = parsed else {
        panic!("tls-parser sees no ClientHello");
    };
    let extensions = match hello.ext {
        Some(block) => {
            let (rest, list) = parse_tls_client_hello_extensions(block).unwrap();
            assert!(rest.is_empty(), "tls-parser left extension bytes");
            list
        }
        None => Vec::new(),
    };
    let ja3 = facts.fingerprints.ja3().text;
    let ja3: Vec<&str> = std::str::from_utf8(ja3.as_bytes()).unwrap().split(',').collect();
    assert!(!facts.fingerprints.ja3().text.truncated());
    let joined = |values: Vec<u16>| {
        values.into_iter().filter(|v| !is_grease(*v)).map(|v| v.to_string()).collect::<Vec<_>>().join("-")
    };

    assert_eq!(facts.legacy_version, hello.version.0, "version");
    assert_eq!(ja3[0], hello.version.0.to_string());
    assert_eq!(ja3[1], joined(hello.ciphers.iter().map(|c| c.0).collect()), "cipher suites");
    assert_eq!(usize::from(facts.cipher_count), hello.ciphers.iter().filter(|c| !is_grease(c.0)).count());
    let types: Vec<u16> = extensions.iter().map(|e| TlsExtensionType::from(e).0).collect();
    assert_eq!(ja3[2], joined(types.clone()), "extension types");
    assert_eq!(usize::from(facts.extension_count), types.iter().filter(|t| !is_grease(**t)).count());

    let mut sni = None;
    let mut alpn = None;
    let mut versions = None;
    let mut groups = None;
    let mut formats = None;
    for ext in &extensions {
        match ext {
            TlsExtension::SNI(names) => {
                sni = sni.or_else(|| names.iter().find(|(t, _)| *t == SNIType::HostName).map(|(_, n)| *n));
            }
            TlsExtension::ALPN(names) if alpn.is_none() => alpn = Some(names.clone()),
            TlsExtension::SupportedVersions(v) if versions.is_none() => {
                versions = Some(v.iter().map(|v| v.0).filter(|v| !is_grease(*v)).max());
            }
            TlsExtension::EllipticCurves(g) if groups.is_none() => groups = Some(g.iter().map(|g| g.0).collect()),
            TlsExtension::EcPointFormats(f) if formats.is_none() => {
                formats = Some(f.iter().map(|f| u16::from(*f)).collect())
            }
            _ => {}
        }
    }
    assert_eq!(facts.sni.map(|s| s.as_bytes().to_vec()), sni.map(<[u8]>::to_vec), "SNI");
    let alpn: Vec<Vec<u8>> = alpn.unwrap_or_default().iter().map(|a| a.to_vec()).collect();
    assert_eq!(facts.alpn.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>(), alpn, "ALPN");
    assert_eq!(facts.max_supported_version, versions.flatten(), "supported_versions");
    assert_eq!(ja3[3], joined(groups.unwrap_or_default()), "supported groups");
    assert_eq!(ja3[4], joined(formats.unwrap_or_default()), "point formats");
}

#[test]
fn corpus_hellos_agree_with_tls_parser() {
    for r in references() {
        let stream = fixture(&r.fixture);
        let (_, facts, _) = parse_all(&stream);
        assert_agrees_with_tls_parser(&stream, &facts);
    }
}

/// Well-formed hellos of random shape: GREASE anywhere, any extension order.
fn random_hello() -> impl Strategy<Value = Hello> {
    let host = "[a-z0-9]{1,20}(\\.[a-z0-9-]{1,20}){0,3}";
    let names = proptest::collection::vec("[a-z0-9/.-]{1,20}", 1..6);
    let u16s = |n| proptest::collection::vec(any::<u16>(), 1..n);
    (
        prop::sample::select(vec![0x0300u16, 0x0301, 0x0302, 0x0303]),
        proptest::collection::vec(any::<u8>(), 0..=32),
        u16s(60),
        proptest::option::of(host),
        proptest::option::of(names),
        proptest::option::of(u16s(6)),
        proptest::option::of((u16s(12), proptest::collection::vec(any::<u8>(), 1..4), u16s(20))),
        proptest::collection::vec((0x4000u16..0x4400, proptest::collection::vec(any::<u8>(), 0..30)), 0..6),
    )
        .prop_flat_map(|(version, session_id, ciphers, sni, alpn, versions, ec, unknown)| {
            let mut exts: Vec<(u16, Vec<u8>)> = Vec::new();
            if let Some(host) = sni {
                exts.push((0x0000, sni_data(&[(0, host.as_bytes())])));
            }
            if let Some(names) = alpn {
                let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
                exts.push((0x0010, alpn_data(&names)));
            }
            if let Some(v) = versions {
                exts.push((0x002b, versions_data(&v)));
            }
            if let Some((groups, formats, schemes)) = ec {
                exts.push((0x000a, u16_list_data(&groups)));
                exts.push((0x000b, point_formats_data(&formats)));
                exts.push((0x000d, u16_list_data(&schemes)));
            }
            exts.push((0x1a1a, Vec::new()));
            let mut used = std::collections::HashSet::new();
            exts.extend(unknown.into_iter().filter(|(t, _)| used.insert(*t)));
            let hello = Hello {
                version,
                session_id,
                ciphers,
                raw_ciphers: None,
                compression: vec![0],
                extensions: Some(Vec::new()),
            };
            (Just(hello), Just(exts).prop_shuffle())
        })
        .prop_map(|(mut hello, exts)| {
            hello.extensions = Some(exts);
            hello
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn generated_hellos_agree_with_tls_parser(hello in random_hello(), record_size in 1usize..600) {
        let stream = hello.records(record_size);
        let (status, facts, anomalies) = parse_all(&stream);
        prop_assert_eq!(status, TlsStatus::Done { consumed: stream.len() });
        prop_assert!(anomalies.is_empty(), "{:?}", anomalies);
        assert_agrees_with_tls_parser(&stream, &facts);
        prop_assert_eq!(facts.fingerprints.ja4().as_bytes().len(), 36);
    }
}
