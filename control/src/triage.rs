//! Host triage (`GET /api/v1/hosts/{ip}`, `mailgatectl investigate`):
//! everything the control plane knows about one client's mail sessions —
//! its destinations with protocols, HELO names, AUTH users and
//! mechanisms, TLS names, verdicts and initiating processes; the timing
//! of each path (interval histogram and the periodicity score of
//! [`crate::periodic`]); first and last seen; the other hosts that used the
//! same destinations; and the sessions themselves, newest first.

use crate::periodic::{regularity, Regularity};
use crate::store::{format_ts_ns, PathKey, Period, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Upper bounds (seconds, exclusive) and labels of the interval histogram.
pub const BINS: [(f64, &str); 9] = [
    (1.0, "<1s"),
    (10.0, "1-10s"),
    (60.0, "10s-1m"),
    (300.0, "1-5m"),
    (900.0, "5-15m"),
    (3600.0, "15m-1h"),
    (21_600.0, "1-6h"),
    (86_400.0, "6h-1d"),
    (f64::INFINITY, ">1d"),
];

/// Destinations for which other clients are looked up (the busiest first).
const PEER_DESTINATIONS: usize = 100;
/// Other clients listed per destination.
const PEERS: usize = 10;

/// One bin of the interval histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bin {
    /// Its range, such as `1-5m`.
    pub label: String,
    /// Intervals in it.
    pub count: u64,
}

/// The intervals between consecutive starts (ns, ascending), binned by [`BINS`].
pub fn histogram(starts_ns: &[i64]) -> Vec<Bin> {
    let mut counts = [0u64; BINS.len()];
    for pair in starts_ns.windows(2) {
        if let [a, b] = pair {
            let secs = (b - a) as f64 / 1e9;
            if let Some(i) = BINS.iter().position(|(upper, _)| secs < *upper) {
                if let Some(c) = counts.get_mut(i) {
                    *c += 1;
                }
            }
        }
    }
    BINS.iter().zip(counts).map(|((_, label), count)| Bin { label: (*label).to_string(), count }).collect()
}

/// Another client of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherHost {
    /// Its address.
    pub src_ip: String,
    /// Its sessions to the destination in the period.
    pub sessions: u64,
    /// Start of its last one.
    pub last_seen: String,
}

/// One destination (server, port, protocol) of the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// The mail protocol (`null` for non-mail sessions on a mail port).
    pub mail_proto: Option<String>,
    /// Sessions.
    pub sessions: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Start of the first session.
    pub first_seen: String,
    /// Start of the last session.
    pub last_seen: String,
    /// Sessions per verdict action.
    pub actions: BTreeMap<String, u64>,
    /// The rules that decided, sorted.
    pub rules: Vec<String>,
    /// TLS server names.
    pub sni: Vec<String>,
    /// SMTP EHLO/HELO names.
    pub helo: Vec<String>,
    /// AUTH / login user names.
    pub users: Vec<String>,
    /// AUTH / login mechanisms.
    pub auth_mechs: Vec<String>,
    /// Initiating processes (from endpoint telemetry).
    pub processes: Vec<String>,
    /// Intervals between consecutive session starts.
    pub intervals: Vec<Bin>,
    /// Their regularity (`null` with fewer than three sessions).
    pub regularity: Option<Regularity>,
    /// Other clients of the same server and port.
    pub other_hosts: Vec<OtherHost>,
}

/// Sessions with one verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCount {
    /// The action.
    pub action: String,
    /// The deciding rule.
    pub rule: Option<String>,
    /// Sessions.
    pub sessions: u64,
}

/// Sessions initiated by one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessCount {
    /// The process (`null`: sessions not matched to endpoint telemetry).
    pub process: Option<String>,
    /// The account.
    pub user: Option<String>,
    /// Sessions.
    pub sessions: u64,
}

/// What endpoint telemetry says about the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSummary {
    /// Connection events from its address in the period.
    pub events: u64,
    /// The first of them.
    pub first: Option<String>,
    /// The last of them.
    pub last: Option<String>,
    /// Host names they give.
    pub host_names: Vec<String>,
    /// Telemetry sources.
    pub sources: Vec<String>,
    /// Sessions matched to an event.
    pub attributed_sessions: u64,
}

/// The triage of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    /// The host's address.
    pub host: String,
    /// Start of the period (`null`: everything stored).
    pub since: Option<String>,
    /// End of the period (`null`: now).
    pub until: Option<String>,
    /// Sessions in the period.
    pub sessions: u64,
    /// Start of its first session.
    pub first_seen: Option<String>,
    /// Start of its last session.
    pub last_seen: Option<String>,
    /// Endpoint telemetry.
    pub endpoint: EndpointSummary,
    /// Sessions per mail protocol (`none` for non-mail sessions on mail ports).
    pub protocols: BTreeMap<String, u64>,
    /// Every EHLO/HELO name.
    pub helo: Vec<String>,
    /// Every TLS server name.
    pub sni: Vec<String>,
    /// Every AUTH / login user.
    pub users: Vec<String>,
    /// Every AUTH / login mechanism.
    pub auth_mechs: Vec<String>,
    /// Sessions per verdict.
    pub verdicts: Vec<VerdictCount>,
    /// Sessions per initiating process.
    pub processes: Vec<ProcessCount>,
    /// Its destinations, most sessions first.
    pub destinations: Vec<Destination>,
    /// Its sessions, newest first (at most the requested limit).
    pub recent: Vec<serde_json::Value>,
}

fn union(into: &mut Vec<String>, from: &[String]) {
    into.extend(from.iter().cloned());
    into.sort();
    into.dedup();
}

/// Builds the triage of `host` over `period`, listing at most `limit` sessions.
pub fn host_report(store: &Store, host: &str, period: Period, limit: usize) -> Result<HostReport, StoreError> {
    let paths = store.host_paths(host, period)?;
    let verdict_rows = store.host_verdicts(host, period)?;
    let mut starts: BTreeMap<PathKey, Vec<i64>> = store.host_starts(host, period)?.into_iter().collect();
    let presence = store.endpoint_presence(host, period)?;
    let process_rows = store.host_processes(host, period)?;
    let recent = store.host_sessions(host, period, limit)?;

    let mut verdicts: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
    // Per destination: sessions per action, and the deciding rules.
    type Verdicts = (BTreeMap<String, u64>, Vec<String>);
    let mut per_path: BTreeMap<PathKey, Verdicts> = BTreeMap::new();
    for v in &verdict_rows {
        *verdicts.entry((v.action.clone(), v.rule.clone())).or_default() += v.sessions;
        let entry = per_path.entry((v.dest_ip.clone(), v.dest_port, v.mail_proto.clone())).or_default();
        *entry.0.entry(v.action.clone()).or_default() += v.sessions;
        if let Some(rule) = &v.rule {
            union(&mut entry.1, std::slice::from_ref(rule));
        }
    }
    let (mut helo, mut sni, mut users, mut auth_mechs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut protocols: BTreeMap<String, u64> = BTreeMap::new();
    let mut destinations = Vec::with_capacity(paths.len());
    for (i, p) in paths.into_iter().enumerate() {
        let key = (p.dest_ip.clone(), p.dest_port, p.mail_proto.clone());
        let path_starts = starts.remove(&key).unwrap_or_default();
        let (actions, rules) = per_path.remove(&key).unwrap_or_default();
        let other_hosts = if i < PEER_DESTINATIONS {
            store
                .destination_peers(&p.dest_ip, p.dest_port, host, period, PEERS)?
                .into_iter()
                .map(|r| OtherHost { src_ip: r.src_ip, sessions: r.sessions, last_seen: format_ts_ns(r.last_ns) })
                .collect()
        } else {
            Vec::new()
        };
        *protocols.entry(p.mail_proto.clone().unwrap_or_else(|| "none".into())).or_default() += p.sessions;
        union(&mut helo, &p.helo);
        union(&mut sni, &p.sni);
        union(&mut users, &p.users);
        union(&mut auth_mechs, &p.auth_mechs);
        destinations.push(Destination {
            intervals: histogram(&path_starts),
            regularity: regularity(&path_starts),
            dest_ip: p.dest_ip,
            dest_port: p.dest_port,
            mail_proto: p.mail_proto,
            sessions: p.sessions,
            bytes: p.bytes,
            first_seen: format_ts_ns(p.first_ns),
            last_seen: format_ts_ns(p.last_ns),
            actions,
            rules,
            sni: p.sni,
            helo: p.helo,
            users: p.users,
            auth_mechs: p.auth_mechs,
            processes: p.processes,
            other_hosts,
        });
    }
    let sessions = destinations.iter().map(|d| d.sessions).sum();
    let first = destinations.iter().map(|d| d.first_seen.clone()).min();
    let last = destinations.iter().map(|d| d.last_seen.clone()).max();
    let mut verdicts: Vec<VerdictCount> =
        verdicts.into_iter().map(|((action, rule), sessions)| VerdictCount { action, rule, sessions }).collect();
    verdicts.sort_by(|a, b| b.sessions.cmp(&a.sessions).then_with(|| a.action.cmp(&b.action)));
    let attributed = process_rows.iter().filter(|p| p.process.is_some()).map(|p| p.sessions).sum();
    let show = |ns: i64| (ns != i64::MIN && ns != i64::MAX).then(|| format_ts_ns(ns));
    Ok(HostReport {
        host: host.to_string(),
        since: show(period.since),
        until: show(period.until),
        sessions,
        first_seen: first,
        last_seen: last,
        endpoint: EndpointSummary {
            events: presence.events,
            first: presence.first_ns.map(format_ts_ns),
            last: presence.last_ns.map(format_ts_ns),
            host_names: presence.host_names,
            sources: presence.sources,
            attributed_sessions: attributed,
        },
        protocols,
        helo,
        sni,
        users,
        auth_mechs,
        verdicts,
        processes: process_rows
            .into_iter()
            .map(|p| ProcessCount { process: p.process, user: p.user, sessions: p.sessions })
            .collect(),
        destinations,
        recent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_fall_in_their_bins() {
        let s = 1_000_000_000i64;
        let starts = [0, s / 2, 5 * s, 205 * s, 205 * s + 7200 * s, 205 * s + 7200 * s + 2 * 86_400 * s];
        let bins = histogram(&starts);
        let count = |label: &str| bins.iter().find(|b| b.label == label).map_or(0, |b| b.count);
        assert_eq!((count("<1s"), count("1-10s"), count("1-5m"), count("1-6h"), count(">1d")), (1, 1, 1, 1, 1));
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 5);
        assert_eq!(histogram(&[7]).iter().map(|b| b.count).sum::<u64>(), 0);
    }
}
