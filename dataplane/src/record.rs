//! Turning a finished session into its [`SessionRecord`] — the JSON that
//! `inspect` writes and the reporter ships. This allocates, so it runs on
//! the reporter thread or in `inspect`'s writer, never on a worker.

use crate::engine::FinishedSession;
use crate::flow::Endpoint;
use crate::session::{Parser, SessionFacts};
use crate::verdict::{describe, PolicyHandle};
use base64::Engine as _;
use mailgate_proto::text::{BoundedStr, StrList};
use mailgate_proto::tls::TlsFacts;
use mailgate_protocol::record::{Ja3, MailboxRecord, SessionRecord, SmtpRecord, SocksRecord, TlsRecord};
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// RFC 3339 in UTC with microseconds, as Suricata and Zeek print times.
const RFC3339_MICROS: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Formats ns since the epoch as RFC 3339.
pub fn rfc3339(ns: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(RFC3339_MICROS).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000000Z".to_string())
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
    format!("1:{}", base64::engine::general_purpose::STANDARD.encode(h.finalize()))
}

fn text<const N: usize>(s: &Option<BoundedStr<N>>) -> Option<String> {
    s.as_ref().map(|s| s.to_str_lossy().into_owned())
}

fn list<const I: usize, const L: usize>(l: &StrList<I, L>) -> Vec<String> {
    l.iter().map(|s| s.to_str_lossy().into_owned()).collect()
}

fn tls_record(t: &TlsFacts) -> TlsRecord {
    // Computed here, off the worker: the facts keep only the inputs.
    let ja3 = t.fingerprints.ja3();
    TlsRecord {
        implicit: t.implicit,
        sni: text(&t.sni),
        alpn: list(&t.alpn),
        version: t.version_name().map(str::to_string),
        ja3: Ja3 { string: ja3.text.to_str_lossy().into_owned(), hash: ja3.hash_hex().to_string() },
        ja4: t.fingerprints.ja4().to_str_lossy().into_owned(),
        ech: t.ech,
    }
}

/// The record of a finished session; its verdict is put in words with
/// whichever of `policies` (newest first) decided it.
pub fn to_record<F: std::borrow::Borrow<SessionFacts>>(
    s: &FinishedSession<F>,
    policies: &[PolicyHandle],
) -> SessionRecord {
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
                id: f.id.iter().map(|(k, v)| (k.to_str_lossy().into_owned(), v.to_str_lossy().into_owned())).collect(),
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
        ts: rfc3339(s.first_ns),
        ts_end: rfc3339(s.last_ns),
        flow_id: s.flow_id,
        src_ip: s.client.ip().to_string(),
        src_port: s.client.port,
        dest_ip: s.server.ip().to_string(),
        dest_port: s.server.port,
        community_id: community_id(&s.client, &s.server),
        direction_inferred: s.direction_inferred,
        mail_proto: facts.and_then(|f| f.mail),
        mail_proto_source: facts.and_then(|f| f.mail_source),
        smtp,
        imap,
        pop3,
        tls: facts.and_then(|f| f.tls()).map(tls_record),
        socks: facts.and_then(|f| f.socks()).map(|s| SocksRecord {
            version: s.version,
            target_host: s.target_host.to_str_lossy().into_owned(),
            target_port: s.target_port,
            user: text(&s.user),
        }),
        anomalies: s.anomalies.names().map(str::to_string).collect(),
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

    #[test]
    fn times_are_rfc3339_micros() {
        assert_eq!(rfc3339(1_700_000_000_123_456_789), "2023-11-14T22:13:20.123456Z");
    }
}
