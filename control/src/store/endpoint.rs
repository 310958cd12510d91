//! Endpoint connection events and their join to sessions.
//!
//! An event and a session match when the event's host, client port,
//! destination and port are the session's 5-tuple (TCP), or their
//! Community IDs are equal, and the event's time falls within the
//! session (first to last packet) widened by the clock-skew tolerance on
//! both sides. An event without the client port (osquery `socket_events`
//! on Linux) matches by host and destination only, within the tolerance
//! of the session's start, and only a session not matched yet; so does
//! the session side. Whichever arrives second makes the join: a stored
//! session takes the closest event when one arrives, a new session the
//! closest stored event. A session keeps its first match.

use super::{format_ts_ns, now_ns, Store, StoreError};
use crate::addr;
use crate::endpoint::{EndpointEvent, EndpointInfo};
use mailgate_protocol::SessionRecord;
use rusqlite::{params, Connection, OptionalExtension};

/// A session matched to endpoint telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The session's row.
    pub session_id: i64,
    /// The session, as stored.
    pub record: SessionRecord,
    /// What it was matched to.
    pub endpoint: EndpointInfo,
    /// True when the session was stored before the event arrived (its EVE
    /// events are already written).
    pub late: bool,
}

/// The outcome of storing a batch of endpoint events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsStored {
    /// Events stored.
    pub stored: usize,
    /// Events already stored (a resent batch, or a file read again).
    pub duplicates: usize,
    /// Events stored, by telemetry source.
    pub stored_by_source: std::collections::BTreeMap<&'static str, usize>,
    /// Sessions matched by the new events.
    pub joined: Vec<Joined>,
}

/// How far a tailed file has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOffset {
    /// The file's device, to notice a replaced file.
    pub device: u64,
    /// The file's inode, to notice a replaced file.
    pub inode: u64,
    /// Bytes consumed.
    pub offset: u64,
    /// Lines consumed.
    pub lines: u64,
}

/// What the session side of a join knows.
pub(crate) struct SessionKeys<'a> {
    pub(crate) src: [u8; 16],
    pub(crate) src_port: u16,
    pub(crate) dest: [u8; 16],
    pub(crate) dest_port: u16,
    pub(crate) community_id: &'a str,
    pub(crate) ts_ns: i64,
    pub(crate) ts_end_ns: i64,
}

fn info(row: &rusqlite::Row<'_>, matched_by: &str) -> rusqlite::Result<(i64, EndpointInfo)> {
    Ok((
        row.get(0)?,
        EndpointInfo {
            ts: format_ts_ns(row.get(1)?),
            host_name: row.get(2)?,
            process: row.get(3)?,
            pid: row.get(4)?,
            user: row.get(5)?,
            source: row.get(6)?,
            matched_by: matched_by.to_string(),
        },
    ))
}

const EVENT_COLUMNS: &str = "id, ts_ns, host_name, process, pid, user, source";

/// The stored event closest in time that matches a new session.
pub(crate) fn event_for_session(
    conn: &Connection,
    s: &SessionKeys<'_>,
    skew_ns: i64,
) -> rusqlite::Result<Option<(i64, EndpointInfo)>> {
    let (lo, hi) = (s.ts_ns.saturating_sub(skew_ns), s.ts_end_ns.max(s.ts_ns).saturating_add(skew_ns));
    if !s.community_id.is_empty() {
        let found = conn
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM endpoint_events WHERE community_id = ?1 AND ts_ns BETWEEN ?2 AND ?3
                 ORDER BY abs(ts_ns - ?4) LIMIT 1"
            ))?
            .query_row(params![s.community_id, lo, hi, s.ts_ns], |r| info(r, "community_id"))
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    let start_hi = s.ts_ns.saturating_add(skew_ns);
    conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS}, src_port IS NULL FROM endpoint_events
         WHERE host_bin = ?1 AND dest_bin = ?2 AND dest_port = ?3 AND ts_ns BETWEEN ?4 AND ?5
           AND (src_port = ?6 OR (src_port IS NULL AND session_id IS NULL AND ts_ns <= ?7))
         ORDER BY src_port IS NULL, abs(ts_ns - ?8) LIMIT 1"
    ))?
    .query_row(params![&s.src[..], &s.dest[..], s.dest_port, lo, hi, s.src_port, start_hi, s.ts_ns], |r| {
        let portless: bool = r.get(7)?;
        info(r, if portless { "host+destination" } else { "5-tuple" })
    })
    .optional()
}

/// The unmatched stored session closest in time that a new event matches.
fn session_for_event(conn: &Connection, e: &EndpointEvent, skew_ns: i64) -> rusqlite::Result<Option<(i64, String)>> {
    let (host, dest) = (addr::key(e.host_ip), addr::key(e.dest_ip));
    let (lo, hi) = (e.ts_ns.saturating_sub(skew_ns), e.ts_ns.saturating_add(skew_ns));
    if let Some(cid) = &e.community_id {
        let found = conn
            .prepare_cached(
                "SELECT id, 'community_id' FROM sessions
                 WHERE community_id = ?1 AND endpoint IS NULL AND ts_ns <= ?2 AND ifnull(ts_end_ns, ts_ns) >= ?3
                 ORDER BY abs(ts_ns - ?4) LIMIT 1",
            )?
            .query_row(params![cid, hi, lo, e.ts_ns], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match e.src_port {
        Some(port) => conn
            .prepare_cached(
                "SELECT id, '5-tuple' FROM sessions
                 WHERE src_bin = ?1 AND src_port = ?2 AND dest_bin = ?3 AND dest_port = ?4 AND endpoint IS NULL
                   AND ts_ns <= ?5 AND ifnull(ts_end_ns, ts_ns) >= ?6
                 ORDER BY abs(ts_ns - ?7) LIMIT 1",
            )?
            .query_row(params![&host[..], port, &dest[..], e.dest_port, hi, lo, e.ts_ns], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional(),
        None => conn
            .prepare_cached(
                "SELECT id, 'host+destination' FROM sessions
                 WHERE src_bin = ?1 AND ts_ns BETWEEN ?2 AND ?3 AND dest_bin = ?4 AND dest_port = ?5
                   AND endpoint IS NULL
                 ORDER BY abs(ts_ns - ?6) LIMIT 1",
            )?
            .query_row(params![&host[..], lo, hi, &dest[..], e.dest_port, e.ts_ns], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional(),
    }
}

/// Records a join on both sides.
pub(crate) fn link(conn: &Connection, session_id: i64, event_id: i64, info: &EndpointInfo) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE sessions SET endpoint = ?1 WHERE id = ?2")?
        .execute(params![serde_json::to_string(info)?, session_id])?;
    conn.prepare_cached("UPDATE endpoint_events SET session_id = ?1 WHERE id = ?2")?
        .execute(params![session_id, event_id])?;
    Ok(())
}

impl Store {
    /// Stores endpoint events (each once: a resent one is recognised) and
    /// joins each new one to the session it describes, if stored;
    /// `skew_ns` is the clock-skew tolerance.
    pub fn add_endpoint_events(&self, events: &[EndpointEvent], skew_ns: i64) -> Result<EventsStored, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let mut out = EventsStored::default();
        let received = now_ns();
        for e in events {
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO endpoint_events (received_ns, ts_ns, host_ip, host_bin, src_port, dest_ip,
                     dest_bin, dest_port, community_id, host_name, process, pid, user, source)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )?
                .execute(params![
                    received,
                    e.ts_ns,
                    e.host_ip.to_string(),
                    &addr::key(e.host_ip)[..],
                    e.src_port,
                    e.dest_ip.to_string(),
                    &addr::key(e.dest_ip)[..],
                    e.dest_port,
                    e.community_id,
                    e.host_name,
                    e.process,
                    e.pid,
                    e.user,
                    e.source.as_str(),
                ])?;
            if inserted == 0 {
                out.duplicates += 1;
                continue;
            }
            out.stored += 1;
            *out.stored_by_source.entry(e.source.as_str()).or_default() += 1;
            let event_id = tx.last_insert_rowid();
            let Some((session_id, matched_by)) = session_for_event(&tx, e, skew_ns)? else { continue };
            let endpoint = EndpointInfo {
                host_name: e.host_name.clone(),
                process: e.process.clone(),
                pid: e.pid,
                user: e.user.clone(),
                source: e.source.as_str().to_string(),
                matched_by,
                ts: format_ts_ns(e.ts_ns),
            };
            link(&tx, session_id, event_id, &endpoint)?;
            let record: String = tx
                .prepare_cached("SELECT record FROM sessions WHERE id = ?1")?
                .query_row([session_id], |r| r.get(0))?;
            out.joined.push(Joined { session_id, record: serde_json::from_str(&record)?, endpoint, late: true });
        }
        tx.commit()?;
        Ok(out)
    }

    /// How far `path` has been read, if it has been.
    pub fn endpoint_file(&self, path: &str) -> Result<Option<FileOffset>, StoreError> {
        Ok(self
            .reader()
            .query_row("SELECT device, inode, offset, lines FROM endpoint_files WHERE path = ?1", [path], |r| {
                Ok(FileOffset {
                    device: r.get::<_, i64>(0)? as u64,
                    inode: r.get::<_, i64>(1)? as u64,
                    offset: r.get::<_, i64>(2)? as u64,
                    lines: r.get::<_, i64>(3)? as u64,
                })
            })
            .optional()?)
    }

    /// Notes how far `path` has been read.
    pub fn set_endpoint_file(&self, path: &str, at: FileOffset) -> Result<(), StoreError> {
        self.writer().execute(
            "INSERT INTO endpoint_files (path, device, inode, offset, lines) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (path) DO UPDATE SET device = excluded.device, inode = excluded.inode,
               offset = excluded.offset, lines = excluded.lines",
            params![path, at.device as i64, at.inode as i64, at.offset as i64, at.lines as i64],
        )?;
        Ok(())
    }

    /// Forgets the offsets of files under `dir` that are no longer there.
    pub fn forget_endpoint_files(&self, dir: &str, present: &[String]) -> Result<(), StoreError> {
        let conn = self.writer();
        let known: Vec<String> = conn
            .prepare("SELECT path FROM endpoint_files WHERE substr(path, 1, length(?1)) = ?1")?
            .query_map([dir], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for path in known.iter().filter(|p| !present.contains(p)) {
            conn.execute("DELETE FROM endpoint_files WHERE path = ?1", [path])?;
        }
        Ok(())
    }

    /// Endpoint events stored, in all.
    pub fn endpoint_event_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.reader().query_row("SELECT COUNT(*) FROM endpoint_events", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
