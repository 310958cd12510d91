//! Each gateway's state as the API, coverage figures and reports show it:
//! the stored row, overlaid with what this process heard since it started.

use crate::state::Shared;
use crate::store::{now_ns, parse_ts_ns, GatewayRow, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One gateway, as `GET /api/v1/gateways` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatus {
    /// Its name.
    pub name: String,
    /// Its software version.
    pub software_version: String,
    /// Hash of its policy in force.
    pub policy_hash: Option<String>,
    /// `block` or `monitor`.
    pub mode: Option<String>,
    /// When its process started (RFC 3339).
    pub started_at: String,
    /// Seconds since then, while connected.
    pub uptime_secs: Option<i64>,
    /// When it first reported.
    pub first_seen: String,
    /// When it last reported anything.
    pub last_report: String,
    /// Whether it is connected.
    pub connected: bool,
    /// Connected and heard from within `channel.liveness_secs`.
    pub alive: bool,
    /// Its counters as last reported (cumulative since its process started).
    pub counters: BTreeMap<String, u64>,
}

/// Every gateway that ever reported, by name.
pub async fn statuses(shared: &Shared) -> Result<Vec<GatewayStatus>, StoreError> {
    let stored = shared.with_store(|s| s.gateways()).await?;
    let live = shared.live().clone();
    let liveness_ns =
        i64::try_from(shared.config.channel.liveness_secs.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX);
    let now = now_ns();
    Ok(stored
        .into_iter()
        .map(|row| {
            let row = match live.get(&row.name) {
                Some(l) => GatewayRow { first_seen: row.first_seen, ..l.clone() },
                None => row,
            };
            let connected = shared.hub.is_connected(&row.name);
            let last = parse_ts_ns(&row.last_report).unwrap_or(0);
            let uptime = parse_ts_ns(&row.started_at).map(|s| (now - s) / 1_000_000_000);
            GatewayStatus {
                name: row.name,
                software_version: row.software_version,
                policy_hash: row.policy_hash,
                mode: row.mode,
                started_at: row.started_at,
                uptime_secs: if connected { uptime } else { None },
                first_seen: row.first_seen,
                last_report: row.last_report,
                connected,
                alive: connected && now.saturating_sub(last) <= liveness_ns,
                counters: row.counters,
            }
        })
        .collect())
}
