//! Decisions in words, for the `verdict.reason` of session records.
//! Allocates: called off the hot path, when a record is written.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use mailgate_protocol::record::MailProto;

use crate::compile::CompiledPolicy;
use crate::eval::{Decision, ReasonKind, RuleRef, SessionView};

/// The session facts a reason mentions, owned so that they outlive the session state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    /// The client address.
    pub src: IpAddr,
    /// The server address.
    pub dst: IpAddr,
    /// The server port.
    pub dst_port: u16,
    /// The mail protocol, if identified.
    pub proto: Option<MailProto>,
    /// The TLS server name, if seen.
    pub sni: Option<String>,
    /// The SMTP EHLO/HELO name, if seen.
    pub helo: Option<String>,
}

impl SessionFacts {
    /// Copies the facts out of a view (names decoded lossily as UTF-8).
    pub fn from_view(view: &SessionView<'_>) -> SessionFacts {
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        SessionFacts {
            src: view.src,
            dst: view.dst,
            dst_port: view.dst_port,
            proto: view.proto,
            sni: text(view.sni),
            helo: text(view.helo),
        }
    }
}

/// An address as std prints it, IPv4 written digit by digit: std goes
/// through the formatting machinery per octet, and every session record
/// prints addresses four times (its endpoints, and in the reason).
pub struct Address(pub IpAddr);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            // Padding asked for: std's way.
            IpAddr::V4(a) if f.width().is_some() || f.precision().is_some() => a.fmt(f),
            IpAddr::V4(a) => {
                // At most 15 bytes: four octets of up to three digits, three dots.
                let mut text = [0u8; 15];
                let mut len = 0;
                let mut put = |byte: u8| {
                    if let Some(slot) = text.get_mut(len) {
                        *slot = byte;
                        len += 1;
                    }
                };
                for (i, octet) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        put(b'.');
                    }
                    if octet >= 100 {
                        put(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        put(b'0' + octet / 10 % 10);
                    }
                    put(b'0' + octet % 10);
                }
                let text = text.get(..len).unwrap_or_default();
                f.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)
            }
            IpAddr::V6(a) => a.fmt(f),
        }
    }
}

/// `203.0.113.9:25`, or `[2001:db8::9]:25`.
struct Server<'a>(&'a SessionFacts);

impl fmt::Display for Server<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.dst {
            IpAddr::V4(_) => write!(f, "{}:{}", Address(self.0.dst), self.0.dst_port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.0.dst_port),
        }
    }
}

/// `smtp from 198.51.100.23 to 203.0.113.9:25` (`session` while the protocol is unknown).
struct Path<'a>(&'a SessionFacts);

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.0.proto.map_or("session", MailProto::as_str);
        write!(f, "{what} from {} to {}", Address(self.0.src), Server(self.0))
    }
}

impl CompiledPolicy {
    /// A sentence for the analyst explaining `decision` about the session `facts` describes.
    pub fn reason_text(&self, decision: &Decision, facts: &SessionFacts) -> String {
        let path = Path(facts);
        let rule = |i: usize| self.rules.get(i).map_or("?", |r| r.name.as_str());
        let quoted = |s: &Option<String>| s.as_deref().unwrap_or("").escape_debug().to_string();
        // Room for nearly every sentence (IPv6 addresses and rule names
        // included) in one allocation; the string grows past it if need be.
        let mut out = String::with_capacity(256);
        let _ = match decision.reason {
            ReasonKind::Undecided => write!(out, "{path}: no rule applies"),
            ReasonKind::Allowed => match decision.rule {
                RuleRef::Allow(i) => write!(out, "{path} allowed by rule \"{}\"", rule(i)),
                _ => write!(out, "{path} allowed"),
            },
            ReasonKind::ExceptionApplies => match decision.rule {
                RuleRef::Exception(i) => match self.exceptions.get(i) {
                    Some(e) => {
                        write!(out, "{path} is covered by exception \"{}\" ({}; until {})", e.name, e.reason, e.expires)
                    }
                    None => write!(out, "{path} is covered by an exception"),
                },
                _ => write!(out, "{path} is covered by an exception"),
            },
            ReasonKind::NoRuleAtSyn => write!(
                out,
                "connection from {} to {} (a mail port) matches no allow rule or exception for any mail protocol",
                Address(facts.src),
                Server(facts)
            ),
            ReasonKind::NoMatchingRule => write!(out, "{path} matches no allow rule"),
            ReasonKind::SniNotAllowed { rule: i } => write!(
                out,
                "{path}: SNI \"{}\" is not allowed by rule \"{}\" and no other rule admits it",
                quoted(&facts.sni),
                rule(i)
            ),
            ReasonKind::NoSni { rule: i } => write!(
                out,
                "{path}: the TLS ClientHello has no SNI, but rule \"{}\" allows only named servers",
                rule(i)
            ),
            ReasonKind::HeloNotAllowed { rule: i } => write!(
                out,
                "{path}: HELO \"{}\" is not allowed by rule \"{}\" and no other rule admits it",
                quoted(&facts.helo),
                rule(i)
            ),
            ReasonKind::TlsRequired { rule: i } => {
                write!(out, "{path}: authentication or MAIL FROM before TLS, but rule \"{}\" requires TLS", rule(i))
            }
            ReasonKind::RateLimited { rule: i } => write!(
                out,
                "{path}: over the limit of {} sessions per minute from {} of rule \"{}\"",
                self.rules.get(i).and_then(|r| r.max_sessions_per_minute).unwrap_or(0),
                facts.src,
                rule(i)
            ),
            ReasonKind::MailOnNonstandardPort => write!(out, "{path}: mail on a nonstandard port"),
            ReasonKind::NonMailOnMailPort => write!(out, "{path}: traffic that is not mail on a mail port"),
            ReasonKind::CleartextAuth => write!(out, "{path}: authentication before TLS (credentials in clear)"),
            ReasonKind::TlsWithoutSni => write!(out, "{path}: TLS without SNI"),
            ReasonKind::Ech => write!(out, "{path}: Encrypted Client Hello hides the server name"),
            ReasonKind::Anomaly(a) => write!(out, "{path}: anomaly {}", a.names().next().unwrap_or("unknown")),
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Address;
    use std::net::IpAddr;

    #[test]
    fn addresses_print_as_std_prints_them() {
        for ip in ["0.0.0.0", "198.51.100.7", "10.20.255.9", "203.0.113.100", "2001:db8::25", "::ffff:1.2.3.4"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(Address(ip).to_string(), ip.to_string());
        }
        for octet in 0..=255u8 {
            let ip = IpAddr::from([octet, 255 - octet, octet / 3, 9]);
            assert_eq!(Address(ip).to_string(), ip.to_string());
        }
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(format!("{:>12}|", Address(ip)), format!("{ip:>12}|"), "padding as std pads");
    }
}
