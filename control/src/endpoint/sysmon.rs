//! Sysmon Event ID 3 (network connection) as Winlogbeat ships it.
//!
//! Winlogbeat puts Sysmon's fields under `winlog.event_data` (`SourceIp`,
//! `SourcePort`, `DestinationIp`, `DestinationPort`, `Image`, `ProcessId`,
//! `User`, `UtcTime`, `Initiated`, `Protocol`); its Sysmon module (or an
//! ingest pipeline) maps them to ECS (`source.ip`, `process.executable`,
//! `user.name`, `network.direction`, `network.community_id`, …). ECS
//! fields are preferred where both are present. Only connections the host
//! initiated over TCP describe a mail client; the rest are ignored.

use super::fields::{boolean, first_text, get, integer, ip, pid, port, text, timestamp};
use super::{Draft, Outcome, Source};
use serde_json::Value;

/// Whether the record is a Windows event from Winlogbeat (or ECS-mapped Sysmon).
pub fn recognises(v: &Value) -> bool {
    get(v, "winlog").is_some() || get(v, "event.module").and_then(Value::as_str) == Some("sysmon")
}

fn is_sysmon(v: &Value) -> Result<bool, String> {
    let provider = first_text(v, &["winlog.provider_name", "event.provider"])?.unwrap_or_default();
    let channel = text(v, "winlog.channel")?.unwrap_or_default();
    let module = text(v, "event.module")?.unwrap_or_default();
    Ok(provider.to_ascii_lowercase().contains("sysmon")
        || channel.to_ascii_lowercase().contains("sysmon")
        || module.eq_ignore_ascii_case("sysmon"))
}

/// Reads one record.
pub fn parse(v: &Value) -> Result<Outcome, String> {
    if !is_sysmon(v)? {
        let provider = first_text(v, &["winlog.provider_name", "event.provider"])?;
        let channel = text(v, "winlog.channel")?;
        return Err(format!(
            "a Windows event from provider {} (channel {}) is not a Sysmon event",
            provider.as_deref().unwrap_or("(none)"),
            channel.as_deref().unwrap_or("(none)")
        ));
    }
    let id = match integer(v, "winlog.event_id")? {
        Some(id) => id,
        None => integer(v, "event.code")?.ok_or("a Sysmon event without winlog.event_id or event.code")?,
    };
    if id != 3 {
        return Ok(Outcome::Ignored(format!("Sysmon Event ID {id} is not a network connection (Event ID 3)")));
    }
    let data = |field: &str| format!("winlog.event_data.{field}");
    let initiated = match boolean(v, &data("Initiated"))? {
        Some(b) => Some(b),
        None => text(v, "network.direction")?.map(|d| matches!(d.as_str(), "egress" | "outbound")),
    };
    if initiated == Some(false) {
        return Ok(Outcome::Ignored("Initiated is false: the host accepted this connection".into()));
    }
    let transport = first_text(v, &["network.transport", &data("Protocol")])?;
    if let Some(t) = transport.filter(|t| !t.eq_ignore_ascii_case("tcp")) {
        return Ok(Outcome::Ignored(format!("protocol {t} is not TCP")));
    }
    let either_ip = |ecs: &str, raw: &str| -> Result<_, String> {
        match ip(v, ecs)? {
            Some(a) => Ok(Some(a)),
            None => ip(v, &data(raw)),
        }
    };
    let either_port = |ecs: &str, raw: &str| -> Result<_, String> {
        match port(v, ecs)? {
            Some(p) => Ok(Some(p)),
            None => port(v, &data(raw)),
        }
    };
    let user = match (text(v, "user.domain")?, text(v, "user.name")?) {
        (Some(domain), Some(name)) => Some(format!("{domain}\\{name}")),
        (None, Some(name)) => Some(name),
        _ => text(v, &data("User"))?,
    };
    let ts_ns = match timestamp(v, &data("UtcTime"))? {
        Some(t) => Some(t),
        None => timestamp(v, "@timestamp")?,
    };
    let draft = Draft {
        ts_ns,
        host_ip: either_ip("source.ip", "SourceIp")?,
        src_port: either_port("source.port", "SourcePort")?,
        dest_ip: either_ip("destination.ip", "DestinationIp")?,
        dest_port: either_port("destination.port", "DestinationPort")?,
        community_id: text(v, "network.community_id")?,
        host_name: first_text(v, &["host.name", "winlog.computer_name", "agent.hostname"])?,
        process: first_text(v, &["process.executable", &data("Image")])?,
        pid: match pid(v, "process.pid")? {
            Some(p) => Some(p),
            None => pid(v, &data("ProcessId"))?,
        },
        user,
        source: Source::Sysmon,
    };
    draft.build(["UtcTime or @timestamp", "SourceIp", "DestinationIp", "DestinationPort"]).map(Outcome::Event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_event_data_with_string_numbers() {
        let v = json!({
            "@timestamp": "2024-05-01T10:00:01.000Z",
            "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "provider_name": "Microsoft-Windows-Sysmon",
                       "event_id": 3, "computer_name": "WS5.corp.test",
                       "event_data": {"UtcTime": "2024-05-01 10:00:00.500", "ProcessId": "4242",
                                      "Image": "C:\\Program Files\\Microsoft Office\\OUTLOOK.EXE",
                                      "User": "CORP\\alice", "Protocol": "tcp", "Initiated": "true",
                                      "SourceIp": "10.0.0.5", "SourcePort": "50123",
                                      "DestinationIp": "198.51.100.1", "DestinationPort": "587"}}});
        let Ok(Outcome::Event(e)) = parse(&v) else { panic!("{:?}", parse(&v)) };
        assert_eq!(e.ts_ns, 1_714_557_600_500_000_000);
        assert_eq!((e.host_ip.to_string(), e.src_port, e.dest_port), ("10.0.0.5".into(), Some(50123), 587));
        assert_eq!(e.user.as_deref(), Some("CORP\\alice"));
        assert_eq!(e.host_name.as_deref(), Some("WS5.corp.test"));
        assert_eq!(e.pid, Some(4242));
    }

    #[test]
    fn other_events_inbound_and_udp_are_ignored_and_non_sysmon_rejected() {
        let base = |id: u64, initiated: &str, proto: &str| {
            json!({"winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": id,
                              "event_data": {"Initiated": initiated, "Protocol": proto}}})
        };
        assert!(matches!(parse(&base(1, "true", "tcp")), Ok(Outcome::Ignored(r)) if r.contains("Event ID 1")));
        assert!(matches!(parse(&base(3, "false", "tcp")), Ok(Outcome::Ignored(r)) if r.contains("Initiated")));
        assert!(matches!(parse(&base(3, "true", "udp")), Ok(Outcome::Ignored(r)) if r.contains("udp")));
        let security = json!({"winlog": {"channel": "Security", "provider_name": "Microsoft-Windows-Security-Auditing",
                                          "event_id": 4624}});
        let err = parse(&security).err().unwrap_or_default();
        assert!(err.contains("Microsoft-Windows-Security-Auditing") && err.contains("not a Sysmon"), "{err}");
        let missing = base(3, "true", "tcp");
        assert_eq!(parse(&missing).err().as_deref(), Some("missing the time (UtcTime or @timestamp)"));
    }
}
