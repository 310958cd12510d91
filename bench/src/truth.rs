//! The ground truth file: one JSON line per TCP flow saying what a correct
//! engine must report for it under `bench/policy/demo.toml`.
//!
//! `expected` maps dotted paths of the session record
//! (`mailgate_protocol::SessionRecord`, e.g. `smtp.helo`, `tls.sni`,
//! `verdict.action`) to the value the record must hold there; a `null`
//! value means the field (or the whole object, for `smtp`, `imap`, `pop3`,
//! `tls`) must be null. Paths not listed are not asserted. The facts are
//! those the session's bytes carry in clear: what is said after STARTTLS or
//! inside implicit TLS is never expected. `smtp.banner` is the 220
//! greeting's text after `220 `; `smtp.mail_from` is the bare address
//! without angle brackets.
//!
//! The demo policy is in monitor mode, so `verdict.action` is `pass` for the
//! approved relay path and `would_reset` for every other session that is
//! mail or uses a mail port; `block_action` gives the action the same policy
//! draws with `mode = "block"`. `record` says whether the flow must produce a
//! record at all (it is mail, or uses a mail port); facts of the other flows
//! (the SNI of HTTPS, say) are still listed for tools that look at every
//! flow. `client_hello_segments` says how many TCP segments carry the
//! ClientHello. `secrets` lists every password the dialogue carried, in clear and
//! in the base64 forms the client sent, for leak checks.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use mailgate_protocol::record::{Action, MailProto};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The demo policy the truth's verdicts assume (`bench/policy/demo.toml`).
pub const DEMO_POLICY: &str = include_str!("../policy/demo.toml");

/// What the demo policy names and what the truth relies on.
pub mod demo {
    use std::net::Ipv4Addr;

    /// The approved relay (`[hosts] relays`).
    pub const RELAY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    /// The approved MX (`[hosts] corp_mx`).
    pub const CORP_MX: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
    /// The allow rule admitting relay → MX.
    pub const ALLOW_RULE: &str = "relay-to-corp-mx";
    /// Ports of that rule.
    pub const ALLOW_PORTS: [u16; 2] = [25, 587];
    /// The only server name the rule admits.
    pub const ALLOW_SNI: &str = "mx.corp.test";
    /// The rule's HELO pattern `*.corp.test`: names ending in this (with a label before it).
    pub const HELO_SUFFIX: &str = ".corp.test";
    /// The rule name records carry for sessions no rule admits.
    pub const UNAPPROVED_RULE: &str = "defaults.unapproved_mail";
    /// The ports mail protocols use by convention (mailgate-config's
    /// `MAIL_PORTS`): a SYN to one of them is decided at once.
    pub const MAIL_PORTS: [u16; 8] = [25, 465, 587, 2525, 110, 995, 143, 993];
}

/// The SMTP facts a dialogue put in clear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpFacts {
    /// `EHLO` or `HELO`.
    pub helo_verb: String,
    /// The name the client gave.
    pub helo: String,
    /// The 220 greeting's text.
    pub banner: String,
    /// SASL mechanisms the EHLO reply offered, in order.
    pub auth_mechs_offered: Vec<String>,
    /// Whether the EHLO reply offered STARTTLS.
    pub starttls_offered: bool,
    /// The mechanism of a cleartext AUTH.
    pub auth_mech: Option<String>,
    /// The user of a cleartext AUTH.
    pub user: Option<String>,
    /// STARTTLS asked for and accepted.
    pub starttls: bool,
    /// The first cleartext MAIL FROM address.
    pub mail_from: Option<String>,
}

/// IMAP / POP3 facts a dialogue put in clear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxFacts {
    /// STARTTLS/STLS asked for and accepted.
    pub starttls: bool,
    /// The cleartext login method (`LOGIN`, `PLAIN`, `USER`).
    pub auth_mech: Option<String>,
    /// The cleartext user name.
    pub user: Option<String>,
}

/// What a ClientHello carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// TLS from the first byte (not after STARTTLS).
    pub implicit: bool,
    /// The SNI, if any.
    pub sni: Option<String>,
    /// ALPN protocols offered.
    pub alpn: Vec<String>,
    /// How many TCP segments carry the ClientHello record.
    pub hello_segments: u32,
}

/// Everything a dialogue established about its session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The mail protocol, if any.
    pub proto: Option<MailProto>,
    /// How it is known (`content`, `port`), when unambiguous.
    pub proto_source: Option<&'static str>,
    /// SMTP facts.
    pub smtp: Option<SmtpFacts>,
    /// IMAP facts.
    pub imap: Option<MailboxFacts>,
    /// POP3 facts.
    pub pop3: Option<MailboxFacts>,
    /// ClientHello facts.
    pub tls: Option<TlsFacts>,
    /// Record objects that must be null (`smtp`, `imap`, `pop3`, `tls`).
    pub absent: Vec<&'static str>,
    /// AUTH / LOGIN / USER was sent before TLS.
    pub cleartext_auth: bool,
    /// MAIL FROM was sent before TLS.
    pub cleartext_mail_from: bool,
    /// Passwords sent, in every encoding used.
    pub secrets: Vec<String>,
}

/// One line of the truth file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowTruth {
    /// Position of the flow in start order (0-based).
    pub flow: u64,
    /// Time of the SYN, µs since the Unix epoch (the record's `ts`).
    pub ts_us: u64,
    /// Client address.
    pub src_ip: String,
    /// Client port.
    pub src_port: u16,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// 802.1Q VLAN of the flow's frames.
    pub vlan: Option<u16>,
    /// The traffic profile that made the flow (see `Profile`).
    pub profile: String,
    /// The mail protocol the session speaks.
    pub mail_proto: Option<MailProto>,
    /// Whether a record must be produced.
    pub record: bool,
    /// Record fields by dotted path (see the module documentation).
    pub expected: BTreeMap<String, Value>,
    /// `verdict.action` under the demo policy switched to `mode = "block"`.
    pub block_action: Action,
    /// How many TCP segments carry the ClientHello (`null` without TLS): 2
    /// for the post-quantum hellos longer than one segment, to pick
    /// reassembly cases.
    pub client_hello_segments: Option<u32>,
    /// Every password the dialogue carried.
    pub secrets: Vec<String>,
}

/// The demo policy's raw verdict (block mode) and deciding rule for a session.
pub fn demo_verdict(client: IpAddr, server: IpAddr, port: u16, facts: &Facts) -> (Action, Option<&'static str>) {
    let is_mail_port = demo::MAIL_PORTS.contains(&port);
    if facts.proto.is_none() && !is_mail_port {
        return (Action::Pass, None);
    }
    let helo_ok = facts.smtp.as_ref().is_none_or(|s| {
        let helo = s.helo.to_ascii_lowercase();
        helo.len() > demo::HELO_SUFFIX.len() && helo.ends_with(demo::HELO_SUFFIX)
    });
    let sni_ok =
        facts.tls.as_ref().is_none_or(|t| t.sni.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(demo::ALLOW_SNI)));
    let approved = client == IpAddr::V4(demo::RELAY)
        && server == IpAddr::V4(demo::CORP_MX)
        && facts.proto == Some(MailProto::Smtp)
        && demo::ALLOW_PORTS.contains(&port)
        && helo_ok
        && sni_ok
        && !facts.cleartext_auth
        && !facts.cleartext_mail_from;
    if approved {
        (Action::Pass, Some(demo::ALLOW_RULE))
    } else {
        (Action::Reset, Some(demo::UNAPPROVED_RULE))
    }
}

/// Monitor mode's record of a raw action.
pub fn monitor(action: Action) -> Action {
    match action {
        Action::Drop => Action::WouldDrop,
        Action::Reset => Action::WouldReset,
        other => other,
    }
}

impl FlowTruth {
    /// The truth line of a flow from its addresses and facts.
    pub fn new(
        flow: u64,
        ts_us: u64,
        client: SocketAddr,
        server: SocketAddr,
        vlan: Option<u16>,
        profile: &str,
        facts: Facts,
    ) -> FlowTruth {
        let (action, rule) = demo_verdict(client.ip(), server.ip(), server.port(), &facts);
        let record = facts.proto.is_some() || demo::MAIL_PORTS.contains(&server.port());
        let mut expected = BTreeMap::new();
        let mut put = |key: &str, value: Value| {
            expected.insert(key.to_string(), value);
        };
        put("mail_proto", json!(facts.proto));
        if let Some(source) = facts.proto_source {
            put("mail_proto_source", json!(source));
        }
        for object in &facts.absent {
            put(object, Value::Null);
        }
        if let Some(s) = &facts.smtp {
            put("smtp.helo_verb", json!(s.helo_verb));
            put("smtp.helo", json!(s.helo));
            put("smtp.banner", json!(s.banner));
            put("smtp.auth_mechs_offered", json!(s.auth_mechs_offered));
            put("smtp.starttls_offered", json!(s.starttls_offered));
            put("smtp.auth_mech", json!(s.auth_mech));
            put("smtp.user", json!(s.user));
            put("smtp.starttls", json!(s.starttls));
            put("smtp.mail_from", json!(s.mail_from));
        }
        for (name, mailbox) in [("imap", &facts.imap), ("pop3", &facts.pop3)] {
            if let Some(m) = mailbox {
                put(&format!("{name}.starttls"), json!(m.starttls));
                put(&format!("{name}.auth_mech"), json!(m.auth_mech));
                put(&format!("{name}.user"), json!(m.user));
            }
        }
        if let Some(t) = &facts.tls {
            put("tls.implicit", json!(t.implicit));
            put("tls.sni", json!(t.sni));
            put("tls.alpn", json!(t.alpn));
            put("tls.version", json!("TLSv1.3"));
            put("tls.ech", json!(false));
        }
        if record {
            put("verdict.action", json!(monitor(action)));
            put("verdict.rule", json!(rule));
        }
        let client_hello_segments = facts.tls.as_ref().map(|t| t.hello_segments);
        FlowTruth {
            flow,
            ts_us,
            src_ip: client.ip().to_string(),
            src_port: client.port(),
            dest_ip: server.ip().to_string(),
            dest_port: server.port(),
            vlan,
            profile: profile.to_string(),
            mail_proto: facts.proto,
            record,
            expected,
            block_action: action,
            client_hello_segments,
            secrets: facts.secrets,
        }
    }
}

/// True when `ip` is in the documentation prefixes the generator uses.
pub fn is_documentation_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            s[0] == 0x2001 && s[1] == 0x0db8 && (s[2] == 1 || s[2] == 2) && s[3] == 0
        }
    }
}
