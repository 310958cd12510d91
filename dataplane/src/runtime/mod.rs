//! The live appliance behind `mailgate-dataplane run`: EAL start-up, port
//! and queue setup, one worker per worker lcore, stats on the main lcore,
//! signals, and the summary at exit.
//!
//! Start-up order: EAL → lcores and ports checked → [`plan`] (which worker
//! owns which queue) → one mempool per worker → ports configured and
//! started → workers launched. Teardown runs in reverse, enforced by the
//! lifetimes of [`crate::io::dpdk`]: workers stop and finish their flows,
//! ports stop (drivers flush their output), pools go, EAL is cleaned up.

mod error;
pub mod plan;
pub mod privileges;
pub mod reload;
mod signals;
pub mod sink;
pub mod stats;

pub use crate::settings::{LoadedConfig, RuntimeConfig};
pub use error::RunError;
pub use stats::Summary;

use crate::engine::{Engine, SessionSink};
use crate::io::dpdk::{self, DpdkIo, Eal, Mempool, Port, PortInfo, PortSetup, TscClock};
use crate::io::BURST;
use crate::report::PolicyMailbox;
use crate::worker::{PortPair, Worker, WorkerCounters};
use crossbeam_utils::CachePadded;
use plan::{Distribution, Plan};
use signals::Signals;
use sink::Counted;
use stats::{PortView, StatsPrinter, WorkerView};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `run` is asked to do.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Runtime settings (from `[dataplane]`, or defaults).
    pub config: RuntimeConfig,
    /// The config file, re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// EAL arguments from the command line; when empty, `config.eal_args`.
    pub eal_args: Vec<String>,
    /// Stop after this long (otherwise at SIGINT/SIGTERM).
    pub duration: Option<Duration>,
    /// Where SIGHUP publishes the re-read policy for the workers.
    pub mailbox: Option<Arc<PolicyMailbox>>,
}

/// How often the main lcore looks at signals and the clock.
const MONITOR_PERIOD: Duration = Duration::from_millis(20);
/// Time given to TX rings to empty after the workers stop, before the
/// ports stop.
const TX_DRAIN: Duration = Duration::from_millis(50);

/// Runs the appliance until `opts.duration` passes or SIGINT/SIGTERM, and
/// returns the summary. `make_engine(i)` and `make_sink(i)` build worker
/// `i`'s engine and session sink (the reporter's ring); `ready` runs once
/// every worker's sink exists and before any worker starts, with every
/// worker's counters (the reporter is started there, over the rings, and
/// reports those counters to the control plane).
pub fn run<S, E, K, R>(opts: &RunOptions, mut make_engine: E, mut make_sink: K, ready: R) -> Result<Summary, RunError>
where
    S: SessionSink + Send,
    E: FnMut(usize) -> Engine,
    K: FnMut(usize) -> S,
    R: FnOnce(Vec<Arc<CachePadded<WorkerCounters>>>) -> Result<(), RunError>,
{
    let cfg = &opts.config;
    cfg.validate()
        .map_err(|m| RunError::startup(format!("invalid [dataplane] settings: {m}"), "correct the config file"))?;
    let eal_args = if opts.eal_args.is_empty() { &cfg.eal_args } else { &opts.eal_args };
    let eal = Eal::init(eal_args).map_err(|e| RunError::eal_init(&e))?;

    // Lcores and ports.
    let lcores = eal.worker_lcores();
    let available = eal.ports();
    if available.is_empty() {
        return Err(RunError::startup(
            "no DPDK ports: no NIC is bound to a DPDK driver and no --vdev was given",
            "bind the NICs to vfio-pci (`dpdk-devbind.py --bind=vfio-pci 0000:01:00.0`) or create virtual ports with `--vdev`",
        ));
    }
    let pairs = cfg.port_pairs();
    let mut infos = Vec::new();
    for port in pairs.iter().flat_map(|p| [p.inside, p.outside]) {
        if !available.contains(&port) {
            return Err(RunError::startup(
                format!("port pair needs port {port}, but the ports are {available:?}"),
                "add the device (`-a PCI-ADDRESS` or `--vdev`) or change `pairs` in [dataplane]",
            ));
        }
        infos.push(
            PortInfo::read(&eal, port).map_err(|e| RunError::startup(e.to_string(), "check the device's driver"))?,
        );
    }
    for port in available.iter().filter(|p| !infos.iter().any(|i| i.id == **p)) {
        eprintln!("mailgate: port {port} is in no pair and stays unused");
    }
    let rss_wanted = dpdk::rss_hash_ip_tcp_udp();
    let plan = plan::plan(&lcores, &pairs, &infos, rss_wanted)?;
    for note in &plan.notes {
        eprintln!("mailgate: {note}");
    }
    eprintln!(
        "mailgate: {} worker(s) on lcore(s) {:?}, {} queue(s) per port, distribution: {:?}",
        plan.workers.len(),
        plan.workers.iter().map(|w| w.lcore).collect::<Vec<_>>(),
        plan.queues,
        plan.distribution
    );

    // One pool per worker, on the worker's NUMA socket.
    check_pool_size(cfg, &plan)?;
    let pools = plan
        .workers
        .iter()
        .map(|w| {
            Mempool::new(&eal, &format!("mg_pool_l{}", w.lcore), cfg.mbufs, cfg.mbuf_cache, eal.lcore_socket(w.lcore))
                .map_err(|e| pool_error(cfg, &e))
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Ports: every queue takes its mbufs from its owner's pool.
    let mut ports: Vec<Port<'_>> = Vec::new();
    let mut port_views = Vec::new();
    for info in &infos {
        let rx_pools = (0..plan.queues)
            .map(|q| plan.owner(info.id, q).and_then(|w| pools.get(w)))
            .collect::<Option<Vec<&Mempool<'_>>>>()
            .ok_or_else(|| RunError::Failed(format!("internal: a queue of port {} has no worker", info.id)))?;
        let rss = plan.distribution == Distribution::Rss;
        let setup = PortSetup {
            rx_desc: cfg.rx_desc,
            tx_desc: cfg.tx_desc,
            rss_hf: rss.then_some(rss_wanted & info.rss_offloads),
            rx_pools: &rx_pools,
        };
        let port = Port::start(&eal, info.id, &setup).map_err(|e| port_error(cfg, info, &e))?;
        if !port.promiscuous() {
            eprintln!(
                "mailgate: port {} ({}): driver has no promiscuous mode (it passes every frame anyway)",
                info.id, info.driver
            );
        }
        port_views.push(PortView {
            port: info.id,
            name: info.name.clone(),
            driver: info.driver.clone(),
            queues: port.queues(),
            rss,
            promiscuous: port.promiscuous(),
        });
        ports.push(port);
    }

    // Workers and what the main lcore sees of them.
    let mut jobs = Vec::new();
    let mut views = Vec::new();
    for (i, (wp, pool)) in plan.workers.iter().zip(&pools).enumerate() {
        let served: Vec<&Port<'_>> =
            Plan::ports_of(wp).iter().filter_map(|id| ports.iter().find(|p| p.id() == *id)).collect();
        let io = DpdkIo::new(&served, wp.queue, cfg.burst, pool).map_err(|e| RunError::Failed(e.to_string()))?;
        let sink = Counted::new(make_sink(i));
        let sessions = sink.counter();
        let worker = Worker::new(make_engine(i), sink);
        let flows_at_stop = Arc::new(AtomicU64::new(0));
        views.push(WorkerView {
            lcore: wp.lcore,
            queue: wp.queue,
            pairs: wp.pairs.clone(),
            counters: Arc::clone(&worker.counters),
            sessions,
            flows_at_stop: Arc::clone(&flows_at_stop),
        });
        jobs.push((wp.lcore, wp.pairs.clone(), worker, io, flows_at_stop));
    }

    // Ports are up and memory is mapped: nothing from here on needs privileges.
    privileges::drop_or_warn(cfg.drop_privileges, "main lcore");
    ready(views.iter().map(|v| Arc::clone(&v.counters)).collect())?;
    let signals = Signals::install().map_err(|e| RunError::Failed(format!("cannot install signal handlers: {e}")))?;
    let clock = eal.clock();
    let tick_ns = cfg.tick_ms.saturating_mul(1_000_000);
    let drop_privileges = cfg.drop_privileges;
    let stop = AtomicBool::new(false);
    let monitor = Monitor { opts, signals: &signals, ports: &ports, port_views: &port_views, workers: &views };

    let outcome = eal
        .lcore_scope(|scope| -> Result<(Duration, &'static str), RunError> {
            // Whatever happens on the main lcore, the workers are told to stop
            // before the scope waits for them.
            let _stop = StopOnDrop(&stop);
            let started = Instant::now();
            for (lcore, pairs, worker, io, flows_at_stop) in jobs {
                let stop = &stop;
                scope
                    .launch(lcore, move || {
                        privileges::drop_or_warn(drop_privileges, "worker");
                        worker_loop(worker, io, &pairs, clock, tick_ns, stop, &flows_at_stop)
                    })
                    .map_err(|e| RunError::Failed(e.to_string()))?;
            }
            let reason = monitor.until_stop(started);
            stop.store(true, Ordering::Relaxed);
            Ok((started.elapsed(), reason))
        })
        .map_err(|e| RunError::Failed(e.to_string()))?;
    let (ran, reason) = outcome?;

    std::thread::sleep(TX_DRAIN);
    let final_ports = monitor.port_stats();
    let summary = Summary::build(ran.as_secs_f64(), reason, plan.distribution, &views, &final_ports);
    // `ports`, then `pools`, then `eal` drop here, in that order.
    drop(ports);
    Ok(summary)
}

/// Sets the stop flag when dropped (also when the main lcore panics).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A worker lcore's whole life: poll until told to stop, then end its flows.
/// The clock is read once per pass and the tick runs every `tick_ns`.
fn worker_loop<S: SessionSink>(
    mut worker: Worker<S>,
    mut io: DpdkIo<'_>,
    pairs: &[PortPair],
    clock: TscClock,
    tick_ns: u64,
    stop: &AtomicBool,
    flows_at_stop: &AtomicU64,
) {
    let mut next_tick = clock.now_ns().saturating_add(tick_ns);
    while !stop.load(Ordering::Relaxed) {
        let now = clock.now_ns();
        worker.poll_once(&mut io, pairs, now);
        if now >= next_tick {
            worker.tick(now);
            next_tick = now.saturating_add(tick_ns);
        }
    }
    // RX has stopped; every frame taken was forwarded or freed within its
    // pass. Record the table's occupancy, then end the flows (records out).
    worker.tick(clock.now_ns());
    flows_at_stop.store(worker.engine.flows_active() as u64, Ordering::Relaxed);
    worker.finish();
}

/// The main lcore's view while workers run.
struct Monitor<'a> {
    opts: &'a RunOptions,
    signals: &'a Signals,
    ports: &'a [Port<'a>],
    port_views: &'a [PortView],
    workers: &'a [WorkerView],
}

impl Monitor<'_> {
    /// Prints stats and handles SIGHUP until the duration passes or a stop
    /// signal arrives; returns why it stopped.
    fn until_stop(&self, started: Instant) -> &'static str {
        let interval = Duration::from_secs(self.opts.config.stats_interval_s);
        let mut printer = StatsPrinter::default();
        let mut last_stats = started;
        loop {
            if self.signals.terminate_requested() {
                return "signal";
            }
            if self.opts.duration.is_some_and(|d| started.elapsed() >= d) {
                return "duration";
            }
            if self.signals.take_reload() {
                reload::on_sighup(self.opts.config_path.as_deref(), self.opts.mailbox.as_deref());
            }
            if !interval.is_zero() && last_stats.elapsed() >= interval {
                let secs = last_stats.elapsed().as_secs_f64();
                last_stats = Instant::now();
                printer.print(started.elapsed().as_secs_f64(), secs, &self.port_stats(), self.workers);
            }
            std::thread::sleep(MONITOR_PERIOD);
        }
    }

    fn port_stats(&self) -> Vec<(PortView, dpdk::PortStats)> {
        self.ports.iter().zip(self.port_views).map(|(p, v)| (v.clone(), p.stats().unwrap_or_default())).collect()
    }
}

/// Mbufs a worker's pool needs at the least: its RX and TX descriptors on
/// every port it serves, the bursts in hand, and the per-lcore cache.
fn pool_need(cfg: &RuntimeConfig, ports: usize) -> u64 {
    let per_port = u64::from(cfg.rx_desc) + u64::from(cfg.tx_desc);
    ports as u64 * per_port + 3 * BURST as u64 + u64::from(cfg.mbuf_cache) * 3 / 2
}

fn check_pool_size(cfg: &RuntimeConfig, plan: &Plan) -> Result<(), RunError> {
    let most_ports = plan.workers.iter().map(|w| Plan::ports_of(w).len()).max().unwrap_or(0);
    let need = pool_need(cfg, most_ports);
    if u64::from(cfg.mbufs) < need {
        return Err(RunError::startup(
            format!("mempool too small: {} mbufs per worker, but its descriptors and bursts need {need}", cfg.mbufs),
            format!("raise `mbufs` in [dataplane] to at least {need} (or lower rx_desc/tx_desc)"),
        ));
    }
    Ok(())
}

fn pool_error(cfg: &RuntimeConfig, e: &dpdk::DpdkError) -> RunError {
    if e.errno() == Some(error::ENOMEM) {
        RunError::startup(
            format!("not enough DPDK memory for a pool of {} mbufs per worker: {e}", cfg.mbufs),
            "give EAL more memory (more hugepages or `--socket-mem`; with --no-huge, a larger `-m`, e.g. -m 2048) or lower `mbufs` in [dataplane]",
        )
    } else {
        RunError::startup(
            format!("cannot create a worker's mempool: {e}"),
            "correct `mbufs`/`mbuf_cache` in [dataplane]",
        )
    }
}

fn port_error(cfg: &RuntimeConfig, info: &PortInfo, e: &dpdk::DpdkError) -> RunError {
    let what = format!("port {} ({}, {})", info.id, info.name, info.driver);
    let rx_setup = e.op().is_some_and(|op| op.starts_with("rte_eth_rx_queue_setup"));
    if rx_setup || e.errno() == Some(error::ENOMEM) {
        RunError::startup(
            format!("{what}: RX queue setup failed, most likely for want of mbufs ({} per worker): {e}", cfg.mbufs),
            "raise `mbufs` in [dataplane] (net_pcap with infinite_rx=1 keeps one mbuf per frame of the capture, plus descriptors) and give EAL the memory for it",
        )
    } else {
        RunError::startup(format!("{what}: {e}"), "check the device's arguments and the EAL messages above")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pool_has_room_for_a_100k_capture_plus_descriptors() {
        let cfg = RuntimeConfig::default();
        assert!(u64::from(cfg.mbufs) >= 100_000 + pool_need(&cfg, 2));
    }
}
