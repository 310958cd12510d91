//! `mailgate-dataplane`: the inline appliance's command line.
//!
//! `inspect` replays a capture through the same pipeline the live workers
//! run; `check-config` validates a policy file; `run` is the DPDK runtime.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "mailgate-dataplane", version, about = "Inline mail-protocol C2 and exfiltration gate")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {}
}
