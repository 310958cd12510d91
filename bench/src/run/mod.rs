//! `mailgate-bench run`: the benchmark suite behind `bench/RESULTS.md`.
//!
//! Stages, each one at a time on an otherwise idle machine:
//!
//! - [`parsers`]: ClientHello, SMTP/IMAP/POP3 sessions and frame decoding
//!   (the same cases `cargo bench -p mailgate-bench` runs under criterion);
//! - [`pipeline`]: the whole engine in memory on one core over three
//!   generated mixes, with heap allocations counted per packet;
//! - [`memory`]: bytes per tracked flow, resident memory at 1 M flows;
//! - [`forwarding`]: `mailgate-dataplane run` against `dpdk-testpmd
//!   --forward-mode=macswap` on the same virtual devices and lcores;
//! - [`offline`]: `mailgate-dataplane inspect` against `ndpiReader -i` on the
//!   same captures;
//! - [`latency`]: the appliance between two memif ports, fed by
//!   `mailgate-bench send` at a fixed rate.
//!
//! Every stage that needs a tool this machine lacks is recorded as skipped
//! with the reason; the results go to `results.json`, the chart to
//! `mpps.svg` and the Markdown table to `table.md` in the output directory
//! (the table also to stdout).

pub mod captures;
pub mod chart;
pub mod counting;
pub mod forwarding;
pub mod latency;
pub mod machine;
pub mod memory;
pub mod offline;
pub mod parsers;
pub mod pipeline;
pub mod procs;
pub mod report;
pub mod timing;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::mix::Mix;
use captures::{Capture, CaptureSpec};
use report::{Outcome, Results};

/// One part of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Parser and decoder microbenchmarks.
    Parsers,
    /// The engine in memory on one core.
    Pipeline,
    /// Bytes per flow and resident memory at 1 M flows.
    Memory,
    /// DPDK end to end against testpmd macswap.
    Forwarding,
    /// Offline replay against ndpiReader.
    Offline,
    /// Latency through the appliance (memif ports, DPDK sender).
    Latency,
}

/// The external programs the system stages run.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The release `mailgate-dataplane` binary (built with DPDK).
    pub dataplane: PathBuf,
    /// `dpdk-testpmd`.
    pub testpmd: PathBuf,
    /// `ndpiReader`.
    pub ndpi_reader: PathBuf,
    /// The `mailgate-bench` binary that provides `send` (normally this one).
    pub sender: PathBuf,
}

/// What to run and where.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Small captures and short runs (a smoke run, not figures to publish).
    pub quick: bool,
    /// Stages to run; the others are reported as not run.
    pub stages: Vec<Stage>,
    /// Mixes to measure (all three when empty).
    pub mixes: Vec<Mix>,
    /// Where `results.json` and `mpps.svg` go.
    pub out_dir: PathBuf,
    /// Where the generated captures and the tools' own outputs go.
    pub work_dir: PathBuf,
    /// The programs the system stages start.
    pub tools: Tools,
}

/// Sizes and durations of a run.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Captures of the three mixes (pipeline, forwarding, offline, latency).
    pub mixes: Vec<CaptureSpec>,
    /// The large captures of the offline comparison: ten times the mixes'
    /// frames or more, so that per-capture start-up (cold caches, the
    /// writer thread, the records of sessions still open at the end) weighs
    /// as little in `inspect` as in ndpiReader's steady rate.
    pub large: Vec<CaptureSpec>,
    /// Measuring time per parser case.
    pub parser_time: Duration,
    /// Measuring time per pipeline mix.
    pub pipeline_time: Duration,
    /// Flows fed to the memory probe's engine.
    pub memory_flows: u64,
    /// Seconds of each DPDK forwarding run.
    pub forwarding_s: u64,
    /// Seconds of each latency run.
    pub latency_s: u64,
    /// Offered rates of the latency runs, frames per second.
    pub latency_rates: Vec<u64>,
}

/// The seed of every generated capture.
pub const SEED: u64 = 1;

impl Scale {
    /// The full suite (figures for RESULTS.md) or the quick one.
    pub fn new(quick: bool) -> Scale {
        let spec = |mix, flows| CaptureSpec { mix, flows };
        if quick {
            Scale {
                mixes: vec![spec(Mix::Nonmail64, 300), spec(Mix::Realistic, 200), spec(Mix::Mailstorm, 300)],
                large: Vec::new(),
                parser_time: Duration::from_millis(20),
                pipeline_time: Duration::from_millis(200),
                memory_flows: 65_536,
                forwarding_s: 2,
                latency_s: 2,
                latency_rates: vec![10_000],
            }
        } else {
            // About 100 000 frames each: what net_pcap's infinite_rx holds in
            // the default pools of both mailgate-dataplane and testpmd.
            Scale {
                mixes: vec![spec(Mix::Nonmail64, 9_000), spec(Mix::Realistic, 3_000), spec(Mix::Mailstorm, 7_500)],
                large: vec![spec(Mix::Realistic, 20_000), spec(Mix::Mailstorm, 75_000)],
                parser_time: Duration::from_secs(1),
                pipeline_time: Duration::from_secs(5),
                memory_flows: 1_048_576,
                forwarding_s: 10,
                latency_s: 10,
                latency_rates: vec![100_000, 500_000],
            }
        }
    }
}

/// Runs the selected stages and writes the results; returns them.
pub fn run(config: &RunConfig) -> anyhow::Result<Results> {
    let mut scale = Scale::new(config.quick);
    if !config.mixes.is_empty() {
        scale.mixes.retain(|c| config.mixes.contains(&c.mix));
        scale.large.retain(|c| config.mixes.contains(&c.mix));
    }
    std::fs::create_dir_all(&config.out_dir).with_context(|| format!("creating {}", config.out_dir.display()))?;
    std::fs::create_dir_all(&config.work_dir).with_context(|| format!("creating {}", config.work_dir.display()))?;
    let mut results = Results::new(machine::Machine::read(), config.quick);
    let wants = |s: Stage| config.stages.contains(&s);
    // Memory first, while the process holds nothing else.
    if wants(Stage::Memory) {
        eprintln!("mailgate-bench: stage memory");
        results.memory = Outcome::from(memory::measure(scale.memory_flows));
    }
    if wants(Stage::Parsers) {
        eprintln!("mailgate-bench: stage parsers");
        results.parsers = Outcome::from(parsers::measure(scale.parser_time));
    }
    let needs_captures = [Stage::Pipeline, Stage::Forwarding, Stage::Offline, Stage::Latency].iter().any(|s| wants(*s));
    let mut mixes: Vec<Capture> = Vec::new();
    if needs_captures {
        for spec in &scale.mixes {
            mixes.push(captures::generate(spec, &config.work_dir)?);
        }
    }
    results.captures.clone_from(&mixes);
    if wants(Stage::Pipeline) {
        eprintln!("mailgate-bench: stage pipeline");
        results.pipeline = Outcome::from(pipeline::measure_all(&mixes, scale.pipeline_time));
    }
    if wants(Stage::Forwarding) {
        eprintln!("mailgate-bench: stage forwarding");
        results.forwarding = forwarding::measure(&config.tools, &mixes, scale.forwarding_s, &config.work_dir);
    }
    if wants(Stage::Offline) {
        eprintln!("mailgate-bench: stage offline");
        let mut offline_captures = mixes.clone();
        for large in &scale.large {
            let capture = captures::generate(large, &config.work_dir)?;
            results.captures.push(capture.clone());
            offline_captures.push(capture);
        }
        results.offline = offline::measure(&config.tools, &offline_captures, &config.work_dir);
    }
    if wants(Stage::Latency) {
        eprintln!("mailgate-bench: stage latency");
        let realistic = mixes.iter().find(|c| c.mix == Mix::Realistic);
        results.latency =
            latency::measure(&config.tools, realistic, &scale.latency_rates, scale.latency_s, &config.work_dir);
    }
    results.load_at_end = machine::load_average();
    write_results(&results, &config.out_dir)?;
    Ok(results)
}

/// Writes `results.json`, `table.md` (the Markdown table) and `mpps.svg` into `dir`.
fn write_results(results: &Results, dir: &Path) -> anyhow::Result<()> {
    let json = dir.join("results.json");
    let text = serde_json::to_string_pretty(results)?;
    std::fs::write(&json, text + "\n").with_context(|| format!("writing {}", json.display()))?;
    let table = dir.join("table.md");
    std::fs::write(&table, report::markdown(results)).with_context(|| format!("writing {}", table.display()))?;
    let svg = dir.join("mpps.svg");
    chart::draw(results, &svg).with_context(|| format!("drawing {}", svg.display()))?;
    Ok(())
}
