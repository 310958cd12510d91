//! `mailgate-dataplane run`: the live appliance on DPDK ports, reporting to
//! the control plane when `[dataplane.report]` says where.

use clap::Args;
use crossbeam_utils::CachePadded;
use mailgate_config::CompiledPolicy;
use mailgate_dataplane::engine::{Engine, ReportedSession, SessionEnd, SessionSink};
use mailgate_dataplane::record::to_record;
use mailgate_dataplane::report::{
    facts_ring, load_saved_policy, MailboxControl, PolicyMailbox, ReportFilter, Reporter, ReporterConfig, RingSink,
    RingSource,
};
use mailgate_dataplane::runtime::{self, RunError, RunOptions, RuntimeConfig};
use mailgate_dataplane::verdict::{load_policy, PolicyHandle, Verdicts};
use mailgate_dataplane::worker::WorkerCounters;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the reporter may take at exit to deliver what is still queued.
const REPORT_GRACE: Duration = Duration::from_secs(3);

/// Arguments of `run`; EAL arguments follow `--`.
#[derive(Args)]
pub struct RunArgs {
    /// Config file: the policy, plus `[dataplane]` runtime settings.
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

/// A worker's session sink: the reporter's ring (the sessions a gateway
/// reports), or nothing (counted only).
enum RunSink {
    Ring(ReportFilter<RingSink<ReportedSession>>),
    Discard,
}

impl SessionSink for RunSink {
    fn emit(&mut self, session: &mut SessionEnd<'_>) {
        if let RunSink::Ring(ring) = self {
            // A full ring counts the record as dropped; a running worker never waits.
            ring.emit(session);
        }
    }

    fn ending(&mut self) {
        if let RunSink::Ring(ring) = self {
            ring.ending();
        }
    }
}

/// Runs the appliance; exit status 0 after a clean stop, 2 when it cannot
/// start, 1 when it fails later.
pub fn run(args: RunArgs) -> u8 {
    let runtime_config = match &args.config {
        Some(path) => match RuntimeConfig::load(path) {
            Ok(l) => l.runtime,
            Err(e) => {
                eprintln!("mailgate: {e}");
                return 2;
            }
        },
        None => RuntimeConfig::default(),
    };
    let duration = match args.duration.map(Duration::try_from_secs_f64).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mailgate: --duration: {e}");
            return 2;
        }
    };
    let configured = match load_policy(args.config.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mailgate: {e}");
            return 2;
        }
    };
    let report = runtime_config.report.clone();
    let mailbox = PolicyMailbox::new(initial_policy(configured, report.as_ref()));
    let opts = RunOptions {
        config: runtime_config,
        config_path: args.config.clone(),
        eal_args: args.eal_args,
        duration,
        mailbox: Some(Arc::clone(&mailbox)),
    };
    let sources: RefCell<Vec<RingSource<ReportedSession>>> = RefCell::new(Vec::new());
    let reporter: RefCell<Option<Reporter>> = RefCell::new(None);
    let engine_config = opts.config.engine.clone();
    let ring_capacity = opts.config.ring_capacity;
    let make_engine = |_| Engine::new(&engine_config, Verdicts::new(mailbox.current()).with_source(mailbox.reader()));
    let make_sink = |_| match &report {
        Some(config) => {
            let (sink, source) = facts_ring(ring_capacity);
            sources.borrow_mut().push(source);
            RunSink::Ring(ReportFilter::new(sink, config.all_flows))
        }
        None => RunSink::Discard,
    };
    let ready = |workers: Vec<Arc<CachePadded<WorkerCounters>>>| -> Result<(), RunError> {
        let Some(config) = report.clone() else { return Ok(()) };
        let names = Arc::clone(&mailbox);
        let convert = move |s: &ReportedSession| to_record(s, &names.policies());
        let control = MailboxControl::new(Arc::clone(&mailbox), move || dataplane_counters(&workers));
        let started = Reporter::spawn(config, sources.take(), convert, control)
            .map_err(|e| RunError::Failed(format!("cannot start the reporter: {e}")))?;
        *reporter.borrow_mut() = Some(started);
        Ok(())
    };
    let result = runtime::run(&opts, make_engine, make_sink, ready);
    if let Some(r) = reporter.take() {
        r.shutdown(REPORT_GRACE);
    }
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

/// The dataplane's counters as the control plane shows them, summed over
/// the workers. Packets the gateway lost (TX ring full, RST not sent) are
/// named `*_discarded`; policy drops are deliberate and named as such.
fn dataplane_counters(workers: &[Arc<CachePadded<WorkerCounters>>]) -> BTreeMap<String, u64> {
    let sum = |f: fn(&WorkerCounters) -> &AtomicU64| workers.iter().map(|w| f(w).load(Ordering::Relaxed)).sum::<u64>();
    BTreeMap::from([
        ("packets_rx".to_string(), sum(|c| &c.packets_rx)),
        ("packets_tx".to_string(), sum(|c| &c.packets_tx)),
        ("bytes_rx".to_string(), sum(|c| &c.bytes_rx)),
        ("packets_blocked_by_policy".to_string(), sum(|c| &c.packets_dropped_policy)),
        ("rst_sent".to_string(), sum(|c| &c.rst_sent)),
        ("packets_tx_full_discarded".to_string(), sum(|c| &c.tx_failed)),
        ("rst_discarded".to_string(), sum(|c| &c.rst_failed)),
        ("flows_active".to_string(), sum(|c| &c.flows_active)),
    ])
}

/// The policy to start with: the one the control plane pushed last and the
/// reporter saved, when it still validates; else the config file's.
fn initial_policy(configured: PolicyHandle, report: Option<&ReporterConfig>) -> PolicyHandle {
    let Some(path) = report.and_then(|r| r.policy_path.as_deref()) else { return configured };
    match load_saved_policy(path) {
        Ok(Some(toml)) => match CompiledPolicy::from_toml(&path.display().to_string(), &toml) {
            Ok(saved) => {
                eprintln!("mailgate: starting from the policy saved at {} ({})", path.display(), saved.hash());
                Arc::new(saved)
            }
            Err(e) => {
                eprintln!("mailgate: the saved policy {} is not valid, using the config file's:\n{e}", path.display());
                configured
            }
        },
        Ok(None) => configured,
        Err(e) => {
            eprintln!("mailgate: cannot read the saved policy {}: {e}; using the config file's", path.display());
            configured
        }
    }
}
