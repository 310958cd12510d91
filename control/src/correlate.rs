//! Endpoint telemetry in, joins out: storing parsed events (from the API
//! or the watched directory), and what follows a join — the EVE `endpoint`
//! event, and the `unexpected_mail_process` alert when the policy's
//! `[[mail_clients]]` do not approve the process behind a mail session.
//!
//! The gateways report a session when it ends, so by the time a join is
//! made the dataplane has long decided; an entry with `action = "block"`
//! raises the alert marked `enforced: false`. Blocking a session that is
//! still undecided needs the dataplane to consult endpoint data before
//! its verdict, which it does not do yet.

use crate::endpoint::Parsed;
use crate::eve;
use crate::metrics::{KindLabels, SourceLabels, ViaLabels};
use crate::policy::PolicyInForce;
use crate::state::Shared;
use crate::store::{Joined, StoreError};
use mailgate_config::MailProcessCheck;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;

/// The alert kind raised for a mail session started by an unapproved process.
pub const UNEXPECTED_PROCESS_KIND: &str = "unexpected_mail_process";

/// The `unexpected_mail_process` alert record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnexpectedProcess {
    /// Always [`UNEXPECTED_PROCESS_KIND`].
    pub kind: String,
    /// The gateway that reported the session.
    pub gateway: Option<String>,
    /// The session's flow id.
    pub flow_id: u64,
    /// The session's Community ID.
    pub community_id: String,
    /// The session's start.
    pub ts: String,
    /// Client address.
    pub src_ip: String,
    /// Client port.
    pub src_port: u16,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// The mail protocol.
    pub mail_proto: String,
    /// The process endpoint telemetry names.
    pub process: String,
    /// Its process id.
    pub pid: Option<u32>,
    /// The account it ran as.
    pub user: Option<String>,
    /// The endpoint's name.
    pub host_name: Option<String>,
    /// The processes the policy approves for this host.
    pub approved: Vec<String>,
    /// `alert` or `block`, as the policy's `[[mail_clients]]` entry says.
    pub action: String,
    /// Whether the session was stopped because of it (always false today:
    /// the dataplane decided before the telemetry arrived).
    pub enforced: bool,
    /// The dataplane's verdict on the session.
    pub verdict: String,
    /// The policy version that raised it.
    pub policy_version: u64,
}

/// The alert a joined session draws under `policy`, if any: a mail session
/// whose process the host's `[[mail_clients]]` entries do not list.
pub fn unexpected_process(policy: &PolicyInForce, joined: &Joined) -> Option<UnexpectedProcess> {
    let record = &joined.record;
    let mail_proto = record.mail_proto?;
    let process = joined.endpoint.process.as_deref()?;
    let src: IpAddr = record.src_ip.parse().ok()?;
    let MailProcessCheck::Unexpected { action, approved } = policy.compiled.mail_process(src, process) else {
        return None;
    };
    Some(UnexpectedProcess {
        kind: UNEXPECTED_PROCESS_KIND.into(),
        gateway: record.gateway.clone(),
        flow_id: record.flow_id,
        community_id: record.community_id.clone(),
        ts: record.ts.clone(),
        src_ip: record.src_ip.clone(),
        src_port: record.src_port,
        dest_ip: record.dest_ip.clone(),
        dest_port: record.dest_port,
        mail_proto: mail_proto.as_str().into(),
        process: process.to_string(),
        pid: joined.endpoint.pid,
        user: joined.endpoint.user.clone(),
        host_name: joined.endpoint.host_name.clone(),
        approved,
        action: action.as_str().into(),
        enforced: false,
        verdict: record.verdict.action.as_str().into(),
        policy_version: policy.version,
    })
}

/// What a batch of endpoint telemetry came to (the API's answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsSummary {
    /// Connection events read.
    pub accepted: usize,
    /// Of them, new (not stored before).
    pub stored: usize,
    /// Of them, stored before (a resend).
    pub duplicates: usize,
    /// Sessions they were joined to.
    pub joined: usize,
    /// Records understood but not about an outgoing TCP connection.
    pub ignored: usize,
    /// Lines or records rejected.
    pub rejected: usize,
    /// `line N: why`, for the first rejected ones.
    pub errors: Vec<String>,
    /// `line N: ignored: why`, for the first ignored ones.
    pub notes: Vec<String>,
}

/// Stores parsed telemetry that arrived `via` (`api` or `file`), joins it,
/// and acts on the joins.
pub async fn ingest_events(shared: &Arc<Shared>, parsed: Parsed, via: &str) -> Result<EventsSummary, StoreError> {
    if parsed.rejected > 0 {
        shared.metrics.endpoint_rejected.get_or_create(&ViaLabels { via: via.into() }).inc_by(parsed.rejected as u64);
    }
    let Parsed { events, ignored, rejected, errors, notes, .. } = parsed;
    let accepted = events.len();
    let skew = shared.config.endpoint.skew_ns();
    let stored = shared.with_store(move |s| s.add_endpoint_events(&events, skew)).await?;
    for (source, n) in &stored.stored_by_source {
        shared.metrics.endpoint_events.get_or_create(&SourceLabels { source: (*source).into() }).inc_by(*n as u64);
    }
    after_joins(shared, &stored.joined).await;
    Ok(EventsSummary {
        accepted,
        stored: stored.stored,
        duplicates: stored.duplicates,
        joined: stored.joined.len(),
        ignored,
        rejected,
        errors,
        notes,
    })
}

/// Counts the joins, raises `unexpected_mail_process` where the policy
/// says so, and writes the EVE `endpoint` and alert events.
pub async fn after_joins(shared: &Arc<Shared>, joined: &[Joined]) {
    if joined.is_empty() {
        return;
    }
    shared.metrics.endpoint_joins.inc_by(joined.len() as u64);
    let policy = match shared.policy_in_force().await {
        Ok(p) => p.filter(|p| p.compiled.governs_mail_processes()),
        Err(e) => {
            log::error!("{UNEXPECTED_PROCESS_KIND}: cannot read the policy: {e}");
            None
        }
    };
    let mut events: Vec<serde_json::Value> = joined.iter().map(eve::endpoint_event).collect();
    for alert in joined.iter().filter_map(|j| policy.as_deref().and_then(|p| unexpected_process(p, j))) {
        let key = format!(
            "{UNEXPECTED_PROCESS_KIND}|{}|{}|{}",
            alert.gateway.as_deref().unwrap_or("-"),
            alert.flow_id,
            alert.ts
        );
        let record = match serde_json::to_value(&alert) {
            Ok(v) => v,
            Err(e) => {
                log::error!("{UNEXPECTED_PROCESS_KIND}: {e}");
                continue;
            }
        };
        match shared.with_store(move |s| s.raise_alert(UNEXPECTED_PROCESS_KIND, &key, &record)).await {
            Ok(true) => {
                log::warn!(
                    "{UNEXPECTED_PROCESS_KIND}: {} ({}) -> {}:{} {} started by {} (approved: {})",
                    alert.src_ip,
                    alert.host_name.as_deref().unwrap_or("-"),
                    alert.dest_ip,
                    alert.dest_port,
                    alert.mail_proto,
                    alert.process,
                    alert.approved.join(", ")
                );
                shared.metrics.alerts_raised.get_or_create(&KindLabels { kind: UNEXPECTED_PROCESS_KIND.into() }).inc();
                events.push(eve::unexpected_process_event(&alert));
            }
            Ok(false) => {}
            Err(e) => log::error!("{UNEXPECTED_PROCESS_KIND}: {e}"),
        }
    }
    if shared.eve.is_some() {
        let shared = Arc::clone(shared);
        let written = tokio::task::spawn_blocking(move || shared.eve.as_ref().map(|w| w.write(&events))).await;
        if let Ok(Some(Err(e))) = written {
            log::error!("EVE export: {e}");
        }
    }
}
