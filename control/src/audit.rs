//! The evidence behind `mailgatectl report` (`GET /api/v1/report`): over a
//! period, the policy in force and its history, exceptions with owners and
//! expiry, sessions by verdict and rule (per day too), blocked attempts,
//! alerts raised, coverage figures, and the gateways with their uptime.
//! [`crate::report`] renders it as HTML or Markdown.

use crate::coverage::Coverage;
use crate::gateways::GatewayStatus;
use crate::policy::PolicyInForce;
use crate::store::{format_ts_ns, parse_ts_ns, Period, PolicyVersion, Store, StoreError};
use mailgate_config::AddrRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Actions that block (or would, in monitor mode).
pub const BLOCKING: [&str; 4] = ["drop", "reset", "would_drop", "would_reset"];

/// Blocked paths listed.
const BLOCKED_PATHS: usize = 50;
/// Rules listed.
const RULES: usize = 50;

/// One policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySummary {
    /// Its number.
    pub version: u64,
    /// Its hash.
    pub hash: String,
    /// When it was stored.
    pub created_at: String,
    /// When the next version replaced it (`null`: in force now).
    pub replaced_at: Option<String>,
    /// `block` or `monitor` (`null` if this build can no longer parse it).
    pub mode: Option<String>,
    /// `[[allow]]` rules.
    pub allow_rules: usize,
    /// `[[exception]]` entries.
    pub exceptions: usize,
    /// `[hosts]` groups.
    pub host_groups: usize,
    /// `[[mail_clients]]` entries.
    pub mail_clients: usize,
}

/// An exception of the policy in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionEvidence {
    /// Its name.
    pub name: String,
    /// Who asked for it.
    pub owner: Option<String>,
    /// Why it exists.
    pub reason: String,
    /// Its last day.
    pub expires: String,
    /// Past its last day (it no longer applies).
    pub expired: bool,
    /// Days until it expires (negative: since it did).
    pub days_left: i64,
    /// Sources.
    pub from: Vec<String>,
    /// Destinations (empty: any).
    pub to: Vec<String>,
}

/// Sessions with one (rule, action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    /// The deciding rule (`null` without a policy).
    pub rule: Option<String>,
    /// The action.
    pub action: String,
    /// Sessions.
    pub sessions: u64,
}

/// Sessions of one UTC day by verdict class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// Passed.
    pub pass: u64,
    /// Allowed and alerted.
    pub alert: u64,
    /// Dropped or reset.
    pub blocked: u64,
    /// Would have been dropped or reset (monitor mode).
    pub would_block: u64,
}

/// A path with blocked sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedPath {
    /// Client address.
    pub src_ip: String,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// The mail protocol.
    pub mail_proto: Option<String>,
    /// The action.
    pub action: String,
    /// The deciding rule.
    pub rule: Option<String>,
    /// Sessions.
    pub sessions: u64,
    /// The first.
    pub first_seen: String,
    /// The last.
    pub last_seen: String,
}

/// Blocked attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    /// Sessions dropped or reset.
    pub enforced: u64,
    /// Sessions that would have been (monitor mode).
    pub monitor_only: u64,
    /// The paths, most sessions first.
    pub paths: Vec<BlockedPath>,
}

/// Alerts of one kind raised in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCount {
    /// `periodic_mail_sessions`, `unexpected_mail_process`.
    pub kind: String,
    /// Alerts first raised or refreshed in the period.
    pub raised: u64,
}

/// A gateway and its uptime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayUptime {
    /// Its name.
    pub name: String,
    /// Its software version.
    pub software_version: String,
    /// `block` or `monitor`.
    pub mode: Option<String>,
    /// When it first reported.
    pub first_seen: String,
    /// When it last reported.
    pub last_report: String,
    /// Connected and heard from recently.
    pub alive: bool,
    /// Its process's uptime, while connected.
    pub uptime_secs: Option<i64>,
    /// Share of the period (from its first report on) during which it was
    /// connected and reporting (0–1; `null` when it first reported after the period).
    pub reporting_share: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// When it was made.
    pub generated_at: String,
    /// Start of the period.
    pub since: String,
    /// End of the period.
    pub until: String,
    /// The policy in force now.
    pub policy: Option<PolicySummary>,
    /// Every version in force at some time in the period, oldest first.
    pub policy_history: Vec<PolicySummary>,
    /// The exceptions of the policy in force.
    pub exceptions: Vec<ExceptionEvidence>,
    /// Sessions per action.
    pub verdicts: BTreeMap<String, u64>,
    /// Sessions per (rule, action), most first.
    pub rules: Vec<RuleCount>,
    /// Sessions per day.
    pub daily: Vec<DayCount>,
    /// Blocked attempts.
    pub blocked: Blocked,
    /// Alerts raised by the control plane.
    pub alerts: Vec<AlertCount>,
    /// Coverage figures.
    pub coverage: Coverage,
    /// Gateways and uptime.
    pub gateways: Vec<GatewayUptime>,
}

fn shown(refs: &[AddrRef]) -> Vec<String> {
    refs.iter()
        .map(|r| match r {
            AddrRef::Group(g) => g.clone(),
            AddrRef::Cidr(c) => c.to_string(),
        })
        .collect()
}

fn summary(stored: &PolicyVersion, replaced_at: Option<String>) -> PolicySummary {
    let parsed = PolicyInForce::from_version(stored);
    let policy = parsed.as_ref().map(|p| &p.document.policy);
    PolicySummary {
        version: stored.version,
        hash: stored.hash.clone(),
        created_at: stored.created_at.clone(),
        replaced_at,
        mode: policy.map(|p| p.mode.as_str().to_string()),
        allow_rules: policy.map_or(0, |p| p.allow.len()),
        exceptions: policy.map_or(0, |p| p.exceptions.len()),
        host_groups: policy.map_or(0, |p| p.hosts.len()),
        mail_clients: policy.map_or(0, |p| p.mail_clients.len()),
    }
}

fn day_name(days: i64) -> String {
    OffsetDateTime::from_unix_timestamp(days.saturating_mul(86_400))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| days.to_string())
}

/// Length of the union of `intervals` within `[lo, hi)`.
fn covered(mut intervals: Vec<(i64, i64)>, lo: i64, hi: i64) -> i64 {
    intervals.sort_unstable();
    let (mut total, mut reach) = (0i64, lo);
    for (from, to) in intervals {
        let (from, to) = (from.max(reach), to.min(hi));
        if to > from {
            total += to - from;
            reach = to;
        }
    }
    total
}

/// Everything besides the store that goes into the report.
pub struct Inputs<'a> {
    /// The period.
    pub period: Period,
    /// The policy in force now.
    pub policy: Option<&'a PolicyInForce>,
    /// The coverage figures of the period.
    pub coverage: Coverage,
    /// The gateways.
    pub gateways: &'a [GatewayStatus],
    /// Now.
    pub now: OffsetDateTime,
}

/// Assembles the report.
pub fn build(store: &Store, inputs: Inputs<'_>) -> Result<AuditReport, StoreError> {
    let Inputs { period, policy, coverage, gateways, now } = inputs;
    let now_ns = i64::try_from(now.unix_timestamp_nanos()).unwrap_or(i64::MAX);
    let history = store.policy_history()?;
    let mut policy_history = Vec::new();
    for (i, v) in history.iter().enumerate() {
        let replaced_at = history.get(i + 1).map(|n| n.created_at.clone());
        let from = parse_ts_ns(&v.created_at).unwrap_or(i64::MIN);
        let to = replaced_at.as_deref().and_then(parse_ts_ns).unwrap_or(i64::MAX);
        if from < period.until && to > period.since {
            policy_history.push(summary(v, replaced_at));
        }
    }
    let current = history.last().map(|v| summary(v, None));
    let today = now.date();
    let exceptions = policy
        .map(|p| {
            p.document
                .policy
                .exceptions
                .iter()
                .map(|e| ExceptionEvidence {
                    name: e.name.clone(),
                    owner: e.owner.clone(),
                    reason: e.reason.clone(),
                    expires: e.expires.to_string(),
                    expired: e.expires < today,
                    days_left: (e.expires - today).whole_days(),
                    from: shown(&e.from),
                    to: e.to.as_deref().map(shown).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let rule_rows = store.rule_counts(period)?;
    let mut verdicts: BTreeMap<String, u64> = BTreeMap::new();
    for (action, _, n) in &rule_rows {
        *verdicts.entry(action.clone()).or_default() += n;
    }
    let rules = rule_rows
        .into_iter()
        .take(RULES)
        .map(|(action, rule, sessions)| RuleCount { rule, action, sessions })
        .collect();
    let mut days: BTreeMap<i64, DayCount> = BTreeMap::new();
    for (day, action, n) in store.daily_actions(period)? {
        let entry = days.entry(day).or_insert_with(|| DayCount {
            day: day_name(day),
            pass: 0,
            alert: 0,
            blocked: 0,
            would_block: 0,
        });
        match action.as_str() {
            "pass" => entry.pass += n,
            "alert" => entry.alert += n,
            "drop" | "reset" => entry.blocked += n,
            _ => entry.would_block += n,
        }
    }
    let count = |actions: &[&str]| actions.iter().map(|a| verdicts.get(*a).copied().unwrap_or(0)).sum();
    let blocked = Blocked {
        enforced: count(&["drop", "reset"]),
        monitor_only: count(&["would_drop", "would_reset"]),
        paths: store
            .action_paths(period, &BLOCKING, BLOCKED_PATHS)?
            .into_iter()
            .map(|r| BlockedPath {
                src_ip: r.src_ip,
                dest_ip: r.dest_ip,
                dest_port: r.dest_port,
                mail_proto: r.mail_proto,
                action: r.action,
                rule: r.rule,
                sessions: r.sessions,
                first_seen: format_ts_ns(r.first_ns),
                last_seen: format_ts_ns(r.last_ns),
            })
            .collect(),
    };
    let mut alerts: BTreeMap<String, u64> = BTreeMap::new();
    for alert in store.alerts()? {
        let last = parse_ts_ns(&alert.last_raised).unwrap_or(i64::MIN);
        if last >= period.since && last < period.until {
            *alerts.entry(alert.kind).or_default() += 1;
        }
    }
    let presence = store.presence(period)?;
    let gateways = gateways
        .iter()
        .map(|g| {
            let lo = parse_ts_ns(&g.first_seen).unwrap_or(period.since).max(period.since);
            let mut intervals: Vec<(i64, i64)> =
                presence.iter().filter(|(name, _, _)| *name == g.name).map(|(_, from, to)| (*from, *to)).collect();
            // A connected gateway is there now: its open interval runs to the end of the period.
            if g.connected {
                if let Some(open) = intervals.iter_mut().max_by_key(|(from, _)| *from) {
                    open.1 = open.1.max(period.until.min(now_ns));
                }
            }
            let span = period.until.saturating_sub(lo);
            GatewayUptime {
                name: g.name.clone(),
                software_version: g.software_version.clone(),
                mode: g.mode.clone(),
                first_seen: g.first_seen.clone(),
                last_report: g.last_report.clone(),
                alive: g.alive,
                uptime_secs: g.uptime_secs,
                reporting_share: (span > 0).then(|| covered(intervals, lo, period.until) as f64 / span as f64),
            }
        })
        .collect();
    Ok(AuditReport {
        generated_at: format_ts_ns(now_ns),
        since: format_ts_ns(period.since),
        until: format_ts_ns(period.until),
        policy: current,
        policy_history,
        exceptions,
        verdicts,
        rules,
        daily: days.into_values().collect(),
        blocked,
        alerts: alerts.into_iter().map(|(kind, raised)| AlertCount { kind, raised }).collect(),
        coverage,
        gateways,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_time_counts_overlaps_once_and_clips_to_the_period() {
        assert_eq!(covered(vec![(0, 10), (5, 15), (20, 30)], 0, 100), 25);
        assert_eq!(covered(vec![(-50, 10), (90, 200)], 0, 100), 20);
        assert_eq!(covered(vec![], 0, 100), 0);
        assert_eq!(day_name(19_844), "2024-05-01");
    }
}
