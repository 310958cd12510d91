//! `mailgate-control`: the control plane daemon.

use clap::{Parser, Subcommand};
use mailgate_control::config::ControlConfig;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mailgate-control",
    version,
    about = "mailgate control plane: report ingest, storage, API, metrics, EVE"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane until SIGINT or SIGTERM.
    Serve {
        /// The control plane's configuration file (see mailgate-control.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Check a configuration file and exit (0 valid, 2 invalid).
    CheckConfig {
        /// The file to check.
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match Cli::parse().command {
        Command::CheckConfig { config } => match ControlConfig::load(&config) {
            Ok(_) => {
                println!("{}: valid", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve { config } => {
            let config = match ControlConfig::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(serve(config))
        }
    }
}

async fn serve(config: ControlConfig) -> ExitCode {
    // Before start-up, so that a SIGTERM while the store opens is a clean stop too.
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot handle SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut running = match mailgate_control::server::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => log::info!("SIGINT: shutting down"),
        _ = term.recv() => log::info!("SIGTERM: shutting down"),
        _ = running.wait() => {
            log::error!("a server task stopped; shutting down");
            return ExitCode::FAILURE;
        }
    }
    drop(running);
    ExitCode::SUCCESS
}
