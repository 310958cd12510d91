//! The SMTP session parser fed an arbitrary transcript of client and
//! server lines, from the start of a session or picked up mid-stream.
//!
//! Input: a header line (`mid` anywhere in it: a mid-stream session), then
//! lines, `S…` from the server, anything else from the client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_fuzz::Transcript;
use mailgate_proto::smtp::SmtpSession;

fuzz_target!(|data: &[u8]| {
    let t = Transcript::new(data);
    let mut session = if t.mid_stream() { SmtpSession::mid_stream() } else { SmtpSession::new() };
    let anomalies = t.feed(&mut session);
    let _ = format!("{:?}", session.facts);
    let _ = anomalies.names().count();
});
