//! Offline replay of a capture through the same worker loop and engine the
//! live DPDK workers run (the `inspect` command): records go to a writer as
//! JSON lines, built and written on a thread of their own, and a summary
//! comes back.

use crate::engine::{Engine, EngineConfig, EngineStats, ReportedSession, SessionEnd, SessionSink};
use crate::io::pcap::{CaptureError, PcapIo};
use crate::io::PacketIo;
use crate::record::{borrowed_record, write_json};
use crate::report::ReportFilter;
use crate::session::SessionFacts;
use crate::verdict::{PolicyHandle, Verdicts};
use crate::worker::{PortPair, Worker};
use crossbeam_channel::{Receiver, Sender};
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

/// Sees every session `inspect` writes, before its record is built from
/// the same facts: so it gets them to read (and copy), never to take.
pub trait SessionObserver {
    /// One session on its way to the writer.
    fn observe(&mut self, session: &SessionEnd<'_>);
}

/// Finished sessions handed to the writer thread at once: one wake-up of
/// the writer per batch, not per session.
const BATCH: usize = 32;
/// Batches in circulation between the two threads (allocated once, then
/// reused): the engine's thread waits for an empty one when all are queued.
const BATCHES: usize = 4;

/// A batch of finished sessions on its way to the writer, or back from it
/// with the facts' boxes to reuse.
type Batch = Vec<ReportedSession>;

/// The engine's sink, behind the report filter: collects sessions into
/// batches for the writer thread (and shows each to `also`). The engine's thread inspects
/// while the writer builds and writes records, as the live appliance's
/// reporter builds them off the workers.
struct ToWriter<'w> {
    batch: Batch,
    /// Boxes of facts the writer is done with: each session collected
    /// takes its facts out of the engine's pool in exchange for one, so
    /// the engine's thread copies no facts (see [`SessionEnd::take_facts`]).
    spares: Vec<Box<SessionFacts>>,
    /// `None` once [`ToWriter::finish`] hung up, or the writer stopped (its
    /// output failed): nothing more is queued.
    full: Option<Sender<Batch>>,
    empty: Receiver<Batch>,
    also: Option<&'w mut dyn SessionObserver>,
}

impl ToWriter<'_> {
    /// Sends the current batch to the writer, waiting for an empty one to
    /// fill next: offline, no record is dropped.
    fn hand_over(&mut self) {
        let Ok(mut next) = self.empty.recv() else {
            self.full = None;
            return;
        };
        self.spares.extend(next.drain(..).filter_map(|written| written.facts));
        let full = std::mem::replace(&mut self.batch, next);
        if self.full.as_ref().is_some_and(|queue| queue.send(full).is_err()) {
            self.full = None;
        }
    }

    /// Sends what is collected and hangs up (at the end of the capture):
    /// the writer finishes what is queued and returns.
    fn finish(&mut self) {
        if let Some(queue) = self.full.take() {
            if !self.batch.is_empty() {
                let _ = queue.send(std::mem::take(&mut self.batch));
            }
        }
    }
}

impl SessionSink for ToWriter<'_> {
    fn emit(&mut self, session: &mut SessionEnd<'_>) {
        if self.full.is_none() {
            return;
        }
        if let Some(also) = self.also.as_mut() {
            also.observe(session);
        }
        // The writer gives back as many boxes as it got: there is a spare
        // unless the output failed midway.
        let spares = &mut self.spares;
        if let Some(taken) = session.take_facts(|| Some(spares.pop().unwrap_or_default())) {
            self.batch.push(taken);
        }
        if self.batch.len() >= BATCH {
            self.hand_over();
        }
    }
}

/// The writer thread: a JSON line per session received, in order, until
/// the engine's side hangs up; each emptied batch goes back. Returns the
/// records written, or the error that stopped it (its channel ends go with
/// it, so the engine stops sending).
fn write_records(
    full: Receiver<Batch>,
    empty: Sender<Batch>,
    policy: &PolicyHandle,
    out: &mut dyn Write,
) -> std::io::Result<u64> {
    let mut written = 0;
    // Each record is serialised into a buffer first: the writer then takes
    // one line rather than the dozens of small pieces serde writes.
    let mut line = Vec::new();
    for batch in full {
        for session in &batch {
            let record = borrowed_record(session, std::slice::from_ref(policy));
            line.clear();
            write_json(&record, &mut line).map_err(std::io::Error::other)?;
            line.push(b'\n');
            out.write_all(&line)?;
            written += 1;
        }
        // Back with the facts' boxes in it, for the engine's side to reuse;
        // it may be done already, and then nobody needs it back.
        let _ = empty.send(batch);
    }
    out.flush()?;
    Ok(written)
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
    out: &mut (dyn Write + Send),
) -> Result<ReplaySummary, ReplayError> {
    replay_into(capture, policy, config, all_flows, out, None)
}

/// [`replay`], also showing every written session to `also` (the
/// reporter's ring, to import a capture into the control plane).
pub fn replay_into<'w>(
    capture: &Path,
    policy: PolicyHandle,
    config: &EngineConfig,
    all_flows: bool,
    out: &'w mut (dyn Write + Send),
    also: Option<&'w mut dyn SessionObserver>,
) -> Result<ReplaySummary, ReplayError> {
    let mut io = PcapIo::open(capture)?;
    let engine = Engine::new(config, Verdicts::new(policy.clone()));
    let (full, to_write) = crossbeam_channel::bounded(BATCHES);
    let (give_back, empty) = crossbeam_channel::bounded(BATCHES);
    for _ in 1..BATCHES {
        let _ = give_back.send(Batch::with_capacity(BATCH));
    }
    let batch = Batch::with_capacity(BATCH);
    let spares = std::iter::repeat_with(Box::<SessionFacts>::default).take(BATCH * BATCHES).collect();
    let sink = ToWriter { batch, spares, full: Some(full), empty, also };
    // What a gateway would report, or every flow.
    let mut worker = Worker::new(engine, ReportFilter::new(sink, all_flows));
    let pairs = [PortPair { inside: 0, outside: 1 }];
    let started = Instant::now();
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("inspect-writer".into())
            .spawn_scoped(scope, || write_records(to_write, give_back, &policy, out))
            .map_err(ReplayError::Output)?;
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
        worker.sink.inner_mut().finish();
        let records = writer
            .join()
            .map_err(|_| ReplayError::Output(std::io::Error::other("the record writer thread panicked")))?
            .map_err(ReplayError::Output)?;
        let elapsed_s = started.elapsed().as_secs_f64();
        let c = &worker.counters;
        Ok(ReplaySummary {
            packets: io.packets(),
            engine: worker.engine.stats(),
            records,
            packets_dropped_policy: c.packets_dropped_policy.load(Ordering::Relaxed),
            rst_sent: c.rst_sent.load(Ordering::Relaxed),
            elapsed_s,
            capture_error: io.take_error(),
        })
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
