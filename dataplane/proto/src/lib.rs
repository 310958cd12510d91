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
