//! Offline: `mailgate-dataplane inspect` against `ndpiReader -i` (nDPI's
//! demo reader, Debian's libndpi-bin) on the same captures, one after the
//! other, each run three times (the best run counts: on a shared machine,
//! the least disturbed). Packets per second are each tool's own figure
//! (inspect's summary line, ndpiReader's "nDPI throughput"); wall time is
//! measured around each process.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::captures::{mix_name, Capture};
use super::procs::{self, find_program};
use super::report::Outcome;
use super::Tools;
use crate::mix::Mix;

/// Runs of each tool per capture.
const RUNS: usize = 3;

/// One capture through both tools.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OfflineResult {
    /// The mix.
    pub mix: Mix,
    /// Frames of the capture.
    pub frames: u64,
    /// TCP flows of the capture.
    pub flows: u64,
    /// inspect's packets per second (its own figure).
    pub inspect_pps: f64,
    /// ndpiReader's packets per second (its "nDPI throughput").
    pub ndpi_pps: f64,
    /// inspect / ndpiReader, packets per second.
    pub ratio_pps: f64,
    /// inspect's wall time, seconds (process start to exit).
    pub inspect_wall_s: f64,
    /// ndpiReader's wall time, seconds.
    pub ndpi_wall_s: f64,
    /// ndpiReader's wall time / inspect's.
    pub ratio_wall: f64,
    /// ndpiReader's "Flow Memory (per flow)", bytes.
    pub ndpi_flow_memory_bytes: Option<f64>,
    /// inspect's command line.
    pub inspect_command: String,
    /// ndpiReader's command line.
    pub ndpi_command: String,
}

/// Runs both tools over every capture.
pub fn measure(tools: &Tools, captures: &[Capture], dir: &Path) -> Outcome<Vec<OfflineResult>> {
    if find_program(&tools.dataplane).is_none() {
        return Outcome::skipped(format!(
            "{} not found: build it with `cargo build --release -p mailgate-dataplane`",
            tools.dataplane.display()
        ));
    }
    let Some(ndpi) = find_program(&tools.ndpi_reader) else {
        return Outcome::skipped(format!("{} not found (apt-get install -y libndpi-bin)", tools.ndpi_reader.display()));
    };
    Outcome::from(captures.iter().map(|c| measure_one(tools, &ndpi, c, dir)).collect::<anyhow::Result<_>>())
}

/// One timed run: the tool's own pps, the wall time, its output.
struct Timed {
    pps: f64,
    wall_s: f64,
    output: String,
    command: String,
}

fn timed(cmd: Command, dir: &Path, name: &str, pps: fn(&str) -> Option<f64>) -> anyhow::Result<Timed> {
    let started = Instant::now();
    let mut running = procs::spawn(cmd, dir, name)?;
    let status = running.wait(Duration::from_secs(600))?;
    let wall_s = started.elapsed().as_secs_f64();
    let output = running.output()?;
    if !status.success() {
        bail!("{} failed ({status}):\n{}", running.command, running.tail()?);
    }
    let pps = pps(&output).with_context(|| format!("no throughput in the output of {}", running.command))?;
    Ok(Timed { pps, wall_s, output, command: running.command.clone() })
}

/// The best of `RUNS` runs (the least disturbed on a shared machine): the
/// highest pps, and the shortest wall time.
fn best_run(mut make: impl FnMut() -> anyhow::Result<Timed>) -> anyhow::Result<Timed> {
    let runs = (0..RUNS).map(|_| make()).collect::<anyhow::Result<Vec<_>>>()?;
    let wall = runs.iter().map(|r| r.wall_s).fold(f64::INFINITY, f64::min);
    let mut best = runs.into_iter().max_by(|a, b| a.pps.total_cmp(&b.pps)).context("no run")?;
    best.wall_s = wall;
    Ok(best)
}

fn measure_one(tools: &Tools, ndpi: &Path, capture: &Capture, dir: &Path) -> anyhow::Result<OfflineResult> {
    let name = format!("{}-{}", mix_name(capture.mix), capture.flows);
    let inspect = best_run(|| {
        let mut cmd = Command::new(&tools.dataplane);
        cmd.arg("inspect").arg(&capture.path);
        timed(cmd, dir, &format!("offline-{name}-inspect"), inspect_pps)
    })?;
    let ndpi = best_run(|| {
        let mut cmd = Command::new(ndpi);
        cmd.arg("-i").arg(&capture.path);
        timed(cmd, dir, &format!("offline-{name}-ndpi"), ndpi_pps)
    })?;
    Ok(OfflineResult {
        mix: capture.mix,
        frames: capture.frames,
        flows: capture.flows,
        inspect_pps: inspect.pps,
        ndpi_pps: ndpi.pps,
        ratio_pps: inspect.pps / ndpi.pps,
        inspect_wall_s: inspect.wall_s,
        ndpi_wall_s: ndpi.wall_s,
        ratio_wall: ndpi.wall_s / inspect.wall_s,
        ndpi_flow_memory_bytes: ndpi_flow_memory(&ndpi.output),
        inspect_command: inspect.command,
        ndpi_command: ndpi.command,
    })
}

/// inspect's summary line: "…, 123456 packets/s".
pub fn inspect_pps(output: &str) -> Option<f64> {
    let line = output.lines().rev().find(|l| l.ends_with(" packets/s"))?;
    line.trim_end_matches(" packets/s").rsplit([' ', ',']).next()?.parse().ok()
}

/// A number with an optional K/M/G multiplier: "504.12 K" → 504120.
fn scaled(value: &str, unit: &str) -> Option<f64> {
    let v: f64 = value.parse().ok()?;
    let m = match unit {
        "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => 1.0,
    };
    Some(v * m)
}

/// ndpiReader's "nDPI throughput:       268.36 K pps / 548.22 Mb/sec".
pub fn ndpi_pps(output: &str) -> Option<f64> {
    let rest = output.lines().find_map(|l| l.trim().strip_prefix("nDPI throughput:"))?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        [v, "pps", ..] => scaled(v, ""),
        [v, unit, "pps", ..] => scaled(v, unit),
        _ => None,
    }
}

/// ndpiReader's "Flow Memory (per flow):  688 B" (or KB).
pub fn ndpi_flow_memory(output: &str) -> Option<f64> {
    let rest = output.lines().find_map(|l| l.trim().strip_prefix("Flow Memory (per flow):"))?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        [v, "B", ..] => scaled(v, ""),
        [v, "KB", ..] => scaled(v, "K").map(|b| b * 1.024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_tools_figures() {
        let inspect = "x.pcap: 288000 packets, 20000 flows, 6000 mail sessions, 6100 records, \
                       0 packets dropped by policy, 0 RSTs, 5123456 packets/s\n";
        assert_eq!(inspect_pps(inspect), Some(5_123_456.0));
        let ndpi = "\tFlow Memory (per flow):  688 B        \n\tnDPI throughput:       268.36 K pps / 548.22 Mb/sec\n";
        assert_eq!(ndpi_pps(ndpi), Some(268_360.0));
        assert_eq!(ndpi_flow_memory(ndpi), Some(688.0));
        assert_eq!(ndpi_pps("\tnDPI throughput:       950 pps / 1.2 Mb/sec"), Some(950.0));
        assert_eq!(inspect_pps("nothing"), None);
    }
}
