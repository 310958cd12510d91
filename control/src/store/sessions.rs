//! Storing session batches exactly once, and the `/sessions` query.

use super::endpoint::{event_for_session, link, Joined, SessionKeys};
use super::{now_ns, parse_ts_ns, Store, StoreError};
use crate::{addr, blind};
use mailgate_protocol::SessionRecord;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};

/// The most sessions one query returns.
pub const MAX_LIMIT: usize = 10_000;

/// The outcome of storing a batch of sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    /// False when the batch had been stored before (and nothing was stored now).
    pub fresh: bool,
    /// New sessions that matched stored endpoint events.
    pub joined: Vec<Joined>,
}

/// A stored record as the API serves it: the record JSON, plus `endpoint`
/// when the session was matched to endpoint telemetry.
fn served(record: &str, endpoint: Option<&str>) -> Result<serde_json::Value, StoreError> {
    let mut value: serde_json::Value = serde_json::from_str(record)?;
    if let (Some(endpoint), Some(object)) = (endpoint, value.as_object_mut()) {
        object.insert("endpoint".into(), serde_json::from_str(endpoint)?);
    }
    Ok(value)
}

/// Runs `stmt` (selecting `record, endpoint` from `sessions`) with `params`
/// and returns the rows as the API serves them.
pub(crate) fn served_rows(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let rows = stmt.query_map(params, |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (record, endpoint) = row?;
        out.push(served(&record, endpoint.as_deref())?);
    }
    Ok(out)
}

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
    /// whether it was new and the sessions that matched stored endpoint
    /// events (`skew_ns` is the clock-skew tolerance). Every record gets
    /// `gateway` set.
    pub fn ingest(
        &self,
        gateway: &str,
        instance: u64,
        seq: u64,
        records: &mut [SessionRecord],
        skew_ns: i64,
    ) -> Result<Ingested, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let fresh = tx.execute(
            "INSERT INTO batches (gateway, instance, seq, records, received_ns) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
            params![gateway, instance as i64, seq as i64, records.len() as i64, now_ns()],
        )? == 1;
        let mut joined = Vec::new();
        if fresh {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sessions (gateway, ts, ts_ns, ts_end, flow_id, src_ip, src_bin, src_port, dest_ip,
                 dest_bin, dest_port, mail_proto, action, rule, sni, helo, user, tls, bytes, record,
                 community_id, ts_end_ns, blind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                 ?21, ?22, ?23)",
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
                let ts_ns = parse_ts_ns(&record.ts).unwrap_or_else(now_ns);
                let ts_end_ns = parse_ts_ns(&record.ts_end).unwrap_or(ts_ns);
                let (src, dest) = (addr::key_of(&record.src_ip), addr::key_of(&record.dest_ip));
                insert.execute(params![
                    gateway,
                    record.ts,
                    ts_ns,
                    record.ts_end,
                    record.flow_id as i64,
                    record.src_ip,
                    src.map(Vec::from),
                    record.src_port,
                    record.dest_ip,
                    dest.map(Vec::from),
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
                    record.community_id,
                    ts_end_ns,
                    blind::flags(record),
                ])?;
                let session_id = tx.last_insert_rowid();
                let (Some(src), Some(dest)) = (src, dest) else { continue };
                let keys = SessionKeys {
                    src,
                    src_port: record.src_port,
                    dest,
                    dest_port: record.dest_port,
                    community_id: &record.community_id,
                    ts_ns,
                    ts_end_ns,
                };
                if let Some((event_id, endpoint)) = event_for_session(&tx, &keys, skew_ns)? {
                    link(&tx, session_id, event_id, &endpoint)?;
                    joined.push(Joined { session_id, record: record.clone(), endpoint, late: false });
                }
            }
        }
        tx.commit()?;
        Ok(Ingested { fresh, joined })
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
        let mut sql = String::from("SELECT record, endpoint FROM sessions");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY ts_ns DESC, id DESC LIMIT {limit}"));
        let conn = self.reader();
        let mut stmt = conn.prepare(&sql)?;
        served_rows(&mut stmt, params_from_iter(values))
    }

    /// Sessions stored, in all.
    pub fn session_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.reader().query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
