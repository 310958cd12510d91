//! Endpoint connection telemetry: which process on which host opened a
//! TCP connection. Endpoints ship it in their own formats; this module
//! reads each line into an [`EndpointEvent`], so that sessions the
//! gateways saw can be joined to the process that made them.
//!
//! Formats, recognised per line:
//! * Sysmon Event ID 3 (network connection) as Winlogbeat writes it,
//!   raw (`winlog.event_data.SourceIp`, …) or ECS-mapped (`source.ip`,
//!   `process.executable`, `network.community_id`, …) — [`sysmon`];
//! * osquery results of `socket_events` or `process_open_sockets`, in the
//!   event, snapshot or batched (`diffResults`) format, and osquery's TLS
//!   logger envelope (`{"log_type": "result", "data": [...]}`) — [`osquery`];
//! * the minimal shape (`ts`, `host_ip`, `src_port`, `dest_ip`,
//!   `dest_port`, `process`, `pid`, `user`, `host_name`, optional
//!   `community_id`) — [`minimal`].
//!
//! A line may hold one object or an array of them. A line that is not
//! JSON, not one of these formats, or is missing what the join needs is
//! rejected with a message naming the line; the other lines still count.
//! Records that are understood but say nothing about an outgoing TCP
//! connection (another Sysmon event, a UDP socket, a listening socket) are
//! ignored, with the reason.

pub mod fields;
pub mod minimal;
pub mod osquery;
pub mod sysmon;
pub mod watch;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

/// Longest line accepted (an osquery snapshot line can be large).
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// Most error and note lines an answer lists (the counts are complete).
pub const MAX_LISTED: usize = 200;

/// Which telemetry an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Sysmon Event ID 3, through Winlogbeat.
    Sysmon,
    /// osquery's `socket_events` table.
    OsquerySocketEvents,
    /// osquery's `process_open_sockets` table.
    OsqueryProcessOpenSockets,
    /// The minimal JSON shape.
    Json,
}

impl Source {
    /// The name the API, exports and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sysmon => "sysmon",
            Source::OsquerySocketEvents => "osquery_socket_events",
            Source::OsqueryProcessOpenSockets => "osquery_process_open_sockets",
            Source::Json => "json",
        }
    }
}

/// One outgoing TCP connection an endpoint reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointEvent {
    /// When the endpoint saw it, Unix nanoseconds (the endpoint's clock).
    pub ts_ns: i64,
    /// The endpoint's address on the connection (the session's client).
    pub host_ip: IpAddr,
    /// The client port; `None` when the endpoint did not record it
    /// (osquery `socket_events` on Linux often does not).
    pub src_port: Option<u16>,
    /// The server address.
    pub dest_ip: IpAddr,
    /// The server port.
    pub dest_port: u16,
    /// Community ID v1 of the connection, when the shipper computed it.
    pub community_id: Option<String>,
    /// The endpoint's name.
    pub host_name: Option<String>,
    /// The executable that made the connection (a path where known).
    pub process: Option<String>,
    /// Its process id.
    pub pid: Option<u32>,
    /// The account it ran as.
    pub user: Option<String>,
    /// The telemetry it came from.
    pub source: Source,
}

/// What a matched session gets as `endpoint` in the API and exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// The endpoint's name.
    pub host_name: Option<String>,
    /// The executable that made the connection.
    pub process: Option<String>,
    /// Its process id.
    pub pid: Option<u32>,
    /// The account it ran as.
    pub user: Option<String>,
    /// The telemetry (`sysmon`, `osquery_socket_events`, `osquery_process_open_sockets`, `json`).
    pub source: String,
    /// How the event was matched: `community_id`, `5-tuple`, or
    /// `host+destination` (an event without the client port).
    pub matched_by: String,
    /// The endpoint event's time (RFC 3339, the endpoint's clock).
    pub ts: String,
}

/// What one record yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An outgoing TCP connection.
    Event(EndpointEvent),
    /// Understood, but not an outgoing TCP connection: why.
    Ignored(String),
}

/// The result of reading a batch of lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The connections found.
    pub events: Vec<EndpointEvent>,
    /// Records ignored.
    pub ignored: usize,
    /// Lines (or array items) rejected.
    pub rejected: usize,
    /// `line N: message` for rejected lines, the first [`MAX_LISTED`].
    pub errors: Vec<String>,
    /// `line N: ignored: reason`, the first [`MAX_LISTED`].
    pub notes: Vec<String>,
    /// Non-empty lines read.
    pub lines: usize,
}

impl Parsed {
    fn reject(&mut self, at: &str, message: &str) {
        self.rejected += 1;
        if self.errors.len() < MAX_LISTED {
            self.errors.push(format!("{at}: {message}"));
        }
    }

    fn ignore(&mut self, at: &str, reason: &str) {
        self.ignored += 1;
        if self.notes.len() < MAX_LISTED {
            self.notes.push(format!("{at}: ignored: {reason}"));
        }
    }
}

/// Reads JSON lines; `first_line` is the number of the first (1 for a
/// request body, the next unread line for a tailed file).
pub fn parse_lines(text: &str, first_line: usize) -> Parsed {
    let mut parsed = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        parsed.lines += 1;
        let at = format!("line {}", first_line + i);
        if line.len() > MAX_LINE_BYTES {
            parsed.reject(&at, &format!("longer than {MAX_LINE_BYTES} bytes"));
            continue;
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                parsed.reject(&at, &format!("not JSON: {e}"));
                continue;
            }
        };
        match value {
            Value::Array(items) => {
                for (j, item) in items.iter().enumerate() {
                    record(&mut parsed, &format!("{at}, item {}", j + 1), item);
                }
            }
            other => record(&mut parsed, &at, &other),
        }
    }
    parsed
}

fn record(parsed: &mut Parsed, at: &str, value: &Value) {
    for outcome in outcomes(value) {
        match outcome {
            Ok(Outcome::Event(e)) => parsed.events.push(e),
            Ok(Outcome::Ignored(reason)) => parsed.ignore(at, &reason),
            Err(message) => parsed.reject(at, &message),
        }
    }
}

/// What one JSON record yields: one outcome, or one per row of an osquery
/// snapshot or envelope.
pub fn outcomes(value: &Value) -> Vec<Result<Outcome, String>> {
    if !value.is_object() {
        return vec![Err(format!("expected a JSON object, found {}", fields::kind(value)))];
    }
    if sysmon::recognises(value) {
        return vec![sysmon::parse(value)];
    }
    if osquery::recognises(value) {
        return osquery::parse(value);
    }
    if minimal::recognises(value) {
        return vec![minimal::parse(value).map(Outcome::Event)];
    }
    vec![Err("unknown format: expected Sysmon Event ID 3 from Winlogbeat (winlog.*), an osquery socket_events or \
         process_open_sockets result (hostIdentifier, columns), or the minimal shape (ts, host_ip, src_port, \
         dest_ip, dest_port, process)"
        .into())]
}

/// Checks the parts every format needs and builds the event.
pub(crate) struct Draft {
    pub(crate) ts_ns: Option<i64>,
    pub(crate) host_ip: Option<IpAddr>,
    pub(crate) src_port: Option<u16>,
    pub(crate) dest_ip: Option<IpAddr>,
    pub(crate) dest_port: Option<u16>,
    pub(crate) community_id: Option<String>,
    pub(crate) host_name: Option<String>,
    pub(crate) process: Option<String>,
    pub(crate) pid: Option<u32>,
    pub(crate) user: Option<String>,
    pub(crate) source: Source,
}

impl Draft {
    /// The event, or what is missing; `names` says how the format calls
    /// (time, host address, destination address, destination port).
    pub(crate) fn build(self, names: [&str; 4]) -> Result<EndpointEvent, String> {
        let [ts, host, dest, dport] = names;
        let missing = |what: &str, name: &str| format!("missing {what} ({name})");
        Ok(EndpointEvent {
            ts_ns: self.ts_ns.ok_or_else(|| missing("the time", ts))?,
            host_ip: self.host_ip.ok_or_else(|| missing("the host's address", host))?,
            src_port: self.src_port,
            dest_ip: self.dest_ip.ok_or_else(|| missing("the destination address", dest))?,
            dest_port: self.dest_port.ok_or_else(|| missing("the destination port", dport))?,
            community_id: self.community_id,
            host_name: self.host_name,
            process: self.process,
            pid: self.pid,
            user: self.user,
            source: self.source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_rejected_by_number_and_the_rest_still_count() {
        let text = "\n{\"ts\": \"2024-05-01T10:00:00Z\", \"host_ip\": \"10.0.0.5\", \"src_port\": 50000, \
                    \"dest_ip\": \"198.51.100.1\", \"dest_port\": 587, \"process\": \"a.exe\"}\n\
                    not json\n[1, {\"hello\": 1}]\n\"text\"\n";
        let parsed = parse_lines(text, 1);
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.lines, 4);
        assert_eq!(parsed.rejected, 4);
        assert!(parsed.errors[0].starts_with("line 3: not JSON: "), "{:?}", parsed.errors);
        assert_eq!(parsed.errors[1], "line 4, item 1: expected a JSON object, found a number");
        assert!(parsed.errors[2].starts_with("line 4, item 2: unknown format: expected Sysmon Event ID 3"));
        assert_eq!(parsed.errors[3], "line 5: expected a JSON object, found a string");
    }
}
