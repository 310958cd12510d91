//! Added latency through the appliance on one machine: `mailgate-dataplane
//! run` with two `net_memif` server ports (inside, outside) on lcores 0 and
//! 1, and `mailgate-bench send` as the memif clients in a second DPDK
//! process (its own `--file-prefix`, main lcore 0 only), replaying the
//! realistic capture at each target rate. The latency is one way, from the
//! sender's TX to its RX: both memif hops plus the appliance.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use super::captures::Capture;
use super::forwarding::missing_dpdk;
use super::procs::{self, find_program};
use super::report::Outcome;
use super::Tools;
use crate::send::SendReport;

/// How long the sender keeps its ports open after its report.
const LINGER: Duration = Duration::from_secs(10);

/// The appliance's memif sockets.
pub const SOCKETS: [&str; 2] = ["/run/mg-memif-in.sock", "/run/mg-memif-out.sock"];

/// One rate's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencyResult {
    /// What the sender saw.
    pub sender: SendReport,
    /// Frames the appliance received (its summary).
    pub appliance_packets_rx: u64,
    /// The appliance's command line.
    pub appliance_command: String,
    /// The sender's command line.
    pub sender_command: String,
}

/// The appliance's EAL arguments (memif servers).
pub fn appliance_eal(prefix: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["--no-huge", "-m", "2048", "--no-pci", "--file-prefix", prefix].map(String::from).into();
    for (i, socket) in SOCKETS.iter().enumerate() {
        args.extend(["--vdev".to_string(), format!("net_memif{i},role=server,socket={socket}")]);
    }
    args.extend(["-l".to_string(), "0,1".to_string()]);
    args
}

/// The sender's EAL arguments (memif clients, main lcore only).
pub fn sender_eal(prefix: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["--no-huge", "-m", "1024", "--no-pci", "--file-prefix", prefix].map(String::from).into();
    for (i, socket) in SOCKETS.iter().enumerate() {
        args.extend(["--vdev".to_string(), format!("net_memif{i},role=client,socket={socket}")]);
    }
    args.extend(["-l".to_string(), "0".to_string()]);
    args
}

/// Runs the appliance and the sender at every rate.
pub fn measure(
    tools: &Tools,
    capture: Option<&Capture>,
    rates: &[u64],
    seconds: u64,
    dir: &Path,
) -> Outcome<Vec<LatencyResult>> {
    if !cfg!(feature = "dpdk") {
        return Outcome::skipped("mailgate-bench was built without its `dpdk` feature (no `send`)".to_string());
    }
    if let Some(reason) = missing_dpdk(tools) {
        return Outcome::skipped(reason);
    }
    if find_program(&tools.sender).is_none() {
        return Outcome::skipped(format!("sender {} not found", tools.sender.display()));
    }
    let Some(capture) = capture else {
        return Outcome::skipped("no realistic capture".to_string());
    };
    Outcome::from(
        rates.iter().map(|&rate| measure_one(tools, &capture.path, rate, seconds, dir)).collect::<anyhow::Result<_>>(),
    )
}

fn measure_one(tools: &Tools, capture: &Path, rate: u64, seconds: u64, dir: &Path) -> anyhow::Result<LatencyResult> {
    for socket in SOCKETS {
        // A killed run leaves its socket behind; the server cannot bind over it.
        let _ = std::fs::remove_file(socket);
    }
    let pid = std::process::id();
    let summary = dir.join(format!("latency-{rate}.summary.json"));
    let mut appliance = Command::new(&tools.dataplane);
    appliance
        .args(["run", "--duration", &(seconds + 60).to_string(), "--summary-json"])
        .arg(&summary)
        .arg("--")
        .args(appliance_eal(&format!("mgb-lat-app-{pid}")));
    let mut app = procs::spawn(appliance, dir, &format!("latency-{rate}-appliance"))?;
    // The first stats block (after 5 s) comes once the ports are started: a
    // memif client that connects earlier is refused ("ID not found").
    app.wait_for_output("worker lcore", Duration::from_secs(60))?;

    let report: PathBuf = dir.join(format!("latency-{rate}.json"));
    let _ = std::fs::remove_file(&report);
    let mut sender = Command::new(&tools.sender);
    sender
        .arg("send")
        .arg("--capture")
        .arg(capture)
        .args(["--rate", &rate.to_string(), "--duration", &seconds.to_string(), "--json"])
        .arg(&report)
        .args(["--linger", &LINGER.as_secs().to_string()])
        .arg("--")
        .args(sender_eal(&format!("mgb-lat-send-{pid}")));
    let mut send = procs::spawn(sender, dir, &format!("latency-{rate}-sender"))?;
    // The appliance stops while the sender lingers with its ports open (a
    // memif peer that disconnects under a polling worker can crash it).
    send.wait_for_file(&report, Duration::from_secs(seconds + 60))?;
    app.interrupt()?;
    let app_status = app.wait(Duration::from_secs(30))?;
    let status = send.wait(LINGER + Duration::from_secs(30))?;
    if !status.success() {
        bail!("{} failed ({status}):\n{}", send.command, send.tail()?);
    }
    if !app_status.success() {
        bail!("{} failed ({app_status}):\n{}", app.command, app.tail()?);
    }
    let text = std::fs::read_to_string(&report).with_context(|| format!("reading {}", report.display()))?;
    let sender_report: SendReport = serde_json::from_str(&text)?;
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary)?)?;
    Ok(LatencyResult {
        sender: sender_report,
        appliance_packets_rx: s["packets_rx"].as_u64().unwrap_or(0),
        appliance_command: app.command.clone(),
        sender_command: send.command.clone(),
    })
}
