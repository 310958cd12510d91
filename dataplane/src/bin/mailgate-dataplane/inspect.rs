//! `mailgate-dataplane inspect CAPTURE`: replays a capture through the same
//! pipeline the live workers run; JSON session records on stdout, a summary
//! on stderr, exit status 2 for bad input. With `[dataplane.report]` in the
//! config file the records also go to the control plane (an import).

use mailgate_dataplane::engine::{ReportedSession, SessionEnd};
use mailgate_dataplane::record::to_record;
use mailgate_dataplane::replay::{replay_into, ReplayError, SessionObserver};
use mailgate_dataplane::report::{facts_ring, MailboxControl, PolicyMailbox, Reporter, RingSink};
use mailgate_dataplane::settings::RuntimeConfig;
use mailgate_dataplane::verdict::PolicyHandle;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Records queued for the reporter at once during an import.
const IMPORT_RING: usize = 4096;
/// How long an import waits for the reporter to make room, per record.
const IMPORT_PATIENCE: Duration = Duration::from_secs(30);
/// How long the reporter may take at the end to deliver the last records.
const IMPORT_GRACE: Duration = Duration::from_secs(30);

/// Arguments of `inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The capture (pcap or pcapng, optionally gzip-compressed).
    capture: PathBuf,
    /// Config file: the policy (default: the embedded monitor-mode policy),
    /// `[dataplane.engine]` sizes, and `[dataplane.report]` to also send the
    /// records to the control plane.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Report every TCP flow, not only mail sessions and mail ports.
    #[arg(long)]
    all_flows: bool,
}

/// Hands sessions to the reporter's ring, waiting for room: an offline
/// import must not lose records the way a busy worker would.
struct Import(RingSink<ReportedSession>);

impl SessionObserver for Import {
    fn observe(&mut self, session: &SessionEnd<'_>) {
        self.0.push_copy_or_wait(session, IMPORT_PATIENCE);
    }
}

/// Runs `inspect`; returns the process exit code.
pub fn run(args: InspectArgs) -> u8 {
    let policy = match crate::load_policy(args.config.as_deref()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let settings = match &args.config {
        Some(path) => match RuntimeConfig::load(path) {
            Ok(l) => l.runtime,
            Err(e) => {
                eprintln!("mailgate-dataplane: {e}");
                return 2;
            }
        },
        None => RuntimeConfig::default(),
    };
    let mut engine = settings.engine.clone();
    // Offline, the rest of a blocked session is still in the capture: inspect it too.
    engine.inspect_blocked = true;
    let mut import = match &settings.report {
        Some(report) => match start_import(report.clone(), &policy) {
            Ok(started) => Some(started),
            Err(e) => {
                eprintln!("mailgate-dataplane: {e}");
                return 2;
            }
        },
        None => None,
    };
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout());
    let also = import.as_mut().map(|(sink, _)| sink as &mut dyn SessionObserver);
    let result = replay_into(&args.capture, policy, &engine, args.all_flows, &mut out, also);
    let _ = out.flush();
    if let Some((_, reporter)) = import {
        // Delivers what is queued; what cannot be delivered is counted and
        // reported to the control plane like any gateway's loss.
        reporter.shutdown(IMPORT_GRACE);
    }
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

/// Starts a reporter over one ring for the import.
fn start_import(
    report: mailgate_dataplane::report::ReporterConfig,
    policy: &PolicyHandle,
) -> Result<(Import, Reporter), String> {
    let mailbox = PolicyMailbox::new(Arc::clone(policy));
    let (sink, source) = facts_ring(IMPORT_RING);
    let names = Arc::clone(&mailbox);
    let convert = move |s: &ReportedSession| to_record(s, &names.policies());
    let control = MailboxControl::new(mailbox, BTreeMap::new);
    let reporter = Reporter::spawn(report, vec![source], convert, control).map_err(|e| e.to_string())?;
    Ok((Import(sink), reporter))
}
