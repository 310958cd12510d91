//! The control plane killed mid-stream (SIGKILL, as a child process) and
//! started again: the reporter spools while it is away, resends what was
//! not acknowledged, and counts what the bounded spool had to discard.

mod common;

use common::*;
use mailgate_protocol::channel::counter;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn spawn_control(config: &std::path::Path, log: &std::path::Path, api: &str) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(env!("CARGO_BIN_EXE_mailgate-control"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for("the control plane's API", 30, || ureq::get(&format!("{api}/metrics")).call().ok());
    child
}

#[test]
fn killing_the_control_plane_loses_only_what_the_spool_bound_allows_and_counts_it() {
    const SPOOL: usize = 200;
    const BATCH: usize = 20;
    const BEFORE: u64 = 400; // streamed while the control plane runs, killed partway
    const TOTAL: u64 = 1400; // the rest arrives while it is down
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut setup = ControlSetup::new(dir.path());
    setup.api_port = free_port();
    let config = setup.write();
    let api = format!("http://127.0.0.1:{}", setup.api_port);
    let log = dir.path().join("control.log");
    let mut control = spawn_control(&config, &log, &api);

    let mut reporter_config = Gateway::unix("gw-r", &setup.socket());
    reporter_config.spool_max_records = SPOOL;
    reporter_config.batch_max_records = BATCH;
    let mut gateway = Gateway::start(reporter_config, 8192);

    // Stream, and kill the control plane once part of the stream is stored.
    let mut killed = false;
    for id in 1..=BEFORE {
        gateway.push([id]);
        if id.is_multiple_of(5) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if !killed && gateway.counter(counter::RECORDS_ACKED) >= 100 {
            control.kill().unwrap_or_else(|e| panic!("{e}"));
            killed = true;
        }
    }
    if !killed {
        wait_for("100 records stored", 30, || (gateway.counter(counter::RECORDS_ACKED) >= 100).then_some(()));
        control.kill().unwrap_or_else(|e| panic!("{e}"));
    }
    control.wait().unwrap_or_else(|e| panic!("{e}"));
    gateway.push(BEFORE + 1..=TOTAL);
    wait_for("the reporter to take every record off its ring", 30, || {
        (gateway.counter(counter::RECORDS_RECEIVED) == TOTAL && gateway.counter(counter::SPOOL_RECORDS) > 0)
            .then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(200)); // let the last partial batch seal
    assert!(gateway.counter(counter::SPOOL_RECORDS) <= SPOOL as u64, "the spool stays within its bound");
    let discarded = gateway.counter(counter::SPOOL_DISCARDED);
    assert!(discarded > 0, "more arrived while down than the spool holds");

    // Start again on the same database: the spool drains.
    let mut control = spawn_control(&config, &log, &api);
    wait_for("the spool to drain", 30, || {
        (gateway.counter(counter::SPOOL_RECORDS) == 0 && gateway.counter(counter::CONNECTS) >= 2).then_some(())
    });
    let items = get(&api, "/api/v1/sessions?limit=10000");
    let ids: Vec<u64> =
        items.as_array().into_iter().flatten().filter_map(|v| v.get("flow_id").and_then(Value::as_u64)).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no record stored twice (resent batches are recognised)");
    let missing = TOTAL - unique.len() as u64;
    assert!(missing <= discarded, "lost {missing} records but counted only {discarded}");
    assert!(discarded <= TOTAL - SPOOL as u64, "discarded more than the bound allows");
    // The newest records (what the spool keeps) all made it.
    let newest = TOTAL - (SPOOL - BATCH) as u64 + 1;
    assert!((newest..=TOTAL).all(|id| unique.contains(&id)), "the newest records survive the outage");
    // Records stored before the kill are still there.
    assert!((1..=50).all(|id| unique.contains(&id)));

    // The loss is reported to the control plane and published.
    let reported = wait_for("the discard count to reach the control plane", 15, || {
        let gateways = get(&api, "/api/v1/gateways");
        gateways.pointer("/0/counters/spool_discarded").and_then(Value::as_u64).filter(|n| *n == discarded)
    });
    assert_eq!(reported, discarded);
    let text = metrics(&api);
    assert_eq!(
        metric(&text, "mailgate_reports_dropped{gateway=\"gw-r\",reason=\"spool_discarded\"}"),
        discarded as f64
    );

    drop(gateway);
    // A service manager stops it with SIGTERM: that is a clean stop, exit status 0.
    let term = Command::new("kill").args(["-TERM", &control.id().to_string()]).status();
    assert!(term.is_ok_and(|s| s.success()), "kill -TERM failed");
    let status = control.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "SIGTERM should stop the control plane cleanly, got {status}");
}
