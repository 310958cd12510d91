//! The session record: one per TCP session that is mail or used a mail port.
//!
//! Field names are a contract (see the README's record reference): add
//! fields freely, rename none. Absent values are `null`, never omitted, so
//! that every record has the same shape.
//!
//! Every struct holding text takes its text type `S`: `String` (the
//! default) for records that are kept — the control plane's, the
//! reporter's batches — and a `Cow<str>` borrowing the session's facts for
//! a record written out at once (`inspect`), so that writing a record
//! copies no text it does not have to. Both serialise to the same bytes.

use serde::{Deserialize, Serialize};

/// The mail protocol a session speaks (implicit TLS counts as the protocol it carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum MailProto {
    /// SMTP, submission and LMTP.
    Smtp,
    /// IMAP4.
    Imap,
    /// POP3.
    Pop3,
}

impl MailProto {
    /// The name as records and policy files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MailProto::Smtp => "smtp",
            MailProto::Imap => "imap",
            MailProto::Pop3 => "pop3",
        }
    }
}

/// How the session's mail protocol was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailProtoSource {
    /// Seen in clear in the session's bytes.
    Content,
    /// Implicit TLS on the protocol's TLS port (465, 993, 995).
    Port,
    /// Named by the ClientHello's ALPN list.
    Alpn,
}

/// What the policy did (or, in monitor mode, would have done) to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Allowed, nothing to report.
    Pass,
    /// Allowed and reported.
    Alert,
    /// Discarded from the offending packet on.
    Drop,
    /// Discarded, and both sides sent a TCP RST.
    Reset,
    /// Monitor mode: a drop that was not enforced.
    WouldDrop,
    /// Monitor mode: a reset that was not enforced.
    WouldReset,
}

impl Action {
    /// The name as records spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Alert => "alert",
            Action::Drop => "drop",
            Action::Reset => "reset",
            Action::WouldDrop => "would_drop",
            Action::WouldReset => "would_reset",
        }
    }
}

/// The verdict on a session: which rule decided, and why, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict<S = String> {
    /// The action taken.
    pub action: Action,
    /// The allow rule, exception, or `defaults` key that decided; `null` without a policy.
    pub rule: Option<S>,
    /// A sentence for the analyst.
    pub reason: S,
    /// The hash of the policy in force when the verdict was reached.
    #[serde(default)]
    pub policy_hash: Option<S>,
    /// The decision point that reached the verdict (`syn`, `detect`, `helo`, `auth`, `starttls`, `client_hello`, `mail_from`, `end`).
    #[serde(default)]
    pub decided_at: Option<S>,
}

/// SMTP handshake facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpRecord<S = String> {
    /// `EHLO`, `HELO` or `LHLO`, as the client spelled it (upper-cased).
    pub helo_verb: Option<S>,
    /// The name the client gave itself.
    pub helo: Option<S>,
    /// The server's 220 greeting text.
    pub banner: Option<S>,
    /// SASL mechanisms the EHLO reply offered.
    pub auth_mechs_offered: Vec<S>,
    /// Whether the EHLO reply offered STARTTLS.
    pub starttls_offered: bool,
    /// The SASL mechanism the client used in clear.
    pub auth_mech: Option<S>,
    /// The user name the client authenticated as (never the password).
    pub user: Option<S>,
    /// True only when the client asked for STARTTLS and the server accepted.
    pub starttls: bool,
    /// The first envelope sender.
    pub mail_from: Option<S>,
    /// Up to 8 envelope recipients.
    pub rcpt_to: Vec<S>,
}

/// IMAP and POP3 handshake facts (the two protocols record the same things).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxRecord<S = String> {
    /// The server's greeting text.
    pub banner: Option<S>,
    /// Capabilities the server announced (CAPABILITY / CAPA).
    pub capabilities: Vec<S>,
    /// True only when the client asked for STARTTLS/STLS and the server accepted.
    pub starttls: bool,
    /// The login method used in clear: a SASL mechanism, `LOGIN` (IMAP), `USER` or `APOP` (POP3).
    pub auth_mech: Option<S>,
    /// The user name (never the password).
    pub user: Option<S>,
    /// IMAP ID parameters the client sent, as name/value pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id: Vec<(S, S)>,
}

/// JA3 fingerprint of a ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ja3<S = String> {
    /// The JA3 string (version,ciphers,extensions,groups,point formats).
    pub string: S,
    /// Its MD5, in lower-case hex.
    pub hash: S,
}

/// TLS ClientHello facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsRecord<S = String> {
    /// True for TLS from the session's first byte (465/993/995 style), false after STARTTLS.
    pub implicit: bool,
    /// The server name the client asked for.
    pub sni: Option<S>,
    /// The ALPN protocols offered, in order.
    pub alpn: Vec<S>,
    /// The highest version offered (`TLSv1.3`, `TLSv1.2`, …).
    pub version: Option<S>,
    /// JA3 fingerprint.
    pub ja3: Ja3<S>,
    /// JA4 fingerprint.
    pub ja4: S,
    /// Whether the ClientHello carried Encrypted Client Hello (extension 0xfe0d).
    pub ech: bool,
}

/// The SOCKS proxy request of a session tunnelled through a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocksRecord<S = String> {
    /// SOCKS version (4 or 5).
    pub version: u8,
    /// The host the client asked the proxy to reach.
    pub target_host: S,
    /// The port it asked for.
    pub target_port: u16,
    /// The user name given to the proxy (never the password).
    pub user: Option<S>,
}

/// One TCP session as the dataplane saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord<S = String> {
    /// RFC 3339 time of the first packet.
    pub ts: S,
    /// RFC 3339 time of the last packet.
    pub ts_end: S,
    /// Identifier of the flow, unique per dataplane run.
    pub flow_id: u64,
    /// The client (initiator) address.
    pub src_ip: S,
    /// The client port.
    pub src_port: u16,
    /// The server address.
    pub dest_ip: S,
    /// The server port.
    pub dest_port: u16,
    /// Community ID v1 of the 5-tuple (`1:` + base64).
    pub community_id: S,
    /// True when the session was picked up mid-stream and the client was inferred from content.
    pub direction_inferred: bool,
    /// The mail protocol, if any.
    pub mail_proto: Option<MailProto>,
    /// How the mail protocol was known.
    pub mail_proto_source: Option<MailProtoSource>,
    /// SMTP facts, for SMTP sessions.
    pub smtp: Option<SmtpRecord<S>>,
    /// IMAP facts, for IMAP sessions.
    pub imap: Option<MailboxRecord<S>>,
    /// POP3 facts, for POP3 sessions.
    pub pop3: Option<MailboxRecord<S>>,
    /// ClientHello facts, when TLS was seen.
    pub tls: Option<TlsRecord<S>>,
    /// The SOCKS request, when the session went through a SOCKS proxy.
    #[serde(default)]
    pub socks: Option<SocksRecord<S>>,
    /// Anomalies seen (names as in the README).
    pub anomalies: Vec<S>,
    /// The policy verdict.
    pub verdict: Verdict<S>,
    /// Packets from client to server.
    pub pkts_toserver: u64,
    /// Packets from server to client.
    pub pkts_toclient: u64,
    /// Bytes of the frames from client to server.
    pub bytes_toserver: u64,
    /// Bytes of the frames from server to client.
    pub bytes_toclient: u64,
    /// The gateway that reported the record (set by the control plane; `null` from `inspect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<S>,
}
