//! The TLS ClientHello: what a client names (SNI, ALPN, versions) before any
//! encryption, and who it looks like (JA3, JA4).
//!
//! This is all the dataplane sees of a TLS session, on an implicit-TLS port
//! (465, 993, 995, …) or after STARTTLS/STLS. The parser is stateless: the
//! engine hands it the client's in-order bytes from the first record byte
//! on, a longer prefix each time more arrives, until it answers
//! [`TlsStatus::Done`]. Records are joined in caller-owned scratch memory when
//! the hello spans several of them; nothing is allocated.
//!
//! Not handled: SSL 2.0-compatible ClientHellos (`0x80 …`; [`probe`] says
//! [`Probe::No`]) and DTLS/QUIC (JA4 is always the TCP `t` form).

mod client_hello;
mod fingerprint;
mod reader;
mod record;
#[cfg(test)]
mod testing;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod rustls_tests;

pub use record::{probe, Probe};

use crate::text::StrList;
use crate::{Anomalies, BoundedStr};
pub use fingerprint::{Fingerprints, HelloInputs, Ja3};
use record::Joined;

/// Facts from one ClientHello; fixed size, `Copy`, no heap, so they travel
/// with the session through pools and rings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// TLS started at once on connect rather than after STARTTLS/STLS; set
    /// by the engine (the parser leaves it as it was).
    pub implicit: bool,
    /// The first `server_name` host_name (RFC 6066), as sent.
    pub sni: Option<BoundedStr<255>>,
    /// The ALPN protocol names, in the client's order.
    pub alpn: StrList<8, 32>,
    /// The hello's `legacy_version` (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// The highest non-GREASE version in `supported_versions`, when sent.
    pub max_supported_version: Option<u16>,
    /// The JA3 and JA4 fingerprints (`t13d1516h2_8daaf6152771_e5627efa2ab1`),
    /// computed when read: see [`Fingerprints`].
    pub fingerprints: Fingerprints,
    /// An `encrypted_client_hello` extension (0xfe0d) was sent: `sni` is then
    /// only the public (outer) name.
    pub ech: bool,
    /// Cipher suites offered, GREASE left out.
    pub cipher_count: u16,
    /// Extensions sent, GREASE left out.
    pub extension_count: u16,
    /// The client asked to send 0-RTT data (`early_data`).
    pub early_data: bool,
    /// The client offered a pre-shared key (session resumption).
    pub psk: bool,
}

impl TlsFacts {
    /// The version name records show: from `max_supported_version` when the
    /// client sent one, else from `legacy_version`; `None` for values that
    /// name no released version.
    pub fn version_name(&self) -> Option<&'static str> {
        match self.max_supported_version.unwrap_or(self.legacy_version) {
            0x0304 => Some("TLSv1.3"),
            0x0303 => Some("TLSv1.2"),
            0x0302 => Some("TLSv1.1"),
            0x0301 => Some("TLSv1.0"),
            0x0300 => Some("SSLv3"),
            _ => None,
        }
    }
}

/// What [`parse_client_hello`] made of the stream so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsStatus {
    /// The ClientHello is not complete yet: call again with more bytes.
    NeedMore,
    /// The facts are filled in; the hello's records took `consumed` bytes.
    /// May come with anomalies (e.g. a repeated host name).
    Done {
        /// Stream bytes up to the end of the record that ends the hello.
        consumed: usize,
    },
    /// The bytes do not start a TLS ClientHello (see [`probe`]).
    NotTls,
    /// A ClientHello that breaks the rules: [`Anomalies::INVALID_TLS`] is
    /// recorded and the facts hold what was read before the fault.
    Invalid,
}

/// Parses the ClientHello at the start of `stream`, the client's in-order
/// bytes from the first TLS record byte on (any prefix of them).
///
/// Returns [`TlsStatus::NeedMore`] until the whole handshake message is
/// there, however it is cut into records and segments. A hello that spans
/// records is joined in `scratch`; one that does not fit there is
/// [`TlsStatus::Invalid`] (a hello within a single record needs no scratch).
/// `out` is written on `Done` and `Invalid` only, keeping its `implicit`.
pub fn parse_client_hello(
    stream: &[u8],
    scratch: &mut [u8],
    out: &mut TlsFacts,
    anomalies: &mut Anomalies,
) -> TlsStatus {
    match probe(stream) {
        Probe::No => return TlsStatus::NotTls,
        Probe::Maybe => return TlsStatus::NeedMore,
        Probe::Yes => {}
    }
    let (message, consumed) = match record::join_handshake_message(stream, scratch) {
        Joined::NeedMore => return TlsStatus::NeedMore,
        Joined::Invalid => {
            anomalies.insert(Anomalies::INVALID_TLS);
            *out = TlsFacts { implicit: out.implicit, ..TlsFacts::default() };
            return TlsStatus::Invalid;
        }
        Joined::Message { message, consumed } => (message, consumed),
    };
    let mut facts = TlsFacts { implicit: out.implicit, ..TlsFacts::default() };
    let status = match client_hello::parse(message, &mut facts, anomalies) {
        Ok(hello) => {
            facts.fingerprints = Fingerprints::of(&hello);
            TlsStatus::Done { consumed }
        }
        Err(_) => {
            anomalies.insert(Anomalies::INVALID_TLS);
            TlsStatus::Invalid
        }
    };
    *out = facts;
    status
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::testing::{alpn_data, records, sni_data, versions_data, Hello};
    use super::*;
    use md5::Digest;
    use proptest::prelude::*;

    /// Parses `stream` in one go with ample scratch.
    pub(crate) fn parse_all(stream: &[u8]) -> (TlsStatus, TlsFacts, Anomalies) {
        let mut scratch = [0u8; 4096];
        let mut facts = TlsFacts::default();
        let mut anomalies = Anomalies::NONE;
        let status = parse_client_hello(stream, &mut scratch, &mut facts, &mut anomalies);
        (status, facts, anomalies)
    }

    fn mail_hello() -> Hello {
        Hello::tls12()
            .ext(0x0000, sni_data(&[(0, b"imap.example.org")]))
            .ext(0x0010, alpn_data(&[b"imap"]))
            .ext(0x002b, versions_data(&[0x0304, 0x0303]))
    }

    #[test]
    fn facts_of_a_whole_hello() {
        let stream = mail_hello().records(1 << 14);
        let (status, facts, anomalies) = parse_all(&stream);
        assert_eq!(status, TlsStatus::Done { consumed: stream.len() });
        assert!(anomalies.is_empty());
        assert_eq!(facts.sni.unwrap().to_string(), "imap.example.org");
        assert_eq!(facts.version_name(), Some("TLSv1.3"));
        let ja3 = facts.fingerprints.ja3();
        assert_eq!(ja3.text.to_string(), "771,49195-49199,0-16-43,,");
        assert_eq!(ja3.hash_hex().to_string(), format!("{:x}", md5::Md5::digest(ja3.text.as_bytes())));
        assert_eq!(&facts.fingerprints.ja4().to_string()[..10], "t13d0203ip");
    }

    #[test]
    fn version_name_falls_back_to_legacy_version() {
        let facts = TlsFacts { legacy_version: 0x0301, ..TlsFacts::default() };
        assert_eq!(facts.version_name(), Some("TLSv1.0"));
        let facts = TlsFacts { legacy_version: 0x0300, ..TlsFacts::default() };
        assert_eq!(facts.version_name(), Some("SSLv3"));
        let facts = TlsFacts { legacy_version: 0x0303, max_supported_version: Some(0x7f1c), ..TlsFacts::default() };
        assert_eq!(facts.version_name(), None);
    }

    #[test]
    fn not_tls_and_invalid_are_told_apart() {
        assert_eq!(parse_all(b"a001 LOGIN user pass\r\n").0, TlsStatus::NotTls);
        assert_eq!(parse_all(b"").0, TlsStatus::NeedMore);
        // A ClientHello whose body is too short for its fields.
        let (status, _, anomalies) = parse_all(&records(&[1, 0, 0, 2, 3, 3], 100));
        assert_eq!(status, TlsStatus::Invalid);
        assert!(anomalies.contains(Anomalies::INVALID_TLS));
    }

    #[test]
    fn the_engines_implicit_flag_survives_and_need_more_leaves_out_alone() {
        let stream = mail_hello().records(1 << 14);
        let mut facts = TlsFacts { implicit: true, cipher_count: 77, ..TlsFacts::default() };
        let mut scratch = [0u8; 16];
        let status = parse_client_hello(&stream[..20], &mut scratch, &mut facts, &mut Anomalies::default());
        assert_eq!(status, TlsStatus::NeedMore);
        assert_eq!(facts.cipher_count, 77);
        let status = parse_client_hello(&stream, &mut scratch, &mut facts, &mut Anomalies::default());
        assert_eq!(status, TlsStatus::Done { consumed: stream.len() });
        assert!(facts.implicit);
        assert_eq!(facts.cipher_count, 2);
    }

    #[test]
    fn a_hello_larger_than_scratch_over_records_is_invalid() {
        let hello = mail_hello().ext(0x0015, vec![0; 5000]);
        let (status, _, anomalies) = parse_all(&hello.records(1000));
        assert_eq!(status, TlsStatus::Invalid);
        assert!(anomalies.contains(Anomalies::INVALID_TLS));
        // In one record it needs no scratch at all.
        let stream = hello.records(1 << 14);
        let mut facts = TlsFacts::default();
        let status = parse_client_hello(&stream, &mut [], &mut facts, &mut Anomalies::default());
        assert_eq!(status, TlsStatus::Done { consumed: stream.len() });
        assert_eq!(facts.sni.unwrap().to_string(), "imap.example.org");
    }

    /// Every prefix of `stream` is `NeedMore` and the whole is `Done` with
    /// the facts of a one-shot parse; bytes after the hello change nothing.
    pub(crate) fn assert_every_prefix(stream: &[u8]) -> TlsFacts {
        let (status, facts, _) = parse_all(stream);
        assert_eq!(status, TlsStatus::Done { consumed: stream.len() });
        for cut in 0..stream.len() {
            let (status, _, _) = parse_all(&stream[..cut]);
            assert_eq!(status, TlsStatus::NeedMore, "prefix of {cut} of {}", stream.len());
        }
        let mut longer = stream.to_vec();
        longer.extend_from_slice(&[20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 5, 1, 2, 3, 4, 5]);
        let (status, again, _) = parse_all(&longer);
        assert_eq!(status, TlsStatus::Done { consumed: stream.len() });
        assert_eq!(again, facts);
        facts
    }

    #[test]
    fn split_at_every_offset_and_into_any_records() {
        let hello = mail_hello();
        let one = assert_every_prefix(&hello.records(1 << 14));
        for size in [1, 3, 4, 5, 40, 60] {
            assert_eq!(assert_every_prefix(&hello.records(size)), one, "records of {size}");
        }
    }

    /// A real-looking hello to mutate: the mail hello with GREASE and padding.
    fn seed() -> Vec<u8> {
        mail_hello().ext(0x0a0a, vec![]).ext(0x0015, vec![0; 40]).records(1 << 14)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let (status, _, _) = parse_all(&bytes);
            if let TlsStatus::Done { consumed } = status {
                prop_assert!(consumed <= bytes.len());
            }
            let _ = probe(&bytes);
        }

        #[test]
        fn random_bytes_behind_a_record_header_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            small_scratch in any::<bool>(),
        ) {
            let mut message = vec![1, 0, 0, u8::try_from(body.len() % 256).unwrap_or(0)];
            message.extend(&body);
            let stream = records(&message, 1 + body.len() % 97);
            let mut scratch = [0u8; 4096];
            let scratch = if small_scratch { &mut scratch[..64] } else { &mut scratch[..] };
            let mut facts = TlsFacts::default();
            let _ = parse_client_hello(&stream, scratch, &mut facts, &mut Anomalies::default());
        }

        #[test]
        fn mutated_real_hellos_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            record_size in 1usize..300,
        ) {
            let mut stream = seed();
            for (at, byte) in &edits {
                let i = at.index(stream.len());
                stream[i] = *byte;
            }
            let (status, facts, anomalies) = parse_all(&stream);
            if let TlsStatus::Done { consumed } = status {
                prop_assert!(consumed <= stream.len());
                let ja4 = facts.fingerprints.ja4();
                prop_assert!(ja4.is_empty() || ja4.as_bytes().len() == 36);
            }
            if status == TlsStatus::Invalid {
                prop_assert!(anomalies.contains(Anomalies::INVALID_TLS));
            }
            let _ = parse_all(&stream[..cut.index(stream.len())]);
            // The same mutation carried over many small records.
            let message = super::testing::join_records(&stream);
            let _ = parse_all(&records(&message, record_size));
        }
    }
}
