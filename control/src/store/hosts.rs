//! Queries about one host (a session client), for triage: its paths with
//! what was seen on them, its verdicts and processes, its session start
//! times, and the other hosts that used the same destinations.

use super::sessions::served_rows;
use super::{Store, StoreError};
use crate::addr;
use rusqlite::params;

/// A period `[since, until)` in Unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Start, inclusive.
    pub since: i64,
    /// End, exclusive.
    pub until: i64,
}

impl Period {
    /// Every stored session.
    pub const ALL: Period = Period { since: i64::MIN, until: i64::MAX };
}

/// A destination of a host: server address, port and mail protocol.
pub type PathKey = (String, u16, Option<String>);

/// A host's sessions by initiating process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRow {
    /// The process (`None`: sessions not matched to endpoint telemetry).
    pub process: Option<String>,
    /// The account.
    pub user: Option<String>,
    /// Sessions.
    pub sessions: u64,
}

/// One destination of a host, aggregated.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPathRow {
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// The mail protocol (`None` for non-mail sessions on a mail port).
    pub mail_proto: Option<String>,
    /// Sessions.
    pub sessions: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Start of the first session (Unix ns).
    pub first_ns: i64,
    /// Start of the last session (Unix ns).
    pub last_ns: i64,
    /// TLS server names seen, sorted.
    pub sni: Vec<String>,
    /// EHLO/HELO names seen, sorted.
    pub helo: Vec<String>,
    /// User names seen, sorted.
    pub users: Vec<String>,
    /// AUTH / login mechanisms seen, sorted.
    pub auth_mechs: Vec<String>,
    /// Initiating processes seen (from endpoint telemetry), sorted.
    pub processes: Vec<String>,
}

/// Sessions of one (destination, port, protocol, action, rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVerdictRow {
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
    /// The mail protocol.
    pub mail_proto: Option<String>,
    /// The verdict's action.
    pub action: String,
    /// The deciding rule.
    pub rule: Option<String>,
    /// Sessions.
    pub sessions: u64,
}

/// What endpoint telemetry says about a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPresence {
    /// Connection events from the host's address in the period.
    pub events: u64,
    /// The first of them (Unix ns).
    pub first_ns: Option<i64>,
    /// The last of them (Unix ns).
    pub last_ns: Option<i64>,
    /// Host names the events give, sorted.
    pub host_names: Vec<String>,
    /// Telemetry sources, sorted.
    pub sources: Vec<String>,
}

/// Another client of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    /// Its address.
    pub src_ip: String,
    /// Its sessions to the destination in the period.
    pub sessions: u64,
    /// Start of its last one (Unix ns).
    pub last_ns: i64,
}

fn sorted_names(json: Option<String>) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = match json {
        Some(j) => serde_json::from_str::<Vec<Option<String>>>(&j)?.into_iter().flatten().collect(),
        None => Vec::new(),
    };
    names.sort();
    names.dedup();
    Ok(names)
}

fn key(host: &str) -> Result<Vec<u8>, StoreError> {
    addr::key_of(host).map(Vec::from).ok_or_else(|| StoreError::BadQuery(format!("{host:?} is not an IP address")))
}

const AUTH_MECH: &str = "coalesce(json_extract(record, '$.smtp.auth_mech'), json_extract(record, '$.imap.auth_mech'),
                                  json_extract(record, '$.pop3.auth_mech'))";

impl Store {
    /// The destinations `host` used in `period`, with what was seen on each.
    pub fn host_paths(&self, host: &str, period: Period) -> Result<Vec<HostPathRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!(
            "SELECT dest_ip, dest_port, mail_proto, COUNT(*), SUM(bytes), MIN(ts_ns), MAX(ts_ns),
                    json_group_array(DISTINCT sni), json_group_array(DISTINCT helo), json_group_array(DISTINCT user),
                    json_group_array(DISTINCT {AUTH_MECH}), json_group_array(DISTINCT json_extract(endpoint, '$.process'))
             FROM sessions WHERE src_bin = ?1 AND ts_ns >= ?2 AND ts_ns < ?3
             GROUP BY dest_ip, dest_port, mail_proto ORDER BY COUNT(*) DESC, dest_ip, dest_port"
        ))?;
        let rows = stmt.query_map(params![key(host)?, period.since, period.until], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, u16>(1)?, r.get::<_, Option<String>>(2)?),
                (r.get::<_, i64>(3)?, r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, r.get::<_, i64>(6)?),
                [
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, Option<String>>(11)?,
                ],
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                (dest_ip, dest_port, mail_proto),
                (sessions, bytes, first_ns, last_ns),
                [sni, helo, users, mechs, procs],
            ) = row?;
            out.push(HostPathRow {
                dest_ip,
                dest_port,
                mail_proto,
                sessions: u64::try_from(sessions).unwrap_or(0),
                bytes: u64::try_from(bytes).unwrap_or(0),
                first_ns,
                last_ns,
                sni: sorted_names(sni)?,
                helo: sorted_names(helo)?,
                users: sorted_names(users)?,
                auth_mechs: sorted_names(mechs)?,
                processes: sorted_names(procs)?,
            });
        }
        Ok(out)
    }

    /// The verdicts on `host`'s sessions in `period`, per destination.
    pub fn host_verdicts(&self, host: &str, period: Period) -> Result<Vec<HostVerdictRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT dest_ip, dest_port, mail_proto, action, rule, COUNT(*) FROM sessions
             WHERE src_bin = ?1 AND ts_ns >= ?2 AND ts_ns < ?3
             GROUP BY dest_ip, dest_port, mail_proto, action, rule",
        )?;
        let rows = stmt.query_map(params![key(host)?, period.since, period.until], |r| {
            Ok(HostVerdictRow {
                dest_ip: r.get(0)?,
                dest_port: r.get(1)?,
                mail_proto: r.get(2)?,
                action: r.get(3)?,
                rule: r.get(4)?,
                sessions: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Session starts (Unix ns, ascending) of `host` in `period`, by
    /// (destination, port, protocol).
    pub fn host_starts(&self, host: &str, period: Period) -> Result<Vec<(PathKey, Vec<i64>)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT dest_ip, dest_port, mail_proto, ts_ns FROM sessions WHERE src_bin = ?1 AND ts_ns >= ?2 AND ts_ns < ?3
             ORDER BY dest_ip, dest_port, mail_proto, ts_ns",
        )?;
        let rows = stmt.query_map(params![key(host)?, period.since, period.until], |r| {
            Ok(((r.get::<_, String>(0)?, r.get::<_, u16>(1)?, r.get::<_, Option<String>>(2)?), r.get::<_, i64>(3)?))
        })?;
        let mut out: Vec<(PathKey, Vec<i64>)> = Vec::new();
        for row in rows {
            let (path, ts) = row?;
            match out.last_mut() {
                Some((last, starts)) if *last == path => starts.push(ts),
                _ => out.push((path, vec![ts])),
            }
        }
        Ok(out)
    }

    /// `host`'s sessions in `period` by initiating process and user.
    pub fn host_processes(&self, host: &str, period: Period) -> Result<Vec<ProcessRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT json_extract(endpoint, '$.process'), json_extract(endpoint, '$.user'), COUNT(*) FROM sessions
             WHERE src_bin = ?1 AND ts_ns >= ?2 AND ts_ns < ?3 GROUP BY 1, 2 ORDER BY 3 DESC",
        )?;
        let rows = stmt.query_map(params![key(host)?, period.since, period.until], |r| {
            Ok(ProcessRow {
                process: r.get(0)?,
                user: r.get(1)?,
                sessions: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// `host`'s sessions in `period`, newest first, at most `limit`, as the API serves them.
    pub fn host_sessions(
        &self,
        host: &str,
        period: Period,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT record, endpoint FROM sessions WHERE src_bin = ?1 AND ts_ns >= ?2 AND ts_ns < ?3
             ORDER BY ts_ns DESC, id DESC LIMIT ?4",
        )?;
        served_rows(&mut stmt, params![key(host)?, period.since, period.until, limit as i64])
    }

    /// Endpoint telemetry from `host`'s address in `period`.
    pub fn endpoint_presence(&self, host: &str, period: Period) -> Result<EndpointPresence, StoreError> {
        let conn = self.reader();
        let key = key(host)?;
        let (events, first_ns, last_ns, names, sources): (i64, Option<i64>, Option<i64>, String, String) = conn
            .query_row(
                "SELECT COUNT(*), MIN(ts_ns), MAX(ts_ns), json_group_array(DISTINCT host_name),
                        json_group_array(DISTINCT source)
                 FROM endpoint_events WHERE host_bin = ?1 AND ts_ns >= ?2 AND ts_ns < ?3",
                params![key, period.since, period.until],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
        Ok(EndpointPresence {
            events: u64::try_from(events).unwrap_or(0),
            first_ns,
            last_ns,
            host_names: sorted_names(Some(names))?,
            sources: sorted_names(Some(sources))?,
        })
    }

    /// Clients other than `host` of `dest_ip:dest_port` in `period`, most sessions first, at most `limit`.
    pub fn destination_peers(
        &self,
        dest_ip: &str,
        dest_port: u16,
        host: &str,
        period: Period,
        limit: usize,
    ) -> Result<Vec<PeerRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT src_ip, COUNT(*), MAX(ts_ns) FROM sessions
             WHERE dest_bin = ?1 AND dest_port = ?2 AND ts_ns >= ?3 AND ts_ns < ?4 AND src_bin != ?5
             GROUP BY src_ip ORDER BY COUNT(*) DESC, src_ip LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![key(dest_ip)?, dest_port, period.since, period.until, key(host)?, limit as i64],
            |r| {
                Ok(PeerRow {
                    src_ip: r.get(0)?,
                    sessions: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    last_ns: r.get(2)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
