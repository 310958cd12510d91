//! Memory per tracked flow: what the flow table reserves per flow (from
//! `Engine::memory_per_flow`, i.e. `size_of` the entry plus its index
//! slots), and what the process really holds when one engine tracks a
//! million concurrent flows: an engine with `flow_capacity` 1 048 576 fed
//! 1 048 576 distinct SYNs, `VmRSS` read from `/proc/self/status` before
//! the engine, after its construction and after the SYNs.

use std::net::Ipv4Addr;

use anyhow::Context;
use mailgate_dataplane::engine::{Engine, EngineConfig, SessionEnd, SessionSink};
use mailgate_dataplane::session::SessionFacts;
use mailgate_dataplane::verdict::{load_policy, Verdicts};
use smoltcp::wire::{TcpControl, TcpRepr, TcpSeqNumber};

use crate::frame::{tcp_frame, IpFields, IpPair, Link};

/// What the memory probe found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemoryResult {
    /// Flow-table bytes per flow (entry, index slots, free list).
    pub bytes_per_flow: usize,
    /// Bytes of one pooled session's facts (only inspected sessions hold one;
    /// `session_capacity` of them are allocated).
    pub session_facts_bytes: usize,
    /// Flow capacity of the probed engine.
    pub flow_capacity: usize,
    /// SYNs fed (distinct flows).
    pub flows_fed: u64,
    /// Flows the engine tracked afterwards.
    pub flows_active: usize,
    /// Flows it could not track.
    pub flows_untracked: u64,
    /// Process VmRSS before the engine existed, KiB.
    pub rss_before_kib: u64,
    /// VmRSS with the engine built (every table allocated and written), KiB.
    pub rss_engine_kib: u64,
    /// VmRSS with every flow tracked, KiB.
    pub rss_flows_kib: u64,
    /// (VmRSS with the flows − VmRSS before) / flows: resident bytes per
    /// flow, all the engine's pools included.
    pub rss_bytes_per_flow: f64,
}

struct Discard;
impl SessionSink for Discard {
    fn emit(&mut self, _session: &mut SessionEnd<'_>) {}
}

/// This process's resident set, KiB.
pub fn vm_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// The SYN of flow `n`: a distinct client address and port towards one
/// HTTPS server, the way a SYN flood or a busy NAT would look.
fn syn(n: u64) -> Vec<u8> {
    // 256 documentation addresses × 60 000 ports: 15 M distinct flows at most.
    let client = Ipv4Addr::new(198, 51, 100, (n / 60_000 % 256) as u8);
    let port = 2_000 + (n % 60_000) as u16;
    let link = Link { src_mac: [2, 0, 0, 0, 0, 1], dst_mac: [2, 0, 0, 0, 0, 2], vlan: None };
    let repr = TcpRepr {
        src_port: port,
        dst_port: 443,
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(n as i32),
        ack_number: None,
        window_len: 64_240,
        window_scale: Some(7),
        max_seg_size: Some(1460),
        sack_permitted: true,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    tcp_frame(&link, IpPair::V4(client, Ipv4Addr::new(203, 0, 113, 80)), IpFields { hop_limit: 64, ident: 1 }, &repr)
}

/// Builds an engine for `flows` flows and feeds it as many distinct SYNs.
pub fn measure(flows: u64) -> anyhow::Result<MemoryResult> {
    let capacity = usize::try_from(flows)?;
    let config = EngineConfig { flow_capacity: capacity, ..EngineConfig::default() };
    let policy = load_policy(None)?;
    let rss_before_kib = vm_rss_kib()?;
    let mut engine = Engine::new(&config, Verdicts::new(policy));
    let rss_engine_kib = vm_rss_kib()?;
    let now = 1_736_154_000_000_000_000u64;
    let mut sink = Discard;
    for n in 0..flows {
        engine.process(&syn(n), now, &mut sink);
    }
    let rss_flows_kib = vm_rss_kib()?;
    let stats = engine.stats();
    Ok(MemoryResult {
        bytes_per_flow: engine.memory_per_flow(),
        session_facts_bytes: std::mem::size_of::<SessionFacts>(),
        flow_capacity: capacity,
        flows_fed: flows,
        flows_active: engine.flows_active(),
        flows_untracked: stats.flows_untracked,
        rss_before_kib,
        rss_engine_kib,
        rss_flows_kib,
        rss_bytes_per_flow: (rss_flows_kib.saturating_sub(rss_before_kib) * 1024) as f64 / flows.max(1) as f64,
    })
}
