//! SQLite storage: sessions with every record field (indexed columns for
//! the API's filters, plus the full JSON), ingest bookkeeping for
//! exactly-once delivery, gateways and their presence, policy versions,
//! alerts, and endpoint telemetry joined to sessions.
//!
//! One writer and one reader connection (WAL lets them run side by side);
//! every call blocks, so async callers go through `spawn_blocking`.

mod aggregates;
mod alerts;
mod endpoint;
mod gateways;
mod hosts;
mod inventory;
mod policies;
mod schema;
mod sessions;

pub use aggregates::{ActionPathRow, BlindCounts, ClientRow, SmtpPathRow};
pub use alerts::AlertRow;
pub use endpoint::{EventsStored, FileOffset, Joined};
pub use gateways::GatewayRow;
pub use hosts::{EndpointPresence, HostPathRow, HostVerdictRow, PathKey, PeerRow, Period, ProcessRow};
pub use inventory::{InventoryRow, PathTimes};
pub use policies::PolicyVersion;
pub use schema::SCHEMA_VERSION;
pub use sessions::{Ingested, SessionQuery, MAX_LIMIT};

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database cannot be used by this build.
    #[error("database: {0}")]
    Schema(String),
    /// A stored JSON document could not be read or written.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A query parameter is invalid (the message is for the API caller).
    #[error("{0}")]
    BadQuery(String),
    /// The blocking task running the call failed.
    #[error("storage task: {0}")]
    Task(String),
}

/// The database.
pub struct Store {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut writer = Connection::open(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut writer)?.map_err(StoreError::Schema)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", true)?;
        Ok(Store { writer: Mutex::new(writer), reader: Mutex::new(reader) })
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Deletes sessions older than `max_age_days` days, then the oldest
    /// sessions while the live data exceeds `max_bytes`; returns how many
    /// sessions went. Ingest bookkeeping, endpoint events and gateway
    /// presence older than the age limit go too.
    pub fn apply_retention(&self, max_age_days: u32, max_bytes: u64) -> Result<u64, StoreError> {
        let conn = self.writer();
        let cutoff = now_ns().saturating_sub(i64::from(max_age_days) * 86_400 * 1_000_000_000);
        let mut deleted = conn.execute("DELETE FROM sessions WHERE ts_ns < ?1", [cutoff])? as u64;
        conn.execute("DELETE FROM batches WHERE received_ns < ?1", [cutoff])?;
        conn.execute("DELETE FROM endpoint_events WHERE ts_ns < ?1", [cutoff])?;
        conn.execute("DELETE FROM gateway_presence WHERE last_ns < ?1", [cutoff])?;
        loop {
            let used: i64 = conn.query_row(
                "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
                [],
                |r| r.get(0),
            )?;
            let used = u64::try_from(used).unwrap_or(0);
            if used <= max_bytes {
                break;
            }
            // Delete the share of the sessions that the excess is of the
            // whole (sessions dominate the file), plus a little, oldest first.
            let rows: i64 = conn.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?;
            let share = (used - max_bytes) as f64 / used as f64;
            let batch = ((rows as f64 * share * 1.05).ceil() as i64).clamp(1, rows.max(1));
            let n = conn.execute(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions ORDER BY ts_ns LIMIT ?1)",
                [batch],
            )?;
            if n == 0 {
                break;
            }
            deleted += n as u64;
        }
        Ok(deleted)
    }
}

/// Now, as Unix nanoseconds.
pub fn now_ns() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// Now, as RFC 3339.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}

/// An RFC 3339 time as Unix nanoseconds.
pub fn parse_ts_ns(ts: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(ts, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos()).ok()
}

/// Unix nanoseconds as RFC 3339 (UTC).
pub fn format_ts_ns(ns: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailgate_protocol::record::{Action, Verdict};
    use mailgate_protocol::SessionRecord;

    fn record(flow_id: u64, ts_ns: i64) -> SessionRecord {
        SessionRecord {
            ts: format_ts_ns(ts_ns),
            ts_end: format_ts_ns(ts_ns),
            flow_id,
            src_ip: "10.0.0.1".into(),
            src_port: 1000,
            dest_ip: "192.0.2.25".into(),
            dest_port: 25,
            community_id: "1:x".into(),
            direction_inferred: false,
            mail_proto: None,
            mail_proto_source: None,
            smtp: None,
            imap: None,
            pop3: None,
            tls: None,
            socks: None,
            anomalies: vec!["padding".repeat(50)],
            verdict: Verdict {
                action: Action::Pass,
                rule: None,
                reason: String::new(),
                policy_hash: None,
                decided_at: None,
            },
            pkts_toserver: 0,
            pkts_toclient: 0,
            bytes_toserver: 0,
            bytes_toclient: 0,
            gateway: None,
        }
    }

    fn open(dir: &Path) -> Store {
        Store::open(&dir.join("t.db")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn batches_are_stored_once_per_gateway_instance_and_number() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = open(dir.path());
        let now = now_ns();
        let ingest = |gw: &str, instance: u64, seq: u64| {
            store.ingest(gw, instance, seq, &mut [record(seq, now)], 0).unwrap_or_else(|e| panic!("{e}")).fresh
        };
        assert!(ingest("a", 1, 1));
        assert!(!ingest("a", 1, 1), "a resent batch is recognised");
        assert!(ingest("a", 2, 1), "a restarted dataplane numbers batches afresh");
        assert!(ingest("b", 1, 1));
        assert_eq!(store.session_count().ok(), Some(3));
    }

    #[test]
    fn migrations_survive_a_reopen_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = open(dir.path());
        store.ingest("a", 1, 1, &mut [record(1, now_ns())], 0).unwrap_or_else(|e| panic!("{e}"));
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.session_count().ok(), Some(1));
        drop(store);
        let conn = Connection::open(dir.path().join("t.db")).unwrap_or_else(|e| panic!("{e}"));
        conn.pragma_update(None, "user_version", 99).unwrap_or_else(|e| panic!("{e}"));
        drop(conn);
        let err = Store::open(&dir.path().join("t.db")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("newer"), "{err}");
    }

    #[test]
    fn retention_removes_old_sessions_then_the_oldest_beyond_the_size() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = open(dir.path());
        let day = 86_400 * 1_000_000_000i64;
        let now = now_ns();
        let mut old: Vec<SessionRecord> = (0..10).map(|i| record(i, now - 40 * day)).collect();
        store.ingest("a", 1, 1, &mut old, 0).unwrap_or_else(|e| panic!("{e}"));
        let mut recent: Vec<SessionRecord> = (100..3100).map(|i| record(i, now - day + i as i64)).collect();
        store.ingest("a", 1, 2, &mut recent, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.apply_retention(30, u64::MAX).ok(), Some(10));
        assert_eq!(store.session_count().ok(), Some(3000));
        let deleted = store.apply_retention(30, 512 * 1024).unwrap_or_else(|e| panic!("{e}"));
        assert!(deleted > 0 && deleted < 3000, "{deleted}");
        let kept = store.sessions(&SessionQuery { limit: Some(MAX_LIMIT), ..Default::default() }).unwrap_or_default();
        let ids: Vec<u64> = kept.iter().filter_map(|v| v.get("flow_id").and_then(serde_json::Value::as_u64)).collect();
        assert_eq!(ids.first(), Some(&3099), "the newest stay");
        assert_eq!(ids.len() as u64, 3000 - deleted);
        assert!(ids.windows(2).all(|w| w.first() > w.get(1)), "only the oldest went");
    }
}
