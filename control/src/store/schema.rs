//! Schema migrations, versioned in code: migration `i` brings the database
//! from `PRAGMA user_version = i` to `i + 1`, inside one transaction.

use rusqlite::Connection;

/// Every migration, oldest first. Append only; never edit a released one.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, ingest bookkeeping, gateways, policy versions, alerts.
    "CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        ts TEXT NOT NULL,
        ts_ns INTEGER NOT NULL,
        ts_end TEXT NOT NULL,
        flow_id INTEGER NOT NULL,
        src_ip TEXT NOT NULL,
        src_bin BLOB,
        src_port INTEGER NOT NULL,
        dest_ip TEXT NOT NULL,
        dest_bin BLOB,
        dest_port INTEGER NOT NULL,
        mail_proto TEXT,
        action TEXT NOT NULL,
        rule TEXT,
        sni TEXT,
        helo TEXT,
        user TEXT,
        tls INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX sessions_by_ts ON sessions(ts_ns);
    CREATE INDEX sessions_by_src ON sessions(src_bin, ts_ns);
    CREATE INDEX sessions_by_dest ON sessions(dest_bin, ts_ns);
    CREATE INDEX sessions_by_path ON sessions(src_ip, mail_proto, dest_ip, dest_port, ts_ns);
    CREATE INDEX sessions_by_proto ON sessions(mail_proto, ts_ns);
    CREATE INDEX sessions_by_action ON sessions(action, ts_ns);
    CREATE INDEX sessions_by_sni ON sessions(sni, ts_ns);
    CREATE INDEX sessions_by_helo ON sessions(helo, ts_ns);
    CREATE INDEX sessions_by_user ON sessions(user, ts_ns);
    CREATE TABLE batches (
        gateway TEXT NOT NULL,
        instance INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        records INTEGER NOT NULL,
        received_ns INTEGER NOT NULL,
        PRIMARY KEY (gateway, instance, seq)
    ) WITHOUT ROWID;
    CREATE INDEX batches_by_time ON batches(received_ns);
    CREATE TABLE gateways (
        name TEXT PRIMARY KEY,
        software_version TEXT NOT NULL,
        instance INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        policy_hash TEXT,
        mode TEXT,
        first_seen TEXT NOT NULL,
        last_report TEXT NOT NULL,
        counters TEXT NOT NULL
    );
    CREATE TABLE policies (
        version INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        toml TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        first_raised TEXT NOT NULL,
        last_raised TEXT NOT NULL,
        record TEXT NOT NULL
    );",
    // 2: endpoint telemetry and its join to sessions, blind-spot flags,
    // gateway presence (for uptime over a period), tailed-file offsets.
    "ALTER TABLE sessions ADD COLUMN community_id TEXT;
    ALTER TABLE sessions ADD COLUMN ts_end_ns INTEGER;
    ALTER TABLE sessions ADD COLUMN blind INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN endpoint TEXT;
    UPDATE sessions SET
        community_id = json_extract(record, '$.community_id'),
        ts_end_ns = CAST(round((julianday(ts_end) - 2440587.5) * 86400000.0) AS INTEGER) * 1000000,
        blind = (CASE WHEN json_type(record, '$.tls') = 'object' AND json_extract(record, '$.tls.sni') IS NULL
                      THEN 1 ELSE 0 END)
              | (CASE WHEN json_extract(record, '$.tls.ech') THEN 2 ELSE 0 END)
              | (CASE WHEN json_extract(record, '$.direction_inferred')
                        OR EXISTS (SELECT 1 FROM json_each(record, '$.anomalies') WHERE value = 'midstream')
                      THEN 4 ELSE 0 END)
              | (CASE WHEN EXISTS (SELECT 1 FROM json_each(record, '$.anomalies')
                                   WHERE value = 'reassembly_budget_exceeded') THEN 8 ELSE 0 END)
              | (CASE WHEN EXISTS (SELECT 1 FROM json_each(record, '$.anomalies') WHERE value = 'not_inspected')
                      THEN 16 ELSE 0 END);
    CREATE INDEX sessions_by_tuple ON sessions(src_bin, src_port, dest_bin, dest_port, ts_ns);
    CREATE INDEX sessions_by_community ON sessions(community_id, ts_ns);
    CREATE INDEX sessions_by_dest_port ON sessions(dest_bin, dest_port, ts_ns);
    CREATE TABLE endpoint_events (
        id INTEGER PRIMARY KEY,
        received_ns INTEGER NOT NULL,
        ts_ns INTEGER NOT NULL,
        host_ip TEXT NOT NULL,
        host_bin BLOB NOT NULL,
        src_port INTEGER,
        dest_ip TEXT NOT NULL,
        dest_bin BLOB NOT NULL,
        dest_port INTEGER NOT NULL,
        community_id TEXT,
        host_name TEXT,
        process TEXT,
        pid INTEGER,
        user TEXT,
        source TEXT NOT NULL,
        session_id INTEGER
    );
    CREATE UNIQUE INDEX endpoint_events_once ON endpoint_events(
        host_bin, ifnull(src_port, -1), dest_bin, dest_port, ts_ns, source, ifnull(pid, -1), ifnull(process, ''));
    CREATE INDEX endpoint_by_path ON endpoint_events(host_bin, dest_bin, dest_port, ts_ns);
    CREATE INDEX endpoint_by_community ON endpoint_events(community_id, ts_ns);
    CREATE INDEX endpoint_by_host ON endpoint_events(host_bin, ts_ns);
    CREATE INDEX endpoint_by_time ON endpoint_events(ts_ns);
    CREATE TABLE endpoint_files (
        path TEXT PRIMARY KEY,
        device INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        lines INTEGER NOT NULL
    );
    CREATE TABLE gateway_presence (
        id INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        connected_ns INTEGER NOT NULL,
        last_ns INTEGER NOT NULL
    );
    CREATE INDEX gateway_presence_by_time ON gateway_presence(last_ns);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Applies the migrations the database has not seen; refuses a database
/// written by a newer build.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), String>> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?.try_into().unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Ok(Err(format!("database schema version {current} is newer than this build's {SCHEMA_VERSION}")));
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (version + 1) as i64)?;
        tx.commit()?;
        log::info!("database migrated to schema version {}", version + 1);
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_2_fills_the_new_columns_of_stored_sessions() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("old.db");
        let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(MIGRATIONS[0]).unwrap_or_else(|e| panic!("{e}"));
        conn.pragma_update(None, "user_version", 1).unwrap_or_else(|e| panic!("{e}"));
        let record = r#"{"community_id": "1:abc=", "direction_inferred": false, "anomalies": ["midstream", "not_inspected"],
                         "tls": {"sni": null, "ech": true}}"#;
        conn.execute(
            "INSERT INTO sessions (gateway, ts, ts_ns, ts_end, flow_id, src_ip, src_port, dest_ip, dest_port, action,
             tls, bytes, record) VALUES ('g', '2024-05-01T10:00:00Z', 1714557600000000000, '2024-05-01T10:00:02.5Z', 1,
             '10.0.0.1', 1000, '192.0.2.25', 25, 'pass', 1, 0, ?1)",
            [record],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        drop(conn);
        let store = crate::store::Store::open(&path).unwrap_or_else(|e| panic!("{e}"));
        drop(store);
        let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let (cid, end, blind): (String, i64, i64) = conn
            .query_row("SELECT community_id, ts_end_ns, blind FROM sessions", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((cid.as_str(), end), ("1:abc=", 1_714_557_602_500_000_000));
        use crate::blind::{ECH, MIDSTREAM, NOT_INSPECTED, TLS_WITHOUT_SNI};
        assert_eq!(blind, TLS_WITHOUT_SNI | ECH | MIDSTREAM | NOT_INSPECTED);
    }
}
