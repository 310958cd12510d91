//! Periodic-session detection: mail sessions that start on a timer, the
//! signature of a beaconing implant using mail as its C2 channel (T1071.003).
//!
//! Method: for each (source, mail protocol, destination, port) with at least
//! `min_sessions` sessions in the window, take the intervals between
//! consecutive session starts and their coefficient of variation
//! CV = standard deviation / mean. A timer gives intervals that hardly vary
//! (CV near 0); people and mail queues give irregular ones (CV near or above
//! 1). The score is `1 − CV`, clamped to 0–1; at or above `min_score` a
//! `periodic_mail_sessions` alert is raised (or refreshed) for the path.
//! Jitter of ±10 % around the period still scores about 0.94; an interval
//! of zero (bursts of parallel sessions) lowers the mean and raises the CV,
//! so bursts do not look periodic.

use crate::config::PeriodicConfig;
use crate::store::{format_ts_ns, now_ns, PathTimes, Store, StoreError};
use serde::{Deserialize, Serialize};

/// The alert kind this detector raises.
pub const ALERT_KIND: &str = "periodic_mail_sessions";

/// How regular a path's session starts are.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Regularity {
    /// Intervals measured (sessions − 1).
    pub intervals: usize,
    /// Their mean, in seconds.
    pub mean_interval_secs: f64,
    /// Their coefficient of variation.
    pub cv: f64,
    /// `1 − cv`, clamped to 0–1.
    pub score: f64,
}

/// Scores ascending start times (ns); `None` with fewer than two intervals
/// or when every session started at the same instant.
pub fn regularity(starts_ns: &[i64]) -> Option<Regularity> {
    let intervals: Vec<f64> =
        starts_ns.windows(2).filter_map(|w| Some((*w.get(1)? - *w.first()?) as f64 / 1e9)).collect();
    if intervals.len() < 2 {
        return None;
    }
    let n = intervals.len() as f64;
    let mean = intervals.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let variance = intervals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let cv = variance.sqrt() / mean;
    Some(Regularity { intervals: intervals.len(), mean_interval_secs: mean, cv, score: (1.0 - cv).clamp(0.0, 1.0) })
}

/// The alert record for a periodic path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodicAlert {
    /// Always [`ALERT_KIND`].
    pub kind: &'static str,
    /// Client address.
    pub src_ip: String,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// The mail protocol.
    pub mail_proto: String,
    /// Sessions in the window.
    pub sessions: usize,
    /// Start of the first of them (RFC 3339).
    pub first_seen: String,
    /// Start of the last of them (RFC 3339).
    pub last_seen: String,
    /// How regular they are.
    #[serde(flatten)]
    pub regularity: Regularity,
}

/// Scores every path in the window and raises alerts; returns the alerts
/// raised for the first time in this run.
pub fn detect(store: &Store, config: &PeriodicConfig) -> Result<Vec<PeriodicAlert>, StoreError> {
    let window_ns = i64::try_from(config.window_hours.saturating_mul(3_600_000_000_000)).unwrap_or(i64::MAX);
    let since = now_ns().saturating_sub(window_ns);
    let mut raised = Vec::new();
    for path in store.path_times(since, config.min_sessions)? {
        let Some(regularity) = regularity(&path.starts_ns) else { continue };
        if regularity.score < config.min_score {
            continue;
        }
        let PathTimes { src_ip, mail_proto, dest_ip, dest_port, starts_ns } = path;
        let key = format!("{ALERT_KIND}|{src_ip}|{mail_proto}|{dest_ip}|{dest_port}");
        let alert = PeriodicAlert {
            kind: ALERT_KIND,
            first_seen: format_ts_ns(starts_ns.first().copied().unwrap_or_default()),
            last_seen: format_ts_ns(starts_ns.last().copied().unwrap_or_default()),
            sessions: starts_ns.len(),
            src_ip,
            dest_ip,
            dest_port,
            mail_proto,
            regularity,
        };
        if store.raise_alert(ALERT_KIND, &key, &serde_json::to_value(&alert)?)? {
            log::warn!(
                "{ALERT_KIND}: {} -> {}:{} ({}) every {:.0}s, score {:.2}",
                alert.src_ip,
                alert.dest_ip,
                alert.dest_port,
                alert.mail_proto,
                alert.regularity.mean_interval_secs,
                alert.regularity.score
            );
            raised.push(alert);
        }
    }
    Ok(raised)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_timer_scores_near_one() {
        let starts: Vec<i64> = (0..20).map(|i| i * 300 * S).collect();
        let r = regularity(&starts).unwrap_or_else(|| panic!("scored"));
        assert!(r.score > 0.999 && (r.mean_interval_secs - 300.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn jitter_lowers_the_score_a_little_and_irregular_traffic_a_lot() {
        let jittered: Vec<i64> = (0..20).map(|i| i * 300 * S + if i % 2 == 0 { 20 * S } else { -20 * S }).collect();
        let r = regularity(&jittered).unwrap_or_else(|| panic!("scored"));
        assert!(r.score > 0.8 && r.score < 0.95, "{r:?}");
        let irregular = [0, 5, 400, 410, 2000, 2001, 2002, 9000, 9500, 20000].map(|s| s * S);
        let r = regularity(&irregular).unwrap_or_else(|| panic!("scored"));
        assert!(r.score < 0.3, "{r:?}");
    }

    #[test]
    fn too_few_or_simultaneous_sessions_are_not_scored() {
        assert_eq!(regularity(&[0, S]), None);
        assert_eq!(regularity(&[5 * S; 6]), None);
    }
}
