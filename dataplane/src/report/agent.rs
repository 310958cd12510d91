//! The reporter thread: drain the rings, batch, spool, send, reconnect with
//! capped exponential backoff, and answer the control plane's commands.

use super::config::ReporterConfig;
use super::ring::{RingItem, RingSource};
use super::spool::Spool;
use super::transport::{Connector, Stream};
use super::{policy_file, DataplaneControl};
use mailgate_protocol::channel::{
    counter, encode_frame, FrameDecoder, FrameError, FromControl, FromDataplane, Hello, ModeAck, PolicyAck,
    PolicyOutcome, SessionBatch, Stats, PROTOCOL_VERSION,
};
use mailgate_protocol::SessionRecord;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a read waits for the control plane before the loop goes on to
/// the rings; also the idle sleep while disconnected.
const POLL: Duration = Duration::from_millis(10);
/// How often [`super::Reporter::counters`] is refreshed.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Items taken from one ring per pass, so one busy worker cannot starve the socket.
const DRAIN_PER_PASS: usize = 4096;

/// Asks the thread to stop, with how long it may keep delivering.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    requested: AtomicBool,
    grace_ms: AtomicU64,
}

impl Stop {
    pub(crate) fn request(&self, grace: Duration) {
        self.grace_ms.store(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.requested.store(true, Ordering::Release);
    }
}

/// The reporter's state, owned by its thread.
pub(crate) struct Agent<T: RingItem, F, C> {
    config: ReporterConfig,
    connector: Connector,
    sources: Vec<RingSource<T>>,
    convert: F,
    control: C,
    published: Arc<Mutex<BTreeMap<String, u64>>>,
    instance: u64,
    started_at: String,
    batch: Vec<SessionRecord>,
    batch_opened: Option<Instant>,
    next_seq: u64,
    spool: Spool,
    received: u64,
    oversize_discarded: u64,
    connects: u64,
    link: Option<Link>,
    backoff: Duration,
    next_attempt: Instant,
}

/// One established connection.
struct Link {
    stream: Stream,
    decoder: FrameDecoder,
}

impl<T, F, C> Agent<T, F, C>
where
    T: RingItem,
    F: FnMut(&T) -> SessionRecord,
    C: DataplaneControl,
{
    pub(crate) fn new(
        config: ReporterConfig,
        connector: Connector,
        sources: Vec<RingSource<T>>,
        convert: F,
        control: C,
        published: Arc<Mutex<BTreeMap<String, u64>>>,
    ) -> Self {
        let spool = Spool::new(config.spool_max_records, config.spool_max_bytes);
        let backoff = Duration::from_millis(config.backoff_initial_ms);
        Agent {
            config,
            connector,
            sources,
            convert,
            control,
            published,
            instance: instance_id(),
            started_at: now_rfc3339(),
            batch: Vec::new(),
            batch_opened: None,
            next_seq: 1,
            spool,
            received: 0,
            oversize_discarded: 0,
            connects: 0,
            link: None,
            backoff,
            next_attempt: Instant::now(),
        }
    }

    pub(crate) fn run(mut self, stop: &Stop) {
        let mut deadline: Option<Instant> = None;
        let mut last_published = Instant::now();
        loop {
            if deadline.is_none() && stop.requested.load(Ordering::Acquire) {
                deadline = Some(Instant::now() + Duration::from_millis(stop.grace_ms.load(Ordering::Relaxed)));
            }
            let stopping = deadline.is_some();
            self.drain_rings();
            let flush_due =
                self.batch_opened.is_some_and(|t| t.elapsed() >= Duration::from_millis(self.config.flush_interval_ms));
            if flush_due || (stopping && !self.batch.is_empty()) {
                self.seal_batch();
            }
            if let Some(deadline) = deadline {
                let drained = self.sources.iter_mut().all(|s| s.is_empty());
                if (self.spool.is_empty() && drained) || Instant::now() >= deadline {
                    self.publish();
                    if !self.spool.is_empty() {
                        log::warn!("reporter stopping with {} records not acknowledged", self.spool.records());
                    }
                    return;
                }
            }
            if self.link.is_some() {
                self.exchange();
            } else if Instant::now() >= self.next_attempt {
                self.connect();
            } else {
                std::thread::sleep(POLL);
            }
            if last_published.elapsed() >= PUBLISH_EVERY {
                self.publish();
                last_published = Instant::now();
            }
        }
    }

    fn drain_rings(&mut self) {
        for index in 0..self.sources.len() {
            for _ in 0..DRAIN_PER_PASS {
                let Some(source) = self.sources.get_mut(index) else { break };
                let Some(item) = source.pop() else { break };
                self.batch.push((self.convert)(&item));
                source.recycle(item);
                self.received += 1;
                self.batch_opened.get_or_insert_with(Instant::now);
                if self.batch.len() >= self.config.batch_max_records {
                    let records = std::mem::take(&mut self.batch);
                    self.batch_opened = None;
                    self.spool_records(records);
                }
            }
        }
    }

    fn seal_batch(&mut self) {
        let records = std::mem::take(&mut self.batch);
        self.batch_opened = None;
        if !records.is_empty() {
            self.spool_records(records);
        }
    }

    /// Encodes records into one or more frames (halving a batch that would
    /// exceed the frame limit) and queues them.
    fn spool_records(&mut self, records: Vec<SessionRecord>) {
        let count = records.len();
        let seq = self.next_seq;
        let message = FromDataplane::Sessions(SessionBatch { seq, records });
        match encode_frame(&message, self.config.max_frame_bytes) {
            Ok(frame) => {
                self.next_seq += 1;
                self.spool.push(seq, count, frame);
            }
            Err(FrameError::TooLarge { .. }) if count > 1 => {
                let FromDataplane::Sessions(SessionBatch { mut records, .. }) = message else { return };
                let tail = records.split_off(count / 2);
                self.spool_records(records);
                self.spool_records(tail);
            }
            Err(e) => {
                log::error!("discarding {count} session record(s): {e}");
                self.oversize_discarded += count as u64;
            }
        }
    }

    fn connect(&mut self) {
        match self.connector.connect(POLL) {
            Ok(stream) => {
                let mut link = Link { stream, decoder: FrameDecoder::new(self.config.max_frame_bytes) };
                let hello = FromDataplane::Hello(Hello {
                    protocol_version: PROTOCOL_VERSION,
                    gateway: self.config.gateway.clone(),
                    software_version: env!("CARGO_PKG_VERSION").to_string(),
                    instance: self.instance,
                    started_at: self.started_at.clone(),
                    policy_hash: self.control.policy_hash(),
                    mode: self.control.mode(),
                    counters: self.counters(),
                });
                match send(&mut link.stream, &hello, self.config.max_frame_bytes) {
                    Ok(()) => {
                        self.connects += 1;
                        self.spool.rewind();
                        self.backoff = Duration::from_millis(self.config.backoff_initial_ms);
                        self.link = Some(link);
                        log::info!("connected to the control plane");
                    }
                    Err(e) => self.connect_failed(&e),
                }
            }
            Err(e) => self.connect_failed(&e),
        }
    }

    fn connect_failed(&mut self, error: &io::Error) {
        log::warn!("control plane unreachable ({error}); retrying in {:?}", self.backoff);
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(Duration::from_millis(self.config.backoff_max_ms));
    }

    fn disconnect(&mut self, why: &str) {
        log::warn!("control channel closed: {why}");
        self.link = None;
        self.spool.rewind();
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(Duration::from_millis(self.config.backoff_max_ms));
    }

    /// Sends what is unsent, then reads and answers what the control plane sent.
    fn exchange(&mut self) {
        let Some(link) = self.link.as_mut() else { return };
        let mut wrote = false;
        while let Some(frame) = self.spool.next_unsent() {
            if let Err(e) = link.stream.write_all(frame) {
                return self.disconnect(&e.to_string());
            }
            wrote = true;
        }
        if wrote {
            if let Err(e) = link.stream.flush() {
                return self.disconnect(&e.to_string());
            }
        }
        let mut buf = [0u8; 16 * 1024];
        match link.stream.read(&mut buf) {
            Ok(0) => return self.disconnect("closed by the control plane"),
            Ok(n) => link.decoder.push(buf.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return self.disconnect(&e.to_string()),
        }
        loop {
            let Some(link) = self.link.as_mut() else { return };
            match link.decoder.next_message::<FromControl>() {
                Ok(Some(message)) => self.handle(message),
                Ok(None) => return,
                Err(e) => return self.disconnect(&e.to_string()),
            }
        }
    }

    fn handle(&mut self, message: FromControl) {
        let reply = match message {
            FromControl::BatchAck { seq } => {
                self.spool.ack(seq);
                return;
            }
            FromControl::SetPolicy { request_id, toml } => {
                let outcome = self.control.apply_policy(&toml);
                match &outcome {
                    PolicyOutcome::Applied { hash } => {
                        log::info!("policy {hash} applied");
                        if let Some(path) = &self.config.policy_path {
                            if let Err(e) = policy_file::save_policy(path, &toml) {
                                log::error!("policy {hash} is in force but not saved to {}: {e}", path.display());
                            }
                        }
                    }
                    PolicyOutcome::Rejected { errors } => {
                        log::warn!("pushed policy rejected: {}", errors.join("; "));
                    }
                }
                FromDataplane::PolicyAck(PolicyAck { request_id, outcome })
            }
            FromControl::SetMode { request_id, mode } => {
                let result = self.control.set_mode(mode);
                FromDataplane::ModeAck(ModeAck { request_id, result })
            }
            FromControl::StatsRequest { request_id } => FromDataplane::Stats(Stats {
                request_id,
                policy_hash: self.control.policy_hash(),
                mode: self.control.mode(),
                counters: self.counters(),
            }),
            FromControl::Refused { reason } => {
                log::error!("the control plane refused this gateway: {reason}");
                return self.disconnect("refused");
            }
        };
        let Some(link) = self.link.as_mut() else { return };
        if let Err(e) = send(&mut link.stream, &reply, self.config.max_frame_bytes) {
            self.disconnect(&e.to_string());
        }
    }

    /// The caller's counters with the reporter's own on top.
    fn counters(&self) -> BTreeMap<String, u64> {
        let mut counters = self.control.counters();
        let ring_dropped: u64 = self.sources.iter().map(RingSource::dropped).sum();
        counters.insert(counter::RING_DROPPED.into(), ring_dropped);
        counters.insert(counter::SPOOL_DISCARDED.into(), self.spool.discarded() + self.oversize_discarded);
        counters.insert(counter::RECORDS_ACKED.into(), self.spool.acked());
        counters.insert(counter::RECORDS_RECEIVED.into(), self.received);
        counters.insert(counter::SPOOL_RECORDS.into(), self.spool.records() as u64);
        counters.insert(counter::CONNECTS.into(), self.connects);
        counters
    }

    fn publish(&self) {
        let counters = self.counters();
        *self.published.lock().unwrap_or_else(PoisonError::into_inner) = counters;
    }
}

fn send(stream: &mut Stream, message: &FromDataplane, max_frame_bytes: u32) -> io::Result<()> {
    let frame = encode_frame(message, max_frame_bytes).map_err(io::Error::other)?;
    stream.write_all(&frame)?;
    stream.flush()
}

/// A number that differs between dataplane processes, so the control plane
/// can tell a restart (batch numbers start again) from a reconnect.
fn instance_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.finish()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
