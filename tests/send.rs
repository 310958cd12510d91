//! `mailgate-bench send`, the DPDK traffic generator, through the real
//! appliance: `mailgate-dataplane run` with two memif ports, and the sender
//! as its memif peer in another process, generating its flows in memory
//! (`--flows`, no capture file). What a user benchmarking a gateway relies
//! on: the sender offers the rate asked for, counts every frame the
//! appliance forwards and times each one, and every loop of the flows
//! reaches the appliance as new sessions. Nothing here measures speed.
//!
//! Needs root and DPDK (`scripts/setup.sh`); otherwise prints "SKIPPED: …"
//! and passes.

use mailgate_bench::gen::{generate, GenConfig};
use mailgate_bench::mix::Mix;
use mailgate_tests::workspace_binary;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generated flows per loop, and their mix and seed.
const FLOWS: u64 = 300;
const MIX: &str = "mailstorm";
const SEED: u64 = 5;
/// Offered rate and how long: ~11 loops of the flows.
const RATE: u64 = 20_000;
const SECONDS: u64 = 2;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed (by pid) if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Waits for the process to exit, at most `limit`.
    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "process {} still running after {limit:?}", self.0.id());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Why the test cannot run here, if it cannot.
fn skip_reason(dataplane: &Path, bench: &Path) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        return Some("the sender test needs root (DPDK)".into());
    }
    for (bin, command) in [(dataplane, "run"), (bench, "send")] {
        let help = Command::new(bin).args([command, "--help"]).output();
        if !help.is_ok_and(|o| o.status.success()) {
            return Some(format!("{} is not built, or without DPDK (no `{command}`)", bin.display()));
        }
    }
    None
}

/// EAL arguments of one side: its memif ports (servers for the appliance,
/// clients for the sender) on the scratch directory's sockets.
fn eal(dir: &Path, role: &str, prefix: &str, lcores: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["--no-huge", "-m", "1024", "--no-pci", "--file-prefix", prefix].map(String::from).into();
    for (port, socket) in ["in.sock", "out.sock"].iter().enumerate() {
        args.push("--vdev".into());
        args.push(format!("net_memif{port},role={role},socket={}", dir.join(socket).display()));
    }
    args.extend(["-l".into(), lcores.into()]);
    args
}

fn number(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn generated_flows_are_sent_through_the_appliance_and_every_frame_is_timed() {
    let dataplane = workspace_binary("mailgate-dataplane");
    let bench = workspace_binary("mailgate-bench");
    if let Some(why) = skip_reason(&dataplane, &bench) {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let dir = Scratch(std::env::temp_dir().join(format!("mailgate-send-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let summary_path = dir.0.join("summary.json");
    let report_path = dir.0.join("report.json");
    let pid = std::process::id();

    let mut appliance = Running(
        Command::new(&dataplane)
            .args(["run", "--duration", "120", "--summary-json"])
            .arg(&summary_path)
            .arg("--")
            .args(eal(&dir.0, "server", &format!("mgtest-send-app-{pid}"), "0,1"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The first stats line (on stderr, with the log) comes once its ports
    // are started: a memif client that connects earlier is refused for good.
    let (lines, seen) = mpsc::channel();
    let log = appliance.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = seen
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the appliance printed its first stats line");
        if line.contains("worker lcore") {
            break;
        }
    }

    let mut sender = Running(
        Command::new(&bench)
            .args(["send", "--flows", &FLOWS.to_string(), "--mix", MIX, "--seed", &SEED.to_string()])
            .args(["--rate", &RATE.to_string(), "--duration", &SECONDS.to_string(), "--port", "0,1"])
            .arg("--json")
            .arg(&report_path)
            // The appliance stops while the sender's ports stay open.
            .args(["--linger", "5", "--"])
            .args(eal(&dir.0, "client", &format!("mgtest-send-gen-{pid}"), "0"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !report_path.exists() {
        assert!(sender.0.try_wait().unwrap().is_none(), "the sender exited without a report");
        assert!(started.elapsed() < Duration::from_secs(120), "no report from the sender");
        std::thread::sleep(Duration::from_millis(100));
    }
    let interrupted = Command::new("kill").args(["-INT", &appliance.0.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    assert!(appliance.wait(Duration::from_secs(60)).success(), "the appliance failed");
    assert!(sender.wait(Duration::from_secs(60)).success(), "the sender failed");
    for side in ["app", "gen"] {
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/mgtest-send-{side}-{pid}"));
    }

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["capture"], Value::Null, "{report}");
    assert_eq!(report["generated"], serde_json::json!({"mix": MIX, "flows": FLOWS, "seed": SEED}), "{report}");
    // Paced to the rate asked for (a frame is only counted once a TX queue took it).
    let offered = number(&report, "offered");
    assert!((RATE * SECONDS * 95 / 100..=RATE * SECONDS).contains(&offered), "{report}");
    // Monitor mode forwards everything, and nothing else comes back.
    assert_eq!(number(&report, "forwarded"), offered, "{report}");
    assert_eq!(number(&report, "lost"), 0, "{report}");
    assert_eq!(number(&report, "foreign"), 0, "{report}");
    // One latency sample per forwarded frame, in order.
    let latency = &report["latency"];
    assert_eq!(number(latency, "count"), offered, "{report}");
    let order: Vec<u64> = ["min_ns", "p50_ns", "p99_ns", "max_ns"].iter().map(|k| number(latency, k)).collect();
    assert!(order[0] > 0 && order.windows(2).all(|w| w[0] <= w[1]), "{report}");
    // The same flows, generated here: the sender looped over exactly these.
    let mut frames = Vec::new();
    generate(
        &GenConfig { flows: FLOWS, seed: SEED, mix: Mix::Mailstorm },
        &mut frames,
        &mut std::io::sink(),
        &mut |_| {},
    )
    .unwrap();
    let loops = number(&report, "loops");
    assert_eq!(loops, offered / frames.len() as u64, "{report}");

    // The appliance saw every frame (and the probes), forwarded them all,
    // and took each loop's flows for new sessions: the sender moves every
    // loop's sequence numbers on.
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    let rx = number(&summary, "packets_rx");
    assert!(rx >= offered, "{summary}");
    assert_eq!(number(&summary, "packets_tx"), rx, "{summary}");
    let sessions = number(&summary, "sessions_finished");
    assert!((loops * FLOWS..=(loops + 1) * FLOWS).contains(&sessions), "{sessions} sessions in {loops} loops");
}
