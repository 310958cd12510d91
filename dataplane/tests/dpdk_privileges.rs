//! Once DPDK is up, the appliance's own threads (the main lcore and every
//! worker) hold no capability at all, and the run still forwards and stops
//! cleanly.

mod dpdk_common;

use dpdk_common::{base_eal, signal, spawn, stderr, summary, wait_with_limit, Scratch};
use std::time::Duration;

/// (thread name, CapEff) of every thread of `pid`.
fn thread_caps(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).unwrap_or("").trim().to_string();
        out.push((field("Name:"), field("CapEff:")));
    }
    out
}

#[test]
fn the_main_and_worker_lcores_run_without_capabilities() {
    require_dpdk!();
    let dir = Scratch::new("privileges");
    let summary_path = dir.path("summary.json");
    let mut eal = base_eal("privileges", 512);
    eal.extend(["--vdev", "net_null0", "--vdev", "net_null1", "-l", "0,1"].map(String::from));
    let config = dir.path("mailgate.toml");
    std::fs::write(&config, "[dataplane]\nmbufs = 8191\nstats_interval_s = 0\n").unwrap();
    let args =
        ["--config".into(), config.display().to_string(), "--summary-json".into(), summary_path.display().to_string()];
    let child = spawn(&args, &eal);
    std::thread::sleep(Duration::from_millis(2000));
    let caps = thread_caps(child.id());
    signal(&child, "INT");
    let out = wait_with_limit(child, Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr(&out));
    let main = caps.iter().find(|(name, _)| name.starts_with("mailgate")).expect("main thread");
    assert_eq!(main.1, "0000000000000000", "main lcore still has capabilities: {caps:?}");
    let workers: Vec<_> = caps.iter().filter(|(name, _)| name.contains("worker")).collect();
    assert!(!workers.is_empty(), "no worker thread found: {caps:?}");
    for (name, eff) in workers {
        assert_eq!(eff, "0000000000000000", "{name} still has capabilities");
    }
    assert!(dpdk_common::num(&summary(&summary_path), "packets_rx") > 0);
}
