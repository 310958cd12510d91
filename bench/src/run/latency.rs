//! Added latency through the appliance on one machine: `mailgate-dataplane
//! run` with two `net_memif` server ports (inside, outside) on lcores 0 and
//! 1, and `mailgate-bench send` as the memif clients in a second DPDK
//! process (its own `--file-prefix`, main lcore 0 only), replaying the
//! realistic capture at each target rate. The latency is one way, from the
//! sender's TX to its RX: both memif hops plus the appliance. The same
//! sender runs, at the same rate, through `dpdk-testpmd --forward-mode=io`
//! on the same memif ports and lcores: the peer that shows what the memif
//! hops and this machine's scheduling add without any inspection.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use super::captures::Capture;
use super::forwarding::missing_dpdk;
use super::forwarding::stdbuf_line_buffered;
use super::procs::{self, find_program};
use super::report::Outcome;
use super::Tools;
use crate::send::SendReport;

/// How long the sender keeps its ports open after its report.
const LINGER: Duration = Duration::from_secs(10);

/// The appliance's memif sockets.
pub const SOCKETS: [&str; 2] = ["/run/mg-memif-in.sock", "/run/mg-memif-out.sock"];

/// One rate through both forwarders.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencyResult {
    /// Frames per second offered.
    pub rate_pps: u64,
    /// What the sender saw through mailgate.
    pub mailgate: SendReport,
    /// What the sender saw through testpmd io (None: testpmd missing).
    pub testpmd: Option<SendReport>,
    /// Frames the appliance received (its summary).
    pub appliance_packets_rx: u64,
    /// The appliance's command line.
    pub mailgate_command: String,
    /// testpmd's command line.
    pub testpmd_command: Option<String>,
    /// The sender's command line (through mailgate).
    pub sender_command: String,
}

/// The appliance's EAL arguments (memif servers).
pub fn server_eal(prefix: &str) -> Vec<String> {
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

/// Runs the appliance (and testpmd) with the sender at every rate.
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
    let testpmd = find_program(&tools.testpmd);
    let one = |rate: u64| -> anyhow::Result<LatencyResult> {
        let run = SenderRun { tools, capture: &capture.path, rate, seconds, dir };
        let mut appliance = Command::new(&tools.dataplane);
        let summary = dir.join(format!("latency-{rate}.summary.json"));
        appliance
            .args(["run", "--duration", &(seconds + 90).to_string(), "--summary-json"])
            .arg(&summary)
            .arg("--")
            .args(server_eal(&format!("mgb-lat-app-{}", std::process::id())));
        // The first stats block (after 5 s) comes once the ports are started:
        // a memif client that connects earlier is refused ("ID not found").
        let through_mailgate = run.through(appliance, "worker lcore", "mailgate")?;
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary)?)?;
        let through_testpmd = match &testpmd {
            Some(pmd) => {
                let mut cmd = stdbuf_line_buffered(pmd);
                cmd.args(server_eal(&format!("mgb-lat-pmd-{}", std::process::id()))).args([
                    "--",
                    "--forward-mode=io",
                    "-a",
                    "--stats-period",
                    "5",
                ]);
                Some(run.through(cmd, "packet forwarding - ports=", "testpmd")?)
            }
            None => None,
        };
        Ok(LatencyResult {
            rate_pps: rate,
            appliance_packets_rx: s["packets_rx"].as_u64().unwrap_or(0),
            mailgate_command: through_mailgate.forwarder_command,
            sender_command: through_mailgate.sender_command,
            mailgate: through_mailgate.report,
            testpmd_command: through_testpmd.as_ref().map(|t| t.forwarder_command.clone()),
            testpmd: through_testpmd.map(|t| t.report),
        })
    };
    Outcome::from(rates.iter().map(|&rate| one(rate)).collect::<anyhow::Result<_>>())
}

/// One sender run through one forwarder.
struct Through {
    report: SendReport,
    forwarder_command: String,
    sender_command: String,
}

/// One rate's sender runs: what they send, for how long, where logs go.
struct SenderRun<'a> {
    tools: &'a Tools,
    capture: &'a Path,
    rate: u64,
    seconds: u64,
    dir: &'a Path,
}

impl SenderRun<'_> {
    /// Starts `forwarder` (memif servers), waits for `ready` in its output,
    /// runs the sender through it, then stops the forwarder while the
    /// sender lingers.
    fn through(&self, forwarder: Command, ready: &str, name: &str) -> anyhow::Result<Through> {
        let SenderRun { tools, capture, rate, seconds, dir } = *self;
        for socket in SOCKETS {
            // A killed run leaves its socket behind; the server cannot bind over it.
            let _ = std::fs::remove_file(socket);
        }
        let mut fwd = procs::spawn(forwarder, dir, &format!("latency-{rate}-{name}"))?;
        fwd.wait_for_output(ready, Duration::from_secs(60))?;
        let report: PathBuf = dir.join(format!("latency-{rate}-{name}.json"));
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
            .args(sender_eal(&format!("mgb-lat-send-{}", std::process::id())));
        let mut send = procs::spawn(sender, dir, &format!("latency-{rate}-{name}-sender"))?;
        // The forwarder stops while the sender lingers with its ports open (a
        // memif peer that disconnects under a polling worker can crash it).
        send.wait_for_file(&report, Duration::from_secs(seconds + 60))?;
        fwd.interrupt()?;
        let fwd_status = fwd.wait(Duration::from_secs(30))?;
        let status = send.wait(LINGER + Duration::from_secs(30))?;
        if !status.success() {
            bail!("{} failed ({status}):\n{}", send.command, send.tail()?);
        }
        if !fwd_status.success() {
            bail!("{} failed ({fwd_status}):\n{}", fwd.command, fwd.tail()?);
        }
        let text = std::fs::read_to_string(&report).with_context(|| format!("reading {}", report.display()))?;
        Ok(Through {
            report: serde_json::from_str(&text)?,
            forwarder_command: fwd.command.clone(),
            sender_command: send.command.clone(),
        })
    }
}
