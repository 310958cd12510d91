//! `mailgate-dataplane`: the inline appliance's command line.
//!
//! `inspect` replays a capture through the same pipeline the live workers
//! run; `check-config` validates a policy file; `run` is the DPDK runtime.

mod check_config;
mod inspect;
#[cfg(feature = "dpdk")]
mod run;

use clap::{Parser, Subcommand};
use mailgate_dataplane::verdict::PolicyHandle;
use std::path::Path;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mailgate-dataplane",
    version,
    about = "Inline gate for command-and-control and exfiltration over mail protocols"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a capture through the inspection pipeline; one JSON record per mail session on stdout.
    Inspect(inspect::InspectArgs),
    /// Validate a policy file and print a summary (exit 0 valid, 2 invalid).
    CheckConfig(check_config::CheckConfigArgs),
    /// Run the inline appliance on DPDK ports (EAL arguments after `--`).
    #[cfg(feature = "dpdk")]
    Run(run::RunArgs),
}

/// Loads the policy file, or the embedded default; on error prints it and
/// gives exit status 2.
fn load_policy(path: Option<&Path>) -> Result<PolicyHandle, u8> {
    mailgate_dataplane::verdict::load_policy(path).map_err(|e| {
        eprintln!("{e}");
        2
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        #[cfg(feature = "dpdk")]
        Command::Run(args) => run::run(args),
    };
    ExitCode::from(code)
}
