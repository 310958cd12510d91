//! Deciding, from the lcores and what each port can do, which worker runs
//! on which lcore and which queue of which ports it owns.
//!
//! Both directions of a flow must reach the same worker (its flow table
//! holds the session). Three ways are possible:
//! - RSS with the symmetric key, when every paired port supports it: one
//!   worker per worker lcore, worker `i` owns queue `i` of every port;
//! - `net_af_packet` with `qpairs` equal to the worker count: the kernel's
//!   `PACKET_FANOUT_HASH` picks the queue from its flow hash, which is the
//!   same for both directions of a flow (the flow dissector orders the
//!   endpoints) and the same on every interface, so queue `i` of both
//!   ports holds the same flows;
//! - otherwise one worker per port pair, each owning queue 0 of its pair's
//!   two ports (a single worker for the usual single pair).

use super::error::RunError;
use crate::io::dpdk::PortInfo;
use crate::worker::PortPair;
use serde::Serialize;

/// How flows are spread over workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// One worker (one lcore given, or one pair without RSS).
    Single,
    /// NIC RSS with the symmetric Toeplitz key.
    Rss,
    /// Kernel packet fanout (`net_af_packet` with `qpairs` = workers).
    KernelFanout,
    /// No RSS: one worker per port pair.
    PerPair,
}

/// What one worker owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPlan {
    /// The lcore it runs on.
    pub lcore: u32,
    /// Its RX/TX queue id on each of its ports.
    pub queue: u16,
    /// The pairs it forwards between.
    pub pairs: Vec<PortPair>,
}

/// The layout of the whole appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// How flows are spread.
    pub distribution: Distribution,
    /// One entry per worker that runs.
    pub workers: Vec<WorkerPlan>,
    /// RX and TX queues to configure on every paired port.
    pub queues: u16,
    /// What the operator should know about the choice (printed at start-up).
    pub notes: Vec<String>,
}

impl Plan {
    /// The worker owning RX queue `queue` of `port` (whose pool it uses).
    pub fn owner(&self, port: u16, queue: u16) -> Option<usize> {
        self.workers
            .iter()
            .position(|w| w.queue == queue && w.pairs.iter().any(|p| p.inside == port || p.outside == port))
    }

    /// The ports a worker serves, inside and outside of each pair.
    pub fn ports_of(worker: &WorkerPlan) -> Vec<u16> {
        worker.pairs.iter().flat_map(|p| [p.inside, p.outside]).collect()
    }
}

const AF_PACKET: &str = "net_af_packet";

/// Lays out workers over `lcores` (the worker lcores) for `pairs`, given
/// each paired port's capabilities (`infos`, indexed by nothing: looked up
/// by id) and the RSS hash types wanted.
pub fn plan(lcores: &[u32], pairs: &[PortPair], infos: &[PortInfo], rss_wanted: u64) -> Result<Plan, RunError> {
    if lcores.is_empty() {
        return Err(RunError::startup(
            "only one lcore: mailgate needs the main lcore (stats, control) plus at least one worker lcore",
            "give EAL two or more lcores, e.g. `-l 0,1` (main lcore 0, worker on lcore 1)",
        ));
    }
    let info = |port: u16| infos.iter().find(|i| i.id == port);
    let paired: Vec<&PortInfo> = pairs.iter().flat_map(|p| [p.inside, p.outside]).filter_map(info).collect();
    let mut notes = Vec::new();

    // A net_af_packet port spreads frames over all its qpairs: each must
    // have a worker, or the frames fanned out to an unowned one are lost.
    let n = lcores.len();
    for i in &paired {
        if i.driver == AF_PACKET && usize::from(i.max_rx_queues) > n {
            return Err(RunError::startup(
                format!(
                    "port {} ({}) has {} queue pairs but only {n} worker lcore(s) to read them",
                    i.id, i.name, i.max_rx_queues
                ),
                format!("give the vdev `qpairs={n}` or give EAL {} worker lcores", i.max_rx_queues),
            ));
        }
    }

    let spread = |i: &PortInfo| -> Option<Distribution> {
        let queues_ok = usize::from(i.max_rx_queues) >= n && usize::from(i.max_tx_queues) >= n;
        if i.driver == AF_PACKET {
            (usize::from(i.max_rx_queues) == n).then_some(Distribution::KernelFanout)
        } else if i.rss_offloads & rss_wanted != 0 && queues_ok {
            Some(Distribution::Rss)
        } else {
            None
        }
    };

    if n > 1 {
        let ways: Vec<Option<Distribution>> = paired.iter().map(|i| spread(i)).collect();
        let all = |d| ways.iter().all(|w| *w == Some(d));
        let distribution = if all(Distribution::Rss) {
            Some(Distribution::Rss)
        } else if all(Distribution::KernelFanout) {
            Some(Distribution::KernelFanout)
        } else {
            None
        };
        if let Some(distribution) = distribution {
            let workers = lcores
                .iter()
                .zip(0u16..)
                .map(|(&lcore, queue)| WorkerPlan { lcore, queue, pairs: pairs.to_vec() })
                .collect();
            return Ok(Plan { distribution, workers, queues: n as u16, notes });
        }
        for (i, way) in paired.iter().zip(&ways) {
            if way.is_none() {
                let why = if i.driver == AF_PACKET {
                    format!("has {} queue pair(s), not one per worker (give it qpairs={n})", i.max_rx_queues)
                } else if i.rss_offloads & rss_wanted == 0 {
                    "cannot do RSS on IP/TCP/UDP".to_owned()
                } else {
                    format!("offers only {}/{} RX/TX queues for {n} workers", i.max_rx_queues, i.max_tx_queues)
                };
                notes.push(format!("port {} ({}, {}) {why}", i.id, i.name, i.driver));
            }
        }
    }

    // One worker per pair, on queue 0.
    let used = n.min(pairs.len());
    let workers: Vec<WorkerPlan> = lcores
        .iter()
        .take(used)
        .enumerate()
        .map(|(w, &lcore)| WorkerPlan { lcore, queue: 0, pairs: pairs.iter().skip(w).step_by(used).copied().collect() })
        .collect();
    if n > used {
        let idle: Vec<String> = lcores.iter().skip(used).map(u32::to_string).collect();
        notes.push(format!(
            "running one worker per port pair ({used} worker(s)); lcore(s) {} stay idle",
            idle.join(",")
        ));
    }
    let distribution = if used == 1 { Distribution::Single } else { Distribution::PerPair };
    Ok(Plan { distribution, workers, queues: 1, notes })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const WANT: u64 = 0b1110;

    fn port(id: u16, driver: &str, queues: u16, rss: u64) -> PortInfo {
        PortInfo {
            id,
            name: format!("{driver}{id}"),
            driver: driver.into(),
            max_rx_queues: queues,
            max_tx_queues: queues,
            rss_offloads: rss,
            hash_key_size: 40,
            socket: 0,
        }
    }

    const PAIR: PortPair = PortPair { inside: 0, outside: 1 };

    #[test]
    fn rss_ports_get_a_queue_per_worker() {
        let infos = [port(0, "net_ixgbe", 64, WANT), port(1, "net_ixgbe", 64, WANT)];
        let p = plan(&[1, 2, 3], &[PAIR], &infos, WANT).unwrap();
        assert_eq!(p.distribution, Distribution::Rss);
        assert_eq!(p.queues, 3);
        assert_eq!(p.workers.iter().map(|w| (w.lcore, w.queue)).collect::<Vec<_>>(), [(1, 0), (2, 1), (3, 2)]);
        assert!(p.workers.iter().all(|w| w.pairs == [PAIR]));
        assert_eq!(p.owner(1, 2), Some(2));
    }

    #[test]
    fn no_rss_means_one_worker_per_pair() {
        let infos = [port(0, "net_pcap", 1, 0), port(1, "net_null", 1024, WANT)];
        let p = plan(&[1, 2], &[PAIR], &infos, WANT).unwrap();
        assert_eq!(p.distribution, Distribution::Single);
        assert_eq!(p.queues, 1);
        assert_eq!(p.workers, [WorkerPlan { lcore: 1, queue: 0, pairs: vec![PAIR] }]);
        assert!(p.notes.iter().any(|n| n.contains("cannot do RSS")), "{:?}", p.notes);
        assert!(p.notes.iter().any(|n| n.contains("lcore(s) 2 stay idle")), "{:?}", p.notes);
    }

    #[test]
    fn pairs_are_dealt_to_workers_without_rss() {
        let infos: Vec<PortInfo> = (0..6).map(|i| port(i, "net_ring", 16, 0)).collect();
        let pairs: Vec<PortPair> = (0..3).map(|i| PortPair { inside: 2 * i, outside: 2 * i + 1 }).collect();
        let p = plan(&[1, 2], &pairs, &infos, WANT).unwrap();
        assert_eq!(p.distribution, Distribution::PerPair);
        assert_eq!(p.workers[0].pairs, [pairs[0], pairs[2]]);
        assert_eq!(p.workers[1].pairs, [pairs[1]]);
        assert_eq!(p.owner(3, 0), Some(1));
    }

    #[test]
    fn af_packet_fans_out_when_qpairs_match() {
        let infos = [port(0, "net_af_packet", 2, 0), port(1, "net_af_packet", 2, 0)];
        let p = plan(&[1, 2], &[PAIR], &infos, WANT).unwrap();
        assert_eq!(p.distribution, Distribution::KernelFanout);
        assert_eq!(p.queues, 2);
        let err = plan(&[1], &[PAIR], &infos, WANT).unwrap_err().to_string();
        assert!(err.contains("qpairs=1"), "{err}");
    }

    #[test]
    fn one_lcore_is_too_few() {
        let err = plan(&[], &[PAIR], &[], WANT).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("-l 0,1"), "{err}");
    }
}
