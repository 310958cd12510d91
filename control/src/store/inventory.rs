//! The observed mail paths: every (source host, mail protocol, destination)
//! with what was seen on it.

use super::{format_ts_ns, Store, StoreError};
use serde::Serialize;

/// One observed path, as `GET /api/v1/inventory` lists it (before the
/// policy's admission is added).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryRow {
    /// Client address.
    pub src_ip: String,
    /// The mail protocol (`null` for non-mail sessions on mail ports).
    pub mail_proto: Option<String>,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// Start of the first session.
    pub first_seen: String,
    /// Start of the last session.
    pub last_seen: String,
    /// Sessions seen.
    pub sessions: u64,
    /// Bytes both ways, all sessions.
    pub bytes: u64,
    /// Share of the sessions (0–1) in which a TLS ClientHello was seen.
    pub tls_share: f64,
    /// TLS server names seen, sorted.
    pub sni: Vec<String>,
    /// SMTP EHLO/HELO names seen, sorted.
    pub helo: Vec<String>,
}

/// One path's session start times (Unix ns, ascending), for periodicity scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct PathTimes {
    /// Client address.
    pub src_ip: String,
    /// The mail protocol.
    pub mail_proto: String,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// Session start times, ascending.
    pub starts_ns: Vec<i64>,
}

fn names(json: Option<String>) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = match json {
        Some(j) => serde_json::from_str::<Vec<Option<String>>>(&j)?.into_iter().flatten().collect(),
        None => Vec::new(),
    };
    names.sort();
    names.dedup();
    Ok(names)
}

impl Store {
    /// Every path seen in sessions that started at or after `since_ns`.
    pub fn inventory(&self, since_ns: i64) -> Result<Vec<InventoryRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT src_ip, mail_proto, dest_ip, dest_port, MIN(ts_ns), MAX(ts_ns), COUNT(*), SUM(bytes), SUM(tls),
                    json_group_array(DISTINCT sni), json_group_array(DISTINCT helo)
             FROM sessions WHERE ts_ns >= ?1
             GROUP BY src_ip, mail_proto, dest_ip, dest_port
             ORDER BY src_ip, mail_proto, dest_ip, dest_port",
        )?;
        let rows = stmt.query_map([since_ns], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u16>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (src_ip, mail_proto, dest_ip, dest_port, first, last, sessions, bytes, tls, sni, helo) = row?;
            let sessions = u64::try_from(sessions).unwrap_or(0);
            out.push(InventoryRow {
                src_ip,
                mail_proto,
                dest_ip,
                dest_port,
                first_seen: format_ts_ns(first),
                last_seen: format_ts_ns(last),
                sessions,
                bytes: u64::try_from(bytes).unwrap_or(0),
                tls_share: if sessions == 0 { 0.0 } else { tls as f64 / sessions as f64 },
                sni: names(sni)?,
                helo: names(helo)?,
            });
        }
        Ok(out)
    }

    /// Start times of every mail path's sessions since `since_ns`, for the
    /// paths with at least `min_sessions` sessions.
    pub fn path_times(&self, since_ns: i64, min_sessions: usize) -> Result<Vec<PathTimes>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT src_ip, mail_proto, dest_ip, dest_port, ts_ns FROM sessions
             WHERE ts_ns >= ?1 AND mail_proto IS NOT NULL
             ORDER BY src_ip, mail_proto, dest_ip, dest_port, ts_ns",
        )?;
        let rows = stmt.query_map([since_ns], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u16>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out: Vec<PathTimes> = Vec::new();
        for row in rows {
            let (src_ip, mail_proto, dest_ip, dest_port, ts) = row?;
            match out.last_mut() {
                Some(p)
                    if p.src_ip == src_ip
                        && p.mail_proto == mail_proto
                        && p.dest_ip == dest_ip
                        && p.dest_port == dest_port =>
                {
                    p.starts_ns.push(ts);
                }
                _ => out.push(PathTimes { src_ip, mail_proto, dest_ip, dest_port, starts_ns: vec![ts] }),
            }
        }
        out.retain(|p| p.starts_ns.len() >= min_sessions);
        Ok(out)
    }
}
