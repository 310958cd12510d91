//! `mailgate-bench`: the traffic generator (`gen`).

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailgate_bench::gen::{generate, GenConfig};
use mailgate_bench::mix::Mix;
use mailgate_bench::pcap;

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
    }
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
