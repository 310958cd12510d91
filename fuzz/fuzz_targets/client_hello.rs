//! The TLS ClientHello parser on any client stream. However much of the
//! stream has arrived, a result other than `NeedMore` must be the one the
//! whole stream gives (same status, facts and anomalies): segmentation
//! must not change what the policy sees.
//!
//! Input: one byte giving the scratch size for hellos that span records
//! (×32 bytes; the engine uses 4096), then the client's stream from its
//! first TLS record byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_fuzz::prefix_lengths;
use mailgate_proto::tls::{self, TlsFacts, TlsStatus};
use mailgate_proto::Anomalies;

fn parse(stream: &[u8], scratch: &mut [u8]) -> (TlsStatus, TlsFacts, Anomalies) {
    let mut facts = TlsFacts::default();
    let mut anomalies = Anomalies::NONE;
    let status = tls::parse_client_hello(stream, scratch, &mut facts, &mut anomalies);
    if let TlsStatus::Done { consumed } = status {
        assert!(consumed <= stream.len(), "consumed {consumed} of {}", stream.len());
    }
    (status, facts, anomalies)
}

fuzz_target!(|data: &[u8]| {
    let Some((size, stream)) = data.split_first() else { return };
    let mut scratch = vec![0u8; usize::from(*size) * 32];
    let _ = tls::probe(stream);
    let full = parse(stream, &mut scratch);
    if let (TlsStatus::Done { .. } | TlsStatus::Invalid, facts) = (full.0, full.1) {
        let _ = facts.version_name();
        // The fingerprints are computed when read: from the kept inputs.
        let _ = facts.fingerprints.ja3().hash_hex();
        let _ = facts.fingerprints.ja4();
    }
    for len in prefix_lengths(stream.len()) {
        let part = parse(&stream[..len], &mut scratch);
        if part.0 != TlsStatus::NeedMore {
            assert_eq!(part, full, "decided on the first {len} of {} bytes", stream.len());
        }
    }
});
