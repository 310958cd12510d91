//! The whole engine in memory on one core: `Worker::poll_once` over a
//! `MemIo` port that loops a generated capture, i.e. decode → flow table →
//! reassembly → inspection → verdict → forward, with the idle-expiry tick
//! the live workers run, and finished sessions counted by a sink (records
//! are built off the hot path, by the reporter, in the live appliance).
//! Table sizes: [`bench_config`].
//!
//! Each mix is measured twice: with the counting sink (the engine alone,
//! where allocations are counted), and with the reporter's ring as the
//! sink, as a gateway with `[dataplane.report]` runs: every finished
//! session it reports (mail, or a mail port: [`ReportFilter`]) goes into a
//! [`facts_ring`] whose other end, on a second thread,
//! builds each record (the reporter's conversion, without its encoding and
//! socket) and sends the facts' box back.
//!
//! # Making every loop's sessions new
//!
//! A looped capture repeats its flows with the same initial sequence
//! numbers, which the engine would take for retransmissions of flows it
//! already closed. So the engine's clock is the capture's own time plus an
//! offset that grows by the capture's span plus 700 s per loop, and a tick
//! at the end of each loop, 700 s after its last frame (past every idle
//! timeout), finishes every flow of the loop: each loop creates, inspects
//! and finishes every session anew, and that final tick is measured too.
//! Within a loop the clock advances with the capture (one reading per
//! 32-frame burst) and the tick runs every 4096 frames, as in `inspect`.
//! The capture is cut to a whole number of bursts so that a burst never
//! straddles two loops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mailgate_dataplane::engine::{Engine, EngineConfig, EngineStats, ReportedSession, SessionEnd, SessionSink};
use mailgate_dataplane::io::mem::{MemFrame, MemIo};
use mailgate_dataplane::io::BURST;
use mailgate_dataplane::record::to_record;
use mailgate_dataplane::report::{facts_ring, ReportFilter, RingSink, RingSource};
use mailgate_dataplane::verdict::{load_policy, PolicyHandle, Verdicts};
use mailgate_dataplane::worker::{PortPair, Worker};

use super::captures::{self, Capture, TimedFrame};
use super::counting;
use crate::mix::Mix;

/// Frames between two ticks (as `inspect` does).
const TICK_EVERY: usize = 4096;
/// Clock jump at the end of a loop: past every idle timeout (600 s at most).
const LOOP_GAP_NS: u64 = 700 * 1_000_000_000;
/// Loops run before measuring (tables, caches and branch predictors warm).
const WARM_UP_LOOPS: u32 = 2;
/// Most loops measured per mix.
const MAX_LOOPS: usize = 100_000;
/// The reporter ring's places, as `ring_capacity` defaults to.
const RING_CAPACITY: usize = 4096;
/// How long the ring's reader sleeps when the ring is empty.
const READER_IDLE: Duration = Duration::from_micros(100);

/// Counts finished sessions; keeps nothing.
#[derive(Debug, Default)]
pub struct CountingSink {
    /// Sessions emitted.
    pub sessions: u64,
}

impl SessionSink for CountingSink {
    fn emit(&mut self, _session: &mut SessionEnd<'_>) {
        self.sessions += 1;
    }
}

/// A worker, its looping in-memory port and the clock that keeps every
/// loop's sessions new.
pub struct Pipeline<'a, S: SessionSink = CountingSink> {
    worker: Worker<S>,
    io: MemIo<'a>,
    /// Capture time of the first frame of each burst.
    burst_ts: Vec<u64>,
    span_ns: u64,
    offset_ns: u64,
    frames: usize,
}

/// What one or more loops did.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoopStats {
    /// Frames processed.
    pub frames: u64,
    /// Frames the worker forwarded.
    pub forwarded: u64,
}

impl<'a> Pipeline<'a> {
    /// A pipeline over `frames` (borrowed for its life, as a NIC's ring
    /// lends its buffers) with the embedded default policy (monitor mode)
    /// and `config`'s table sizes.
    pub fn new(frames: &'a [TimedFrame], config: &EngineConfig) -> anyhow::Result<Pipeline<'a>> {
        Pipeline::with_sink(frames, config, CountingSink::default())
    }
}

impl<'a, S: SessionSink> Pipeline<'a, S> {
    /// [`Pipeline::new`] with finished sessions going to `sink`.
    pub fn with_sink(frames: &'a [TimedFrame], config: &EngineConfig, sink: S) -> anyhow::Result<Pipeline<'a, S>> {
        let whole = frames.len() - frames.len() % BURST;
        anyhow::ensure!(whole > 0, "the capture has fewer than {BURST} frames");
        let frames = frames.get(..whole).unwrap_or_default();
        let burst_ts = frames.iter().step_by(BURST).map(|f| f.ts_ns).collect();
        let first = frames.first().map_or(0, |f| f.ts_ns);
        let last = frames.last().map_or(0, |f| f.ts_ns);
        let input: Vec<MemFrame<'a>> = frames.iter().map(|f| MemFrame::borrowed(&f.data, None)).collect();
        let policy = load_policy(None)?;
        let worker = Worker::new(Engine::new(config, Verdicts::new(policy)), sink);
        Ok(Pipeline {
            worker,
            io: MemIo::new(vec![input, Vec::new()], true, false),
            burst_ts,
            span_ns: last.saturating_sub(first),
            offset_ns: 0,
            frames: whole,
        })
    }

    /// Frames per loop.
    pub fn frames_per_loop(&self) -> usize {
        self.frames
    }

    /// The engine's counters.
    pub fn engine_stats(&self) -> EngineStats {
        self.worker.engine.stats()
    }

    /// One pass over the capture, ending with the tick that finishes its flows.
    pub fn run_loop(&mut self) -> LoopStats {
        let pairs = [PortPair { inside: 0, outside: 1 }];
        let tx_before = self.io.tx_count.get(1).copied().unwrap_or(0);
        let mut since_tick = 0;
        let mut frames = 0u64;
        let mut now = self.offset_ns;
        for &ts in &self.burst_ts {
            now = ts + self.offset_ns;
            let got = self.worker.poll_once(&mut self.io, &pairs, now);
            frames += got as u64;
            since_tick += got;
            if since_tick >= TICK_EVERY {
                self.worker.tick(now);
                since_tick = 0;
            }
        }
        self.worker.tick(now + LOOP_GAP_NS);
        self.offset_ns += self.span_ns + LOOP_GAP_NS;
        let forwarded = self.io.tx_count.get(1).copied().unwrap_or(0) - tx_before;
        LoopStats { frames, forwarded }
    }
}

/// The figures of one mix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineResult {
    /// The mix.
    pub mix: Mix,
    /// Frames per loop of the capture.
    pub frames_per_loop: usize,
    /// Loops measured (after the warm-up).
    pub loops: u32,
    /// Frames processed while measuring.
    pub packets: u64,
    /// Wall-clock seconds measured.
    pub seconds: f64,
    /// Million packets per second, in the median loop (robust to the
    /// time slices other processes take from the core).
    pub mpps: f64,
    /// Million packets per second over every measured loop.
    pub mean_mpps: f64,
    /// Nanoseconds per packet, in the median loop.
    pub ns_per_packet: f64,
    /// Sessions created (and finished) per second, in the median loop.
    pub new_sessions_per_s: f64,
    /// Mail sessions finished per second, in the median loop.
    pub new_mail_sessions_per_s: f64,
    /// Heap allocations while measuring (`None`: this process does not count).
    pub allocations: Option<u64>,
    /// Heap allocations per packet while measuring.
    pub allocations_per_packet: Option<f64>,
    /// Flows created per loop.
    pub flows_per_loop: u64,
    /// Mail sessions per loop.
    pub mail_sessions_per_loop: u64,
    /// Sessions not inspected for lack of a pool slot, while measuring.
    pub sessions_not_inspected: u64,
    /// Flows evicted for room, while measuring.
    pub flows_evicted: u64,
    /// Frames forwarded while measuring (all of them in monitor mode).
    pub forwarded: u64,
    /// The same capture with the reporter's ring as the sink.
    pub reported: Option<ReportedRun>,
}

/// The engine sizes the benchmark uses: the defaults, as a gateway runs
/// them. (`sessions_not_inspected` in the results shows that every session
/// was inspected: closed sessions give their slots to new ones.)
pub fn bench_config() -> EngineConfig {
    EngineConfig::default()
}

/// The same loops with the reporter's ring as the worker's sink.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ReportedRun {
    /// Million packets per second, in the median loop.
    pub mpps: f64,
    /// Nanoseconds per packet, in the median loop.
    pub ns_per_packet: f64,
    /// Sessions the worker finished (warm-up included).
    pub sessions: u64,
    /// Records the ring's reader built: one per reported session (mail, or
    /// a mail port) that found room in the ring.
    pub records: u64,
    /// Reported sessions dropped because the ring was full (the reader too
    /// far behind), as a gateway counts them in `ring_dropped`.
    pub dropped: u64,
}

/// Measures one capture for about `budget` (at least three loops) with
/// each sink; rates are those of the median loop.
pub fn measure(capture: &Capture, budget: Duration) -> anyhow::Result<PipelineResult> {
    let frames = captures::load(&capture.path)?;
    let mut result = measure_counting(capture.mix, &frames, budget)?;
    result.reported = Some(measure_reported(&frames, budget)?);
    Ok(result)
}

/// The engine alone, its finished sessions counted.
fn measure_counting(mix: Mix, frames: &[TimedFrame], budget: Duration) -> anyhow::Result<PipelineResult> {
    let mut pipeline = Pipeline::new(frames, &bench_config())?;
    for _ in 0..WARM_UP_LOOPS {
        pipeline.run_loop();
    }
    let counting = counting::active();
    // Reserved before counting starts: recording a loop must not allocate.
    let mut loop_seconds: Vec<f64> = Vec::with_capacity(MAX_LOOPS);
    let before = pipeline.engine_stats();
    let allocations_before = counting::allocations();
    let (total, seconds) = time_loops(&mut pipeline, budget, &mut loop_seconds);
    let allocations = counting.then(|| counting::allocations() - allocations_before);
    let loops = u32::try_from(loop_seconds.len())?;
    let median_s = super::timing::median(&mut loop_seconds);
    let after = pipeline.engine_stats();
    let sessions = after.sessions_finished - before.sessions_finished;
    let mail = after.mail_sessions - before.mail_sessions;
    let packets = total.frames;
    let per_loop = pipeline.frames_per_loop() as f64;
    Ok(PipelineResult {
        mix,
        frames_per_loop: pipeline.frames_per_loop(),
        loops,
        packets,
        seconds,
        mpps: per_loop / median_s / 1e6,
        mean_mpps: packets as f64 / seconds / 1e6,
        ns_per_packet: median_s * 1e9 / per_loop,
        new_sessions_per_s: sessions as f64 / f64::from(loops) / median_s,
        new_mail_sessions_per_s: mail as f64 / f64::from(loops) / median_s,
        allocations,
        allocations_per_packet: allocations.map(|a| a as f64 / packets.max(1) as f64),
        flows_per_loop: (after.flows_created - before.flows_created) / u64::from(loops),
        mail_sessions_per_loop: mail / u64::from(loops),
        sessions_not_inspected: after.sessions_not_inspected - before.sessions_not_inspected,
        flows_evicted: after.flows_evicted - before.flows_evicted,
        forwarded: total.forwarded,
        reported: None,
    })
}

/// The worker with the reporter's ring as its sink, and a second thread
/// building the records.
fn measure_reported(frames: &[TimedFrame], budget: Duration) -> anyhow::Result<ReportedRun> {
    let (sink, source) = facts_ring(RING_CAPACITY);
    let policies = [load_policy(None)?];
    let sink = ReportFilter::new(sink, false);
    let mut pipeline: Pipeline<'_, ReportFilter<RingSink<ReportedSession>>> =
        Pipeline::with_sink(frames, &bench_config(), sink)?;
    let stop = AtomicBool::new(false);
    let (records, mut loop_seconds) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| build_records(source, &policies, &stop));
        for _ in 0..WARM_UP_LOOPS {
            pipeline.run_loop();
        }
        let mut loop_seconds = Vec::with_capacity(MAX_LOOPS);
        time_loops(&mut pipeline, budget, &mut loop_seconds);
        stop.store(true, Ordering::Release);
        (reader.join(), loop_seconds)
    });
    let (records, dropped) = records.map_err(|_| anyhow::anyhow!("the ring's reader panicked"))?;
    let median_s = super::timing::median(&mut loop_seconds);
    let per_loop = pipeline.frames_per_loop() as f64;
    Ok(ReportedRun {
        mpps: per_loop / median_s / 1e6,
        ns_per_packet: median_s * 1e9 / per_loop,
        sessions: pipeline.engine_stats().sessions_finished,
        records,
        dropped,
    })
}

/// The reporter's side of the ring: builds each session's record and sends
/// its facts' box back, until `stop` and the ring is empty; returns the
/// records built and the sessions the ring dropped.
fn build_records(mut source: RingSource<ReportedSession>, policies: &[PolicyHandle], stop: &AtomicBool) -> (u64, u64) {
    let mut built = 0;
    loop {
        match source.pop() {
            Some(session) => {
                std::hint::black_box(to_record(&session, policies));
                source.recycle(session);
                built += 1;
            }
            None if stop.load(Ordering::Acquire) => return (built, source.dropped()),
            None => std::thread::sleep(READER_IDLE),
        }
    }
}

/// Runs loops for about `budget` (at least three), recording each one's
/// seconds in `loop_seconds` (reserved by the caller, so that measuring
/// allocates nothing); returns the frames and the seconds in all.
fn time_loops<S: SessionSink>(
    pipeline: &mut Pipeline<'_, S>,
    budget: Duration,
    loop_seconds: &mut Vec<f64>,
) -> (LoopStats, f64) {
    let started = Instant::now();
    let mut total = LoopStats::default();
    while loop_seconds.len() < 3 || (started.elapsed() < budget && loop_seconds.len() < MAX_LOOPS) {
        let t = Instant::now();
        let l = pipeline.run_loop();
        loop_seconds.push(t.elapsed().as_secs_f64());
        total.frames += l.frames;
        total.forwarded += l.forwarded;
    }
    (total, started.elapsed().as_secs_f64())
}

/// Measures every capture, one after the other.
pub fn measure_all(captures: &[Capture], budget: Duration) -> anyhow::Result<Vec<PipelineResult>> {
    captures.iter().map(|c| measure(c, budget)).collect()
}
