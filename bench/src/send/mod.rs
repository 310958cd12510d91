//! `mailgate-bench send`: a DPDK traffic generator for the latency figure.
//!
//! It replays a capture, or flows it generates in memory with `gen`'s
//! generator (no file), into two DPDK ports at a fixed rate — each frame
//! out of the port on its sender's side (client frames out of the inside
//! port, server frames out of the outside one) — and receives what the
//! appliance forwards on the opposite port. Each frame carries its send time in 8
//! extra bytes at its end, after the IP datagram (where Ethernet padding
//! would be: decoders, the appliance's included, go by the IP length), so
//! every forwarded frame gives one latency sample for an `hdrhistogram`.
//!
//! Generated flows are made before sending starts, not while sending: the
//! generator builds real rustls ClientHellos, far slower than line rate.
//!
//! Looping the capture would repeat each flow with the same initial
//! sequence numbers (retransmissions of closed flows, to the appliance), so
//! every loop adds a different offset to the client's sequence numbers (and
//! to the server's acknowledgements), TCP checksum updated: each loop's
//! sessions are new sessions on reused ports.
//!
//! Before measuring, probe frames (EtherType 0x88b5, local experimental)
//! are sent each way until one comes back, so the links are up and the
//! appliance forwards. Everything goes through the dataplane's safe DPDK
//! wrapper; the sender runs on the main lcore.

use std::path::PathBuf;

use crate::gen::GenConfig;

#[cfg(feature = "dpdk")]
mod generator;
#[cfg(feature = "dpdk")]
pub use generator::send;

/// Where the frames sent come from (looped either way).
#[derive(Debug, Clone)]
pub enum Source {
    /// A capture file.
    Capture(PathBuf),
    /// Flows generated in memory at start, as `gen` would write them.
    Generated(GenConfig),
}

/// The generated flows a report describes (`gen`'s arguments).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GeneratedFlows {
    /// The traffic mix (`gen --mix`).
    pub mix: String,
    /// TCP flows per loop.
    pub flows: u64,
    /// The seed.
    pub seed: u64,
}

/// What to send.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// The frames to send.
    pub source: Source,
    /// Frames per second to offer.
    pub rate: u64,
    /// Seconds to send for.
    pub duration_s: f64,
    /// The ports facing the appliance's inside port (client frames go out
    /// there) and its outside port (server frames), in that order.
    pub ports: [u16; 2],
    /// EAL arguments.
    pub eal_args: Vec<String>,
    /// Where to write the report as JSON, before lingering.
    pub json: Option<PathBuf>,
    /// How long the ports stay open, idle, after the report is written. A
    /// memif peer must not vanish while the appliance polls it (DPDK 22.11's
    /// memif driver can crash its peer's worker then), so the benchmark
    /// stops the appliance first, during this time.
    pub linger: std::time::Duration,
}

/// Latency percentiles, nanoseconds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest.
    pub max_ns: u64,
    /// Mean.
    pub mean_ns: f64,
}

/// What a send run saw.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SendReport {
    /// The capture replayed (`None` when the flows were generated).
    pub capture: Option<PathBuf>,
    /// The flows generated instead of a capture.
    pub generated: Option<GeneratedFlows>,
    /// Frames per second asked for.
    pub rate_target_pps: u64,
    /// Seconds of sending.
    pub duration_s: f64,
    /// Frames handed to the TX queues.
    pub offered: u64,
    /// Offered frames per second.
    pub offered_pps: f64,
    /// Offered frames that came back through the appliance.
    pub forwarded: u64,
    /// Forwarded frames per second.
    pub forwarded_pps: f64,
    /// Offered frames that did not come back.
    pub lost: u64,
    /// lost / offered.
    pub loss_ratio: f64,
    /// Frames received without a valid send time (crafted by the appliance).
    pub foreign: u64,
    /// Frames not sent for want of an mbuf or TX room at the end.
    pub not_sent: u64,
    /// Complete loops of the capture (or of the generated flows).
    pub loops: u64,
    /// One-way latency through the appliance (and both memif hops).
    pub latency: Latency,
}
