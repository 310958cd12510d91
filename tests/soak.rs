//! Soak: a realistic generated mix looped through a worker as fast as this
//! machine goes, sessions handed through the real worker→reporter ring to a
//! consumer thread that turns them into records. Memory stays at the fixed
//! tables (no growth after warm-up) and every finished session is either
//! consumed or counted as dropped — none goes missing. Runs for
//! `MAILGATE_SOAK_SECS` seconds (15 by default, in CI; set minutes for a
//! real soak).

use mailgate_bench::gen::{generate, GenConfig};
use mailgate_bench::mix::Mix;
use mailgate_bench::pcap::Writer;
use mailgate_dataplane::engine::{Engine, EngineConfig, ReportedSession};
use mailgate_dataplane::io::mem::{MemFrame, MemIo};
use mailgate_dataplane::io::pcap::PcapIo;
use mailgate_dataplane::io::{Burst, Frame, PacketIo};
use mailgate_dataplane::record::to_record;
use mailgate_dataplane::report::{facts_ring, RingSink};
use mailgate_dataplane::verdict::{load_policy, Verdicts};
use mailgate_dataplane::worker::{PortPair, Worker};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn frames() -> Vec<MemFrame<'static>> {
    let dir = std::env::temp_dir().join(format!("mailgate-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("mix.pcap");
    let mut writer = Writer::new(std::io::BufWriter::new(std::fs::File::create(&pcap).unwrap())).unwrap();
    generate(&GenConfig { flows: 1500, seed: 5, mix: Mix::Realistic }, &mut writer, &mut std::io::sink(), &mut |_| {})
        .unwrap();
    writer.finish().unwrap();
    let mut io = PcapIo::open(&pcap).unwrap();
    let mut out = Vec::new();
    loop {
        let mut b = Burst::new();
        io.rx_burst(0, &mut b);
        if b.is_empty() {
            break;
        }
        // No capture time: the soak's own clock drives the engine.
        out.extend(b.iter().map(|f| MemFrame::new(Arc::from(f.data()), None)));
    }
    let _ = std::fs::remove_dir_all(dir);
    out
}

#[test]
fn memory_stays_flat_and_no_record_goes_missing() {
    let secs: u64 = std::env::var("MAILGATE_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let frames = frames();
    let per_pass = frames.len();
    let policy = load_policy(None).unwrap();
    let (sink, mut source) = facts_ring(4096);
    let engine = Engine::new(&EngineConfig::default(), Verdicts::new(policy.clone()));
    let mut worker: Worker<RingSink<ReportedSession>> = Worker::new(engine, sink);
    let mut io = MemIo::new(vec![frames, Vec::new()], true, false);

    // The consumer: the reporter's conversion, on its own thread.
    let stop = Arc::new(AtomicBool::new(false));
    let consumed = Arc::new(AtomicU64::new(0));
    let consumer = {
        let (stop, consumed) = (Arc::clone(&stop), Arc::clone(&consumed));
        std::thread::spawn(move || {
            let policies = [policy];
            loop {
                match source.pop() {
                    Some(s) => {
                        let r = to_record(&s, &policies);
                        assert!(!r.community_id.is_empty());
                        // The facts' box goes back to the worker, as the reporter's do.
                        source.recycle(s);
                        consumed.fetch_add(1, Ordering::Relaxed);
                    }
                    None if stop.load(Ordering::Acquire) && source.is_empty() => return source.dropped(),
                    None => std::thread::sleep(Duration::from_micros(200)),
                }
            }
        })
    };

    let pairs = [PortPair { inside: 0, outside: 1 }];
    let started = Instant::now();
    let mut now = 1_736_154_000_000_000_000u64;
    let (mut passes, mut warm_rss) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs(secs) {
        let mut seen = 0;
        while seen < per_pass {
            now += 2_000;
            seen += worker.poll_once(&mut io, &pairs, now);
            if seen % 4096 < 32 {
                worker.tick(now);
            }
        }
        // Every session of the pass ends before the next pass starts it again.
        now += 700 * 1_000_000_000;
        worker.tick(now);
        passes += 1;
        if passes == 3 {
            warm_rss = rss_kib();
        }
    }
    worker.finish();
    stop.store(true, Ordering::Release);
    let dropped = consumer.join().unwrap();
    let end_rss = rss_kib();
    let finished = worker.engine.stats().sessions_finished;
    let packets = worker.counters.packets_rx.load(Ordering::Relaxed);
    eprintln!(
        "soak: {secs}s, {passes} passes, {packets} packets ({:.0} pps), {finished} sessions, {} consumed, {dropped} dropped, RSS {warm_rss} → {end_rss} KiB",
        packets as f64 / started.elapsed().as_secs_f64(),
        consumed.load(Ordering::Relaxed)
    );
    assert!(passes >= 4, "too slow to soak: {passes} passes");
    assert_eq!(finished, consumed.load(Ordering::Relaxed) + dropped, "every finished session is consumed or counted");
    assert!(end_rss <= warm_rss + 8 * 1024, "resident memory grew from {warm_rss} KiB to {end_rss} KiB");
}
