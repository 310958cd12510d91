//! Protocol detection: every probe on every line of the input, as the
//! engine runs them on a session's first lines.
//!
//! Input: lines separated by `\n` (the engine's splitter never passes one on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_proto::{detect, socks, tls};

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let _ = detect::probe_server_line(line);
        let _ = detect::probe_client_line(line);
        let _ = detect::probe_client_after_220(line);
        let _ = detect::looks_like_server_line(line);
    }
    // The binary probes look at the raw first bytes of a direction.
    let _ = tls::probe(data);
    let _ = socks::probe(data);
});
