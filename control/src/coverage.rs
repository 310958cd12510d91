//! Blind spots and coverage (`GET /api/v1/coverage`, `mailgatectl
//! coverage`, reports): over a period, the share of sessions whose content
//! could not be inspected and why ([`crate::blind`]); sessions from hosts
//! without endpoint telemetry (unmanaged assets); hosts first seen in the
//! period (new mail talkers); SMTP to the internet from hosts outside the
//! relay groups ([`crate::policy::relays`]); what the gateways lost; and
//! the gateways that stopped reporting.
//!
//! "Sessions" are every stored session: the gateways report each session
//! that is mail or uses a mail port. Counters the gateways report are
//! cumulative since each dataplane process started, not per period.

use crate::blind;
use crate::gateways::GatewayStatus;
use crate::policy::{is_internal, Relays};
use crate::store::{format_ts_ns, Period, Store, StoreError};
use mailgate_protocol::channel::counter;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Sessions for one blind-spot reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasonCount {
    /// `tls_without_sni`, `ech`, `midstream`, `reassembly_budget_exceeded`, `not_inspected`.
    pub reason: String,
    /// Sessions.
    pub sessions: u64,
    /// Share of all sessions (0–1).
    pub share: f64,
}

/// Sessions whose content could not be (fully) inspected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uninspected {
    /// Sessions with at least one reason.
    pub sessions: u64,
    /// Their share of all sessions (0–1).
    pub share: f64,
    /// Per reason (a session can have several).
    pub reasons: Vec<ReasonCount>,
}

/// A client in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSeen {
    /// Its address.
    pub ip: String,
    /// Its sessions in the period.
    pub sessions: u64,
    /// Start of its first session in the period.
    pub first_seen: String,
    /// Start of its last session in the period.
    pub last_seen: String,
}

/// Endpoint telemetry coverage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointCoverage {
    /// Sessions matched to an endpoint event.
    pub matched_sessions: u64,
    /// Their share (0–1).
    pub matched_share: f64,
    /// Clients in the period.
    pub hosts: u64,
    /// Clients that sent endpoint telemetry in the period.
    pub managed_hosts: u64,
    /// Sessions from clients that did not (unmanaged assets).
    pub unmanaged_sessions: u64,
    /// Their share (0–1).
    pub unmanaged_share: f64,
    /// Those clients, most sessions first.
    pub unmanaged: Vec<HostSeen>,
}

/// A client that sent SMTP to the internet without being a relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectHost {
    /// Its address.
    pub ip: String,
    /// Its SMTP sessions to the internet.
    pub sessions: u64,
    /// `address:port` of the servers, sorted.
    pub destinations: Vec<String>,
}

/// SMTP to the internet from hosts outside the relay groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectToInternet {
    /// The relay groups used.
    pub relays: Relays,
    /// Sessions.
    pub sessions: u64,
    /// Per client, most sessions first.
    pub hosts: Vec<DirectHost>,
}

/// A gateway's health as coverage sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayHealth {
    /// Its name.
    pub name: String,
    /// Whether it is connected.
    pub connected: bool,
    /// Connected and heard from recently.
    pub alive: bool,
    /// When it last reported.
    pub last_report: String,
    /// Not alive.
    pub stopped_reporting: bool,
    /// Session records it lost (`ring_dropped`, `spool_discarded`).
    pub records_lost: BTreeMap<String, u64>,
    /// Its other counters naming drops, misses or discards (packets).
    pub packets_dropped: BTreeMap<String, u64>,
}

/// The coverage figures of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Start of the period (RFC 3339).
    pub since: String,
    /// End of the period (RFC 3339).
    pub until: String,
    /// Sessions in the period.
    pub sessions: u64,
    /// Sessions whose content could not be inspected.
    pub uninspected: Uninspected,
    /// Endpoint telemetry coverage.
    pub endpoint: EndpointCoverage,
    /// Clients whose first stored session is in the period.
    pub new_talkers: Vec<HostSeen>,
    /// SMTP to the internet from outside the relay groups.
    pub direct_to_internet: DirectToInternet,
    /// Every gateway.
    pub gateways: Vec<GatewayHealth>,
    /// The gateways that stopped reporting.
    pub gateways_stopped: Vec<String>,
    /// Session records lost, all gateways.
    pub records_lost: u64,
    /// Packets dropped, all gateways (as far as they report it).
    pub packets_dropped: u64,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn is_packet_drop_counter(name: &str) -> bool {
    let own = [counter::RING_DROPPED, counter::SPOOL_DISCARDED];
    !own.contains(&name) && ["drop", "miss", "discard"].iter().any(|w| name.contains(w))
}

/// Everything coverage needs besides the store.
pub struct Inputs<'a> {
    /// The period.
    pub period: Period,
    /// The endpoint clock-skew tolerance (ns).
    pub skew_ns: i64,
    /// The relay groups.
    pub relays: Relays,
    /// Internal networks.
    pub internal: &'a [ipnet::IpNet],
    /// The gateways.
    pub gateways: &'a [GatewayStatus],
}

/// Computes the figures.
pub fn compute(store: &Store, inputs: Inputs<'_>) -> Result<Coverage, StoreError> {
    let Inputs { period, skew_ns, relays, internal, gateways } = inputs;
    let counts = store.blind_counts(period)?;
    let total = counts.sessions;
    let reasons = blind::REASONS
        .iter()
        .zip(&counts.by_reason)
        .map(|((_, name), n)| ReasonCount { reason: (*name).to_string(), sessions: *n, share: share(*n, total) })
        .collect();
    let clients = store.clients(period, skew_ns)?;
    let seen = |c: &crate::store::ClientRow| HostSeen {
        ip: c.ip.clone(),
        sessions: c.sessions,
        first_seen: format_ts_ns(c.first_ns),
        last_seen: format_ts_ns(c.last_ns),
    };
    let unmanaged: Vec<HostSeen> = clients.iter().filter(|c| !c.managed).map(seen).collect();
    let unmanaged_sessions = unmanaged.iter().map(|h| h.sessions).sum();
    let new_talkers = clients.iter().filter(|c| c.first_ever_ns >= period.since).map(seen).collect();

    let mut direct: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    for path in store.smtp_paths(period)? {
        let (Ok(src), Ok(dest)) = (path.src_ip.parse::<IpAddr>(), path.dest_ip.parse::<IpAddr>()) else { continue };
        if relays.contains(src) || is_internal(&ipnet::IpNet::from(dest), internal) {
            continue;
        }
        let entry = direct.entry(path.src_ip).or_default();
        entry.0 += path.sessions;
        let shown =
            if dest.is_ipv6() { format!("[{dest}]:{}", path.dest_port) } else { format!("{dest}:{}", path.dest_port) };
        entry.1.push(shown);
    }
    let mut hosts: Vec<DirectHost> =
        direct.into_iter().map(|(ip, (sessions, destinations))| DirectHost { ip, sessions, destinations }).collect();
    hosts.sort_by(|a, b| b.sessions.cmp(&a.sessions).then_with(|| a.ip.cmp(&b.ip)));

    let health: Vec<GatewayHealth> = gateways
        .iter()
        .map(|g| GatewayHealth {
            name: g.name.clone(),
            connected: g.connected,
            alive: g.alive,
            last_report: g.last_report.clone(),
            stopped_reporting: !g.alive,
            records_lost: [counter::RING_DROPPED, counter::SPOOL_DISCARDED]
                .iter()
                .map(|k| ((*k).to_string(), g.counters.get(*k).copied().unwrap_or(0)))
                .collect(),
            packets_dropped: g
                .counters
                .iter()
                .filter(|(k, _)| is_packet_drop_counter(k))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        })
        .collect();
    Ok(Coverage {
        since: format_ts_ns(period.since),
        until: format_ts_ns(period.until),
        sessions: total,
        uninspected: Uninspected { sessions: counts.blind, share: share(counts.blind, total), reasons },
        endpoint: EndpointCoverage {
            matched_sessions: counts.with_endpoint,
            matched_share: share(counts.with_endpoint, total),
            hosts: clients.len() as u64,
            managed_hosts: clients.iter().filter(|c| c.managed).count() as u64,
            unmanaged_sessions,
            unmanaged_share: share(unmanaged_sessions, total),
            unmanaged,
        },
        new_talkers,
        direct_to_internet: DirectToInternet { relays, sessions: hosts.iter().map(|h| h.sessions).sum(), hosts },
        gateways_stopped: health.iter().filter(|g| g.stopped_reporting).map(|g| g.name.clone()).collect(),
        records_lost: health.iter().flat_map(|g| g.records_lost.values()).sum(),
        packets_dropped: health.iter().flat_map(|g| g.packets_dropped.values()).sum(),
        gateways: health,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_drop_counters_are_told_from_the_reporters_own() {
        assert!(is_packet_drop_counter("rx_missed") && is_packet_drop_counter("packets_dropped"));
        assert!(!is_packet_drop_counter("ring_dropped") && !is_packet_drop_counter("records_acked"));
    }
}
