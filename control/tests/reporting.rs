//! Both ends of the report channel in one process: records a reporter
//! sends come out of the API field for field; filters, inventory, gateway
//! state, metrics and EVE follow from them; pushed policies are acked.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn sessions(api: &str, query: &str) -> Vec<Value> {
    get(api, &format!("/api/v1/sessions?{query}")).as_array().cloned().unwrap_or_default()
}

fn flow_ids(items: &[Value]) -> Vec<u64> {
    items.iter().filter_map(|v| v.get("flow_id").and_then(Value::as_u64)).collect()
}

#[test]
fn reported_records_come_back_through_the_api_unchanged() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = ControlSetup::new(dir.path());
    let control = InProcess::start(&setup);
    let mut gateway = Gateway::start(Gateway::unix("gw-a", &setup.socket()), 1024);
    let ids: Vec<u64> = (1..=300).collect();
    gateway.push(ids.iter().copied());
    let all = wait_for("300 sessions", 30, || {
        let items = sessions(&control.api, "limit=1000");
        (items.len() == 300).then_some(items)
    });

    // Every field, exactly as the record was built on the dataplane side, plus the gateway.
    for item in &all {
        let id = item.get("flow_id").and_then(Value::as_u64).unwrap_or_default();
        assert_eq!(item, &expected(id, "gw-a"), "session {id}");
    }
    // Newest first.
    assert_eq!(flow_ids(&all), (1..=300).rev().collect::<Vec<_>>());

    // Filters, each checked against the same predicate on the records.
    let check = |query: &str, keep: &dyn Fn(&Value) -> bool| {
        let want: Vec<u64> =
            all.iter().filter(|v| keep(v)).filter_map(|v| v.get("flow_id").and_then(Value::as_u64)).collect();
        assert!(!want.is_empty(), "{query} selects nothing");
        assert_eq!(flow_ids(&sessions(&control.api, &format!("limit=1000&{query}"))), want, "{query}");
    };
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    check("src=10.0.1.0/24", &|v| s(v, "/src_ip").is_some_and(|ip| ip.starts_with("10.0.1.")));
    check("src=2001:db8::/32", &|v| s(v, "/src_ip").is_some_and(|ip| ip.starts_with("2001:db8::")));
    check("dest=198.51.100.3", &|v| s(v, "/dest_ip").as_deref() == Some("198.51.100.3"));
    check("mail_proto=imap", &|v| s(v, "/mail_proto").as_deref() == Some("imap"));
    check("action=would_drop", &|v| s(v, "/verdict/action").as_deref() == Some("would_drop"));
    check("sni=MAIL1.example.org", &|v| s(v, "/tls/sni").as_deref() == Some("mail1.example.org"));
    check("helo=ws2.corp.test", &|v| s(v, "/smtp/helo").as_deref() == Some("ws2.corp.test"));
    check("user=user3", &|v| {
        ["/smtp/user", "/imap/user", "/pop3/user"].iter().any(|p| s(v, p).as_deref() == Some("user3"))
    });
    let since = all.iter().find(|v| v.get("flow_id").and_then(Value::as_u64) == Some(100)).and_then(|v| s(v, "/ts"));
    let until = all.iter().find(|v| v.get("flow_id").and_then(Value::as_u64) == Some(120)).and_then(|v| s(v, "/ts"));
    let (since, until) = (since.unwrap_or_default(), until.unwrap_or_default());
    let window = sessions(&control.api, &format!("limit=1000&since={since}&until={until}"));
    assert_eq!(flow_ids(&window), (100..120).rev().collect::<Vec<_>>());
    check("mail_proto=smtp&dest=198.51.100.0/30&action=pass", &|v| {
        s(v, "/mail_proto").as_deref() == Some("smtp")
            && s(v, "/verdict/action").as_deref() == Some("pass")
            && s(v, "/dest_ip")
                .is_some_and(|ip| ["198.51.100.1", "198.51.100.2", "198.51.100.3"].contains(&ip.as_str()))
    });
    assert_eq!(flow_ids(&sessions(&control.api, "limit=5")), vec![300, 299, 298, 297, 296]);
    let bad = ureq::get(&format!("{}/api/v1/sessions?src=not-an-address", control.api))
        .set("Authorization", &format!("Bearer {TOKEN}"));
    assert_eq!(call(bad, None).0, 400);

    // Inventory: one row per (source, protocol, destination), counts adding up.
    let inventory = get(&control.api, "/api/v1/inventory");
    let paths = inventory.get("paths").and_then(Value::as_array).cloned().unwrap_or_default();
    let keys: BTreeSet<(String, String, String, u64)> = all
        .iter()
        .map(|v| {
            (
                s(v, "/src_ip").unwrap_or_default(),
                s(v, "/mail_proto").unwrap_or_default(),
                s(v, "/dest_ip").unwrap_or_default(),
                v.get("dest_port").and_then(Value::as_u64).unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(paths.len(), keys.len());
    let total: u64 = paths.iter().filter_map(|p| p.get("sessions").and_then(Value::as_u64)).sum();
    assert_eq!(total, 300);
    let bytes: u64 = paths.iter().filter_map(|p| p.get("bytes").and_then(Value::as_u64)).sum();
    assert_eq!(bytes, (1..=300u64).map(|id| id * 300).sum::<u64>());
    let with_sni = paths.iter().find(|p| p.get("sni").and_then(Value::as_array).is_some_and(|a| !a.is_empty()));
    assert!(with_sni.is_some_and(|p| p.get("tls_share").and_then(Value::as_f64).unwrap_or(0.0) > 0.0));

    // The gateway, its counters, and the metrics.
    let gateways = get(&control.api, "/api/v1/gateways");
    let gw = gateways.as_array().and_then(|a| a.first()).cloned().unwrap_or(Value::Null);
    assert_eq!(gw.get("name").and_then(Value::as_str), Some("gw-a"));
    assert_eq!(gw.get("connected").and_then(Value::as_bool), Some(true));
    assert_eq!(gw.get("software_version").and_then(Value::as_str), Some(env!("CARGO_PKG_VERSION")));
    wait_for("stats with counters", 10, || {
        let gateways = get(&control.api, "/api/v1/gateways");
        let c = gateways.pointer("/0/counters").cloned().unwrap_or(Value::Null);
        (c.get("packets_rx").and_then(Value::as_u64) == Some(42)
            && c.get("records_acked").and_then(Value::as_u64) == Some(300))
        .then_some(())
    });
    let text = metrics(&control.api);
    let smtp_pass = all
        .iter()
        .filter(|v| {
            s(v, "/mail_proto").as_deref() == Some("smtp") && s(v, "/verdict/action").as_deref() == Some("pass")
        })
        .count();
    assert_eq!(metric(&text, "mailgate_sessions_total{mail_proto=\"smtp\",action=\"pass\"}"), smtp_pass as f64);
    assert_eq!(metric(&text, "mailgate_gateway_up{gateway=\"gw-a\"}"), 1.0);
    assert!(metric(&text, "mailgate_reports_received_total{gateway=\"gw-a\"}") >= 1.0);
    assert!(text.contains("mailgate_reports_dropped{gateway=\"gw-a\",reason=\"ring_dropped\"} 0"), "{text}");

    // EVE: Suricata's event types and field names.
    let eve = std::fs::read_to_string(setup.eve()).unwrap_or_default();
    let events: Vec<Value> = eve.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let of = |t: &str| {
        events.iter().filter(|e| e.get("event_type").and_then(Value::as_str) == Some(t)).cloned().collect::<Vec<_>>()
    };
    assert_eq!(of("smtp").len(), 100);
    assert_eq!(of("tls").len(), 150);
    assert_eq!(of("drop").len(), 120); // drop and reset verdicts
    assert_eq!(of("alert").len(), 240); // everything but pass
    let smtp =
        of("smtp").into_iter().find(|e| e.get("flow_id").and_then(Value::as_u64) == Some(3)).unwrap_or(Value::Null);
    assert_eq!(smtp.pointer("/smtp/helo").and_then(Value::as_str), Some("ws3.corp.test"));
    assert_eq!(smtp.pointer("/smtp/mail_from").and_then(Value::as_str), Some("<a3@corp.test>"));
    assert_eq!(smtp.pointer("/smtp/rcpt_to/1").and_then(Value::as_str), Some("<c@example.org>"));
    assert_eq!(smtp.pointer("/mailgate/gateway").and_then(Value::as_str), Some("gw-a"));
    let start = time::OffsetDateTime::from_unix_timestamp(epoch() + 3).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let want = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000003+0000",
        start.year(),
        u8::from(start.month()),
        start.day(),
        start.hour(),
        start.minute(),
        start.second()
    );
    assert_eq!(smtp.get("timestamp").and_then(Value::as_str), Some(want.as_str()));
    let tls =
        of("tls").into_iter().find(|e| e.get("flow_id").and_then(Value::as_u64) == Some(4)).unwrap_or(Value::Null);
    assert_eq!(tls.pointer("/tls/sni").and_then(Value::as_str), Some("mail1.example.org"));
    assert_eq!(tls.pointer("/tls/version").and_then(Value::as_str), Some("TLS 1.3"));
    assert_eq!(tls.pointer("/tls/ja3/string").and_then(Value::as_str), Some("771,4865,0-10,29,0"));
    assert_eq!(tls.pointer("/tls/ja4").and_then(Value::as_str), Some("t13d0101im_aaaaaaaaaaaa_bbbbbbbbbbbb"));
    assert_eq!(tls.pointer("/tls/client_alpns/0").and_then(Value::as_str), Some("imap"));
    let alert =
        of("alert").into_iter().find(|e| e.get("flow_id").and_then(Value::as_u64) == Some(3)).unwrap_or(Value::Null);
    assert_eq!(alert.pointer("/alert/action").and_then(Value::as_str), Some("blocked"));
    assert_eq!(alert.pointer("/mailgate/verdict/action").and_then(Value::as_str), Some("reset"));
}

const POLICY: &str = r#"
mode = "block"
[hosts]
clients = ["10.0.0.0/16"]
[[allow]]
name = "clients-to-imap"
from = ["clients"]
to = ["198.51.100.0/24"]
protocols = ["imap"]
"#;

#[test]
fn a_pushed_policy_reaches_the_gateway_which_acks_its_hash() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = ControlSetup::new(dir.path());
    let control = InProcess::start(&setup);
    let mut config = Gateway::unix("gw-p", &setup.socket());
    let saved = dir.path().join("saved-policy.toml");
    config.policy_path = Some(saved.clone());
    let mut gateway = Gateway::start(config, 64);
    wait_for("gateway connected", 10, || {
        get(&control.api, "/api/v1/gateways").pointer("/0/connected").and_then(Value::as_bool).filter(|c| *c)
    });

    let post = |body: &str| {
        let request =
            ureq::post(&format!("{}/api/v1/policy", control.api)).set("Authorization", &format!("Bearer {TOKEN}"));
        call(request, Some(body))
    };
    let (status, answer) = post(POLICY);
    assert_eq!(status, 200, "{answer}");
    let hash = answer.get("hash").and_then(Value::as_str).unwrap_or_default().to_string();
    let want =
        mailgate_config::CompiledPolicy::from_toml("p", POLICY).map(|p| p.hash().to_string()).unwrap_or_default();
    assert_eq!(hash, want);
    assert_eq!(answer.get("version").and_then(Value::as_u64), Some(1));
    assert_eq!(answer.pointer("/acks/0/gateway").and_then(Value::as_str), Some("gw-p"));
    assert_eq!(answer.pointer("/acks/0/answer/hash").and_then(Value::as_str), Some(hash.as_str()));
    assert_eq!(answer.pointer("/acks/0/in_force").and_then(Value::as_bool), Some(true));
    // The workers' mailbox has it, and it was saved for the dataplane's next start.
    let (policy, mode) = gateway.worker.poll().unwrap_or_else(|| panic!("the workers see a new policy"));
    assert_eq!((policy.hash(), mode), (hash.as_str(), mailgate_protocol::channel::Mode::Block));
    assert_eq!(mailgate_dataplane::report::load_saved_policy(&saved).ok().flatten().as_deref(), Some(POLICY));
    let hash_now =
        || get(&control.api, "/api/v1/gateways").pointer("/0/policy_hash").and_then(Value::as_str).map(str::to_string);
    assert_eq!(hash_now().as_deref(), Some(hash.as_str()));

    // An invalid policy is refused with its problems and reaches no gateway.
    let (status, answer) = post("mode = \"blok\"\n");
    assert_eq!(status, 422);
    assert!(
        answer.pointer("/errors/0").and_then(Value::as_str).is_some_and(|e| e.starts_with("policy.toml:1:")),
        "{answer}"
    );
    assert!(gateway.worker.poll().is_none(), "the workers keep their policy");
    assert_eq!(gateway.mailbox.current().hash(), hash);

    // A gateway that connects later is brought to the current policy.
    let late = Gateway::start(Gateway::unix("gw-late", &setup.socket()), 16);
    wait_for("the late gateway to get the policy", 10, || (late.mailbox.current().hash() == hash).then_some(()));

    // Versions and the current policy.
    let current = get(&control.api, "/api/v1/policy");
    assert_eq!(current.get("toml").and_then(Value::as_str), Some(POLICY));
    let (_, again) = post(&format!("{POLICY}\n# tweaked\n"));
    assert_eq!(again.get("version").and_then(Value::as_u64), Some(2));
    assert_eq!(again.pointer("/acks").and_then(Value::as_array).map(Vec::len), Some(2), "both gateways acked");
    let versions = get(&control.api, "/api/v1/policy/versions");
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(versions.pointer("/0/version").and_then(Value::as_u64), Some(2));

    // Inventory evaluates observed paths against the current policy: the
    // rule admits IMAP from 10.0/16 on IMAP's standard ports only.
    let ids = [7, 13, 22, 3, 5, 1];
    gateway.push(ids);
    wait_for("the sessions", 10, || (sessions(&control.api, "").len() == ids.len()).then_some(()));
    let inventory = get(&control.api, "/api/v1/inventory");
    let paths = inventory.get("paths").and_then(Value::as_array).cloned().unwrap_or_default();
    assert_eq!(paths.len(), ids.len());
    let mut admitted = 0;
    for path in &paths {
        let imap_from_clients = path.get("mail_proto").and_then(Value::as_str) == Some("imap")
            && path.get("src_ip").and_then(Value::as_str).is_some_and(|s| s.starts_with("10.0."))
            && path.get("dest_port").and_then(Value::as_u64).is_some_and(|p| p == 143 || p == 993);
        admitted += usize::from(imap_from_clients);
        assert_eq!(path.pointer("/policy/admitted").and_then(Value::as_bool), Some(imap_from_clients), "{path}");
        if imap_from_clients {
            assert_eq!(path.pointer("/policy/rule").and_then(Value::as_str), Some("clients-to-imap"));
        } else {
            assert_eq!(path.pointer("/policy/action").and_then(Value::as_str), Some("reset"));
        }
    }
    assert_eq!(admitted, 2, "ids 13 and 22");

    // Mode changes go through the same channel.
    let request = ureq::post(&format!("{}/api/v1/gateways/gw-p/mode", control.api))
        .set("Authorization", &format!("Bearer {TOKEN}"));
    let (status, answer) = call(request.set("Content-Type", "application/json"), Some(r#"{"mode": "monitor"}"#));
    assert_eq!((status, answer.get("mode").and_then(Value::as_str)), (200, Some("monitor")));
    let seen = std::iter::from_fn(|| gateway.worker.poll()).last().map(|(_, mode)| mode);
    assert_eq!(seen, Some(mailgate_protocol::channel::Mode::Monitor));
}

#[test]
fn the_api_wants_the_token_and_metrics_do_not() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = ControlSetup::new(dir.path());
    let control = InProcess::start(&setup);
    for path in ["/api/v1/sessions", "/api/v1/inventory", "/api/v1/gateways", "/api/v1/policy/versions"] {
        let url = format!("{}{path}", control.api);
        assert_eq!(call(ureq::get(&url), None).0, 401, "{path} without token");
        assert_eq!(call(ureq::get(&url).set("Authorization", "Bearer wrong-token-wrong-token"), None).0, 401);
        assert_eq!(call(ureq::get(&url).set("Authorization", &format!("Bearer {TOKEN}x")), None).0, 401);
        assert_eq!(call(ureq::get(&url).set("Authorization", TOKEN), None).0, 401, "no Bearer scheme");
        assert_eq!(call(ureq::get(&url).set("Authorization", &format!("Bearer {TOKEN}")), None).0, 200, "{path}");
    }
    let post = ureq::post(&format!("{}/api/v1/policy", control.api)).set("Authorization", "Bearer nope");
    assert_eq!(call(post, Some(POLICY)).0, 401);
    assert!(
        get(&control.api, "/api/v1/policy/versions").as_array().is_some_and(Vec::is_empty),
        "refused POST stored nothing"
    );
    assert_eq!(metric(&metrics(&control.api), "mailgate_api_unauthorized_total"), 17.0);
}

#[test]
fn a_malformed_frame_closes_only_that_connection() {
    use mailgate_protocol::channel::{encode_frame, FromDataplane, Hello, PROTOCOL_VERSION};
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = ControlSetup::new(dir.path());
    let control = InProcess::start(&setup);
    let mut good = Gateway::start(Gateway::unix("gw-good", &setup.socket()), 256);
    good.push(1..=10);
    wait_for("first sessions", 10, || (sessions(&control.api, "").len() == 10).then_some(()));

    let hello = |name: &str| {
        encode_frame(
            &FromDataplane::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                gateway: name.into(),
                software_version: "0".into(),
                instance: 1,
                started_at: "2026-01-01T00:00:00Z".into(),
                policy_hash: None,
                mode: None,
                counters: Default::default(),
            }),
            1 << 20,
        )
        .unwrap_or_default()
    };
    let closed = |mut sock: UnixStream| {
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 4096];
        loop {
            match sock.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue, // e.g. a stats request sent before the bad frame was read
                Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        }
    };
    // Garbage body behind a valid length, after a valid hello.
    let mut bad = UnixStream::connect(setup.socket()).unwrap_or_else(|e| panic!("{e}"));
    bad.write_all(&hello("gw-bad")).unwrap_or_else(|e| panic!("{e}"));
    bad.write_all(&[0, 0, 0, 5, 0xff, 0x00, 0x13, 0x37, 0x42]).unwrap_or_else(|e| panic!("{e}"));
    assert!(closed(bad), "garbage frame must close the connection");
    // A length over the limit, as the very first frame.
    let mut huge = UnixStream::connect(setup.socket()).unwrap_or_else(|e| panic!("{e}"));
    huge.write_all(&u32::MAX.to_be_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert!(closed(huge), "oversized frame must close the connection");
    // A hello from an unsupported protocol version is refused.
    let mut old = UnixStream::connect(setup.socket()).unwrap_or_else(|e| panic!("{e}"));
    let frame_old = encode_frame(
        &FromDataplane::Hello(Hello {
            protocol_version: PROTOCOL_VERSION + 1,
            gateway: "gw-old".into(),
            software_version: "0".into(),
            instance: 1,
            started_at: "x".into(),
            policy_hash: None,
            mode: None,
            counters: Default::default(),
        }),
        1 << 20,
    )
    .unwrap_or_default();
    old.write_all(&frame_old).unwrap_or_else(|e| panic!("{e}"));
    assert!(closed(old), "unsupported version must close the connection");

    // The good gateway is unaffected and keeps reporting.
    good.push(11..=20);
    wait_for("later sessions", 10, || (sessions(&control.api, "").len() == 20).then_some(()));
    let text = metrics(&control.api);
    assert_eq!(metric(&text, "mailgate_channel_errors_total{kind=\"malformed_frame\"}"), 2.0, "{text}");
    assert_eq!(metric(&text, "mailgate_channel_errors_total{kind=\"refused\"}"), 1.0);
    assert_eq!(metric(&text, "mailgate_gateway_up{gateway=\"gw-good\"}"), 1.0);
    assert_eq!(good.counter("connects"), 1, "the good gateway never had to reconnect");
}

#[test]
fn periodic_sessions_raise_an_alert() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut setup = ControlSetup::new(dir.path());
    setup.extra = "[periodic]\nmin_sessions = 8\nmin_score = 0.9\nwindow_hours = 48\ninterval_secs = 1\n".into();
    let control = InProcess::start(&setup);
    // Session `id` starts `id` seconds after the epoch, and ids 300 apart
    // share a path (see record()): ids 300k+7 are a 300-second timer.
    let mut gateway = Gateway::start(Gateway::unix("gw-c2", &setup.socket()), 256);
    let periodic: Vec<u64> = (1..=12).map(|k| k * 300 + 7).collect();
    gateway.push(periodic.iter().copied());
    // Another path, as many sessions, irregular starts.
    gateway.push([1, 2, 5, 6, 13, 14, 30, 31, 50, 51, 52, 90].map(|k| k * 300 + 8));
    let alerts = wait_for("an alert", 15, || {
        let alerts = get(&control.api, "/api/v1/alerts");
        alerts.as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let first = record(periodic[0], 0);
    let alert = alerts.first().cloned().unwrap_or(Value::Null);
    assert_eq!(alert.get("kind").and_then(Value::as_str), Some("periodic_mail_sessions"));
    assert_eq!(alert.pointer("/record/src_ip").and_then(Value::as_str), Some(first.src_ip.as_str()));
    assert_eq!(alert.pointer("/record/dest_ip").and_then(Value::as_str), Some(first.dest_ip.as_str()));
    assert_eq!(alert.pointer("/record/sessions").and_then(Value::as_u64), Some(12));
    let mean = alert.pointer("/record/mean_interval_secs").and_then(Value::as_f64).unwrap_or_default();
    assert!((mean - 300.0).abs() < 0.01, "{alert}");
    assert!(alert.pointer("/record/score").and_then(Value::as_f64).is_some_and(|s| s > 0.999), "{alert}");
    let eve = std::fs::read_to_string(setup.eve()).unwrap_or_default();
    assert!(eve.lines().any(|l| l.contains("\"signature_id\":8999999")), "EVE alert for the periodic path");
}
