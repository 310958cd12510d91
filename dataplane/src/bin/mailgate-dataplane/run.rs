//! `mailgate-dataplane run`: the live appliance on DPDK ports.

use clap::Args;
use mailgate_config::{CompiledPolicy, Document};
use mailgate_dataplane::engine::{Engine, EngineConfig};
use mailgate_dataplane::runtime::{self, sink::Discard, RunOptions, RuntimeConfig};
use mailgate_dataplane::verdict::{PolicyHandle, Verdicts};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `run`; EAL arguments follow `--`.
#[derive(Args)]
pub struct RunArgs {
    /// Config file: `[dataplane]` runtime settings and the policy.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Write the run's summary as JSON to this file at exit.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
    /// EAL arguments (`-l 0,1 --vdev … -a …`); default: `eal_args` from the config file.
    #[arg(last = true, value_name = "EAL-ARGS")]
    eal_args: Vec<String>,
}

/// Runs the appliance; exit status 0 after a clean stop, 2 when it cannot
/// start, 1 when it fails later.
pub fn run(args: RunArgs) -> u8 {
    let loaded = match &args.config {
        Some(path) => match RuntimeConfig::load(path) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("mailgate: {e}");
                return 2;
            }
        },
        None => None,
    };
    let duration = match args.duration.map(Duration::try_from_secs_f64).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mailgate: --duration: {e}");
            return 2;
        }
    };
    let policy = match load_policy(args.config.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mailgate: {e}");
            return 2;
        }
    };
    let opts = RunOptions {
        config: loaded.map(|l| l.runtime).unwrap_or_default(),
        config_path: args.config.clone(),
        eal_args: args.eal_args,
        duration,
    };
    let engine_config = EngineConfig::default();
    // Sessions are counted per worker and dropped until the reporter's rings
    // are attached here (one `make_sink(i)` per worker).
    let make_engine = |_| Engine::new(&engine_config, Verdicts::new(Arc::clone(&policy)));
    let result = runtime::run(&opts, make_engine, |_| Discard);
    match result {
        Ok(summary) => {
            let json = match serde_json::to_string_pretty(&summary) {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("mailgate: cannot encode the summary: {e}");
                    return 1;
                }
            };
            eprintln!(
                "mailgate: stopped ({}) after {:.1}s: rx {} tx {} policy drops {} rst {} ({:.0} pps rx)",
                summary.stop_reason,
                summary.duration_s,
                summary.packets_rx,
                summary.packets_tx,
                summary.packets_dropped_policy,
                summary.rst_sent,
                summary.pps_rx
            );
            match &args.summary_json {
                Some(path) => {
                    if let Err(e) = std::fs::write(path, json + "\n") {
                        eprintln!("mailgate: cannot write {}: {e}", path.display());
                        return 1;
                    }
                }
                None => println!("{json}"),
            }
            0
        }
        Err(e) => {
            eprintln!("mailgate: {e}");
            e.exit_code()
        }
    }
}

/// The policy in the config file (its `[dataplane]` table skipped), or the
/// embedded default without a file. HOOK: SIGHUP's reload
/// (`runtime::reload`) compiles the same way and swaps it into the workers.
fn load_policy(path: Option<&Path>) -> Result<PolicyHandle, String> {
    let Some(path) = path else {
        return Ok(Arc::new(CompiledPolicy::embedded_default()));
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc =
        Document::parse_with_sections(&path.display().to_string(), &text, &["dataplane"]).map_err(|e| e.to_string())?;
    Ok(Arc::new(CompiledPolicy::new(&doc)))
}
