//! A SASL exchange: any mechanism name, then any client responses.
//!
//! Input: a header line naming the mechanism (`PLAIN`, `DIGEST-MD5`…); with
//! a leading `+` the responses that follow are raw bytes that the harness
//! base64-encodes (so the fuzzer reaches the decoded readers directly),
//! otherwise they are fed as they would be on the wire. One response per
//! following line.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use mailgate_fuzz::Transcript;
use mailgate_proto::sasl::{SaslExchange, SaslMech};
use mailgate_proto::Anomalies;

fuzz_target!(|data: &[u8]| {
    let t = Transcript::new(data);
    let (encode, mech) = match t.header.split_first() {
        Some((b'+', name)) => (true, name),
        _ => (false, t.header),
    };
    let mut exchange = SaslExchange::new(SaslMech::from_name(mech));
    let mut user = None;
    let mut anomalies = Anomalies::NONE;
    let responses = data.splitn(2, |&b| b == b'\n').nth(1).unwrap_or_default();
    for response in responses.split(|&b| b == b'\n') {
        let _ = exchange.expects_more();
        let wire = if encode {
            base64::engine::general_purpose::STANDARD.encode(response).into_bytes()
        } else {
            response.to_vec()
        };
        let _ = exchange.client_response(&wire, &mut user, &mut anomalies);
    }
    if let Some(name) = user {
        let _ = name.to_str_lossy();
    }
});
