//! The hot path allocates nothing: after warm-up, replaying real mail and
//! TLS sessions through the worker loop (decode, flow table, reassembly,
//! parsers, verdicts, RSTs) makes zero heap allocations. A counting global
//! allocator proves it.

mod corpus_frames;

use corpus_frames::frames_of;
use mailgate_dataplane::engine::{Engine, EngineConfig, SessionEnd, SessionSink};
use mailgate_dataplane::io::mem::{MemFrame, MemIo};
use mailgate_dataplane::report::facts_ring;
use mailgate_dataplane::verdict::{load_policy, Verdicts};
use mailgate_dataplane::worker::{PortPair, Worker};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// The count is process-wide (any thread's allocations): the tests take
/// turns, each for the whole of its run.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

// SAFETY: every call is forwarded unchanged to the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts finished sessions without keeping them.
struct CountingSink(u64);
impl SessionSink for CountingSink {
    fn emit(&mut self, _session: &mut SessionEnd<'_>) {
        self.0 += 1;
    }
}

/// The corpus sessions every test replays: SMTP (STARTTLS, pipelining,
/// DATA), IMAP (STARTTLS, implicit TLS), POP3, a ClientHello in two segments.
fn mail_frames() -> Vec<MemFrame<'static>> {
    let frames = frames_of(&[
        "ndpi-smtp-starttls.pcap",
        "ndpi-imaps.pcap",
        "ndpi-pop3.pcap",
        "ndpi-imap-starttls.pcap",
        "suricata-verify-smtp-pipelining.pcap",
        "arkime-smtp-data-250.pcap",
        "ndpi-tls_2_reasms.pcapng",
        "ndpi-smtp.pcap",
    ]);
    assert!(frames.len() > 400, "{} frames", frames.len());
    frames
}

/// A worker over those frames in block mode, so drops and RSTs are on the
/// measured path too; its sessions go to `sink`.
fn block_mode_worker<S: SessionSink>(sink: S) -> (Worker<S>, MemIo<'static>) {
    let dir =
        std::env::temp_dir().join(format!("mailgate-alloc-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy_file = dir.join("block.toml");
    std::fs::write(&policy_file, "mode = \"block\"\n[defaults]\nunapproved_mail = \"reset\"\n").unwrap();
    let policy = load_policy(Some(&policy_file)).unwrap();
    std::fs::remove_dir_all(dir).ok();
    let config =
        EngineConfig { flow_capacity: 1024, session_capacity: 256, stream_capacity: 64, ..EngineConfig::default() };
    let worker = Worker::new(Engine::new(&config, Verdicts::new(policy)), sink);
    (worker, MemIo::new(vec![mail_frames(), Vec::new()], true, false))
}

/// Replays the frames three times to warm up, then ten times counting
/// allocations; `between` runs after every pass (and is counted too in the
/// measured ones). Returns the allocations counted.
fn count_allocations<S: SessionSink>(
    worker: &mut Worker<S>,
    io: &mut MemIo<'_>,
    mut between: impl FnMut(&mut Worker<S>),
) -> u64 {
    let pairs = [PortPair { inside: 0, outside: 1 }];
    let total = io_len(io);
    let mut now = 1_700_000_000_000_000_000u64;
    let mut pass = |worker: &mut Worker<S>, io: &mut MemIo| {
        let mut seen = 0;
        while seen < total {
            now += 1_000;
            seen += worker.poll_once(io, &pairs, now);
            worker.tick(now);
        }
        // Let the pass's sessions time out, so the next pass starts them anew.
        now += 700 * 1_000_000_000;
        worker.tick(now);
    };
    for _ in 0..3 {
        pass(worker, io);
        between(worker);
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..10 {
        pass(worker, io);
        between(worker);
    }
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn no_heap_allocation_per_packet_after_warm_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut worker, mut io) = block_mode_worker(CountingSink(0));
    let allocations = count_allocations(&mut worker, &mut io, |_| ());
    let c = &worker.counters;
    assert!(worker.sink.0 > 10, "sessions finished: {}", worker.sink.0);
    assert!(c.rst_sent.load(Ordering::Relaxed) > 0, "the reset path was exercised");
    assert_eq!(allocations, 0, "heap allocations in {} steady-state packets", 10 * io_len(&io));
}

/// The reporter's ring as the sink, as a gateway with `[dataplane.report]`
/// runs: finished sessions leave with their facts' boxes, and the boxes
/// come back as spares, so handing sessions over allocates nothing either.
#[test]
fn handing_sessions_to_the_reporter_ring_allocates_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (sink, mut source) = facts_ring(256);
    let (mut worker, mut io) = block_mode_worker(sink);
    let mut handed_over = 0u64;
    let mut with_facts = 0u64;
    // The reporter's side, between passes: take every session, give its box back.
    let allocations = count_allocations(&mut worker, &mut io, |_| {
        while let Some(session) = source.pop() {
            handed_over += 1;
            with_facts += u64::from(session.facts.is_some());
            source.recycle(session);
        }
    });
    assert!(with_facts > 10, "sessions handed over with their facts: {with_facts} of {handed_over}");
    assert_eq!(source.dropped(), 0, "no session dropped for want of room or a spare");
    assert_eq!(allocations, 0, "heap allocations in {} steady-state packets", 10 * io_len(&io));
}

fn io_len(io: &MemIo) -> usize {
    io.rx_len(0)
}
