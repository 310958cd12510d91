//! osquery results of `socket_events` and `process_open_sockets`.
//!
//! osquery's results log (and its TLS logger's `data` array) holds one
//! object per result: `name` (the query), `hostIdentifier`, `unixTime`,
//! `calendarTime`, `decorations`, and the rows as `columns` (event
//! format), `snapshot` (snapshot format) or `diffResults.added` (batched
//! format). Values are strings unless osquery runs with `numerics`.
//!
//! The table is told by the columns (query names are the operator's
//! choice): a row with an `action` column is from `socket_events`, where
//! only `connect` is an outgoing connection; a row with `remote_address`
//! and no `action` is from `process_open_sockets`. The process is `path`
//! (or a joined `name`), the user a joined `username`. On Linux,
//! `socket_events` often lacks the local address: a decorator query
//! returning `host_ip` supplies it; without one the row is rejected, since
//! the host's address is what joins it to a session.

use super::fields::{first_text, get, integer, ip, pid, port, text, timestamp};
use super::{Draft, Outcome, Source};
use serde_json::Value;

/// Whether the record is an osquery result (or the TLS logger's envelope).
pub fn recognises(v: &Value) -> bool {
    get(v, "hostIdentifier").is_some() || (get(v, "log_type").is_some() && get(v, "data").is_some())
}

/// Reads one result: every row it carries, each understood or rejected
/// on its own (one bad row does not lose the others).
pub fn parse(v: &Value) -> Vec<Result<Outcome, String>> {
    match rows(v) {
        Ok(rows) => rows,
        Err(e) => vec![Err(e)],
    }
}

fn rows(v: &Value) -> Result<Vec<Result<Outcome, String>>, String> {
    if let Some(data) = get(v, "data") {
        let kind = text(v, "log_type")?.unwrap_or_default();
        if kind != "result" {
            return Ok(vec![Ok(Outcome::Ignored(format!("osquery {kind} log, not query results")))]);
        }
        let items = data.as_array().ok_or("data: expected an array of osquery results")?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            out.extend(parse(item).into_iter().map(|r| r.map_err(|e| format!("data[{i}]: {e}"))));
        }
        return Ok(out);
    }
    let name = text(v, "name")?.unwrap_or_else(|| "(unnamed)".into());
    let mut rows: Vec<&Value> = Vec::new();
    if let Some(columns) = get(v, "columns") {
        if text(v, "action")?.as_deref() == Some("removed") {
            return Ok(vec![Ok(Outcome::Ignored(format!(
                "osquery {name}: a removed row (the socket closed; its added row was reported)"
            )))]);
        }
        rows.push(columns);
    } else if let Some(snapshot) = get(v, "snapshot") {
        rows.extend(snapshot.as_array().ok_or("snapshot: expected an array of rows")?);
    } else if let Some(diff) = get(v, "diffResults") {
        if let Some(added) = get(diff, "added") {
            rows.extend(added.as_array().ok_or("diffResults.added: expected an array of rows")?);
        }
    } else {
        return Err(format!("osquery result {name:?} has no columns, snapshot or diffResults"));
    }
    let several = rows.len() > 1;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            parse_row(v, &name, row).map_err(|e| match several {
                true => format!("osquery {name}, row {}: {e}", i + 1),
                false => format!("osquery {name}: {e}"),
            })
        })
        .collect())
}

fn parse_row(result: &Value, name: &str, row: &Value) -> Result<Outcome, String> {
    if !row.is_object() {
        return Err("a row is not an object".into());
    }
    let source = match text(row, "action")? {
        Some(action) if action == "connect" => Source::OsquerySocketEvents,
        Some(action) => {
            return Ok(Outcome::Ignored(format!("socket_events action {action} is not an outgoing connection")));
        }
        None if get(row, "remote_address").is_some() => Source::OsqueryProcessOpenSockets,
        None => {
            return Err(format!(
                "the rows of {name:?} have no remote_address column: only socket_events and \
                 process_open_sockets results are understood"
            ));
        }
    };
    match integer(row, "family")? {
        None | Some(2) | Some(10) => {}
        Some(family) => return Ok(Outcome::Ignored(format!("socket family {family} is not IPv4 or IPv6"))),
    }
    match integer(row, "protocol")? {
        None | Some(0) | Some(6) => {}
        Some(protocol) => return Ok(Outcome::Ignored(format!("IP protocol {protocol} is not TCP"))),
    }
    let dest_ip = ip(row, "remote_address")?;
    let dest_port = port(row, "remote_port")?;
    if source == Source::OsqueryProcessOpenSockets && (dest_ip.is_none() || dest_port.is_none()) {
        return Ok(Outcome::Ignored("a socket without a remote end (listening)".into()));
    }
    let host_ip = match ip(row, "local_address")? {
        Some(a) => Some(a),
        None => ip(result, "decorations.host_ip")?,
    };
    if host_ip.is_none() {
        return Err("no local_address, and no host_ip decoration: the host's address is unknown \
                    (add a decorator query that returns host_ip)"
            .into());
    }
    let ts_ns = match timestamp(row, "time")? {
        Some(t) => Some(t),
        None => match timestamp(result, "unixTime")? {
            Some(t) => Some(t),
            None => timestamp(result, "calendarTime")?,
        },
    };
    let draft = Draft {
        ts_ns,
        host_ip,
        src_port: port(row, "local_port")?,
        dest_ip,
        dest_port,
        community_id: None,
        host_name: first_text(result, &["decorations.hostname", "hostIdentifier"])?,
        process: first_text(row, &["path", "name"])?,
        pid: pid(row, "pid")?,
        user: first_text(row, &["username", "user"])?,
        source,
    };
    draft
        .build(["time, unixTime or calendarTime", "local_address", "remote_address", "remote_port"])
        .map(Outcome::Event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(outcomes: &[Result<Outcome, String>]) -> &super::super::EndpointEvent {
        match outcomes.first() {
            Some(Ok(Outcome::Event(e))) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn socket_events_in_the_event_format_with_a_host_ip_decoration() {
        let v = json!({"name": "pack_net_socket_events", "hostIdentifier": "lnx7", "unixTime": "1714557600",
                       "decorations": {"host_ip": "10.0.0.7", "hostname": "lnx7.corp.test"}, "action": "added",
                       "columns": {"action": "connect", "family": "2", "protocol": "6", "pid": "991",
                                   "path": "/usr/bin/python3", "local_address": "", "local_port": "0",
                                   "remote_address": "203.0.113.9", "remote_port": "25", "time": "1714557601"}});
        let out = parse(&v);
        let e = event(&out);
        assert_eq!(e.source, Source::OsquerySocketEvents);
        assert_eq!((e.host_ip.to_string(), e.src_port), ("10.0.0.7".into(), None));
        assert_eq!(e.ts_ns, 1_714_557_601_000_000_000);
        assert_eq!(e.host_name.as_deref(), Some("lnx7.corp.test"));
        let mut no_host = v.clone();
        no_host["decorations"] = json!({});
        assert!(matches!(parse(&no_host).as_slice(), [Err(e)] if e.contains("host_ip")), "{:?}", parse(&no_host));
    }

    #[test]
    fn snapshots_of_open_sockets_skip_listeners_and_udp() {
        let v = json!({"name": "open_sockets", "hostIdentifier": "ws9", "unixTime": 1714557600, "numerics": true,
                       "snapshot": [
                         {"pid": 10, "path": "/usr/bin/thunderbird", "username": "bob", "family": 2, "protocol": 6,
                          "local_address": "10.0.0.9", "local_port": 40001, "remote_address": "198.51.100.2",
                          "remote_port": 993, "state": "ESTABLISHED"},
                         {"pid": 11, "path": "/usr/sbin/sshd", "family": 2, "protocol": 6, "local_address": "0.0.0.0",
                          "local_port": 22, "remote_address": "0.0.0.0", "remote_port": 0, "state": "LISTEN"},
                         {"pid": 12, "path": "/usr/bin/dig", "family": 2, "protocol": 17, "local_address": "10.0.0.9",
                          "local_port": 5353, "remote_address": "10.0.0.1", "remote_port": 53}]});
        let out = parse(&v);
        assert_eq!(out.len(), 3);
        let e = event(&out);
        assert_eq!(
            (e.source, e.user.as_deref(), e.src_port),
            (Source::OsqueryProcessOpenSockets, Some("bob"), Some(40001))
        );
        assert!(matches!(&out[1], Ok(Outcome::Ignored(r)) if r.contains("listening")));
        assert!(matches!(&out[2], Ok(Outcome::Ignored(r)) if r.contains("17")));
    }

    #[test]
    fn other_queries_and_the_tls_logger_envelope() {
        let processes = json!({"name": "procs", "hostIdentifier": "h", "columns": {"pid": "1", "name": "init"}});
        assert!(matches!(parse(&processes).as_slice(), [Err(e)] if e.contains("no remote_address column")));
        let envelope = json!({"node_key": "k", "log_type": "result", "data": [
            {"name": "s", "hostIdentifier": "h", "unixTime": 1714557600, "diffResults": {"added": [
                {"pid": "5", "path": "/bin/nc", "local_address": "10.0.0.3", "local_port": "4000",
                 "remote_address": "198.51.100.3", "remote_port": "587"}], "removed": []}}]});
        assert_eq!(event(&parse(&envelope)).process.as_deref(), Some("/bin/nc"));
        let status = json!({"node_key": "k", "log_type": "status", "data": []});
        assert!(matches!(parse(&status).as_slice(), [Ok(Outcome::Ignored(_))]));
    }
}
