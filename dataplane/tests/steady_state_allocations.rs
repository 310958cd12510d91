//! The hot path allocates nothing: after warm-up, replaying real mail and
//! TLS sessions through the worker loop (decode, flow table, reassembly,
//! parsers, verdicts, RSTs) makes zero heap allocations. A counting global
//! allocator proves it.

use mailgate_dataplane::engine::{Engine, EngineConfig, SessionEnd, SessionSink};
use mailgate_dataplane::io::mem::{MemFrame, MemIo};
use mailgate_dataplane::io::pcap::PcapIo;
use mailgate_dataplane::io::{Burst, Frame, PacketIo};
use mailgate_dataplane::verdict::{load_policy, Verdicts};
use mailgate_dataplane::worker::{PortPair, Worker};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

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
    fn emit(&mut self, _session: &SessionEnd<'_>) {
        self.0 += 1;
    }
}

fn frames_of(names: &[&str]) -> Vec<MemFrame<'static>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let mut frames = Vec::new();
    for name in names {
        let mut io = PcapIo::open(&dir.join(name)).unwrap();
        loop {
            let mut burst = Burst::new();
            io.rx_burst(0, &mut burst);
            if burst.is_empty() {
                break;
            }
            frames.extend(burst.iter().map(|f| MemFrame::new(Arc::from(f.data()), None)));
        }
    }
    frames
}

#[test]
fn no_heap_allocation_per_packet_after_warm_up() {
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
    // Block mode, so drops and RSTs are on the measured path too.
    let dir = std::env::temp_dir().join(format!("mailgate-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy_file = dir.join("block.toml");
    std::fs::write(&policy_file, "mode = \"block\"\n[defaults]\nunapproved_mail = \"reset\"\n").unwrap();
    let policy = load_policy(Some(&policy_file)).unwrap();
    let config =
        EngineConfig { flow_capacity: 1024, session_capacity: 256, stream_capacity: 64, ..EngineConfig::default() };
    let mut worker = Worker::new(Engine::new(&config, Verdicts::new(policy)), CountingSink(0));
    let mut io = MemIo::new(vec![frames, Vec::new()], true, false);
    let pairs = [PortPair { inside: 0, outside: 1 }];
    let total = io_len(&io);
    let mut now = 1_700_000_000_000_000_000u64;
    let mut pass = |worker: &mut Worker<CountingSink>, io: &mut MemIo| {
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
        pass(&mut worker, &mut io);
    }
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..10 {
        pass(&mut worker, &mut io);
    }
    COUNTING.store(false, Ordering::SeqCst);
    let allocations = ALLOCATIONS.load(Ordering::SeqCst);
    let c = &worker.counters;
    assert!(worker.sink.0 > 10, "sessions finished: {}", worker.sink.0);
    assert!(c.rst_sent.load(Ordering::Relaxed) > 0, "the reset path was exercised");
    assert_eq!(allocations, 0, "heap allocations in {} steady-state packets", 10 * total);
    std::fs::remove_dir_all(dir).ok();
}

fn io_len(io: &MemIo) -> usize {
    io.rx_len(0)
}
