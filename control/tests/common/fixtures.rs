//! Sessions built to order, fed through a real reporter, and the API calls
//! the investigation tests make.
#![allow(dead_code)]

use super::{get, wait_for, Gateway, Item, TOKEN};
use mailgate_protocol::record::{Action, MailProto, MailboxRecord, SmtpRecord, TlsRecord, Verdict};
use mailgate_protocol::SessionRecord;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub const SECOND: i64 = 1_000_000_000;

/// Now, Unix ns.
pub fn now_ns() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

pub fn rfc3339(ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A plain session: `proto` to `dest:dport` from `src:sport`, starting at
/// `start_ns` and lasting two seconds, passed by rule `r-pass`.
pub fn session(
    flow_id: u64,
    src: &str,
    sport: u16,
    dest: &str,
    dport: u16,
    proto: Option<MailProto>,
    start_ns: i64,
) -> SessionRecord {
    SessionRecord {
        ts: rfc3339(start_ns),
        ts_end: rfc3339(start_ns + 2 * SECOND),
        flow_id,
        src_ip: src.into(),
        src_port: sport,
        dest_ip: dest.into(),
        dest_port: dport,
        community_id: format!("1:test-{flow_id}="),
        direction_inferred: false,
        mail_proto: proto,
        mail_proto_source: None,
        smtp: None,
        imap: None,
        pop3: None,
        tls: None,
        socks: None,
        anomalies: vec![],
        verdict: Verdict {
            action: Action::Pass,
            rule: Some("r-pass".into()),
            reason: "admitted".into(),
            policy_hash: None,
            decided_at: Some("detect".into()),
        },
        pkts_toserver: 10,
        pkts_toclient: 10,
        bytes_toserver: 1000,
        bytes_toclient: 2000,
        gateway: None,
    }
}

/// Adds SMTP handshake facts.
pub fn with_smtp(mut r: SessionRecord, helo: &str, user: Option<&str>, mech: Option<&str>) -> SessionRecord {
    r.smtp = Some(SmtpRecord {
        helo_verb: Some("EHLO".into()),
        helo: Some(helo.into()),
        auth_mech: mech.map(Into::into),
        user: user.map(Into::into),
        ..Default::default()
    });
    r
}

/// Adds IMAP facts.
pub fn with_imap(mut r: SessionRecord, user: &str, mech: &str) -> SessionRecord {
    r.imap = Some(MailboxRecord { user: Some(user.into()), auth_mech: Some(mech.into()), ..Default::default() });
    r
}

/// Adds a ClientHello.
pub fn with_tls(mut r: SessionRecord, sni: Option<&str>, ech: bool) -> SessionRecord {
    r.tls = Some(TlsRecord { sni: sni.map(Into::into), ech, version: Some("TLSv1.3".into()), ..Default::default() });
    r
}

/// Sets the verdict.
pub fn with_verdict(mut r: SessionRecord, action: Action, rule: &str) -> SessionRecord {
    r.verdict.action = action;
    r.verdict.rule = Some(rule.into());
    r.verdict.reason = format!("{} by {rule}", action.as_str());
    r
}

/// A reporter fed with records built by the test.
pub struct Feeder {
    pub gateway: Gateway,
    records: Arc<Mutex<Vec<SessionRecord>>>,
}

impl Feeder {
    pub fn start(name: &str, socket: &Path, counters: BTreeMap<String, u64>) -> Feeder {
        let records: Arc<Mutex<Vec<SessionRecord>>> = Arc::default();
        let table = Arc::clone(&records);
        let convert = move |i: &Item| {
            let table = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            table.get(i.0 as usize).cloned().unwrap_or_else(|| panic!("no record {}", i.0))
        };
        Feeder { gateway: Gateway::start_with(Gateway::unix(name, socket), 4096, convert, counters), records }
    }

    /// Hands `records` to the reporter, in order.
    pub fn send(&mut self, records: Vec<SessionRecord>) {
        let first = {
            let mut table = self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let first = table.len() as u64;
            table.extend(records);
            first..table.len() as u64
        };
        self.gateway.push(first);
    }
}

/// Waits until the API holds `n` sessions; returns them, newest first.
pub fn wait_sessions(api: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} sessions"), 30, || {
        let all = get(api, "/api/v1/sessions?limit=10000").as_array().cloned().unwrap_or_default();
        (all.len() == n).then_some(all)
    })
}

/// `POST /api/v1/endpoint-events` with `body`: the status and the answer.
pub fn post_events(api: &str, body: &str) -> (u16, Value) {
    let request = ureq::post(&format!("{api}/api/v1/endpoint-events"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("Content-Type", "application/x-ndjson");
    super::call(request, Some(body))
}

/// `POST /api/v1/policy`; panics unless stored.
pub fn apply_policy(api: &str, policy: &str) {
    let request = ureq::post(&format!("{api}/api/v1/policy")).set("Authorization", &format!("Bearer {TOKEN}"));
    let (status, answer) = super::call(request, Some(policy));
    assert_eq!(status, 200, "{answer}");
}

/// The stored session with `flow_id`.
pub fn session_by_flow(api: &str, flow_id: u64) -> Value {
    get(api, "/api/v1/sessions?limit=10000")
        .as_array()
        .and_then(|a| a.iter().find(|s| s.get("flow_id").and_then(Value::as_u64) == Some(flow_id)).cloned())
        .unwrap_or_else(|| panic!("no session {flow_id}"))
}
