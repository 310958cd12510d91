//! Suricata-compatible EVE JSON export: one JSON object per line, appended
//! to a file, so tools that read Suricata's `eve.json` read ours.
//!
//! Per stored session: an `smtp` event when SMTP was seen, a `tls` event
//! when a ClientHello was seen, an `alert` event for every verdict other
//! than `pass`, and a `drop` event when the session was dropped or reset.
//! Suricata's field names are used where Suricata has the field (`helo`,
//! `mail_from`, `rcpt_to`, `sni`, `version`, `ja3`, `ja4`, `client_alpns`,
//! `alert.signature`…); everything else of ours is under `mailgate`.
//! Signature ids are ours: 9 000 000 plus a stable hash of the deciding
//! rule's name (below one million), 8 999 999 for periodic sessions and
//! 8 999 998 for unexpected mail processes.
//!
//! Endpoint telemetry: a session already matched when it is exported
//! carries `mailgate.endpoint`; every join also writes an `endpoint` event
//! (with the session's flow fields) so that joins made after the session
//! was exported reach the file too.

use crate::correlate::UnexpectedProcess;
use crate::endpoint::EndpointInfo;
use crate::periodic::PeriodicAlert;
use crate::store::Joined;
use mailgate_protocol::record::Action;
use mailgate_protocol::SessionRecord;
use serde_json::{json, Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// The signature id of periodic-session alerts.
pub const PERIODIC_SIGNATURE_ID: u64 = 8_999_999;

/// The signature id of unexpected-mail-process alerts.
pub const UNEXPECTED_PROCESS_SIGNATURE_ID: u64 = 8_999_998;

/// The EVE file, opened for appending.
pub struct EveWriter {
    out: Mutex<BufWriter<File>>,
}

impl EveWriter {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<EveWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(EveWriter { out: Mutex::new(BufWriter::new(file)) })
    }

    /// Appends events, one line each, and flushes.
    pub fn write(&self, events: &[Value]) -> std::io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in events {
            serde_json::to_writer(&mut *out, event)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

/// Suricata's timestamp format (`2024-05-01T10:00:00.123456+0000`).
fn suricata_ts(rfc3339: &str) -> String {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6][offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| rfc3339.to_string())
}

/// `TLSv1.3` → `TLS 1.3`, as Suricata writes versions.
fn suricata_tls_version(version: &str) -> String {
    version.strip_prefix("TLSv").map_or_else(|| version.to_string(), |v| format!("TLS {v}"))
}

/// A stable signature id for a rule name (FNV-1a, reduced below one million).
fn signature_id(rule: &str) -> u64 {
    let hash = rule.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    9_000_000 + hash % 1_000_000
}

fn base(record: &SessionRecord, endpoint: Option<&EndpointInfo>, event_type: &str) -> Map<String, Value> {
    let app_proto = match (&record.mail_proto, &record.tls) {
        (Some(p), _) => p.as_str(),
        (None, Some(_)) => "tls",
        (None, None) => "failed",
    };
    let mut event = Map::new();
    event.insert("timestamp".into(), json!(suricata_ts(&record.ts)));
    event.insert("flow_id".into(), json!(record.flow_id));
    event.insert("event_type".into(), json!(event_type));
    event.insert("src_ip".into(), json!(record.src_ip));
    event.insert("src_port".into(), json!(record.src_port));
    event.insert("dest_ip".into(), json!(record.dest_ip));
    event.insert("dest_port".into(), json!(record.dest_port));
    event.insert("proto".into(), json!("TCP"));
    event.insert("community_id".into(), json!(record.community_id));
    event.insert("app_proto".into(), json!(app_proto));
    if let Some(gateway) = &record.gateway {
        event.insert("host".into(), json!(gateway));
    }
    event.insert(
        "mailgate".into(),
        json!({
            "gateway": record.gateway,
            "ts_end": record.ts_end,
            "mail_proto": record.mail_proto,
            "mail_proto_source": record.mail_proto_source,
            "direction_inferred": record.direction_inferred,
            "verdict": record.verdict,
            "anomalies": record.anomalies,
            "smtp": record.smtp,
            "imap": record.imap,
            "pop3": record.pop3,
            "socks": record.socks,
            "tls": record.tls.as_ref().map(|t| json!({"implicit": t.implicit, "ech": t.ech, "alpn": t.alpn})),
            "pkts_toserver": record.pkts_toserver,
            "pkts_toclient": record.pkts_toclient,
            "bytes_toserver": record.bytes_toserver,
            "bytes_toclient": record.bytes_toclient,
        }),
    );
    if let (Some(endpoint), Some(Value::Object(ours))) = (endpoint, event.get_mut("mailgate")) {
        ours.insert("endpoint".into(), json!(endpoint));
    }
    event
}

/// The EVE events for one stored session (`endpoint`: what it was matched to on arrival).
pub fn session_events(record: &SessionRecord, endpoint: Option<&EndpointInfo>) -> Vec<Value> {
    let mut events = Vec::new();
    if let Some(smtp) = &record.smtp {
        let mut event = base(record, endpoint, "smtp");
        event.insert("smtp".into(), json!({"helo": smtp.helo, "mail_from": smtp.mail_from, "rcpt_to": smtp.rcpt_to}));
        events.push(Value::Object(event));
    }
    if let Some(tls) = &record.tls {
        let mut fields = Map::new();
        if let Some(sni) = &tls.sni {
            fields.insert("sni".into(), json!(sni));
        }
        if let Some(version) = &tls.version {
            fields.insert("version".into(), json!(suricata_tls_version(version)));
        }
        if !tls.ja3.hash.is_empty() {
            fields.insert("ja3".into(), json!({"hash": tls.ja3.hash, "string": tls.ja3.string}));
        }
        if !tls.ja4.is_empty() {
            fields.insert("ja4".into(), json!(tls.ja4));
        }
        fields.insert("client_alpns".into(), json!(tls.alpn));
        let mut event = base(record, endpoint, "tls");
        event.insert("tls".into(), Value::Object(fields));
        events.push(Value::Object(event));
    }
    let verdict = &record.verdict;
    if verdict.action != Action::Pass {
        let blocked = matches!(verdict.action, Action::Drop | Action::Reset);
        let rule = verdict.rule.as_deref().unwrap_or("none");
        let mut event = base(record, endpoint, "alert");
        event.insert(
            "alert".into(),
            json!({
                "action": if blocked { "blocked" } else { "allowed" },
                "gid": 1,
                "signature_id": signature_id(rule),
                "rev": 1,
                "signature": format!("MAILGATE {}: {}", rule, verdict.reason),
                "category": "Mail path policy",
                "severity": if blocked { 1 } else { 2 },
                "metadata": {"mailgate_rule": [rule], "mailgate_action": [verdict.action.as_str()]},
            }),
        );
        events.push(Value::Object(event));
    }
    if matches!(verdict.action, Action::Drop | Action::Reset) {
        let mut event = base(record, endpoint, "drop");
        event.insert("drop".into(), json!({"reason": "rules", "reset": verdict.action == Action::Reset}));
        events.push(Value::Object(event));
    }
    events
}

/// The EVE `endpoint` event for a join: the session's flow fields and
/// `endpoint: {host_name, process, pid, user, source, matched_by, ts}`.
pub fn endpoint_event(joined: &Joined) -> Value {
    let mut event = base(&joined.record, Some(&joined.endpoint), "endpoint");
    event.insert("endpoint".into(), json!(joined.endpoint));
    Value::Object(event)
}

/// The EVE `alert` event for an unexpected-mail-process alert.
pub fn unexpected_process_event(alert: &UnexpectedProcess) -> Value {
    json!({
        "timestamp": suricata_ts(&alert.ts),
        "flow_id": alert.flow_id,
        "event_type": "alert",
        "src_ip": alert.src_ip,
        "src_port": alert.src_port,
        "dest_ip": alert.dest_ip,
        "dest_port": alert.dest_port,
        "proto": "TCP",
        "community_id": alert.community_id,
        "app_proto": alert.mail_proto,
        "host": alert.gateway,
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": UNEXPECTED_PROCESS_SIGNATURE_ID,
            "rev": 1,
            "signature": format!("MAILGATE unexpected mail process {} on {}", alert.process, alert.src_ip),
            "category": "Mail session from an unapproved process",
            "severity": if alert.action == "block" { 1 } else { 2 },
        },
        "mailgate": alert,
    })
}

/// The EVE `alert` event for a periodic-sessions alert.
pub fn periodic_event(alert: &PeriodicAlert) -> Value {
    json!({
        "timestamp": suricata_ts(&alert.last_seen),
        "event_type": "alert",
        "src_ip": alert.src_ip,
        "dest_ip": alert.dest_ip,
        "dest_port": alert.dest_port,
        "proto": "TCP",
        "app_proto": alert.mail_proto,
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": PERIODIC_SIGNATURE_ID,
            "rev": 1,
            "signature": format!(
                "MAILGATE periodic {} sessions every {:.0}s (score {:.2})",
                alert.mail_proto, alert.regularity.mean_interval_secs, alert.regularity.score
            ),
            "category": "Potential mail-protocol C2 beaconing",
            "severity": 2,
        },
        "mailgate": alert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_versions_in_suricata_form() {
        assert_eq!(suricata_ts("2024-05-01T10:00:00.5Z"), "2024-05-01T10:00:00.500000+0000");
        assert_eq!(suricata_tls_version("TLSv1.2"), "TLS 1.2");
        assert_eq!(signature_id("a"), signature_id("a"));
        assert_ne!(signature_id("a"), signature_id("b"));
    }
}
