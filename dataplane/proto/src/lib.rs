//! Pure, allocation-free parsers for the handshake phase of mail protocols.
//!
//! Every parser here takes borrowed bytes straight from the wire and writes
//! what it learns into fixed-size `*Facts` structs, so the dataplane can keep
//! them in pre-allocated pools and copy them through lock-free rings without
//! touching the heap. No function in this crate panics on wire input: the
//! lints below forbid the constructs that could.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod anomaly;
pub mod detect;
pub mod imap;
pub mod line;
pub mod pop3;
pub mod sasl;
pub mod smtp;
pub mod socks;
pub mod text;
pub mod tls;

pub use anomaly::Anomalies;
pub use text::BoundedStr;

/// What a protocol parser tells the engine after it consumed one line.
///
/// The engine uses these to run policy decision points and to know when the
/// handshake phase is over, after which it stops inspecting the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing the engine needs to act on.
    Continue,
    /// The client named itself (SMTP EHLO/HELO/LHLO).
    Helo,
    /// The client started to authenticate (SMTP AUTH, IMAP LOGIN/AUTHENTICATE, POP3 USER/APOP/AUTH).
    Auth,
    /// The client named an envelope sender (SMTP MAIL FROM).
    MailFrom,
    /// The server accepted STARTTLS/STLS: the next client bytes are a TLS ClientHello.
    TlsUpgrade,
    /// The handshake phase is over (message data, an authenticated state, or
    /// the session ended): nothing more worth inspecting will follow in clear.
    Done,
}

/// A mail-protocol session parser, fed the lines of both sides (without
/// their CR LF) in the order they crossed the wire. The engine drives SMTP,
/// IMAP and POP3 through this one interface.
pub trait LineParser {
    /// Consumes one line from the client.
    fn client_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step;
    /// Consumes one line from the server.
    fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step;
}

/// Test helpers shared by the parsers' unit tests.
#[cfg(test)]
#[allow(clippy::panic)]
pub(crate) mod testing {
    use super::{Anomalies, BoundedStr, LineParser, Step};

    /// Feeds a script of `C: …` / `S: …` lines; returns the steps other than
    /// `Continue` and the anomalies.
    pub(crate) fn drive(session: &mut impl LineParser, script: &[&str]) -> (Vec<Step>, Anomalies) {
        let mut anomalies = Anomalies::NONE;
        let mut steps = Vec::new();
        for line in script {
            let step = if let Some(l) = line.strip_prefix("C: ") {
                session.client_line(l.as_bytes(), &mut anomalies)
            } else if let Some(l) = line.strip_prefix("S: ") {
                session.server_line(l.as_bytes(), &mut anomalies)
            } else {
                panic!("bad script line {line}");
            };
            if step != Step::Continue {
                steps.push(step);
            }
        }
        (steps, anomalies)
    }

    /// An optional fact as text.
    pub(crate) fn s<const N: usize>(v: &Option<BoundedStr<N>>) -> Option<String> {
        v.as_ref().map(|b| b.to_string())
    }
}
