//! Aggregates over a period for coverage figures, audit reports and the
//! dashboard: blind-spot counts, per-host telemetry presence, SMTP paths,
//! verdict and rule counts, daily series, blocked paths, gateway presence.

use super::hosts::Period;
use super::sessions::served_rows;
use super::{Store, StoreError};
use crate::blind;
use rusqlite::params;

/// Blind-spot counts over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlindCounts {
    /// Sessions in the period.
    pub sessions: u64,
    /// Sessions with any blind-spot flag.
    pub blind: u64,
    /// Sessions per flag, in the order of [`blind::REASONS`].
    pub by_reason: Vec<u64>,
    /// Sessions matched to endpoint telemetry.
    pub with_endpoint: u64,
}

/// One client in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    /// Its address.
    pub ip: String,
    /// Its sessions in the period.
    pub sessions: u64,
    /// Start of its first session in the period (Unix ns).
    pub first_ns: i64,
    /// Start of its last session in the period (Unix ns).
    pub last_ns: i64,
    /// Start of its first stored session ever (Unix ns).
    pub first_ever_ns: i64,
    /// Whether endpoint telemetry came from its address in the period (widened by the skew tolerance).
    pub managed: bool,
}

/// SMTP sessions of one (client, server, port) in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpPathRow {
    /// Client address.
    pub src_ip: String,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// Sessions.
    pub sessions: u64,
}

/// Sessions of one (client, server, port, protocol, action, rule) in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPathRow {
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
    /// Start of the first (Unix ns).
    pub first_ns: i64,
    /// Start of the last (Unix ns).
    pub last_ns: i64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Blind-spot and endpoint-match counts of the sessions in `period`.
    pub fn blind_counts(&self, period: Period) -> Result<BlindCounts, StoreError> {
        let mut sql = String::from("SELECT COUNT(*), ifnull(SUM(blind != 0), 0), ifnull(SUM(endpoint IS NOT NULL), 0)");
        for (bit, _) in blind::REASONS {
            sql.push_str(&format!(", ifnull(SUM(blind & {bit} != 0), 0)"));
        }
        sql.push_str(" FROM sessions WHERE ts_ns >= ?1 AND ts_ns < ?2");
        Ok(self.reader().query_row(&sql, params![period.since, period.until], |r| {
            let mut by_reason = Vec::with_capacity(blind::REASONS.len());
            for i in 0..blind::REASONS.len() {
                by_reason.push(count(r.get(3 + i)?));
            }
            Ok(BlindCounts {
                sessions: count(r.get(0)?),
                blind: count(r.get(1)?),
                with_endpoint: count(r.get(2)?),
                by_reason,
            })
        })?)
    }

    /// Every client with sessions in `period`: its counts, when it was first
    /// seen ever, and whether endpoint telemetry came from it.
    pub fn clients(&self, period: Period, skew_ns: i64) -> Result<Vec<ClientRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT s.src_ip, COUNT(*), MIN(s.ts_ns), MAX(s.ts_ns),
                    (SELECT MIN(f.ts_ns) FROM sessions f WHERE f.src_bin = s.src_bin),
                    EXISTS (SELECT 1 FROM endpoint_events e WHERE e.host_bin = s.src_bin AND e.ts_ns >= ?3 AND e.ts_ns < ?4)
             FROM sessions s WHERE s.ts_ns >= ?1 AND s.ts_ns < ?2 AND s.src_bin IS NOT NULL
             GROUP BY s.src_bin ORDER BY COUNT(*) DESC, s.src_ip",
        )?;
        let rows = stmt.query_map(
            params![
                period.since,
                period.until,
                period.since.saturating_sub(skew_ns),
                period.until.saturating_add(skew_ns)
            ],
            |r| {
                Ok(ClientRow {
                    ip: r.get(0)?,
                    sessions: count(r.get(1)?),
                    first_ns: r.get(2)?,
                    last_ns: r.get(3)?,
                    first_ever_ns: r.get(4)?,
                    managed: r.get(5)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// SMTP sessions in `period` per (client, server, port).
    pub fn smtp_paths(&self, period: Period) -> Result<Vec<SmtpPathRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT src_ip, dest_ip, dest_port, COUNT(*) FROM sessions
             WHERE ts_ns >= ?1 AND ts_ns < ?2 AND mail_proto = 'smtp'
             GROUP BY src_ip, dest_ip, dest_port ORDER BY src_ip, dest_ip, dest_port",
        )?;
        let rows = stmt.query_map(params![period.since, period.until], |r| {
            Ok(SmtpPathRow { src_ip: r.get(0)?, dest_ip: r.get(1)?, dest_port: r.get(2)?, sessions: count(r.get(3)?) })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sessions in `period` per (action, rule), most first.
    pub fn rule_counts(&self, period: Period) -> Result<Vec<(String, Option<String>, u64)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT action, rule, COUNT(*) FROM sessions WHERE ts_ns >= ?1 AND ts_ns < ?2
             GROUP BY action, rule ORDER BY COUNT(*) DESC, action, rule",
        )?;
        let rows =
            stmt.query_map(params![period.since, period.until], |r| Ok((r.get(0)?, r.get(1)?, count(r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sessions in `period` per UTC day (days since the Unix epoch) and action.
    pub fn daily_actions(&self, period: Period) -> Result<Vec<(i64, String, u64)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT ts_ns / 86400000000000, action, COUNT(*) FROM sessions WHERE ts_ns >= ?1 AND ts_ns < ?2
             GROUP BY 1, 2 ORDER BY 1, 2",
        )?;
        let rows =
            stmt.query_map(params![period.since, period.until], |r| Ok((r.get(0)?, r.get(1)?, count(r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Paths whose sessions in `period` got one of `actions`, most sessions first, at most `limit`.
    pub fn action_paths(
        &self,
        period: Period,
        actions: &[&str],
        limit: usize,
    ) -> Result<Vec<ActionPathRow>, StoreError> {
        let marks = vec!["?"; actions.len()].join(", ");
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!(
            "SELECT src_ip, dest_ip, dest_port, mail_proto, action, rule, COUNT(*), MIN(ts_ns), MAX(ts_ns)
             FROM sessions WHERE ts_ns >= ? AND ts_ns < ? AND action IN ({marks})
             GROUP BY src_ip, dest_ip, dest_port, mail_proto, action, rule
             ORDER BY COUNT(*) DESC, src_ip, dest_ip LIMIT {limit}"
        ))?;
        let mut values: Vec<rusqlite::types::Value> = vec![period.since.into(), period.until.into()];
        values.extend(actions.iter().map(|a| rusqlite::types::Value::Text((*a).to_string())));
        let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| {
            Ok(ActionPathRow {
                src_ip: r.get(0)?,
                dest_ip: r.get(1)?,
                dest_port: r.get(2)?,
                mail_proto: r.get(3)?,
                action: r.get(4)?,
                rule: r.get(5)?,
                sessions: count(r.get(6)?),
                first_ns: r.get(7)?,
                last_ns: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest sessions with one of `actions`, as the API serves them.
    pub fn recent_with_actions(&self, actions: &[&str], limit: usize) -> Result<Vec<serde_json::Value>, StoreError> {
        let marks = vec!["?"; actions.len()].join(", ");
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!(
            "SELECT record, endpoint FROM sessions WHERE action IN ({marks}) ORDER BY ts_ns DESC, id DESC LIMIT {limit}"
        ))?;
        served_rows(&mut stmt, rusqlite::params_from_iter(actions.iter()))
    }

    /// Notes that `gateway` connected at `now_ns`; returns the presence row to touch.
    pub fn presence_open(&self, gateway: &str, now_ns: i64) -> Result<i64, StoreError> {
        let conn = self.writer();
        conn.execute(
            "INSERT INTO gateway_presence (gateway, connected_ns, last_ns) VALUES (?1, ?2, ?2)",
            params![gateway, now_ns],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Notes that the gateway of presence row `id` was still there at `now_ns`.
    pub fn presence_touch(&self, id: i64, now_ns: i64) -> Result<(), StoreError> {
        self.writer().execute("UPDATE gateway_presence SET last_ns = ?1 WHERE id = ?2", params![now_ns, id])?;
        Ok(())
    }

    /// Presence intervals `(gateway, from, to)` (Unix ns) overlapping `period`.
    pub fn presence(&self, period: Period) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT gateway, connected_ns, last_ns FROM gateway_presence WHERE last_ns >= ?1 AND connected_ns < ?2
             ORDER BY gateway, connected_ns",
        )?;
        let rows = stmt.query_map(params![period.since, period.until], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
