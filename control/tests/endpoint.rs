//! Endpoint telemetry into a running control plane: every accepted format
//! over the API, bad lines rejected one by one, the join to sessions in
//! both orders and within the clock-skew tolerance, the policy's
//! `[[mail_clients]]` raising `unexpected_mail_process`, and a watched
//! directory tailed across a restart.

mod common;

use common::fixtures::*;
use common::*;
use mailgate_protocol::record::{Action, MailProto};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

fn minimal(ts_ns: i64, host: &str, sport: u16, dest: &str, dport: u16, process: &str) -> Value {
    json!({"ts": rfc3339(ts_ns), "host_ip": host, "src_port": sport, "dest_ip": dest, "dest_port": dport,
           "process": process, "pid": 4242, "user": "CORP\\alice", "host_name": format!("ws-{host}")})
}

fn sysmon_raw(ts_ns: i64, host: &str, sport: u16, dest: &str, dport: u16) -> Value {
    let utc = rfc3339(ts_ns).replace('T', " ").trim_end_matches('Z').to_string();
    json!({"@timestamp": rfc3339(ts_ns + 900 * 1_000_000),
           "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "provider_name": "Microsoft-Windows-Sysmon",
                      "event_id": 3, "computer_name": "WS5.corp.test",
                      "event_data": {"UtcTime": utc, "ProcessId": "4242",
                                     "Image": "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
                                     "User": "CORP\\alice", "Protocol": "tcp", "Initiated": "true",
                                     "SourceIp": host, "SourcePort": sport.to_string(),
                                     "DestinationIp": dest, "DestinationPort": dport.to_string()}}})
}

fn sysmon_ecs(ts_ns: i64, host: &str, sport: u16, dest: &str, dport: u16) -> Value {
    json!({"@timestamp": rfc3339(ts_ns), "event": {"module": "sysmon", "code": "3", "provider": "Microsoft-Windows-Sysmon"},
           "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": "3"},
           "host": {"name": "ws6.corp.test"}, "network": {"transport": "tcp", "direction": "egress"},
           "source": {"ip": host, "port": sport}, "destination": {"ip": dest, "port": dport},
           "process": {"executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "pid": 777},
           "user": {"domain": "CORP", "name": "bob"}})
}

fn osquery_socket_event(ts_ns: i64, host: &str, dest: &str, dport: u16) -> Value {
    json!({"name": "pack_network_socket_events", "hostIdentifier": "lnx1", "calendarTime": "Wed May  1 10:00:00 2024 UTC",
           "unixTime": ts_ns / SECOND, "decorations": {"host_ip": host, "hostname": "lnx1.corp.test"}, "action": "added",
           "columns": {"action": "connect", "family": "2", "protocol": "6", "pid": "991", "path": "/usr/bin/python3",
                       "local_address": "", "local_port": "0", "remote_address": dest, "remote_port": dport.to_string(),
                       "time": (ts_ns / SECOND).to_string()}})
}

fn osquery_snapshot(ts_ns: i64, host: &str, sport: u16, dest: &str, dport: u16) -> Value {
    json!({"name": "open_sockets", "hostIdentifier": "lnx2", "unixTime": ts_ns / SECOND, "action": "snapshot",
           "snapshot": [
             {"pid": "12", "path": "/usr/bin/thunderbird", "username": "carol", "family": "2", "protocol": "6",
              "local_address": host, "local_port": sport.to_string(), "remote_address": dest,
              "remote_port": dport.to_string(), "state": "ESTABLISHED"},
             {"pid": "1", "path": "/usr/sbin/sshd", "family": "2", "protocol": "6", "local_address": "0.0.0.0",
              "local_port": "22", "remote_address": "0.0.0.0", "remote_port": "0", "state": "LISTEN"}]})
}

fn endpoint_of(api: &str, flow_id: u64) -> Option<Value> {
    session_by_flow(api, flow_id).get("endpoint").cloned()
}

#[test]
fn every_format_is_read_bad_lines_are_rejected_and_the_rest_join_their_sessions() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = ControlSetup::new(dir.path());
    let control = InProcess::start(&setup);
    let api = control.api.as_str();
    let t0 = now_ns() / SECOND * SECOND - 3600 * SECOND;
    let body = [
        sysmon_raw(t0, "10.0.0.5", 50001, "198.51.100.1", 587).to_string(),
        sysmon_ecs(t0, "10.0.0.6", 50002, "198.51.100.1", 25).to_string(),
        osquery_socket_event(t0, "10.0.0.7", "198.51.100.2", 465).to_string(),
        osquery_snapshot(t0, "10.0.0.8", 50004, "198.51.100.3", 993).to_string(),
        minimal(t0, "10.0.0.9", 50005, "198.51.100.4", 110, "/usr/bin/fetchmail").to_string(),
        "not json at all".into(),
        json!({"message": "hello", "level": "info"}).to_string(),
        json!({"winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1}}).to_string(),
        json!({"ts": rfc3339(t0), "host_ip": "10.0.0.10", "src_port": 1, "dest_ip": "198.51.100.5", "process": "x"})
            .to_string(),
        String::new(),
    ]
    .join("\n");
    let (status, answer) = post_events(api, &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 5, "{answer}");
    assert_eq!((answer["stored"].as_u64(), answer["duplicates"].as_u64()), (Some(5), Some(0)), "{answer}");
    assert_eq!((answer["ignored"].as_u64(), answer["rejected"].as_u64()), (Some(2), Some(3)), "{answer}");
    let errors: Vec<&str> = answer["errors"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert_eq!(errors.len(), 3, "{answer}");
    assert!(errors[0].starts_with("line 6: not JSON: "), "{errors:?}");
    assert!(errors[1].starts_with("line 7: unknown format: expected Sysmon Event ID 3"), "{errors:?}");
    assert_eq!(errors[2], "line 9: missing dest_port");
    let notes: Vec<&str> = answer["notes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert_eq!(
        notes,
        [
            "line 4: ignored: a socket without a remote end (listening)",
            "line 8: ignored: Sysmon Event ID 1 is not a network connection (Event ID 3)"
        ]
    );

    // A resend stores nothing twice.
    let (_, again) = post_events(api, &body);
    assert_eq!((again["stored"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(5)), "{again}");
    let text = metrics(api);
    assert_eq!(metric(&text, "mailgate_endpoint_events_total{source=\"sysmon\"}"), 2.0, "{text}");
    assert_eq!(metric(&text, "mailgate_endpoint_events_total{source=\"osquery_socket_events\"}"), 1.0);
    assert_eq!(metric(&text, "mailgate_endpoint_events_total{source=\"osquery_process_open_sockets\"}"), 1.0);
    assert_eq!(metric(&text, "mailgate_endpoint_events_total{source=\"json\"}"), 1.0);
    assert_eq!(metric(&text, "mailgate_endpoint_rejected_total{via=\"api\"}"), 6.0);

    // Refusals.
    assert_eq!(post_events(api, "  \n").0, 400);
    let anonymous = ureq::post(&format!("{api}/api/v1/endpoint-events"));
    assert_eq!(call(anonymous, Some(&body)).0, 401);

    // The sessions those events describe arrive later and are joined, each to its event.
    let mut feeder = Feeder::start("gw-e", &setup.socket(), BTreeMap::new());
    feeder.send(vec![
        session(1, "10.0.0.5", 50001, "198.51.100.1", 587, Some(MailProto::Smtp), t0 + SECOND),
        session(2, "10.0.0.6", 50002, "198.51.100.1", 25, Some(MailProto::Smtp), t0),
        session(3, "10.0.0.7", 43210, "198.51.100.2", 465, Some(MailProto::Smtp), t0 - 5 * SECOND),
        session(4, "10.0.0.8", 50004, "198.51.100.3", 993, Some(MailProto::Imap), t0 - 60 * SECOND),
        session(5, "10.0.0.9", 50005, "198.51.100.4", 110, Some(MailProto::Pop3), t0),
        session(6, "10.0.0.10", 1, "198.51.100.5", 25, Some(MailProto::Smtp), t0),
    ]);
    wait_sessions(api, 6);
    let want = [
        (1, "sysmon", "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", "CORP\\alice", "5-tuple"),
        (2, "sysmon", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "CORP\\bob", "5-tuple"),
        (3, "osquery_socket_events", "/usr/bin/python3", "", "host+destination"),
        (4, "osquery_process_open_sockets", "/usr/bin/thunderbird", "carol", "5-tuple"),
        (5, "json", "/usr/bin/fetchmail", "CORP\\alice", "5-tuple"),
    ];
    for (flow, source, process, user, matched_by) in want {
        let e = endpoint_of(api, flow).unwrap_or_else(|| panic!("session {flow} has no endpoint"));
        assert_eq!(e["source"], source, "{e}");
        assert_eq!(e["process"], process, "{e}");
        assert_eq!(e["user"].as_str().unwrap_or(""), user, "{e}");
        assert_eq!(e["matched_by"], matched_by, "{e}");
    }
    assert_eq!(endpoint_of(api, 1).map(|e| e["host_name"].clone()), Some(json!("WS5.corp.test")));
    assert_eq!(endpoint_of(api, 2).map(|e| e["pid"].clone()), Some(json!(777)));
    assert_eq!(endpoint_of(api, 6), None, "its event was rejected");
}

#[test]
fn sessions_and_events_join_whichever_comes_first_within_the_skew() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut setup = ControlSetup::new(dir.path());
    setup.extra = "[endpoint]\nclock_skew_secs = 60\n".into();
    let control = InProcess::start(&setup);
    let api = control.api.as_str();
    let t0 = now_ns() / SECOND * SECOND - 3600 * SECOND;
    let mut feeder = Feeder::start("gw-j", &setup.socket(), BTreeMap::new());

    // Sessions first.
    feeder.send(vec![
        with_smtp(
            session(1, "10.0.0.7", 40001, "203.0.113.9", 25, Some(MailProto::Smtp), t0),
            "ws7.corp.test",
            None,
            None,
        ),
        session(2, "10.0.0.7", 40002, "203.0.113.9", 25, Some(MailProto::Smtp), t0),
        session(3, "10.0.0.7", 40003, "203.0.113.9", 25, Some(MailProto::Smtp), t0),
    ]);
    wait_sessions(api, 3);
    let late_by_community = {
        let mut e = minimal(t0 + 10 * SECOND, "10.0.0.7", 9, "203.0.113.9", 25, "/usr/bin/msmtp");
        e["community_id"] = json!("1:test-3=");
        e
    };
    let (_, answer) = post_events(
        api,
        &lines(&[
            minimal(t0 + 30 * SECOND, "10.0.0.7", 40001, "203.0.113.9", 25, "outlook.exe"), // 28 s after the end: joins
            minimal(t0 - 90 * SECOND, "10.0.0.7", 40002, "203.0.113.9", 25, "outlook.exe"), // 90 s early: beyond the skew
            late_by_community,
        ]),
    );
    assert_eq!((answer["stored"].as_u64(), answer["joined"].as_u64()), (Some(3), Some(2)), "{answer}");
    assert_eq!(endpoint_of(api, 1).map(|e| e["process"].clone()), Some(json!("outlook.exe")));
    assert_eq!(endpoint_of(api, 2), None, "outside the tolerance");
    assert_eq!(endpoint_of(api, 3).map(|e| e["matched_by"].clone()), Some(json!("community_id")));

    // Events first: a session arriving later takes the event (the closest in time).
    let (_, answer) = post_events(
        api,
        &lines(&[
            minimal(t0 + 400 * SECOND, "10.0.0.8", 40010, "203.0.113.9", 587, "far.exe"),
            minimal(t0 - 50 * SECOND, "10.0.0.8", 40010, "203.0.113.9", 587, "thunderbird.exe"),
            osquery_socket_event(t0 + 50 * SECOND, "10.0.0.9", "198.51.100.3", 465),
        ]),
    );
    assert_eq!((answer["stored"].as_u64(), answer["joined"].as_u64()), (Some(3), Some(0)), "{answer}");
    feeder.send(vec![
        with_smtp(session(4, "10.0.0.8", 40010, "203.0.113.9", 587, Some(MailProto::Smtp), t0), "ws8", None, None),
        session(5, "10.0.0.9", 51515, "198.51.100.3", 465, Some(MailProto::Smtp), t0),
        session(6, "10.0.0.9", 51516, "198.51.100.3", 465, Some(MailProto::Smtp), t0 + 200 * SECOND),
    ]);
    wait_sessions(api, 6);
    assert_eq!(endpoint_of(api, 4).map(|e| e["process"].clone()), Some(json!("thunderbird.exe")));
    let e5 = endpoint_of(api, 5).unwrap_or_else(|| panic!("session 5 joined"));
    assert_eq!(
        (e5["matched_by"].as_str(), e5["source"].as_str()),
        (Some("host+destination"), Some("osquery_socket_events"))
    );
    assert_eq!(endpoint_of(api, 6), None, "a port-less event joins one session, and only near its start");

    // The joins reach the metrics and the EVE export, whichever came first.
    assert_eq!(metric(&metrics(api), "mailgate_endpoint_joins_total"), 4.0);
    let eve = wait_for("EVE endpoint events", 10, || {
        let text = std::fs::read_to_string(setup.eve()).unwrap_or_default();
        let events: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        (events.iter().filter(|e| e["event_type"] == "endpoint").count() == 4).then_some(events)
    });
    let endpoint_flows: Vec<u64> =
        eve.iter().filter(|e| e["event_type"] == "endpoint").filter_map(|e| e["flow_id"].as_u64()).collect();
    assert_eq!(endpoint_flows, [1, 3, 4, 5]);
    let smtp_of = |flow: u64| eve.iter().find(|e| e["event_type"] == "smtp" && e["flow_id"] == flow).cloned();
    assert_eq!(
        smtp_of(4).map(|e| e["mailgate"]["endpoint"]["process"].clone()),
        Some(json!("thunderbird.exe")),
        "a session matched on arrival carries its endpoint in every event"
    );
    assert_eq!(smtp_of(1).map(|e| e["mailgate"].get("endpoint").is_none()), Some(true), "exported before its join");
}

const CLIENTS_POLICY: &str = r#"
mode = "monitor"
[hosts]
workstations = ["10.20.0.0/16"]
finance = ["10.20.5.0/24"]
[[allow]]
name = "ws-mail"
from = ["workstations"]
protocols = ["smtp", "imap"]
[[mail_clients]]
hosts = ["workstations"]
processes = ["outlook.exe"]
[[mail_clients]]
hosts = ["finance"]
processes = ["erp-mailer.exe"]
action = "block"
"#;

#[test]
fn a_mail_session_from_an_unapproved_process_raises_unexpected_mail_process() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = ControlSetup::new(dir.path());
    let control = InProcess::start(&setup);
    let api = control.api.as_str();
    apply_policy(api, CLIENTS_POLICY);
    let t0 = now_ns() / SECOND * SECOND - 1800 * SECOND;
    let ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
    let mut feeder = Feeder::start("gw-p", &setup.socket(), BTreeMap::new());
    // Two sessions before their events, three after.
    feeder.send(vec![
        session(1, "10.20.1.1", 41001, "203.0.113.9", 587, Some(MailProto::Smtp), t0),
        session(2, "10.20.1.2", 41002, "203.0.113.9", 587, Some(MailProto::Smtp), t0),
    ]);
    wait_sessions(api, 2);
    let events = [
        minimal(t0, "10.20.1.1", 41001, "203.0.113.9", 587, "C:\\Program Files\\Microsoft Office\\OUTLOOK.EXE"),
        minimal(t0, "10.20.1.2", 41002, "203.0.113.9", 587, ps),
        minimal(t0, "10.20.5.5", 41003, "203.0.113.9", 25, ps),
        minimal(t0, "10.20.1.3", 41004, "203.0.113.9", 25, ps),
        minimal(t0, "10.99.0.1", 41005, "203.0.113.9", 25, ps),
    ];
    let (_, answer) = post_events(api, &lines(&events));
    assert_eq!(answer["joined"], 2, "{answer}");
    feeder.send(vec![
        with_verdict(
            session(3, "10.20.5.5", 41003, "203.0.113.9", 25, Some(MailProto::Smtp), t0),
            Action::WouldReset,
            "defaults.unapproved_mail",
        ),
        session(4, "10.20.1.3", 41004, "203.0.113.9", 25, None, t0), // not mail: no alert
        session(5, "10.99.0.1", 41005, "203.0.113.9", 25, Some(MailProto::Smtp), t0), // no [[mail_clients]] covers it
    ]);
    wait_sessions(api, 5);
    let alerts = wait_for("two alerts", 10, || {
        let alerts: Vec<Value> = get(api, "/api/v1/alerts")
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["kind"] == "unexpected_mail_process")
            .cloned()
            .collect();
        (alerts.len() >= 2).then_some(alerts)
    });
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let of = |src: &str| {
        alerts.iter().find(|a| a["record"]["src_ip"] == src).map(|a| a["record"].clone()).unwrap_or(Value::Null)
    };
    let ws = of("10.20.1.2");
    assert_eq!((ws["process"].as_str(), ws["action"].as_str()), (Some(ps), Some("alert")), "{ws}");
    assert_eq!(ws["approved"], json!(["outlook.exe"]));
    assert_eq!((ws["flow_id"].as_u64(), ws["enforced"].as_bool()), (Some(2), Some(false)));
    assert_eq!(ws["mail_proto"], "smtp");
    let finance = of("10.20.5.5");
    assert_eq!(
        (finance["action"].as_str(), finance["verdict"].as_str()),
        (Some("block"), Some("would_reset")),
        "{finance}"
    );
    assert_eq!(finance["approved"], json!(["erp-mailer.exe", "outlook.exe"]));
    assert_eq!(finance["policy_version"], 1);

    // Sent again, the events raise nothing new.
    let (_, again) = post_events(api, &lines(&events));
    assert_eq!(again["duplicates"], 5, "{again}");
    assert_eq!(metric(&metrics(api), "mailgate_alerts_raised_total{kind=\"unexpected_mail_process\"}"), 2.0);
    let eve = std::fs::read_to_string(setup.eve()).unwrap_or_default();
    let alert_events: Vec<Value> = eve
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["alert"]["signature_id"] == 8_999_998)
        .collect();
    assert_eq!(alert_events.len(), 2);
    assert!(alert_events.iter().any(|e| e["src_ip"] == "10.20.5.5" && e["alert"]["severity"] == 1));
}

#[test]
fn a_watched_directory_is_tailed_and_resumed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap_or_else(|e| panic!("{e}"));
    let mut setup = ControlSetup::new(dir.path());
    setup.extra = format!("[endpoint]\nwatch_dir = \"{}\"\nwatch_interval_secs = 1\n", spool.display());
    let t0 = now_ns() / SECOND * SECOND - 600 * SECOND;
    let events_stored = |api: &str| get(api, "/api/v1/overview")["endpoint_events"].as_u64().unwrap_or(0);
    {
        let control = InProcess::start(&setup);
        let api = control.api.as_str();
        let mut feeder = Feeder::start("gw-w", &setup.socket(), BTreeMap::new());
        feeder.send(vec![
            session(1, "10.0.0.21", 42001, "198.51.100.7", 587, Some(MailProto::Smtp), t0),
            session(2, "10.0.0.22", 42002, "198.51.100.7", 587, Some(MailProto::Smtp), t0),
        ]);
        wait_sessions(api, 2);
        let first = sysmon_raw(t0, "10.0.0.21", 42001, "198.51.100.7", 587).to_string();
        let second = sysmon_raw(t0, "10.0.0.22", 42002, "198.51.100.7", 587).to_string();
        let (head, tail) = second.split_at(40);
        std::fs::write(spool.join("winlogbeat.ndjson"), format!("{first}\n{{broken\n{head}"))
            .unwrap_or_else(|e| panic!("{e}"));
        wait_for("the first join", 15, || endpoint_of(api, 1));
        assert_eq!(endpoint_of(api, 2), None, "an unfinished line waits for its end");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(spool.join("winlogbeat.ndjson"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::io::Write::write_all(&mut file, format!("{tail}\n").as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let e2 = wait_for("the second join", 15, || endpoint_of(api, 2));
        assert_eq!(e2["source"], "sysmon");
        assert_eq!(metric(&metrics(api), "mailgate_endpoint_rejected_total{via=\"file\"}"), 1.0);
        assert_eq!(events_stored(api), 2);
    }
    // Restarted: the file is not read again, and what is appended is.
    let control = InProcess::start(&setup);
    let api = control.api.as_str();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(spool.join("winlogbeat.ndjson"))
        .unwrap_or_else(|e| panic!("{e}"));
    let third = minimal(t0, "10.0.0.23", 42003, "198.51.100.7", 587, "mutt");
    std::io::Write::write_all(&mut file, format!("{third}\n").as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    wait_for("the appended event", 15, || (events_stored(api) == 3).then_some(()));
    assert_eq!(metric(&metrics(api), "mailgate_endpoint_rejected_total{via=\"file\"}"), 0.0, "nothing read twice");
}
