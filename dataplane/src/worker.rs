//! The poll loop every worker runs, whatever its packet source: receive a
//! burst on each port of each inline pair, pass every frame through the
//! [`Engine`], forward it out of the pair's other port unless the verdict
//! drops it, inject RSTs for reset flows, and count everything.

use crate::engine::{Engine, FrameAction, SessionSink};
use crate::io::{Burst, Frame, PacketIo};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

/// Two ports used as one bump-in-the-wire: frames in one go out the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPair {
    /// The port facing the clients (inside).
    pub inside: u16,
    /// The port facing the servers (outside).
    pub outside: u16,
}

/// A worker's counters: written only by the worker, read by the stats thread.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    /// Frames received.
    pub packets_rx: AtomicU64,
    /// Frames handed to the TX ring.
    pub packets_tx: AtomicU64,
    /// Bytes received.
    pub bytes_rx: AtomicU64,
    /// Frames discarded by a drop or reset verdict.
    pub packets_dropped_policy: AtomicU64,
    /// Frames the TX ring refused even after a retry.
    pub tx_failed: AtomicU64,
    /// RST segments injected.
    pub rst_sent: AtomicU64,
    /// RSTs that could not be sent (no mbuf, or TX full).
    pub rst_failed: AtomicU64,
    /// Flows in the table at the last tick.
    pub flows_active: AtomicU64,
}

impl WorkerCounters {
    fn add(counter: &AtomicU64, n: u64) {
        // Single writer: a relaxed load+store is enough and avoids a locked RMW.
        counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
}

/// One worker: its engine, where its finished sessions go, and its counters.
pub struct Worker<S: SessionSink> {
    /// The inspection and verdict engine (flow table, reassembly, parsers, policy).
    pub engine: Engine,
    /// Where finished session summaries go (reporter ring, or `inspect`'s writer).
    pub sink: S,
    /// Cache-padded counters, shared with the stats thread.
    pub counters: std::sync::Arc<CachePadded<WorkerCounters>>,
}

impl<S: SessionSink> Worker<S> {
    /// A worker around an engine and a sink.
    pub fn new(engine: Engine, sink: S) -> Self {
        Worker { engine, sink, counters: Default::default() }
    }

    /// One pass over every port of every pair: at most one RX burst per
    /// port. `now_ns` is the worker's clock, read once per pass (frames that
    /// carry their own capture time use that instead). Returns the number of
    /// frames received, so callers can tell an idle pass.
    pub fn poll_once<I: PacketIo>(&mut self, io: &mut I, pairs: &[PortPair], now_ns: u64) -> usize {
        let mut received = 0;
        for pair in pairs {
            received += self.forward(io, pair.inside, pair.outside, now_ns);
            received += self.forward(io, pair.outside, pair.inside, now_ns);
        }
        received
    }

    /// Takes up a newly published policy, expires idle flows (emitting their
    /// records) and refreshes the occupancy counter; call every few milliseconds, not per packet.
    pub fn tick(&mut self, now_ns: u64) {
        self.engine.refresh_policy();
        self.engine.expire_idle(now_ns, &mut self.sink);
        self.counters.flows_active.store(self.engine.flows_active() as u64, Ordering::Relaxed);
    }

    /// Ends every tracked flow and emits its record (at shutdown or end of
    /// capture); the sink is told first, so that it may wait for room.
    pub fn finish(&mut self) {
        self.sink.ending();
        self.engine.finish_all(&mut self.sink);
        self.counters.flows_active.store(0, Ordering::Relaxed);
    }

    fn forward<I: PacketIo>(&mut self, io: &mut I, from: u16, to: u16, now_ns: u64) -> usize {
        let mut rx: Burst<I::Frame> = Burst::new();
        io.rx_burst(from, &mut rx);
        let received = rx.len();
        if received == 0 {
            return 0;
        }
        let mut actions = [FrameAction::Forward; crate::io::BURST];
        // Each frame's bytes are looked up once (a call into DPDK per mbuf).
        let bytes = {
            let frames: arrayvec::ArrayVec<(&[u8], u64), { crate::io::BURST }> =
                rx.iter().map(|f| (f.data(), f.timestamp_ns().unwrap_or(now_ns))).collect();
            self.engine.process_burst(&frames, &mut actions, &mut self.sink);
            frames.iter().map(|(data, _)| data.len() as u64).sum::<u64>()
        };
        let c = &self.counters;
        WorkerCounters::add(&c.packets_rx, received as u64);
        WorkerCounters::add(&c.bytes_rx, bytes);
        if actions.iter().take(received).all(|a| *a == FrameAction::Forward) {
            // Nothing dropped or reset (nearly every burst): it goes out as it came in.
            self.transmit(io, to, &mut rx);
            return received;
        }
        let mut tx: Burst<I::Frame> = Burst::new();
        let mut back: Burst<I::Frame> = Burst::new();
        let (mut dropped, mut rst_sent, mut rst_failed) = (0u64, 0u64, 0u64);
        for (i, (frame, action)) in rx.drain(..).zip(actions).enumerate() {
            match action {
                FrameAction::Forward => tx.push(frame),
                FrameAction::Drop => {
                    dropped += 1;
                    drop(frame);
                }
                FrameAction::Reset => {
                    dropped += 1;
                    drop(frame);
                    let rst = self.engine.reset_frames(i);
                    // One RST back to the sender, one on to the receiver.
                    for (bytes, burst) in [(rst.to_sender(), &mut back), (rst.to_receiver(), &mut tx)] {
                        if bytes.is_empty() {
                            continue;
                        }
                        match io.alloc_frame(bytes) {
                            Some(f) if !burst.is_full() => {
                                burst.push(f);
                                rst_sent += 1;
                            }
                            _ => rst_failed += 1,
                        }
                    }
                }
            }
            if tx.is_full() {
                self.transmit(io, to, &mut tx);
            }
            if back.is_full() {
                self.transmit(io, from, &mut back);
            }
        }
        self.transmit(io, to, &mut tx);
        self.transmit(io, from, &mut back);
        let c = &self.counters;
        WorkerCounters::add(&c.packets_dropped_policy, dropped);
        WorkerCounters::add(&c.rst_sent, rst_sent);
        WorkerCounters::add(&c.rst_failed, rst_failed);
        received
    }

    /// Sends a burst, retrying once what the TX ring refused; the rest is
    /// freed and counted (a full TX ring must never stall the worker).
    fn transmit<I: PacketIo>(&mut self, io: &mut I, port: u16, burst: &mut Burst<I::Frame>) {
        if burst.is_empty() {
            return;
        }
        let mut sent = io.tx_burst(port, burst);
        if !burst.is_empty() {
            sent += io.tx_burst(port, burst);
        }
        WorkerCounters::add(&self.counters.packets_tx, sent as u64);
        WorkerCounters::add(&self.counters.tx_failed, burst.len() as u64);
        burst.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineConfig, SessionEnd};
    use crate::io::mem::{MemFrame, MemIo};
    use crate::verdict::load_policy;
    use std::sync::Arc;

    struct Nothing;
    impl SessionSink for Nothing {
        fn emit(&mut self, _: &mut SessionEnd<'_>) {}
    }

    fn arp(n: u8) -> MemFrame<'static> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, n, 0x08, 0x06]);
        f.extend_from_slice(&[0; 28]);
        MemFrame::new(Arc::from(f.as_slice()), None)
    }

    fn worker() -> Worker<Nothing> {
        let engine = Engine::new(&EngineConfig::default(), crate::verdict::Verdicts::new(load_policy(None).unwrap()));
        Worker::new(engine, Nothing)
    }

    /// A backend whose pool is empty: nothing can be crafted.
    struct NoPool(MemIo<'static>);
    impl PacketIo for NoPool {
        type Frame = MemFrame<'static>;
        fn port_count(&self) -> u16 {
            self.0.port_count()
        }
        fn rx_burst(&mut self, port: u16, out: &mut Burst<MemFrame<'static>>) {
            self.0.rx_burst(port, out)
        }
        fn tx_burst(&mut self, port: u16, frames: &mut Burst<MemFrame<'static>>) -> usize {
            self.0.tx_burst(port, frames)
        }
        fn alloc_frame(&mut self, _bytes: &[u8]) -> Option<MemFrame<'static>> {
            None
        }
    }

    #[test]
    fn an_exhausted_pool_is_counted_and_never_stalls_forwarding() {
        let policy = crate::verdict::reset_unapproved_mail_policy();
        let engine = Engine::new(&EngineConfig::default(), crate::verdict::Verdicts::new(policy));
        let mut w = Worker::new(engine, Nothing);
        // A SYN to port 25 (reset at once: no RST can be allocated), then ARP.
        let mut syn = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        syn.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 23, 203, 0, 113, 9]);
        syn.extend_from_slice(&[0x9c, 0x40, 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        let frames = vec![MemFrame::new(Arc::from(syn.as_slice()), None), arp(1), arp(2)];
        let mut io = NoPool(MemIo::new(vec![frames, Vec::new()], false, true));
        assert_eq!(w.poll_once(&mut io, &[PortPair { inside: 0, outside: 1 }], 1), 3);
        let c = &w.counters;
        assert_eq!(c.packets_dropped_policy.load(Ordering::Relaxed), 1);
        assert_eq!((c.rst_sent.load(Ordering::Relaxed), c.rst_failed.load(Ordering::Relaxed)), (0, 1));
        assert_eq!(io.0.tx[1].len(), 2, "the other frames went through");
    }

    #[test]
    fn a_full_tx_ring_is_counted_and_forwarding_recovers() {
        let mut w = worker();
        let frames: Vec<MemFrame> = (0..64).map(arp).collect();
        let mut io = MemIo::new(vec![frames, Vec::new()], false, true);
        let pairs = [PortPair { inside: 0, outside: 1 }];
        // The TX ring takes nothing: every frame is counted as failed, none stalls the loop.
        io.tx_room = 0;
        assert_eq!(w.poll_once(&mut io, &pairs, 1), 32);
        assert_eq!(w.counters.tx_failed.load(Ordering::Relaxed), 32);
        // Room again: the next burst goes out whole.
        io.tx_room = usize::MAX;
        assert_eq!(w.poll_once(&mut io, &pairs, 2), 32);
        assert_eq!(w.counters.packets_tx.load(Ordering::Relaxed), 32);
        assert_eq!(io.tx[1].len(), 32);
        assert_eq!(w.counters.packets_rx.load(Ordering::Relaxed), 64);
    }
}
