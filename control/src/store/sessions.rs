//! Storing session batches exactly once, and the `/sessions` query.

use super::{now_ns, parse_ts_ns, Store, StoreError};
use crate::addr;
use mailgate_protocol::SessionRecord;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};

/// The most sessions one query returns.
pub const MAX_LIMIT: usize = 10_000;

/// Filters of `GET /api/v1/sessions` (all optional, combined with AND).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    /// Client address or CIDR.
    pub src: Option<String>,
    /// Server address or CIDR.
    pub dest: Option<String>,
    /// `smtp`, `imap` or `pop3`.
    pub mail_proto: Option<String>,
    /// A verdict action (`pass`, `alert`, `drop`, `reset`, `would_drop`, `would_reset`).
    pub action: Option<String>,
    /// TLS server name (exact, case-insensitive).
    pub sni: Option<String>,
    /// SMTP EHLO/HELO name (exact, case-insensitive).
    pub helo: Option<String>,
    /// User name (SMTP AUTH, IMAP LOGIN, POP3 USER), exact.
    pub user: Option<String>,
    /// Sessions that started at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Sessions that started before this RFC 3339 time.
    pub until: Option<String>,
    /// At most this many (default 100, at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
}

impl Store {
    /// Stores one batch from `gateway` unless it was stored before
    /// (same gateway, dataplane instance and sequence number); returns
    /// whether it was new. Every record gets `gateway` set.
    pub fn ingest(
        &self,
        gateway: &str,
        instance: u64,
        seq: u64,
        records: &mut [SessionRecord],
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let fresh = tx.execute(
            "INSERT INTO batches (gateway, instance, seq, records, received_ns) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
            params![gateway, instance as i64, seq as i64, records.len() as i64, now_ns()],
        )? == 1;
        if fresh {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sessions (gateway, ts, ts_ns, ts_end, flow_id, src_ip, src_bin, src_port, dest_ip,
                 dest_bin, dest_port, mail_proto, action, rule, sni, helo, user, tls, bytes, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            )?;
            for record in records.iter_mut() {
                record.gateway = Some(gateway.to_string());
                let json = serde_json::to_string(&record)?;
                let user = record
                    .smtp
                    .as_ref()
                    .and_then(|s| s.user.as_ref())
                    .or_else(|| record.imap.as_ref().and_then(|m| m.user.as_ref()))
                    .or_else(|| record.pop3.as_ref().and_then(|m| m.user.as_ref()));
                insert.execute(params![
                    gateway,
                    record.ts,
                    parse_ts_ns(&record.ts).unwrap_or_else(now_ns),
                    record.ts_end,
                    record.flow_id as i64,
                    record.src_ip,
                    addr::key_of(&record.src_ip).map(Vec::from),
                    record.src_port,
                    record.dest_ip,
                    addr::key_of(&record.dest_ip).map(Vec::from),
                    record.dest_port,
                    record.mail_proto.map(|p| p.as_str()),
                    record.verdict.action.as_str(),
                    record.verdict.rule,
                    record.tls.as_ref().and_then(|t| t.sni.as_deref()).map(str::to_ascii_lowercase),
                    record.smtp.as_ref().and_then(|s| s.helo.as_deref()).map(str::to_ascii_lowercase),
                    user,
                    record.tls.is_some(),
                    record.bytes_toserver.saturating_add(record.bytes_toclient) as i64,
                    json,
                ])?;
            }
        }
        tx.commit()?;
        Ok(fresh)
    }

    /// Sessions matching `query`, newest first, as stored (the record JSON with `gateway`).
    pub fn sessions(&self, query: &SessionQuery) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        for (filter, clause) in [(&query.src, "src_bin BETWEEN ? AND ?"), (&query.dest, "dest_bin BETWEEN ? AND ?")] {
            if let Some(filter) = filter {
                let (lo, hi) = addr::range(filter).map_err(StoreError::BadQuery)?;
                clauses.push(clause);
                values.push(Value::Blob(lo.to_vec()));
                values.push(Value::Blob(hi.to_vec()));
            }
        }
        if let Some(proto) = &query.mail_proto {
            if !["smtp", "imap", "pop3"].contains(&proto.as_str()) {
                return Err(StoreError::BadQuery(format!("mail_proto {proto:?}: expected smtp, imap or pop3")));
            }
            clauses.push("mail_proto = ?");
            values.push(Value::Text(proto.clone()));
        }
        if let Some(action) = &query.action {
            const ACTIONS: [&str; 6] = ["pass", "alert", "drop", "reset", "would_drop", "would_reset"];
            if !ACTIONS.contains(&action.as_str()) {
                return Err(StoreError::BadQuery(format!("action {action:?}: expected one of {}", ACTIONS.join(", "))));
            }
            clauses.push("action = ?");
            values.push(Value::Text(action.clone()));
        }
        for (filter, clause) in [(&query.sni, "sni = ?"), (&query.helo, "helo = ?")] {
            if let Some(name) = filter {
                clauses.push(clause);
                values.push(Value::Text(name.to_ascii_lowercase()));
            }
        }
        if let Some(user) = &query.user {
            clauses.push("user = ?");
            values.push(Value::Text(user.clone()));
        }
        for (bound, clause, name) in [(&query.since, "ts_ns >= ?", "since"), (&query.until, "ts_ns < ?", "until")] {
            if let Some(ts) = bound {
                let ns = parse_ts_ns(ts)
                    .ok_or_else(|| StoreError::BadQuery(format!("{name} {ts:?}: expected an RFC 3339 time")))?;
                clauses.push(clause);
                values.push(Value::Integer(ns));
            }
        }
        let limit = query.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(StoreError::BadQuery(format!("limit {limit}: expected 1 to {MAX_LIMIT}")));
        }
        let mut sql = String::from("SELECT record FROM sessions");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY ts_ns DESC, id DESC LIMIT {limit}"));
        let conn = self.reader();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(values), |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Sessions stored, in all.
    pub fn session_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.reader().query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
