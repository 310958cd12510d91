//! What the main lcore reports: a stats block on stderr every few seconds
//! (per port and per worker rates) and, at exit, the summary JSON.

use super::plan::Distribution;
use crate::io::dpdk::PortStats;
use crate::worker::{PortPair, WorkerCounters};
use crossbeam_utils::CachePadded;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the main lcore can read of a running worker.
pub struct WorkerView {
    /// The lcore it runs on.
    pub lcore: u32,
    /// Its queue id on its ports.
    pub queue: u16,
    /// The pairs it forwards.
    pub pairs: Vec<PortPair>,
    /// Its counters (written by the worker only).
    pub counters: Arc<CachePadded<WorkerCounters>>,
    /// Sessions it emitted.
    pub sessions: Arc<CachePadded<AtomicU64>>,
    /// Flows in its table when it stopped (set once, before `finish`).
    pub flows_at_stop: Arc<AtomicU64>,
}

/// A worker's counters at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerSample {
    packets_rx: u64,
    packets_tx: u64,
    bytes_rx: u64,
    packets_dropped_policy: u64,
    tx_failed: u64,
    rst_sent: u64,
    rst_failed: u64,
    flows_active: u64,
    sessions_finished: u64,
}

impl WorkerView {
    /// Reads the counters now.
    pub fn sample(&self) -> WorkerSample {
        let c = &self.counters;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WorkerSample {
            packets_rx: r(&c.packets_rx),
            packets_tx: r(&c.packets_tx),
            bytes_rx: r(&c.bytes_rx),
            packets_dropped_policy: r(&c.packets_dropped_policy),
            tx_failed: r(&c.tx_failed),
            rst_sent: r(&c.rst_sent),
            rst_failed: r(&c.rst_failed),
            flows_active: r(&c.flows_active),
            sessions_finished: r(&self.sessions),
        }
    }
}

/// What is known of a port for the report.
#[derive(Debug, Clone)]
pub struct PortView {
    /// Port id.
    pub port: u16,
    /// Device name.
    pub name: String,
    /// Driver name.
    pub driver: String,
    /// Queues configured.
    pub queues: u16,
    /// Whether RSS was configured.
    pub rss: bool,
    /// Whether promiscuous mode is on.
    pub promiscuous: bool,
}

fn rate(delta: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        delta as f64 / secs
    } else {
        0.0
    }
}

/// "1.23M" style numbers for the stats lines.
fn si(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2}G", x / 1e9),
        x if x >= 1e6 => format!("{:.2}M", x / 1e6),
        x if x >= 1e3 => format!("{:.1}k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

/// The previous sample, to turn counters into rates.
#[derive(Default)]
pub struct StatsPrinter {
    last_workers: Vec<WorkerSample>,
    last_ports: Vec<PortStats>,
}

impl StatsPrinter {
    /// Writes one stats block to stderr: rates over the last `secs` seconds.
    pub fn print(&mut self, elapsed_s: f64, secs: f64, ports: &[(PortView, PortStats)], workers: &[WorkerView]) {
        let mut out = format!("[{elapsed_s:8.1}s]\n");
        for (i, (view, now)) in ports.iter().enumerate() {
            let before = self.last_ports.get(i).copied().unwrap_or_default();
            out.push_str(&format!(
                "  port {} {:<12} rx {:>8}pps {:>8}b/s  tx {:>8}pps {:>8}b/s  imissed {} rx_nombuf {} ierrors {} oerrors {}\n",
                view.port,
                view.name,
                si(rate(now.ipackets.saturating_sub(before.ipackets), secs)),
                si(8.0 * rate(now.ibytes.saturating_sub(before.ibytes), secs)),
                si(rate(now.opackets.saturating_sub(before.opackets), secs)),
                si(8.0 * rate(now.obytes.saturating_sub(before.obytes), secs)),
                now.imissed,
                now.rx_nombuf,
                now.ierrors,
                now.oerrors,
            ));
        }
        let samples: Vec<WorkerSample> = workers.iter().map(WorkerView::sample).collect();
        for (i, (w, now)) in workers.iter().zip(&samples).enumerate() {
            let before = self.last_workers.get(i).copied().unwrap_or_default();
            out.push_str(&format!(
                "  worker lcore {} q{}  rx {:>8}pps {:>8}b/s  tx {:>8}pps  policy_drops {} rst_sent {} tx_failed {} flows {} sessions {}\n",
                w.lcore,
                w.queue,
                si(rate(now.packets_rx.saturating_sub(before.packets_rx), secs)),
                si(8.0 * rate(now.bytes_rx.saturating_sub(before.bytes_rx), secs)),
                si(rate(now.packets_tx.saturating_sub(before.packets_tx), secs)),
                now.packets_dropped_policy,
                now.rst_sent,
                now.tx_failed,
                now.flows_active,
                now.sessions_finished,
            ));
        }
        eprint!("{out}");
        self.last_workers = samples;
        self.last_ports = ports.iter().map(|(_, s)| *s).collect();
    }
}

/// The run's totals, written as JSON at exit (`--summary-json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Seconds the workers ran.
    pub duration_s: f64,
    /// Why the run ended: "duration" or "signal".
    pub stop_reason: &'static str,
    /// How flows were spread over workers.
    pub distribution: Distribution,
    /// Frames received by all workers.
    pub packets_rx: u64,
    /// Frames handed to TX rings by all workers.
    pub packets_tx: u64,
    /// Bytes received by all workers.
    pub bytes_rx: u64,
    /// Frames discarded by a drop or reset verdict.
    pub packets_dropped_policy: u64,
    /// Frames the TX rings refused.
    pub tx_failed: u64,
    /// RST segments injected.
    pub rst_sent: u64,
    /// RSTs that could not be sent.
    pub rst_failed: u64,
    /// Sessions the workers emitted.
    pub sessions_finished: u64,
    /// Received frames per second over the run.
    pub pps_rx: f64,
    /// Sent frames per second over the run.
    pub pps_tx: f64,
    /// Per worker.
    pub workers: Vec<WorkerSummary>,
    /// Per port, from the driver's counters.
    pub ports: Vec<PortSummary>,
}

/// One worker's totals.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerSummary {
    /// Its lcore.
    pub lcore: u32,
    /// Its queue id.
    pub queue: u16,
    /// The pairs it served, as `[inside, outside]`.
    pub pairs: Vec<[u16; 2]>,
    /// Frames received.
    pub packets_rx: u64,
    /// Frames sent.
    pub packets_tx: u64,
    /// Bytes received.
    pub bytes_rx: u64,
    /// Frames dropped by verdicts.
    pub packets_dropped_policy: u64,
    /// Frames the TX ring refused.
    pub tx_failed: u64,
    /// RSTs injected.
    pub rst_sent: u64,
    /// RSTs not sent.
    pub rst_failed: u64,
    /// Flows in its table when it stopped (before they were finished).
    pub flows_active: u64,
    /// Sessions it emitted (including those finished at stop).
    pub sessions_finished: u64,
    /// Received frames per second.
    pub pps_rx: f64,
}

/// One port's totals.
#[derive(Debug, Clone, Serialize)]
pub struct PortSummary {
    /// Port id.
    pub port: u16,
    /// Device name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Queues configured.
    pub queues: u16,
    /// RSS configured.
    pub rss: bool,
    /// Promiscuous mode on.
    pub promiscuous: bool,
    /// The driver's counters.
    #[serde(flatten)]
    pub stats: PortStats,
    /// Received frames per second.
    pub pps_rx: f64,
    /// Sent frames per second.
    pub pps_tx: f64,
}

impl Summary {
    /// Totals from the final counters.
    pub fn build(
        duration_s: f64,
        stop_reason: &'static str,
        distribution: Distribution,
        workers: &[WorkerView],
        ports: &[(PortView, PortStats)],
    ) -> Summary {
        let workers: Vec<WorkerSummary> = workers
            .iter()
            .map(|w| {
                let s = w.sample();
                WorkerSummary {
                    lcore: w.lcore,
                    queue: w.queue,
                    pairs: w.pairs.iter().map(|p| [p.inside, p.outside]).collect(),
                    packets_rx: s.packets_rx,
                    packets_tx: s.packets_tx,
                    bytes_rx: s.bytes_rx,
                    packets_dropped_policy: s.packets_dropped_policy,
                    tx_failed: s.tx_failed,
                    rst_sent: s.rst_sent,
                    rst_failed: s.rst_failed,
                    flows_active: w.flows_at_stop.load(Ordering::Relaxed),
                    sessions_finished: s.sessions_finished,
                    pps_rx: rate(s.packets_rx, duration_s),
                }
            })
            .collect();
        let sum = |f: fn(&WorkerSummary) -> u64| workers.iter().map(f).sum::<u64>();
        let packets_rx = sum(|w| w.packets_rx);
        let packets_tx = sum(|w| w.packets_tx);
        Summary {
            duration_s,
            stop_reason,
            distribution,
            packets_rx,
            packets_tx,
            bytes_rx: sum(|w| w.bytes_rx),
            packets_dropped_policy: sum(|w| w.packets_dropped_policy),
            tx_failed: sum(|w| w.tx_failed),
            rst_sent: sum(|w| w.rst_sent),
            rst_failed: sum(|w| w.rst_failed),
            sessions_finished: sum(|w| w.sessions_finished),
            pps_rx: rate(packets_rx, duration_s),
            pps_tx: rate(packets_tx, duration_s),
            ports: ports
                .iter()
                .map(|(v, s)| PortSummary {
                    port: v.port,
                    name: v.name.clone(),
                    driver: v.driver.clone(),
                    queues: v.queues,
                    rss: v.rss,
                    promiscuous: v.promiscuous,
                    stats: *s,
                    pps_rx: rate(s.ipackets, duration_s),
                    pps_tx: rate(s.opackets, duration_s),
                })
                .collect(),
            workers,
        }
    }
}
