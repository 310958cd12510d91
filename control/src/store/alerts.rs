//! Alerts the control plane raises itself (periodic sessions), one per
//! subject: raising it again updates it.

use super::{now_rfc3339, Store, StoreError};
use serde::Serialize;

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    /// What kind (`periodic_mail_sessions`).
    pub kind: String,
    /// When it was first raised (RFC 3339).
    pub first_raised: String,
    /// When it was last raised or refreshed (RFC 3339).
    pub last_raised: String,
    /// The alert record.
    pub record: serde_json::Value,
}

impl Store {
    /// Raises (or refreshes) the alert `kind` about `key`; returns true if it is new.
    pub fn raise_alert(&self, kind: &str, key: &str, record: &serde_json::Value) -> Result<bool, StoreError> {
        let now = now_rfc3339();
        let conn = self.writer();
        let updated = conn.execute(
            "UPDATE alerts SET last_raised = ?1, record = ?2 WHERE key = ?3",
            rusqlite::params![now, record.to_string(), key],
        )?;
        if updated == 0 {
            conn.execute(
                "INSERT INTO alerts (kind, key, first_raised, last_raised, record) VALUES (?1, ?2, ?3, ?3, ?4)",
                rusqlite::params![kind, key, now, record.to_string()],
            )?;
        }
        Ok(updated == 0)
    }

    /// Every alert, most recently raised first.
    pub fn alerts(&self) -> Result<Vec<AlertRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare("SELECT kind, first_raised, last_raised, record FROM alerts ORDER BY last_raised DESC, id DESC")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, first_raised, last_raised, record) = row?;
            out.push(AlertRow { kind, first_raised, last_raised, record: serde_json::from_str(&record)? });
        }
        Ok(out)
    }
}
