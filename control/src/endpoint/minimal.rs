//! The minimal shape, for endpoints without Sysmon or osquery:
//!
//! ```json
//! {"ts": "2024-05-01T10:00:00Z", "host_ip": "10.0.0.5", "src_port": 50123,
//!  "dest_ip": "198.51.100.1", "dest_port": 587, "process": "C:\\...\\OUTLOOK.EXE",
//!  "pid": 4242, "user": "CORP\\alice", "host_name": "ws5.corp.test"}
//! ```
//!
//! `ts` (RFC 3339 or Unix seconds), `host_ip`, `src_port`, `dest_ip`,
//! `dest_port` and `process` are required; `pid`, `user`, `host_name` and
//! `community_id` are optional. Other keys are ignored.

use super::fields::{get, ip, pid, port, text, timestamp};
use super::{Draft, EndpointEvent, Source};
use serde_json::Value;

/// Whether the record uses the minimal shape.
pub fn recognises(v: &Value) -> bool {
    get(v, "host_ip").is_some() || (get(v, "dest_ip").is_some() && get(v, "dest_port").is_some())
}

/// Reads one record.
pub fn parse(v: &Value) -> Result<EndpointEvent, String> {
    let required = |key: &str| if get(v, key).is_none() { Err(format!("missing {key}")) } else { Ok(()) };
    for key in ["ts", "host_ip", "src_port", "dest_ip", "dest_port", "process"] {
        required(key)?;
    }
    let src_port = port(v, "src_port")?.ok_or("src_port: expected a port number (1-65535)")?;
    let draft = Draft {
        ts_ns: timestamp(v, "ts")?,
        host_ip: ip(v, "host_ip")?,
        src_port: Some(src_port),
        dest_ip: ip(v, "dest_ip")?,
        dest_port: port(v, "dest_port")?,
        community_id: text(v, "community_id")?,
        host_name: text(v, "host_name")?,
        process: Some(text(v, "process")?.ok_or("process: must not be empty")?),
        pid: pid(v, "pid")?,
        user: text(v, "user")?,
        source: Source::Json,
    };
    draft.build(["ts", "host_ip", "dest_ip", "dest_port"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_field_and_what_is_required() {
        let v = json!({"ts": "2024-05-01T10:00:00Z", "host_ip": "10.0.0.5", "src_port": 50123,
                       "dest_ip": "198.51.100.1", "dest_port": 587, "process": "C:\\x\\OUTLOOK.EXE",
                       "pid": 4242, "user": "CORP\\alice", "host_name": "ws5", "community_id": "1:abc="});
        let e = parse(&v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (e.src_port, e.dest_port, e.pid, e.community_id.as_deref(), e.source),
            (Some(50123), 587, Some(4242), Some("1:abc="), Source::Json)
        );
        let mut no_port = v.clone();
        no_port.as_object_mut().map(|o| o.remove("src_port"));
        assert_eq!(parse(&no_port).err().as_deref(), Some("missing src_port"));
        let mut bad_ip = v.clone();
        bad_ip["dest_ip"] = json!("mx.example");
        assert_eq!(parse(&bad_ip).err().as_deref(), Some("dest_ip: \"mx.example\" is not an IP address"));
        let mut zero = v.clone();
        zero["src_port"] = json!(0);
        assert_eq!(parse(&zero).err().as_deref(), Some("src_port: expected a port number (1-65535)"));
        let mut unspecified = v;
        unspecified["host_ip"] = json!("0.0.0.0");
        assert_eq!(parse(&unspecified).err().as_deref(), Some("missing the host's address (host_ip)"));
    }
}
