//! `mailgate-bench`: the traffic generator (`gen`), the benchmark suite
//! (`run`) and the DPDK latency sender (`send`).

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailgate_bench::gen::{generate, GenConfig};
use mailgate_bench::mix::Mix;
use mailgate_bench::pcap;
use mailgate_bench::run::{self, RunConfig, Stage, Tools};

// Counts heap allocations, for the pipeline benchmark's allocations per packet.
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = run::counting::COUNTING_ALLOCATOR;

#[derive(Parser)]
#[command(name = "mailgate-bench", version, about = "Traffic generation and benchmarks for mailgate")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deterministic capture and its ground truth.
    Gen(GenArgs),
    /// Run the benchmark suite: results.json, mpps.svg and a Markdown table.
    Run(RunArgs),
    /// Replay a capture, or flows generated in memory, into two DPDK ports at
    /// a fixed rate and measure what comes back (latency through the
    /// appliance). EAL arguments after `--`.
    #[cfg(feature = "dpdk")]
    Send(SendArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Small captures and short runs: checks the suite works, not figures to publish.
    #[arg(long)]
    quick: bool,
    /// Run only these stages (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Stage>,
    /// Measure only these mixes (comma-separated) [default: all three].
    #[arg(long, value_enum, value_delimiter = ',')]
    mixes: Vec<Mix>,
    /// Where results.json and mpps.svg go [default: bench/results, or bench/out/results-quick with --quick].
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Where the generated captures and the tools' logs go.
    #[arg(long, value_name = "DIR", default_value = "bench/out/run")]
    work_dir: PathBuf,
    /// The release mailgate-dataplane binary [default: next to this one].
    #[arg(long, value_name = "PATH")]
    dataplane: Option<PathBuf>,
    /// dpdk-testpmd.
    #[arg(long, value_name = "PATH", default_value = "dpdk-testpmd")]
    testpmd: PathBuf,
    /// ndpiReader.
    #[arg(long, value_name = "PATH", default_value = "ndpiReader")]
    ndpi_reader: PathBuf,
}

#[cfg(feature = "dpdk")]
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["capture", "flows"])))]
struct SendArgs {
    /// The capture to replay, looped (each loop's sessions made new).
    #[arg(long, value_name = "FILE.pcap")]
    capture: Option<PathBuf>,
    /// Generate this many TCP flows in memory instead of reading a capture
    /// (`gen`'s generator, before sending starts), looped like a capture.
    #[arg(long, value_name = "N")]
    flows: Option<u64>,
    /// Traffic mix of the generated flows.
    #[arg(long, value_enum, default_value = "realistic", conflicts_with = "capture")]
    mix: Mix,
    /// Seed of the generated flows; the same seed gives the same frames.
    #[arg(long, value_name = "S", default_value = "1", conflicts_with = "capture")]
    seed: u64,
    /// Frames per second to offer.
    #[arg(long, value_name = "PPS")]
    rate: u64,
    /// Seconds to send for.
    #[arg(long, value_name = "SECS", default_value = "10")]
    duration: f64,
    /// The DPDK ports cabled to the appliance's inside port (client frames
    /// leave there) and to its outside port (server frames), in that order;
    /// each receives what the appliance forwards from the other.
    #[arg(long = "port", value_name = "IN,OUT", value_delimiter = ',', default_value = "0,1")]
    ports: Vec<u16>,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Seconds to keep the ports open, idle, after the report is written
    /// (stop a memif peer appliance in that time: see the README).
    #[arg(long, value_name = "SECS", default_value = "0")]
    linger: f64,
    /// EAL arguments (`--vdev net_memif0,role=client,socket=… -l 0 --file-prefix …`).
    #[arg(last = true, value_name = "EAL-ARGS")]
    eal_args: Vec<String>,
}

#[derive(clap::Args)]
struct GenArgs {
    /// The pcap to write.
    #[arg(long, value_name = "FILE.pcap")]
    out: PathBuf,
    /// Number of TCP flows.
    #[arg(long, value_name = "N")]
    flows: u64,
    /// Seed; the same seed gives a byte-identical capture.
    #[arg(long, value_name = "S")]
    seed: u64,
    /// Traffic mix.
    #[arg(long, value_enum, default_value = "realistic")]
    mix: Mix,
    /// Ground truth, one JSON line per TCP flow [default: FILE.truth.jsonl].
    #[arg(long, value_name = "FILE.jsonl")]
    truth: Option<PathBuf>,
}

/// Runs shorter than this many flows draw no progress bar.
const PROGRESS_MIN_FLOWS: u64 = 10_000;

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Gen(args) => gen(args),
        Command::Run(args) => run_suite(args),
        #[cfg(feature = "dpdk")]
        Command::Send(args) => send(args),
    }
}

fn run_suite(args: RunArgs) -> anyhow::Result<()> {
    let me = std::env::current_exe().context("locating this binary")?;
    let dataplane = args.dataplane.unwrap_or_else(|| me.with_file_name("mailgate-dataplane"));
    let default_out = if args.quick { "bench/out/results-quick" } else { "bench/results" };
    let config = RunConfig {
        quick: args.quick,
        stages: if args.only.is_empty() { <Stage as clap::ValueEnum>::value_variants().to_vec() } else { args.only },
        mixes: args.mixes,
        out_dir: args.out_dir.unwrap_or_else(|| PathBuf::from(default_out)),
        work_dir: args.work_dir,
        tools: Tools { dataplane, testpmd: args.testpmd, ndpi_reader: args.ndpi_reader, sender: me },
    };
    let results = run::run(&config)?;
    print!("{}", run::report::markdown(&results));
    eprintln!("mailgate-bench: results in {}", config.out_dir.display());
    if results.any_failed() {
        anyhow::bail!("a stage failed (see results.json)");
    }
    Ok(())
}

#[cfg(feature = "dpdk")]
fn send(args: SendArgs) -> anyhow::Result<()> {
    use mailgate_bench::send::Source;
    let &[inside, outside] = args.ports.as_slice() else {
        anyhow::bail!("--port takes two ports, inside then outside (`--port 0,1`); got {:?}", args.ports);
    };
    let source = match (args.capture, args.flows) {
        (Some(path), _) => Source::Capture(path),
        (None, Some(flows)) => Source::Generated(GenConfig { flows, seed: args.seed, mix: args.mix }),
        (None, None) => anyhow::bail!("give --capture FILE or --flows N"),
    };
    let config = mailgate_bench::send::SendConfig {
        source,
        rate: args.rate,
        duration_s: args.duration,
        ports: [inside, outside],
        eal_args: args.eal_args,
        json: args.json,
        linger: std::time::Duration::try_from_secs_f64(args.linger).context("--linger")?,
    };
    let report = mailgate_bench::send::send(&config)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn gen(args: GenArgs) -> anyhow::Result<()> {
    let truth_path = args.truth.unwrap_or_else(|| args.out.with_extension("truth.jsonl"));
    let capture = File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut capture = pcap::Writer::new(BufWriter::new(capture))?;
    let truth = File::create(&truth_path).with_context(|| format!("creating {}", truth_path.display()))?;
    let mut truth = BufWriter::new(truth);

    // indicatif draws nothing when stderr is not a terminal.
    let target =
        if args.flows >= PROGRESS_MIN_FLOWS { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(args.flows), target);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} flows, {elapsed} elapsed, {eta} left")?);
    let config = GenConfig { flows: args.flows, seed: args.seed, mix: args.mix };
    let summary = generate(&config, &mut capture, &mut truth, &mut |made| {
        if made % 256 == 0 {
            bar.set_position(made);
        }
    })?;
    bar.finish_and_clear();
    capture.finish()?;
    std::io::Write::flush(&mut truth)?;
    eprintln!(
        "{}: {} flows ({} mail), {} frames, {} bytes over {:.1} s; truth in {}",
        args.out.display(),
        summary.flows,
        summary.mail_flows,
        summary.frames,
        summary.bytes,
        summary.last_us.saturating_sub(summary.first_us) as f64 / 1e6,
        truth_path.display()
    );
    Ok(())
}
