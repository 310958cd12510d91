//! Offline replay of a capture through the same worker loop and engine the
//! live DPDK workers run (the `inspect` command): records go to a writer as
//! JSON lines, and a summary comes back.

use crate::engine::{Engine, EngineConfig, EngineStats, SessionEnd, SessionSink};
use crate::io::pcap::{CaptureError, PcapIo};
use crate::io::PacketIo;
use crate::record::{borrowed_record, write_json};
use crate::verdict::{PolicyHandle, Verdicts};
use crate::worker::{PortPair, Worker};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Frames between two idle-expiry ticks (on capture time).
const TICK_EVERY: usize = 4096;

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    /// Packets read from the capture.
    pub packets: u64,
    /// Engine counters (flows, mail sessions…).
    pub engine: EngineStats,
    /// Records written.
    pub records: u64,
    /// Packets a drop or reset verdict discarded.
    pub packets_dropped_policy: u64,
    /// RSTs crafted.
    pub rst_sent: u64,
    /// Wall-clock seconds the replay took.
    pub elapsed_s: f64,
    /// The error that ended reading early (sessions before it were written).
    pub capture_error: Option<CaptureError>,
}

impl ReplaySummary {
    /// Packets processed per wall-clock second.
    pub fn packets_per_second(&self) -> f64 {
        self.packets as f64 / self.elapsed_s.max(1e-9)
    }
}

/// Writes finished sessions as JSON lines (and hands them to `also`).
struct JsonLines<'w> {
    out: &'w mut dyn Write,
    also: Option<&'w mut dyn SessionSink>,
    policy: PolicyHandle,
    all_flows: bool,
    written: u64,
    error: Option<std::io::Error>,
    /// The record being written, as JSON (reused).
    line: Vec<u8>,
}

impl SessionSink for JsonLines<'_> {
    fn emit(&mut self, session: &SessionEnd<'_>) {
        if self.error.is_some() || !(self.all_flows || session.is_reportable()) {
            return;
        }
        if let Some(also) = self.also.as_mut() {
            also.emit(session);
        }
        let record = borrowed_record(session, std::slice::from_ref(&self.policy));
        // Serialised into a buffer first: the writer then takes one line
        // rather than the dozens of small pieces serde writes.
        self.line.clear();
        let result = write_json(&record, &mut self.line).map_err(std::io::Error::other).and_then(|()| {
            self.line.push(b'\n');
            self.out.write_all(&self.line)
        });
        match result {
            Ok(()) => self.written += 1,
            Err(e) => self.error = Some(e),
        }
    }
}

/// Replays `capture`, writing a record per reportable session (every flow
/// with `all_flows`) to `out`. A capture that cannot be opened is an
/// `Err`; one that breaks off midway still yields the sessions so far, with
/// the error in the summary.
pub fn replay(
    capture: &Path,
    policy: PolicyHandle,
    config: &EngineConfig,
    all_flows: bool,
    out: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    replay_into(capture, policy, config, all_flows, out, None)
}

/// [`replay`], also handing every written session to `also` (the
/// reporter's ring, to import a capture into the control plane).
pub fn replay_into<'w>(
    capture: &Path,
    policy: PolicyHandle,
    config: &EngineConfig,
    all_flows: bool,
    out: &'w mut dyn Write,
    also: Option<&'w mut dyn SessionSink>,
) -> Result<ReplaySummary, ReplayError> {
    let mut io = PcapIo::open(capture)?;
    let engine = Engine::new(config, Verdicts::new(policy.clone()));
    let sink = JsonLines { out, also, policy, all_flows, written: 0, error: None, line: Vec::new() };
    let mut worker = Worker::new(engine, sink);
    let pairs = [PortPair { inside: 0, outside: 1 }];
    let started = Instant::now();
    let mut since_tick = 0;
    loop {
        let now = io.last_ts_ns();
        let got = worker.poll_once(&mut io, &pairs, now);
        since_tick += got;
        if since_tick >= TICK_EVERY {
            worker.tick(io.last_ts_ns());
            since_tick = 0;
        }
        if got == 0 && io.exhausted() {
            break;
        }
    }
    worker.finish();
    let elapsed_s = started.elapsed().as_secs_f64();
    if let Some(e) = worker.sink.error.take() {
        return Err(ReplayError::Output(e));
    }
    worker.sink.out.flush().map_err(ReplayError::Output)?;
    let c = &worker.counters;
    Ok(ReplaySummary {
        packets: io.packets(),
        engine: worker.engine.stats(),
        records: worker.sink.written,
        packets_dropped_policy: c.packets_dropped_policy.load(Ordering::Relaxed),
        rst_sent: c.rst_sent.load(Ordering::Relaxed),
        elapsed_s,
        capture_error: io.take_error(),
    })
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The capture could not be opened or is not a capture.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Records could not be written.
    #[error("writing records: {0}")]
    Output(std::io::Error),
}
