//! DPDK end to end: `mailgate-dataplane run` and `dpdk-testpmd
//! --forward-mode=macswap` on identical virtual devices (a capture replayed
//! from memory by `net_pcap` with `infinite_rx=1`, into a `net_null` sink),
//! with the same EAL arguments and lcores (main 0, forwarding 1), one after
//! the other per capture.
//!
//! Rates: the appliance's `pps_rx` from its `--summary-json` (frames over
//! the whole run); testpmd's mean per-second `Rx-pps` of port 0 over as
//! many seconds, from its `--stats-period 1` output (run under `stdbuf
//! -oL`), the first sample (start-up) left out.
//!
//! Each forwarder runs twice, alternating (mailgate, testpmd, mailgate,
//! testpmd), and the better run of each counts: on a shared machine the
//! best run is the one least disturbed.
//!
//! The capture loops every few milliseconds with the same flows and
//! initial sequence numbers: after the first loop the appliance sees
//! known (closed) flows again, not new sessions. New-session cost is what
//! the in-memory pipeline stage measures.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use super::captures::Capture;
use super::procs::{self, find_program};
use super::report::Outcome;
use super::Tools;
use crate::mix::Mix;

/// Runs of each forwarder per capture, alternating.
const ROUNDS: u32 = 2;

/// One capture through both forwarders.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForwardingResult {
    /// The mix.
    pub mix: Mix,
    /// Frames of the capture.
    pub frames: u64,
    /// The appliance's received frames per second, millions (best round).
    pub mailgate_mpps: f64,
    /// testpmd macswap's received frames per second, millions (best round).
    pub testpmd_mpps: f64,
    /// mailgate / testpmd (the best round of each).
    pub ratio: f64,
    /// The appliance's rate in each round, millions.
    pub mailgate_mpps_runs: Vec<f64>,
    /// testpmd's rate in each round, millions.
    pub testpmd_mpps_runs: Vec<f64>,
    /// Frames the appliance received and sent.
    pub mailgate_packets_rx: u64,
    /// Frames the appliance sent.
    pub mailgate_packets_tx: u64,
    /// The appliance's command line.
    pub mailgate_command: String,
    /// testpmd's command line.
    pub testpmd_command: String,
}

/// The EAL arguments both forwarders get.
pub fn eal_args(capture: &Path, prefix: &str) -> Vec<String> {
    [
        "--no-huge",
        "-m",
        "2048",
        "--no-pci",
        "--file-prefix",
        prefix,
        "--vdev",
        &format!("net_pcap0,rx_pcap={},infinite_rx=1", capture.display()),
        "--vdev",
        "net_null1,no-rx=1",
        "-l",
        "0,1",
    ]
    .map(String::from)
    .to_vec()
}

/// Why the DPDK stages cannot run here, if they cannot.
pub fn missing_dpdk(tools: &Tools) -> Option<String> {
    if find_program(&tools.dataplane).is_none() {
        return Some(format!(
            "{} not found: build it with `cargo build --release -p mailgate-dataplane`",
            tools.dataplane.display()
        ));
    }
    None
}

/// Runs both forwarders over every capture.
pub fn measure(tools: &Tools, captures: &[Capture], seconds: u64, dir: &Path) -> Outcome<Vec<ForwardingResult>> {
    if let Some(reason) = missing_dpdk(tools) {
        return Outcome::skipped(reason);
    }
    let Some(testpmd) = find_program(&tools.testpmd) else {
        return Outcome::skipped(format!("{} not found (apt-get install -y dpdk)", tools.testpmd.display()));
    };
    Outcome::from(captures.iter().map(|c| measure_one(tools, &testpmd, c, seconds, dir)).collect::<anyhow::Result<_>>())
}

fn measure_one(
    tools: &Tools,
    testpmd: &Path,
    capture: &Capture,
    seconds: u64,
    dir: &Path,
) -> anyhow::Result<ForwardingResult> {
    let (mut mailgate_runs, mut testpmd_runs) = (Vec::new(), Vec::new());
    let (mut mailgate_command, mut testpmd_command) = (String::new(), String::new());
    let (mut packets_rx, mut packets_tx) = (0, 0);
    for round in 0..ROUNDS {
        let m = run_mailgate(tools, capture, seconds, dir, round)?;
        if mailgate_runs.iter().all(|&best| m.pps > best) {
            (packets_rx, packets_tx) = (m.packets_rx, m.packets_tx);
        }
        mailgate_runs.push(m.pps);
        mailgate_command = m.command;
        let (pps, command) = run_testpmd(testpmd, capture, seconds, dir, round)?;
        testpmd_runs.push(pps);
        testpmd_command = command;
    }
    let best = |runs: &[f64]| runs.iter().copied().fold(0.0, f64::max);
    let (pps, testpmd_pps) = (best(&mailgate_runs), best(&testpmd_runs));
    Ok(ForwardingResult {
        mix: capture.mix,
        frames: capture.frames,
        mailgate_mpps: pps / 1e6,
        testpmd_mpps: testpmd_pps / 1e6,
        ratio: pps / testpmd_pps,
        mailgate_mpps_runs: mailgate_runs.iter().map(|p| p / 1e6).collect(),
        testpmd_mpps_runs: testpmd_runs.iter().map(|p| p / 1e6).collect(),
        mailgate_packets_rx: packets_rx,
        mailgate_packets_tx: packets_tx,
        mailgate_command,
        testpmd_command,
    })
}

/// One appliance run's figures.
struct MailgateRun {
    pps: f64,
    packets_rx: u64,
    packets_tx: u64,
    command: String,
}

fn run_mailgate(tools: &Tools, capture: &Capture, seconds: u64, dir: &Path, round: u32) -> anyhow::Result<MailgateRun> {
    let name = format!("{}-{round}", super::captures::mix_name(capture.mix));
    let summary = dir.join(format!("forwarding-{name}.summary.json"));
    let mut appliance = Command::new(&tools.dataplane);
    appliance
        .args(["run", "--duration", &seconds.to_string(), "--summary-json"])
        .arg(&summary)
        .arg("--")
        .args(eal_args(&capture.path, &format!("mgb-fwd-{}", std::process::id())));
    let mut running = procs::spawn(appliance, dir, &format!("forwarding-{name}-mailgate"))?;
    let status = running.wait(Duration::from_secs(seconds + 60))?;
    if !status.success() {
        bail!("{} failed ({status}):\n{}", running.command, running.tail()?);
    }
    let text = std::fs::read_to_string(&summary).with_context(|| format!("reading {}", summary.display()))?;
    let s: serde_json::Value = serde_json::from_str(&text)?;
    Ok(MailgateRun {
        pps: s["pps_rx"].as_f64().context("no pps_rx in the summary")?,
        packets_rx: s["packets_rx"].as_u64().unwrap_or(0),
        packets_tx: s["packets_tx"].as_u64().unwrap_or(0),
        command: running.command.clone(),
    })
}

/// testpmd's mean `Rx-pps` over `seconds` samples, and its command line.
fn run_testpmd(
    testpmd: &Path,
    capture: &Capture,
    seconds: u64,
    dir: &Path,
    round: u32,
) -> anyhow::Result<(f64, String)> {
    let name = format!("{}-{round}", super::captures::mix_name(capture.mix));
    let mut pmd = stdbuf_line_buffered(testpmd);
    pmd.args(eal_args(&capture.path, &format!("mgb-pmd-{}", std::process::id()))).args([
        "--",
        "--forward-mode=macswap",
        "-a",
        "--stats-period",
        "1",
    ]);
    let mut running = procs::spawn(pmd, dir, &format!("forwarding-{name}-testpmd"))?;
    // The first sample covers the start-up; then `seconds` samples of forwarding.
    let wanted = usize::try_from(seconds)? + 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds + 60);
    while testpmd_rx_pps(&running.output()?, 0).len() < wanted && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    running.interrupt()?;
    let status = running.wait(Duration::from_secs(60))?;
    if !status.success() {
        bail!("{} failed ({status}):\n{}", running.command, running.tail()?);
    }
    let samples = testpmd_rx_pps(&running.output()?, 0);
    let steady = samples.get(1..wanted.min(samples.len())).unwrap_or_default();
    if steady.len() + 1 < wanted {
        bail!(
            "{} printed {} Rx-pps samples for port 0, not {wanted}:\n{}",
            running.command,
            samples.len(),
            running.tail()?
        );
    }
    Ok((steady.iter().sum::<f64>() / steady.len() as f64, running.command.clone()))
}

/// `program` under `stdbuf -oL` where stdbuf exists: testpmd's stdout is
/// block-buffered into a file, and its lines must be seen as they come.
pub fn stdbuf_line_buffered(program: &Path) -> Command {
    match find_program(Path::new("stdbuf")) {
        Some(stdbuf) => {
            let mut c = Command::new(stdbuf);
            c.arg("-oL").arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The `Rx-pps` samples testpmd's periodic statistics give for `port`.
pub fn testpmd_rx_pps(output: &str, port: u16) -> Vec<f64> {
    let header = format!("NIC statistics for port {port} ");
    let mut samples = Vec::new();
    let mut in_port = false;
    for line in output.lines() {
        if line.contains("NIC statistics for port") {
            in_port = line.contains(&header);
        } else if in_port {
            if let Some(rest) = line.trim_start().strip_prefix("Rx-pps:") {
                if let Some(v) = rest.split_whitespace().next().and_then(|v| v.parse().ok()) {
                    samples.push(v);
                }
                in_port = false;
            }
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rx_rate_of_the_right_port() {
        let out = "\
  ######################## NIC statistics for port 0  ########################
  RX-packets: 235168     RX-missed: 0          RX-bytes:  57317393
  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  ######################## NIC statistics for port 1  ########################
  Rx-pps:           12          Rx-bps:            0
  ######################## NIC statistics for port 0  ########################
  Rx-pps:     21657266          Rx-bps:  42233048496
  Tx-pps:            0          Tx-bps:            0
";
        assert_eq!(testpmd_rx_pps(out, 0), [0.0, 21_657_266.0]);
        assert_eq!(testpmd_rx_pps(out, 1), [12.0]);
    }
}
