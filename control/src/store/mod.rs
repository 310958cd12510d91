//! SQLite storage: sessions with every record field (indexed columns for
//! the API's filters, plus the full JSON), ingest bookkeeping for
//! exactly-once delivery, gateways, policy versions and alerts.
//!
//! One writer and one reader connection (WAL lets them run side by side);
//! every call blocks, so async callers go through `spawn_blocking`.

mod alerts;
mod gateways;
mod inventory;
mod policies;
mod schema;
mod sessions;

pub use alerts::AlertRow;
pub use gateways::GatewayRow;
pub use inventory::{InventoryRow, PathTimes};
pub use policies::PolicyVersion;
pub use schema::SCHEMA_VERSION;
pub use sessions::{SessionQuery, MAX_LIMIT};

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
    /// sessions went. Ingest bookkeeping older than the age limit goes too.
    pub fn apply_retention(&self, max_age_days: u32, max_bytes: u64) -> Result<u64, StoreError> {
        let conn = self.writer();
        let cutoff = now_ns().saturating_sub(i64::from(max_age_days) * 86_400 * 1_000_000_000);
        let mut deleted = conn.execute("DELETE FROM sessions WHERE ts_ns < ?1", [cutoff])? as u64;
        conn.execute("DELETE FROM batches WHERE received_ns < ?1", [cutoff])?;
        loop {
            let used: i64 = conn.query_row(
                "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
                [],
                |r| r.get(0),
            )?;
            if u64::try_from(used).unwrap_or(0) <= max_bytes {
                break;
            }
            let n = conn
                .execute("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions ORDER BY ts_ns LIMIT 1000)", [])?;
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
