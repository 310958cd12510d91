//! `mailgate-dataplane inspect CAPTURE`: replays a capture through the same
//! pipeline the live workers run; JSON session records on stdout, a summary
//! on stderr, exit status 2 for bad input.

use mailgate_dataplane::engine::EngineConfig;
use mailgate_dataplane::replay::{replay, ReplayError};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Arguments of `inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The capture (pcap or pcapng, optionally gzip-compressed).
    capture: PathBuf,
    /// Policy file (default: the embedded monitor-mode policy).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Report every TCP flow, not only mail sessions and mail ports.
    #[arg(long)]
    all_flows: bool,
}

/// Runs `inspect`; returns the process exit code.
pub fn run(args: InspectArgs) -> u8 {
    let policy = match crate::load_policy(args.config.as_deref()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let config = EngineConfig { inspect_blocked: true, ..EngineConfig::default() };
    let result = replay(&args.capture, policy, &config, args.all_flows, &mut out);
    let _ = out.flush();
    match result {
        Ok(s) => {
            eprintln!(
                "{}: {} packets, {} flows, {} mail sessions, {} records, {} packets dropped by policy, {} RSTs, {:.0} packets/s",
                args.capture.display(),
                s.packets,
                s.engine.flows_created,
                s.engine.mail_sessions,
                s.records,
                s.packets_dropped_policy,
                s.rst_sent,
                s.packets_per_second(),
            );
            match s.capture_error {
                Some(e) => {
                    eprintln!("mailgate-dataplane: {e}");
                    2
                }
                None => 0,
            }
        }
        Err(ReplayError::Capture(e)) => {
            eprintln!("mailgate-dataplane: {e}");
            2
        }
        Err(e) => {
            eprintln!("mailgate-dataplane: {e}");
            1
        }
    }
}
