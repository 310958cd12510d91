//! Investigation and evidence on a known dataset, through the API and
//! `mailgatectl`: host triage, coverage figures, and the audit report in
//! HTML (parsed, checked self-contained) and Markdown, each number checked
//! against what the dataset holds.
//!
//! The dataset (starts two hours ago; the period is the last three hours):
//! * 10.0.0.5, a workstation with endpoint telemetry: 10 SMTP sessions to
//!   203.0.113.9:25 every 300 s (alerted; the first four matched to
//!   `C:\Temp\beacon.exe`, which the policy does not approve), and 3 IMAP
//!   sessions to 198.51.100.2:993 at irregular times (passed), one with ECH;
//! * 10.0.0.6, no telemetry: 2 SMTP sessions to 203.0.113.9:25, reset, one
//!   with a ClientHello without SNI;
//! * 10.1.0.10, the relay, with telemetry: 5 SMTP sessions to
//!   198.51.100.25:25, one picked up mid-stream, one over the reassembly budget;
//! * 10.0.0.7, no telemetry, first seen five hours ago: one session not
//!   inspected (would_reset);
//! * 10.0.0.8, no telemetry: one SMTP session to the internal MX.
//!
//! 22 sessions in the period; a second gateway loses records to a full
//! ring (its sessions are 20 days old, outside the period) and stops.

mod common;

use common::fixtures::*;
use common::*;
use mailgate_protocol::record::{Action, MailProto};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Command, Output};

fn ctl(api: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailgatectl"))
        .env_remove("MAILGATE_SERVER")
        .env_remove("MAILGATE_TOKEN_FILE")
        .args(["--server", api, "--token", TOKEN])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "mailgatectl failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn policy(today: time::Date) -> String {
    format!(
        r#"mode = "block"
[hosts]
relays = ["10.1.0.10"]
workstations = ["10.0.0.0/24"]
internal_mx = ["10.1.0.25"]
[[allow]]
name = "relays-out"
from = ["relays"]
protocols = ["smtp"]
[[allow]]
name = "ws-imap"
from = ["workstations"]
protocols = ["imap"]
[[allow]]
name = "ws-submission"
from = ["workstations"]
to = ["internal_mx"]
protocols = ["smtp"]
[[exception]]
name = "scanner"
from = ["10.0.0.99"]
to = ["internal_mx"]
protocols = ["smtp"]
reason = "MFD scan-to-mail"
owner = "it@corp.test"
expires = {}
[[exception]]
name = "legacy-app"
from = ["10.0.0.98"]
reason = "legacy billing mailer"
owner = "apps@corp.test"
expires = 2020-01-01
[[mail_clients]]
hosts = ["workstations"]
processes = ["outlook.exe"]
"#,
        today + time::Duration::days(30)
    )
}

struct Dataset {
    base: i64,
    sessions: Vec<mailgate_protocol::SessionRecord>,
    events: Vec<Value>,
}

fn dataset() -> Dataset {
    let base = now_ns() / SECOND * SECOND - 2 * 3600 * SECOND;
    let smtp = Some(MailProto::Smtp);
    let mut sessions = Vec::new();
    let mut events = Vec::new();
    let mut flow = 0u64;
    let mut next = || {
        flow += 1;
        flow
    };
    for k in 0..10u16 {
        let start = base + i64::from(k) * 300 * SECOND;
        let s = session(next(), "10.0.0.5", 50000 + k, "203.0.113.9", 25, smtp, start);
        let s = with_verdict(
            with_smtp(s, "ws5.corp.test", Some("alice"), Some("LOGIN")),
            Action::Alert,
            "defaults.cleartext_auth",
        );
        if k < 4 {
            events.push(
                json!({"ts": rfc3339(start), "host_ip": "10.0.0.5", "src_port": 50000 + k, "dest_ip": "203.0.113.9",
                               "dest_port": 25, "process": "C:\\Temp\\beacon.exe", "pid": 6666, "user": "CORP\\alice",
                               "host_name": "ws5"}),
            );
        }
        sessions.push(s);
    }
    for (i, offset) in [10i64, 1000, 1090].into_iter().enumerate() {
        let s = session(
            next(),
            "10.0.0.5",
            51000 + i as u16,
            "198.51.100.2",
            993,
            Some(MailProto::Imap),
            base + offset * SECOND,
        );
        let s = with_verdict(
            with_tls(with_imap(s, "alice", "PLAIN"), Some("imap.example.org"), i == 2),
            Action::Pass,
            "ws-imap",
        );
        sessions.push(s);
    }
    for i in 0..2u16 {
        let s =
            session(next(), "10.0.0.6", 52000 + i, "203.0.113.9", 25, smtp, base + (100 + i64::from(i) * 60) * SECOND);
        let s = with_verdict(s, Action::Reset, "defaults.unapproved_mail");
        sessions.push(if i == 0 { with_tls(s, None, false) } else { s });
    }
    for i in 0..5u16 {
        let mut s =
            session(next(), "10.1.0.10", 53000 + i, "198.51.100.25", 25, smtp, base + i64::from(i) * 700 * SECOND);
        s = with_verdict(s, Action::Pass, "relays-out");
        if i == 1 {
            s.direction_inferred = true;
        }
        if i == 2 {
            s.anomalies = vec!["reassembly_budget_exceeded".into()];
        }
        if i == 0 {
            events.push(
                json!({"ts": rfc3339(base), "host_ip": "10.1.0.10", "src_port": 53000, "dest_ip": "198.51.100.25",
                               "dest_port": 25, "process": "/usr/lib/postfix/sbin/smtp", "pid": 100, "user": "postfix",
                               "host_name": "relay1"}),
            );
        }
        sessions.push(s);
    }
    let old = session(next(), "10.0.0.7", 54000, "10.1.0.25", 25, smtp, base - 3 * 3600 * SECOND);
    sessions.push(with_verdict(old, Action::Pass, "ws-submission"));
    let mut uninspected = session(next(), "10.0.0.7", 54001, "10.1.0.25", 25, None, base + 50 * SECOND);
    uninspected.anomalies = vec!["not_inspected".into()];
    sessions.push(with_verdict(uninspected, Action::WouldReset, "defaults.non_mail_on_mail_port"));
    let internal = session(next(), "10.0.0.8", 55000, "10.1.0.25", 587, smtp, base + 60 * SECOND);
    sessions.push(with_verdict(internal, Action::Pass, "ws-submission"));
    Dataset { base, sessions, events }
}

#[test]
fn triage_coverage_and_the_audit_report_tell_the_truth_about_a_known_dataset() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut setup = ControlSetup::new(dir.path());
    setup.extra = "[periodic]\nmin_sessions = 8\nwindow_hours = 48\ninterval_secs = 1\n".into();
    let control = InProcess::start(&setup);
    let api = control.api.as_str();
    let today = time::OffsetDateTime::now_utc().date();
    apply_policy(api, "mode = \"monitor\"\n");
    apply_policy(api, &policy(today));

    let data = dataset();
    let (_, answer) = post_events(api, &data.events.iter().map(|e| format!("{e}\n")).collect::<String>());
    assert_eq!(answer["stored"], 5, "{answer}");
    let mut feeder = Feeder::start("gw-ev", &setup.socket(), BTreeMap::from([("rx_missed".to_string(), 7)]));
    feeder.send(data.sessions.clone());
    // A second gateway whose ring overflows, then stops.
    let old = now_ns() - 20 * 86_400 * SECOND;
    let lossy_record = move |&Item(i): &Item| {
        session(1000 + i, "10.9.9.9", 40000 + i as u16, "203.0.113.50", 25, Some(MailProto::Smtp), old)
    };
    let mut lossy = Gateway::start_with(Gateway::unix("gw-lossy", &setup.socket()), 4, lossy_record, BTreeMap::new());
    let pushed = (0..64u64).filter(|i| lossy.sink.push(&Item(*i))).count();
    assert!(pushed < 64, "the tiny ring overflows");
    let dropped = wait_for("gw-lossy's counters", 20, || {
        let own = lossy.counter("ring_dropped");
        let reported = get(api, "/api/v1/gateways").as_array().and_then(|g| {
            g.iter().find(|g| g["name"] == "gw-lossy").and_then(|g| g["counters"]["ring_dropped"].as_u64())
        });
        (own > 0 && reported == Some(own)).then_some(own)
    });
    assert_eq!(dropped, 64 - pushed as u64);
    wait_sessions(api, data.sessions.len() + pushed);
    drop(lossy);
    wait_for("gw-lossy disconnected", 10, || {
        get(api, "/api/v1/gateways")
            .as_array()
            .and_then(|g| g.iter().find(|g| g["name"] == "gw-lossy").cloned())
            .filter(|g| g["connected"] == false)
    });
    wait_for("the periodic alert", 20, || {
        get(api, "/api/v1/alerts")
            .as_array()
            .filter(|a| a.iter().any(|a| a["kind"] == "periodic_mail_sessions"))
            .map(|_| ())
    });

    // ---- Host triage.
    let h = get(api, "/api/v1/hosts/10.0.0.5?limit=5");
    assert_eq!(h["sessions"], 13, "{h}");
    assert_eq!(h["protocols"], json!({"imap": 3, "smtp": 10}));
    assert_eq!(h["first_seen"].as_str(), Some(rfc3339(data.base).as_str()));
    assert_eq!(h["helo"], json!(["ws5.corp.test"]));
    assert_eq!(h["sni"], json!(["imap.example.org"]));
    assert_eq!(h["users"], json!(["alice"]));
    assert_eq!(h["auth_mechs"], json!(["LOGIN", "PLAIN"]));
    assert_eq!(h["endpoint"]["events"], 4);
    assert_eq!(h["endpoint"]["host_names"], json!(["ws5"]));
    assert_eq!(h["endpoint"]["attributed_sessions"], 4);
    assert_eq!(
        h["processes"],
        json!([{"process": null, "user": null, "sessions": 9}, {"process": "C:\\Temp\\beacon.exe", "user": "CORP\\alice", "sessions": 4}])
    );
    assert_eq!(
        h["verdicts"],
        json!([{"action": "alert", "rule": "defaults.cleartext_auth", "sessions": 10}, {"action": "pass", "rule": "ws-imap", "sessions": 3}])
    );
    let beacon = &h["destinations"][0];
    assert_eq!((beacon["dest_ip"].as_str(), beacon["dest_port"].as_u64()), (Some("203.0.113.9"), Some(25)));
    assert_eq!(beacon["sessions"], 10);
    assert_eq!(beacon["actions"], json!({"alert": 10}));
    assert_eq!(beacon["processes"], json!(["C:\\Temp\\beacon.exe"]));
    assert!(beacon["regularity"]["score"].as_f64().is_some_and(|s| s > 0.999), "{beacon}");
    assert!((beacon["regularity"]["mean_interval_secs"].as_f64().unwrap_or(0.0) - 300.0).abs() < 1e-6);
    let bin = |d: &Value, label: &str| {
        d["intervals"].as_array().and_then(|b| b.iter().find(|b| b["label"] == label)).map(|b| b["count"].clone())
    };
    assert_eq!(bin(beacon, "5-15m"), Some(json!(9)));
    assert_eq!(
        beacon["other_hosts"],
        json!([{"src_ip": "10.0.0.6", "sessions": 2, "last_seen": rfc3339(data.base + 160 * SECOND)}])
    );
    let imap = &h["destinations"][1];
    assert_eq!((imap["mail_proto"].as_str(), imap["sessions"].as_u64()), (Some("imap"), Some(3)));
    assert!(imap["regularity"]["score"].as_f64().is_some_and(|s| s < 0.5), "{imap}");
    assert_eq!((bin(imap, "15m-1h"), bin(imap, "1-5m")), (Some(json!(1)), Some(json!(1))));
    assert_eq!(imap["other_hosts"], json!([]));
    let recent: Vec<u64> = h["recent"].as_array().into_iter().flatten().filter_map(|s| s["flow_id"].as_u64()).collect();
    assert_eq!(recent, [10, 9, 8, 7, 6], "newest first, limited");
    assert_eq!(h["recent"][4]["endpoint"], Value::Null, "session 6 was not matched");
    let since = rfc3339(data.base + 1500 * SECOND);
    let later = get(api, &format!("/api/v1/hosts/10.0.0.5?since={since}"));
    assert_eq!(later["sessions"], 5);

    let text = stdout(&ctl(api, &["investigate", "10.0.0.5"]));
    for want in [
        "Host 10.0.0.5: 13 sessions",
        "Endpoint: 4 events (json), host names ws5; 4 of 13 sessions attributed to a process",
        "AUTH users: alice (mechanisms: LOGIN, PLAIN)",
        "203.0.113.9:25  smtp  10 sessions",
        "timing: periodicity score 1.00, mean interval 300 s over 9 intervals",
        "intervals: 5-15m 9",
        "also used by: 10.0.0.6 (2)",
        "C:\\Temp\\beacon.exe",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let json_out: Value =
        serde_json::from_str(&stdout(&ctl(api, &["investigate", "10.0.0.5", "--since", "3h", "--json"])))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json_out["sessions"], 13);
    let bad = ctl(api, &["investigate", "mail.example"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an IP address"));

    // ---- Coverage.
    let period_start = rfc3339(now_ns() - 3 * 3600 * SECOND);
    let c = get(api, &format!("/api/v1/coverage?since={period_start}"));
    assert_eq!(c["sessions"], 22, "{c}");
    assert_eq!(c["uninspected"]["sessions"], 5);
    let reasons: BTreeMap<String, u64> = c["uninspected"]["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["reason"].as_str().unwrap_or("").to_string(), r["sessions"].as_u64().unwrap_or(0)))
        .collect();
    let want: BTreeMap<String, u64> =
        ["tls_without_sni", "ech", "midstream", "reassembly_budget_exceeded", "not_inspected"]
            .iter()
            .map(|r| (r.to_string(), 1))
            .collect();
    assert_eq!(reasons, want);
    assert_eq!(c["endpoint"]["matched_sessions"], 5);
    assert_eq!((c["endpoint"]["hosts"].as_u64(), c["endpoint"]["managed_hosts"].as_u64()), (Some(5), Some(2)));
    assert_eq!(c["endpoint"]["unmanaged_sessions"], 4);
    let ips = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|h| h["ip"].as_str().map(str::to_string)).collect()
    };
    assert_eq!(ips(&c["endpoint"]["unmanaged"]), ["10.0.0.6", "10.0.0.7", "10.0.0.8"]);
    let mut new_talkers = ips(&c["new_talkers"]);
    new_talkers.sort();
    assert_eq!(new_talkers, ["10.0.0.5", "10.0.0.6", "10.0.0.8", "10.1.0.10"], "10.0.0.7 was seen before the period");
    let direct = &c["direct_to_internet"];
    assert_eq!(direct["relays"]["source"], "policy");
    assert_eq!(direct["relays"]["groups"], json!(["relays"]));
    assert_eq!(direct["sessions"], 12);
    assert_eq!(
        direct["hosts"],
        json!([{"ip": "10.0.0.5", "sessions": 10, "destinations": ["203.0.113.9:25"]},
               {"ip": "10.0.0.6", "sessions": 2, "destinations": ["203.0.113.9:25"]}])
    );
    assert_eq!(c["records_lost"].as_u64(), Some(dropped));
    assert_eq!(c["packets_dropped"], 7);
    assert_eq!(c["gateways_stopped"], json!(["gw-lossy"]));
    let text = stdout(&ctl(api, &["coverage", "--since", &period_start]));
    for want in [
        "Not inspected: 5 sessions (22.7 %)",
        "Endpoint telemetry: 5 sessions matched (22.7 %); 2 of 5 hosts send telemetry",
        "Unmanaged hosts: 3 hosts, 4 sessions (18.2 %)",
        "New mail talkers: 4",
        "Direct-to-internet SMTP (relay groups from the policy: relays): 12 sessions",
        "NOT REPORTING",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }

    // ---- The audit report, HTML.
    let html_path = dir.path().join("report.html");
    let out = ctl(api, &["report", "--since", "3h", "--format", "html", "-o", &html_path.to_string_lossy()]);
    stdout(&out);
    let html = std::fs::read_to_string(&html_path).unwrap_or_else(|e| panic!("{e}"));
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(&html, options)
        .unwrap_or_else(|e| panic!("the report is not well-formed: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "html");
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object", "embed"].contains(&name),
            "external or active element <{name}>"
        );
        for attr in node.attributes() {
            assert!(
                !["src", "href"].contains(&attr.name()) && !attr.name().starts_with("on"),
                "attribute {} on <{name}>",
                attr.name()
            );
        }
    }
    let without_svg_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !without_svg_ns.contains("http:") && !without_svg_ns.contains("https:") && !html.contains("url("),
        "no external reference"
    );
    assert!(doc.descendants().filter(|n| n.tag_name().name() == "svg").count() >= 3, "charts");
    let figure = |id: &str| -> String {
        doc.descendants()
            .find(|n| n.attribute("id") == Some(id))
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("no #{id}"))
            .to_string()
    };
    let expected = [
        ("fig-sessions", "22".to_string()),
        ("fig-blocked", "2".into()),
        ("fig-would-block", "1".into()),
        ("fig-alerted", "10".into()),
        ("fig-alerts", "5".into()),
        ("fig-uninspected", "22.7 %".into()),
        ("fig-unmanaged", "18.2 %".into()),
        ("fig-direct", "12".into()),
        ("fig-new-talkers", "4".into()),
        ("fig-records-lost", dropped.to_string()),
        ("fig-gateways-stopped", "1".into()),
        ("policy-version", "2".into()),
    ];
    for (id, want) in &expected {
        assert_eq!(&figure(id), want, "#{id}");
    }
    let rows = |table: &str| -> Vec<Vec<String>> {
        let table =
            doc.descendants().find(|n| n.attribute("id") == Some(table)).unwrap_or_else(|| panic!("no #{table}"));
        table
            .descendants()
            .filter(|n| n.tag_name().name() == "tr" && n.parent().is_some_and(|p| p.tag_name().name() == "tbody"))
            .map(|tr| tr.children().filter(|c| c.is_element()).map(|td| td.text().unwrap_or("").to_string()).collect())
            .collect()
    };
    let history = rows("policy-history");
    assert_eq!(history.len(), 2);
    assert_eq!((history[0][0].as_str(), history[0][3].as_str()), ("1", "monitor"));
    assert_eq!((history[1][0].as_str(), history[1][2].as_str(), history[1][3].as_str()), ("2", "in force", "block"));
    let exceptions = rows("exceptions-table");
    assert_eq!(exceptions[0][..3], ["scanner", "it@corp.test", "MFD scan-to-mail"]);
    assert_eq!(exceptions[0][4], (today + time::Duration::days(30)).to_string());
    assert_eq!(exceptions[0][5], "active, 30 days left");
    assert_eq!(exceptions[1][0], "legacy-app");
    assert!(exceptions[1][5].starts_with("EXPIRED"), "{:?}", exceptions[1]);
    let blocked = rows("blocked-table");
    assert!(
        blocked.iter().any(|r| r[0] == "10.0.0.6"
            && r[1] == "203.0.113.9:25"
            && r[3] == "reset"
            && r[4] == "defaults.unapproved_mail"
            && r[5] == "2"),
        "{blocked:?}"
    );
    assert!(blocked.iter().any(|r| r[0] == "10.0.0.7" && r[3] == "would_reset" && r[5] == "1"), "{blocked:?}");
    assert_eq!(rows("rules-table")[0], ["defaults.cleartext_auth", "alert", "10"]);
    let alerts = rows("alerts-table");
    assert_eq!(
        alerts,
        [vec!["periodic_mail_sessions".to_string(), "1".into()], vec!["unexpected_mail_process".into(), "4".into()]]
    );
    let gateways = rows("gateways-table");
    assert_eq!(gateways.len(), 2);
    let share = |row: &Vec<String>| row[5].trim_end_matches(" %").parse::<f64>().unwrap_or(-1.0);
    let ev = gateways.iter().find(|r| r[0] == "gw-ev").unwrap_or_else(|| panic!("{gateways:?}"));
    assert!(share(ev) > 95.0 && ev[6] == "reporting", "{ev:?}");
    let lossy_row = gateways.iter().find(|r| r[0] == "gw-lossy").unwrap_or_else(|| panic!("{gateways:?}"));
    assert!(share(lossy_row) < 100.0 && lossy_row[6] == "NOT REPORTING", "{lossy_row:?}");
    let day_total: u64 = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "rect")
        .filter_map(|r| r.children().find(|c| c.tag_name().name() == "title").and_then(|t| t.text()))
        .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()) && !t.contains('%'))
        .filter_map(|t| t.split(": ").nth(1).and_then(|v| v.split(' ').next()).and_then(|n| n.parse::<u64>().ok()))
        .sum();
    assert_eq!(day_total, 22, "the daily chart's bars add up to the period's sessions");

    // ---- The same report in Markdown.
    let md = stdout(&ctl(api, &["report", "--since", "3h", "--format", "md"]));
    for want in [
        "# Mail-protocol C2 monitoring — evidence report",
        "| Mail sessions inspected and reported | 22 |",
        "| Sessions blocked (dropped or reset) | 2 |",
        "| Sessions whose content could not be inspected | 22.7 % |",
        "| scanner | it@corp.test | MFD scan-to-mail | 10.0.0.99/32 → internal_mx |",
        "| defaults.cleartext_auth | alert | 10 |",
        "| 10.0.0.6 | 203.0.113.9:25 | smtp | reset | defaults.unapproved_mail | 2 |",
        "| unexpected_mail_process | 4 |",
        "Relay groups derived from the policy's allow rules for smtp to the internet: relays.",
        "- 10.0.0.6 (2 sessions to 203.0.113.9:25)",
        &format!("Records lost by the gateways: {dropped}; packets dropped: 7"),
    ] {
        assert!(md.contains(want), "missing {want:?} in\n{md}");
    }
    assert!(md.contains("| 2 |") && md.contains("| in force | block |"), "{md}");
}
