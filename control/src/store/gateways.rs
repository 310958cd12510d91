//! The last known state of every dataplane that ever reported.

use super::{Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// A gateway as last heard from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayRow {
    /// Its name.
    pub name: String,
    /// Its software version.
    pub software_version: String,
    /// Its process instance (changes on restart).
    pub instance: u64,
    /// When its process started (RFC 3339).
    pub started_at: String,
    /// Hash of its policy in force.
    pub policy_hash: Option<String>,
    /// Its mode (`block` / `monitor`).
    pub mode: Option<String>,
    /// When it first reported (RFC 3339).
    pub first_seen: String,
    /// When it last reported anything (RFC 3339).
    pub last_report: String,
    /// Its counters as last reported.
    pub counters: BTreeMap<String, u64>,
}

impl Store {
    /// Records a gateway's state (keeping its `first_seen`).
    pub fn upsert_gateway(&self, row: &GatewayRow) -> Result<(), StoreError> {
        self.writer().execute(
            "INSERT INTO gateways (name, software_version, instance, started_at, policy_hash, mode, first_seen, last_report, counters)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (name) DO UPDATE SET software_version = excluded.software_version, instance = excluded.instance,
               started_at = excluded.started_at, policy_hash = excluded.policy_hash, mode = excluded.mode,
               last_report = excluded.last_report, counters = excluded.counters",
            rusqlite::params![
                row.name,
                row.software_version,
                row.instance as i64,
                row.started_at,
                row.policy_hash,
                row.mode,
                row.first_seen,
                row.last_report,
                serde_json::to_string(&row.counters)?,
            ],
        )?;
        Ok(())
    }

    /// Every gateway, by name.
    pub fn gateways(&self) -> Result<Vec<GatewayRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT name, software_version, instance, started_at, policy_hash, mode, first_seen, last_report, counters
             FROM gateways ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                GatewayRow {
                    name: r.get(0)?,
                    software_version: r.get(1)?,
                    instance: r.get::<_, i64>(2)? as u64,
                    started_at: r.get(3)?,
                    policy_hash: r.get(4)?,
                    mode: r.get(5)?,
                    first_seen: r.get(6)?,
                    last_report: r.get(7)?,
                    counters: BTreeMap::new(),
                },
                r.get::<_, String>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut gateway, counters) = row?;
            gateway.counters = serde_json::from_str(&counters)?;
            out.push(gateway);
        }
        Ok(out)
    }
}
