//! Policy versions: every policy accepted by `POST /api/v1/policy`, numbered.

use super::{now_rfc3339, Store, StoreError};
use rusqlite::OptionalExtension;
use serde::Serialize;

/// One stored policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    /// 1 for the first policy stored, then one more per new version.
    pub version: u64,
    /// The policy's hash (as `mailgate-config` computes it).
    pub hash: String,
    /// When it was stored (RFC 3339).
    pub created_at: String,
    /// The policy text; left out of version listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toml: Option<String>,
}

impl Store {
    /// Stores a policy as the newest version and returns it.
    pub fn add_policy(&self, hash: &str, toml: &str) -> Result<PolicyVersion, StoreError> {
        let created_at = now_rfc3339();
        let conn = self.writer();
        conn.execute(
            "INSERT INTO policies (hash, toml, created_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![hash, toml, created_at],
        )?;
        Ok(PolicyVersion {
            version: conn.last_insert_rowid() as u64,
            hash: hash.to_string(),
            created_at,
            toml: Some(toml.to_string()),
        })
    }

    /// The newest version, with its text.
    pub fn current_policy(&self) -> Result<Option<PolicyVersion>, StoreError> {
        Ok(self
            .reader()
            .query_row("SELECT version, hash, created_at, toml FROM policies ORDER BY version DESC LIMIT 1", [], |r| {
                Ok(PolicyVersion {
                    version: r.get::<_, i64>(0)? as u64,
                    hash: r.get(1)?,
                    created_at: r.get(2)?,
                    toml: Some(r.get(3)?),
                })
            })
            .optional()?)
    }

    /// Every version, newest first, without the texts.
    pub fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare("SELECT version, hash, created_at FROM policies ORDER BY version DESC")?;
        let rows = stmt.query_map([], |r| {
            Ok(PolicyVersion {
                version: r.get::<_, i64>(0)? as u64,
                hash: r.get(1)?,
                created_at: r.get(2)?,
                toml: None,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest version's number, if any (cheap: to check a cache).
    pub fn current_policy_version(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .reader()
            .query_row("SELECT MAX(version) FROM policies", [], |r| r.get::<_, Option<i64>>(0))?
            .map(|v| v as u64))
    }

    /// Every version, oldest first, with the texts.
    pub fn policy_history(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare("SELECT version, hash, created_at, toml FROM policies ORDER BY version")?;
        let rows = stmt.query_map([], |r| {
            Ok(PolicyVersion {
                version: r.get::<_, i64>(0)? as u64,
                hash: r.get(1)?,
                created_at: r.get(2)?,
                toml: Some(r.get(3)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
