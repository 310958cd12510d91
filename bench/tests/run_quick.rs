//! `mailgate-bench run --quick` works end to end on the in-process stages
//! and writes results a reader can rely on: every generated session is
//! created, inspected and finished once per loop, with no heap allocation
//! per packet; stages whose tools are missing say so and why. (The figures
//! themselves are never asserted.)

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[test]
fn quick_run_measures_the_engine_and_skips_missing_tools() {
    let dir = Scratch(std::env::temp_dir().join(format!("mailgate-bench-quick-{}", std::process::id())));
    let out_dir = dir.0.join("results");
    let missing = dir.0.join("no-such-mailgate-dataplane");
    let out = Command::new(env!("CARGO_BIN_EXE_mailgate-bench"))
        .args(["run", "--quick", "--only", "parsers,pipeline,memory,forwarding,offline,latency"])
        .arg("--work-dir")
        .arg(dir.0.join("work"))
        .arg("--out-dir")
        .arg(&out_dir)
        .arg("--dataplane")
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("| Figure | Value |"), "{table}");

    let r: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["quick"], true);
    assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);

    let captures = r["captures"].as_array().unwrap();
    let pipeline = r["pipeline"]["results"].as_array().unwrap_or_else(|| panic!("{}", r["pipeline"]));
    assert_eq!(pipeline.len(), 3);
    for (p, c) in pipeline.iter().zip(captures) {
        assert_eq!(p["mix"], c["mix"]);
        assert!(p["packets"].as_u64().unwrap() > 0, "{p}");
        // Each loop's sessions are new ones, all of them inspected.
        assert_eq!(p["flows_per_loop"], c["flows"], "{p}");
        assert_eq!(p["mail_sessions_per_loop"], c["mail_flows"], "{p}");
        assert_eq!(p["sessions_not_inspected"], 0, "{p}");
        assert_eq!(p["forwarded"], p["packets"], "monitor mode forwards every frame: {p}");
        assert_eq!(p["allocations"], 0, "heap allocations on the hot path: {p}");
    }
    assert!(captures.iter().any(|c| c["mix"] == "realistic" && c["mail_flows"].as_u64().unwrap() > 0));

    let parsers = r["parsers"]["results"].as_array().unwrap();
    assert!(parsers.iter().any(|p| p["name"] == "tls_client_hello_pq"));
    assert!(parsers.iter().all(|p| p["ns_per_op"].as_f64().unwrap() > 0.0));

    let memory = &r["memory"]["results"];
    assert_eq!(memory["flows_active"], memory["flows_fed"], "{memory}");
    assert!(memory["bytes_per_flow"].as_u64().unwrap() > 0);

    for stage in ["forwarding", "offline", "latency"] {
        assert_eq!(r[stage]["status"], "skipped", "{stage}: {}", r[stage]);
        let reason = r[stage]["reason"].as_str().unwrap();
        assert!(reason.contains("no-such-mailgate-dataplane") || reason.contains("dpdk"), "{stage}: {reason}");
    }

    let svg = std::fs::read_to_string(out_dir.join("mpps.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("nonmail64"), "{svg}");
}
