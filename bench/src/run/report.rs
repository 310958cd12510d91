//! The results of a run: the JSON document written to `results.json`, and
//! the Markdown table (figure, value, target, peer, ratio, machine, date,
//! command) that `bench/RESULTS.md` publishes.

use std::fmt::Write as _;

use super::captures::{mix_name, Capture};
use super::forwarding::ForwardingResult;
use super::latency::LatencyResult;
use super::machine::Machine;
use super::memory::MemoryResult;
use super::offline::OfflineResult;
use super::parsers::ParserResult;
use super::pipeline::PipelineResult;
use crate::mix::Mix;
use crate::send::SendReport;

/// How a stage ended.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome<T> {
    /// Not selected.
    NotRun,
    /// Measured.
    Done {
        /// The figures.
        results: T,
    },
    /// Could not run on this machine (a tool is missing).
    Skipped {
        /// Why, and how to fix it.
        reason: String,
    },
    /// Started and failed.
    Failed {
        /// The error.
        error: String,
    },
}

impl<T> Outcome<T> {
    /// A stage skipped for `reason`.
    pub fn skipped(reason: String) -> Self {
        Outcome::Skipped { reason }
    }

    /// The figures, when measured.
    pub fn done(&self) -> Option<&T> {
        match self {
            Outcome::Done { results } => Some(results),
            _ => None,
        }
    }

    /// True when the stage started and failed.
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }
}

impl<T> From<anyhow::Result<T>> for Outcome<T> {
    fn from(r: anyhow::Result<T>) -> Self {
        match r {
            Ok(results) => Outcome::Done { results },
            Err(e) => Outcome::Failed { error: format!("{e:#}") },
        }
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Results {
    /// Where.
    pub machine: Machine,
    /// A quick (smoke) run: not figures to publish.
    pub quick: bool,
    /// `git describe --always --dirty` of the working directory, when it is a checkout.
    pub commit: Option<String>,
    /// The captures measured.
    pub captures: Vec<Capture>,
    /// Parser microbenchmarks.
    pub parsers: Outcome<Vec<ParserResult>>,
    /// The engine in memory, one core.
    pub pipeline: Outcome<Vec<PipelineResult>>,
    /// Memory per flow.
    pub memory: Outcome<MemoryResult>,
    /// DPDK end to end against testpmd.
    pub forwarding: Outcome<Vec<ForwardingResult>>,
    /// Offline against ndpiReader.
    pub offline: Outcome<Vec<OfflineResult>>,
    /// Latency through the appliance.
    pub latency: Outcome<Vec<LatencyResult>>,
    /// `/proc/loadavg` when the run ended.
    pub load_at_end: String,
}

impl Results {
    /// Empty results for a run on `machine`.
    pub fn new(machine: Machine, quick: bool) -> Results {
        Results {
            machine,
            quick,
            commit: std::process::Command::new("git")
                .args(["describe", "--always", "--dirty"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
            captures: Vec::new(),
            parsers: Outcome::NotRun,
            pipeline: Outcome::NotRun,
            memory: Outcome::NotRun,
            forwarding: Outcome::NotRun,
            offline: Outcome::NotRun,
            latency: Outcome::NotRun,
            load_at_end: String::new(),
        }
    }

    /// True when any stage failed.
    pub fn any_failed(&self) -> bool {
        self.parsers.failed()
            || self.pipeline.failed()
            || self.memory.failed()
            || self.forwarding.failed()
            || self.offline.failed()
            || self.latency.failed()
    }
}

/// One row of the table.
struct Row {
    figure: String,
    value: String,
    target: String,
    peer: String,
    ratio: String,
    command: &'static str,
}

fn row(figure: String, value: String, target: &str, command: &'static str) -> Row {
    Row { figure, value, target: target.to_string(), peer: "–".into(), ratio: "–".into(), command }
}

/// Met / missed mark for a target.
fn mark(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

fn status_row<T>(name: &str, outcome: &Outcome<T>, command: &'static str) -> Option<Row> {
    match outcome {
        Outcome::Done { .. } | Outcome::NotRun => None,
        Outcome::Skipped { reason } => Some(row(name.into(), format!("skipped: {reason}"), "", command)),
        Outcome::Failed { error } => {
            let first = error.lines().next().unwrap_or_default();
            Some(row(name.into(), format!("failed: {first}"), "", command))
        }
    }
}

/// The command references of the table, spelled out under it.
const COMMANDS: &[(&str, &str)] = &[
    ("[P]", "mailgate-bench run --only parsers   (criterion: cargo bench -p mailgate-bench --bench parsers)"),
    ("[E]", "mailgate-bench run --only pipeline  (criterion: cargo bench -p mailgate-bench --bench pipeline)"),
    ("[M]", "mailgate-bench run --only memory"),
    ("[F]", "mailgate-bench run --only forwarding (command lines below)"),
    ("[O]", "mailgate-bench run --only offline (command lines below)"),
    ("[L]", "mailgate-bench run --only latency (command lines below)"),
];

fn pipeline_rows(rows: &mut Vec<Row>, results: &[PipelineResult]) {
    for p in results {
        let (target, met) = match p.mix {
            Mix::Nonmail64 => ("≥ 10 Mpps", p.mpps >= 10.0),
            Mix::Realistic => ("≥ 4 Mpps", p.mpps >= 4.0),
            Mix::Mailstorm => ("", true),
        };
        let target = if target.is_empty() { String::new() } else { format!("{target} ({})", mark(met)) };
        rows.push(row(
            format!("pipeline, 1 core, {} ({} frames/loop)", mix_name(p.mix), p.frames_per_loop),
            format!("{:.2} Mpps, {:.0} ns/packet", p.mpps, p.ns_per_packet),
            &target,
            "[E]",
        ));
        match p.mix {
            Mix::Mailstorm => {
                let met = p.new_mail_sessions_per_s >= 1e6;
                rows.push(row(
                    "new mail sessions/s, 1 core, mailstorm".into(),
                    format!("{:.0}", p.new_mail_sessions_per_s),
                    &format!("≥ 1 000 000 ({})", mark(met)),
                    "[E]",
                ));
            }
            _ => rows.push(row(
                format!("new sessions/s, 1 core, {}", mix_name(p.mix)),
                format!("{:.0}", p.new_sessions_per_s),
                "",
                "[E]",
            )),
        }
    }
    for p in results {
        let Some(r) = &p.reported else { continue };
        let reported = r.records + r.dropped;
        let built = match reported {
            0 => "none to build".to_string(),
            n => {
                format!("records built for {:.1} % (the rest dropped: ring full)", r.records as f64 / n as f64 * 100.0)
            }
        };
        rows.push(Row {
            figure: format!(
                "pipeline with the reporter's ring, 1 core (records built on the other), {}",
                mix_name(p.mix)
            ),
            value: format!(
                "{:.2} Mpps, {:.0} ns/packet; {reported} of {} sessions reported (mail or a mail port), {built}",
                r.mpps, r.ns_per_packet, r.sessions
            ),
            target: String::new(),
            peer: format!("engine alone {:.2} Mpps", p.mpps),
            ratio: format!("{:.2}", r.mpps / p.mpps.max(1e-9)),
            command: "[E]",
        });
    }
    let counted: Vec<&PipelineResult> = results.iter().filter(|p| p.allocations.is_some()).collect();
    let (allocs, packets) = counted.iter().fold((0, 0), |(a, n), p| (a + p.allocations.unwrap_or(0), n + p.packets));
    let value = if counted.is_empty() {
        "not counted (no counting allocator in this process)".to_string()
    } else {
        format!("{:.6} ({allocs} in {packets} packets)", allocs as f64 / packets.max(1) as f64)
    };
    rows.push(row(
        "heap allocations per packet, steady state (all mixes)".into(),
        value,
        &format!("0 ({})", mark(!counted.is_empty() && allocs == 0)),
        "[E]",
    ));
}

fn memory_rows(rows: &mut Vec<Row>, m: &MemoryResult, ndpi_flow_bytes: Option<f64>) {
    let mut r = row(
        "flow-table bytes per tracked flow (entry + index slots + free list)".into(),
        format!("{} B", m.bytes_per_flow),
        &format!("≤ 256 B ({})", mark(m.bytes_per_flow <= 256)),
        "[M]",
    );
    if let Some(ndpi) = ndpi_flow_bytes {
        r.peer = format!("ndpiReader {ndpi:.0} B/flow");
        r.ratio = format!("{:.2}×", m.bytes_per_flow as f64 / ndpi);
    }
    rows.push(r);
    rows.push(row(
        format!("resident memory, one engine tracking {} flows", m.flows_active),
        format!(
            "{:.0} MiB VmRSS ({:.0} MiB for the engine, {:.0} B/flow with all pools)",
            m.rss_flows_kib as f64 / 1024.0,
            m.rss_flows_kib.saturating_sub(m.rss_before_kib) as f64 / 1024.0,
            m.rss_bytes_per_flow
        ),
        "",
        "[M]",
    ));
}

/// The Markdown table of `results`, with the command references under it.
pub fn markdown(results: &Results) -> String {
    let mut rows = Vec::new();
    if let Some(parsers) = results.parsers.done() {
        for p in parsers {
            let per_line = p.ns_per_line.map(|l| format!(", {l:.0} ns/line")).unwrap_or_default();
            rows.push(row(
                format!("parse {}: {}", p.name, p.what),
                format!("{:.0} ns ({:.0} MB/s{per_line})", p.ns_per_op, p.mb_per_s),
                "",
                "[P]",
            ));
        }
    }
    rows.extend(status_row("parsers", &results.parsers, "[P]"));
    if let Some(pipeline) = results.pipeline.done() {
        pipeline_rows(&mut rows, pipeline);
    }
    rows.extend(status_row("pipeline", &results.pipeline, "[E]"));
    let ndpi_flow_bytes = results.offline.done().and_then(|o| o.iter().find_map(|r| r.ndpi_flow_memory_bytes));
    if let Some(m) = results.memory.done() {
        memory_rows(&mut rows, m, ndpi_flow_bytes);
    }
    rows.extend(status_row("memory", &results.memory, "[M]"));
    if let Some(fwd) = results.forwarding.done() {
        for f in fwd {
            rows.push(Row {
                figure: format!("DPDK end to end, {} ({} frames looped)", mix_name(f.mix), f.frames),
                value: format!("{:.2} Mpps", f.mailgate_mpps),
                target: format!("≥ 0.8 × testpmd ({})", mark(f.ratio >= 0.8)),
                peer: format!("testpmd macswap {:.2} Mpps", f.testpmd_mpps),
                ratio: format!("{:.2}", f.ratio),
                command: "[F]",
            });
        }
    }
    rows.extend(status_row("DPDK end to end", &results.forwarding, "[F]"));
    if let Some(off) = results.offline.done() {
        for o in off {
            rows.push(Row {
                figure: format!("offline inspect, {} ({} frames, {} flows)", mix_name(o.mix), o.frames, o.flows),
                value: format!("{:.0} packets/s ({:.2} s wall)", o.inspect_pps, o.inspect_wall_s),
                target: format!("≥ 10 × ndpiReader ({})", mark(o.ratio_pps >= 10.0)),
                peer: format!("ndpiReader {:.0} packets/s ({:.2} s wall)", o.ndpi_pps, o.ndpi_wall_s),
                ratio: format!("{:.1} (wall {:.1})", o.ratio_pps, o.ratio_wall),
                command: "[O]",
            });
        }
    }
    rows.extend(status_row("offline", &results.offline, "[O]"));
    if let Some(lat) = results.latency.done() {
        for l in lat {
            let us = |ns: u64| ns as f64 / 1e3;
            let summary = |s: &SendReport| {
                format!(
                    "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs; {:.0} pps forwarded, loss {:.4} %",
                    us(s.latency.p50_ns),
                    us(s.latency.p99_ns),
                    us(s.latency.p999_ns),
                    us(s.latency.max_ns),
                    s.forwarded_pps,
                    s.loss_ratio * 100.0
                )
            };
            let mut r = row(
                format!("latency through the appliance at {} pps offered (memif, realistic)", l.rate_pps),
                summary(&l.mailgate),
                "",
                "[L]",
            );
            if let Some(t) = &l.testpmd {
                r.peer = format!("testpmd io: {}", summary(t));
                r.ratio = format!(
                    "p50 +{:.1} µs, p99 ×{:.2}",
                    (l.mailgate.latency.p50_ns as f64 - t.latency.p50_ns as f64) / 1e3,
                    l.mailgate.latency.p99_ns as f64 / t.latency.p99_ns.max(1) as f64
                );
            }
            rows.push(r);
        }
    }
    rows.extend(status_row("latency", &results.latency, "[L]"));

    let machine = results.machine.short();
    let date = results.machine.date.get(..10).unwrap_or(&results.machine.date).to_string();
    let mut out = String::new();
    out.push_str("| Figure | Value | Target | Peer | Ratio | Machine | Date | Command |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in &rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {machine} | {date} | {} |",
            r.figure, r.value, r.target, r.peer, r.ratio, r.command
        );
    }
    out.push('\n');
    for (id, cmd) in COMMANDS {
        let _ = writeln!(out, "- {id} `{cmd}`");
    }
    let mut lines = Vec::new();
    if let Some(fwd) = results.forwarding.done() {
        for f in fwd {
            lines.push(f.mailgate_command.clone());
            lines.push(f.testpmd_command.clone());
        }
    }
    if let Some(off) = results.offline.done() {
        for o in off {
            lines.push(o.inspect_command.clone());
            lines.push(o.ndpi_command.clone());
        }
    }
    if let Some(lat) = results.latency.done() {
        for l in lat {
            lines.push(l.mailgate_command.clone());
            lines.extend(l.testpmd_command.clone());
            lines.push(l.sender_command.clone());
        }
    }
    if !lines.is_empty() {
        out.push_str("\nCommand lines run:\n\n```sh\n");
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("```\n");
    }
    out
}
