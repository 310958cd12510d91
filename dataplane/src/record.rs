//! Turning a finished session into its [`SessionRecord`] — the JSON that
//! `inspect` writes and the reporter ships. This allocates, so it runs on
//! the reporter thread or in `inspect`'s writer, never on a worker.

use crate::engine::FinishedSession;
use crate::flow::Endpoint;
use crate::session::{Parser, SessionFacts};
use crate::verdict::{describe, PolicyHandle};
use base64::Engine as _;
use mailgate_config::reason::Address;
use mailgate_proto::text::{BoundedStr, StrList};
use mailgate_proto::tls::TlsFacts;
use mailgate_protocol::record::{Ja3, MailboxRecord, SessionRecord, SmtpRecord, SocksRecord, TlsRecord};
use sha1::{Digest, Sha1};
use std::borrow::Cow;
use std::net::IpAddr;

/// Formats ns since the epoch as RFC 3339 in UTC with microseconds, as
/// Suricata and Zeek print times (`2023-11-14T22:13:20.123456Z`). The
/// calendar is `time`'s; the digits are written here, as every record
/// carries two of these.
pub fn rfc3339(ns: u64) -> String {
    // Whole seconds through `time`'s i64 calendar (its i128 nanosecond
    // one divides in software); the microseconds apart.
    let micros = u32::try_from(ns % 1_000_000_000 / 1_000).unwrap_or(0);
    let Ok(t) = i64::try_from(ns / 1_000_000_000)
        .map_err(drop)
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).map_err(drop))
    else {
        return "1970-01-01T00:00:00.000000Z".to_string();
    };
    // A u64 of ns ends in the year 2554: four digits.
    let year = u32::try_from(t.year()).unwrap_or(0);
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    for (value, at, width) in [
        (year, 0, 4),
        (u32::from(u8::from(t.month())), 5, 2),
        (u32::from(t.day()), 8, 2),
        (u32::from(t.hour()), 11, 2),
        (u32::from(t.minute()), 14, 2),
        (u32::from(t.second()), 17, 2),
        (micros, 20, 6),
    ] {
        if let Some(digits) = text.get_mut(at..at + width) {
            write_digits(digits, value);
        }
    }
    // ASCII throughout.
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

/// Writes the last `digits.len()` decimal digits of `value` into `digits`, zero-padded.
fn write_digits(digits: &mut [u8], value: u32) {
    let mut rest = value;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// Community ID v1 (seed 0) of a TCP 5-tuple, the flow hash Suricata and Zeek share.
pub fn community_id(a: &Endpoint, b: &Endpoint) -> String {
    let (ia, ib) = (a.ip(), b.ip());
    let (lo, hi, lo_port, hi_port) =
        if (ia, a.port) <= (ib, b.port) { (ia, ib, a.port, b.port) } else { (ib, ia, b.port, a.port) };
    let mut h = Sha1::new();
    h.update(0u16.to_be_bytes());
    for ip in [lo, hi] {
        match ip {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
    }
    h.update([6u8, 0]);
    h.update(lo_port.to_be_bytes());
    h.update(hi_port.to_be_bytes());
    // "1:" and the base64 of 20 bytes.
    let mut id = String::with_capacity(30);
    id.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(h.finalize(), &mut id);
    id
}

/// An address as text, in a string of the right size from the start.
fn address_text(ip: IpAddr) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(39);
    let _ = write!(text, "{}", Address(ip));
    text
}

/// Appends `record` to `out` as one line of JSON (without the newline).
/// sonic-rs escapes strings 16 bytes at a time where serde_json goes byte
/// by byte (a third of a mail record's cost in `inspect`); the bytes are
/// serde_json's, which a property test holds it to.
pub fn write_json<S: serde::Serialize>(record: &SessionRecord<S>, out: &mut Vec<u8>) -> Result<(), sonic_rs::Error> {
    sonic_rs::to_writer(out, record)
}

/// The text type a record is built with: `String` for a record that is
/// kept, `Cow<'a, str>` for one that borrows the session's facts (and the
/// policy's names) while it is written out.
pub trait RecordText<'a>: From<&'a str> + From<String> {}

impl<'a, T: From<&'a str> + From<String>> RecordText<'a> for T {}

/// Borrowed text stays borrowed where `S` can borrow.
fn own<'a, S: RecordText<'a>>(text: Cow<'a, str>) -> S {
    match text {
        Cow::Borrowed(b) => S::from(b),
        Cow::Owned(o) => S::from(o),
    }
}

fn text<'a, const N: usize, S: RecordText<'a>>(s: &'a Option<BoundedStr<N>>) -> Option<S> {
    s.as_ref().map(|s| own(s.to_str_lossy()))
}

fn list<'a, const I: usize, const L: usize, S: RecordText<'a>>(l: &'a StrList<I, L>) -> Vec<S> {
    l.iter().map(|s| own(s.to_str_lossy())).collect()
}

fn tls_record<'a, S: RecordText<'a>>(t: &'a TlsFacts) -> TlsRecord<S> {
    // Computed here, off the worker: the facts keep only the inputs.
    let ja3 = t.fingerprints.ja3();
    TlsRecord {
        implicit: t.implicit,
        sni: text(&t.sni),
        alpn: list(&t.alpn),
        version: t.version_name().map(S::from),
        ja3: Ja3 { string: S::from(ja3.text.to_str_lossy().into_owned()), hash: S::from(ja3.hash_hex().to_string()) },
        ja4: S::from(t.fingerprints.ja4().to_str_lossy().into_owned()),
        ech: t.ech,
    }
}

/// The record of a finished session, to keep (the reporter's batches); its
/// verdict is put in words with whichever of `policies` (newest first)
/// decided it.
pub fn to_record<F: std::borrow::Borrow<SessionFacts>>(
    s: &FinishedSession<F>,
    policies: &[PolicyHandle],
) -> SessionRecord {
    build_record(s, policies)
}

/// [`to_record`] borrowing its text from the session and `policies`
/// wherever it can: for a record written out at once (`inspect`), it
/// allocates a few strings instead of some forty.
pub fn borrowed_record<'a, F: std::borrow::Borrow<SessionFacts>>(
    s: &'a FinishedSession<F>,
    policies: &'a [PolicyHandle],
) -> SessionRecord<Cow<'a, str>> {
    build_record(s, policies)
}

fn build_record<'a, F: std::borrow::Borrow<SessionFacts>, S: RecordText<'a>>(
    s: &'a FinishedSession<F>,
    policies: &'a [PolicyHandle],
) -> SessionRecord<S> {
    let facts = s.facts();
    let (mut smtp, mut imap, mut pop3) = (None, None, None);
    match facts.map(|f| &f.parser) {
        Some(Parser::Smtp(p)) => {
            let f = &p.facts;
            smtp = Some(SmtpRecord {
                helo_verb: text(&f.helo_verb),
                helo: text(&f.helo),
                banner: text(&f.banner),
                auth_mechs_offered: list(&f.auth_mechs_offered),
                starttls_offered: f.starttls_offered,
                auth_mech: text(&f.auth_mech),
                user: text(&f.user),
                starttls: f.starttls,
                mail_from: text(&f.mail_from),
                rcpt_to: list(&f.rcpt_to),
            });
        }
        Some(Parser::Imap(p)) => {
            let f = &p.facts;
            imap = Some(MailboxRecord {
                banner: text(&f.banner),
                capabilities: list(&f.capabilities),
                starttls: f.starttls,
                auth_mech: text(&f.auth_mech),
                user: text(&f.user),
                id: f.id.iter().map(|(k, v)| (own(k.to_str_lossy()), own(v.to_str_lossy()))).collect(),
            });
        }
        Some(Parser::Pop3(p)) => {
            let f = &p.facts;
            pop3 = Some(MailboxRecord {
                banner: text(&f.banner),
                capabilities: list(&f.capabilities),
                starttls: f.starttls,
                auth_mech: text(&f.auth_mech),
                user: text(&f.user),
                id: Vec::new(),
            });
        }
        Some(Parser::None) | None => {}
    }
    SessionRecord {
        ts: S::from(rfc3339(s.first_ns)),
        ts_end: S::from(rfc3339(s.last_ns)),
        flow_id: s.flow_id,
        src_ip: S::from(address_text(s.client.ip())),
        src_port: s.client.port,
        dest_ip: S::from(address_text(s.server.ip())),
        dest_port: s.server.port,
        community_id: S::from(community_id(&s.client, &s.server)),
        direction_inferred: s.direction_inferred,
        mail_proto: facts.and_then(|f| f.mail),
        mail_proto_source: facts.and_then(|f| f.mail_source),
        smtp,
        imap,
        pop3,
        tls: facts.and_then(|f| f.tls()).map(tls_record),
        socks: facts.and_then(|f| f.socks()).map(|s| SocksRecord {
            version: s.version,
            target_host: own(s.target_host.to_str_lossy()),
            target_port: s.target_port,
            user: text(&s.user),
        }),
        anomalies: s.anomalies.names().map(|name| S::from(name)).collect(),
        verdict: describe(s, policies),
        pkts_toserver: s.pkts[0],
        pkts_toclient: s.pkts[1],
        bytes_toserver: s.bytes[0],
        bytes_toclient: s.bytes[1],
        gateway: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_id_matches_the_spec_examples() {
        // From the Community ID spec's reference test vectors (tcp, seed 0).
        let a = Endpoint::new("128.232.110.120".parse().unwrap(), 34855);
        let b = Endpoint::new("66.35.250.204".parse().unwrap(), 80);
        assert_eq!(community_id(&a, &b), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(community_id(&b, &a), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }

    /// A record with every string field (and list) taken from `texts`, in turn.
    fn record_of(texts: &[String]) -> SessionRecord {
        let mut next = texts.iter().cycle().cloned();
        let mut t = || next.next().unwrap_or_default();
        let mailbox = |t: &mut dyn FnMut() -> String| MailboxRecord {
            banner: Some(t()),
            capabilities: vec![t(), t()],
            starttls: true,
            auth_mech: Some(t()),
            user: Some(t()),
            id: vec![(t(), t())],
        };
        SessionRecord {
            ts: t(),
            ts_end: t(),
            flow_id: u64::MAX,
            src_ip: t(),
            src_port: 0,
            dest_ip: t(),
            dest_port: u16::MAX,
            community_id: t(),
            direction_inferred: true,
            mail_proto: Some(mailgate_protocol::record::MailProto::Imap),
            mail_proto_source: Some(mailgate_protocol::record::MailProtoSource::Alpn),
            smtp: Some(SmtpRecord {
                helo_verb: Some(t()),
                helo: Some(t()),
                banner: None,
                auth_mechs_offered: vec![t(), t(), t()],
                starttls_offered: true,
                auth_mech: Some(t()),
                user: Some(t()),
                starttls: false,
                mail_from: Some(t()),
                rcpt_to: vec![t()],
            }),
            imap: Some(mailbox(&mut t)),
            pop3: Some(mailbox(&mut t)),
            tls: Some(TlsRecord {
                implicit: false,
                sni: Some(t()),
                alpn: vec![t()],
                version: Some(t()),
                ja3: Ja3 { string: t(), hash: t() },
                ja4: t(),
                ech: true,
            }),
            socks: Some(SocksRecord { version: 5, target_host: t(), target_port: 1080, user: Some(t()) }),
            anomalies: vec![t(), t()],
            verdict: mailgate_protocol::record::Verdict {
                action: mailgate_protocol::record::Action::WouldReset,
                rule: Some(t()),
                reason: t(),
                policy_hash: None,
                decided_at: Some(t()),
            },
            pkts_toserver: 1,
            pkts_toclient: 0,
            bytes_toserver: u64::MAX - 1,
            bytes_toclient: 1 << 40,
            gateway: None,
        }
    }

    proptest::proptest! {
        /// `inspect`'s JSON is serde_json's, byte for byte, whatever the
        /// wire put in the strings: control characters, quotes,
        /// backslashes, DEL, any Unicode (U+2028 included), long runs.
        #[test]
        fn json_lines_are_serde_jsons_bytes(
            texts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<String>(),
                    "[\\x00-\\x7f]{0,70}",
                    "[\"\\\\\u{7f}\u{2028}\u{2029}\u{fffd} a-z]{0,40}",
                ],
                1..12,
            )
        ) {
            let record = record_of(&texts);
            let mut ours = Vec::new();
            write_json(&record, &mut ours).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&record).unwrap());
        }
    }

    #[test]
    fn times_are_rfc3339_micros() {
        assert_eq!(rfc3339(1_700_000_000_123_456_789), "2023-11-14T22:13:20.123456Z");
        // As `time` formats them, across the whole range (leap days, ends of years).
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
        let mut ns = 0u64;
        while ns < u64::MAX - 7_777_777_777_777_777 {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap();
            assert_eq!(rfc3339(ns), t.format(format).unwrap(), "{ns}");
            ns += 7_777_777_777_777_777 / 1000 * 999 + 123_456_789;
        }
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
    }
}
