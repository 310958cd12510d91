//! The SMTP session parser fed an arbitrary transcript of client and
//! server lines, from the start of a session or picked up mid-stream.
//!
//! Input: a header line (`mid` anywhere in it: a mid-stream session), then
//! lines, `S…` from the server, anything else from the client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_fuzz::{Side, Transcript};
use mailgate_proto::smtp::SmtpSession;
use mailgate_proto::Anomalies;

fuzz_target!(|data: &[u8]| {
    let t = Transcript::new(data);
    let mid = t.header.windows(3).any(|w| w == b"mid");
    let mut session = if mid { SmtpSession::mid_stream() } else { SmtpSession::new() };
    let mut anomalies = Anomalies::NONE;
    // Lines after `Done` are still fed: the parser must take anything.
    for (side, line) in t.lines() {
        let _ = match side {
            Side::Client => session.client_line(line, &mut anomalies),
            Side::Server => session.server_line(line, &mut anomalies),
        };
    }
    let _ = format!("{:?}", session.facts);
    let _ = anomalies.names().count();
});
