//! The generator itself: frames prepared from the capture or generated, the paced send
//! loop over the dataplane's DPDK wrapper, the latency histogram.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use hdrhistogram::Histogram;
use mailgate_dataplane::decode::{decode_ethernet, Decoded};
use mailgate_dataplane::io::dpdk::{DpdkIo, Eal, Mempool, Port, PortSetup, TscClock};
use mailgate_dataplane::io::{Burst, Frame, PacketIo, BURST};

use super::{GeneratedFlows, Latency, SendConfig, SendReport, Source};
use crate::gen::generate;
use crate::run::captures;

/// Bytes of the send time appended to every frame.
const STAMP_LEN: usize = 8;
/// EtherType of the probe frames (IEEE 802 local experimental 1).
const PROBE_ETHERTYPE: u16 = 0x88b5;
/// Added to the client's sequence numbers once per loop of the capture.
const LOOP_SEQ_STEP: u32 = 0x9e37_79b9;
/// How long the links may take to pass a probe each way.
const PROBE_PATIENCE: Duration = Duration::from_secs(20);
/// How long frames still in flight are awaited after the last send.
const DRAIN: Duration = Duration::from_millis(300);
/// mbufs of the sender's pool (descriptors of two ports, bursts, cache).
const POOL_MBUFS: u32 = 8191;

/// Which port of the sender a frame leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Inside = 0,
    Outside = 1,
}

/// A 32-bit TCP field changed per loop, with the checksum kept right.
#[derive(Debug, Clone, Copy)]
struct SeqPatch {
    field: usize,
    checksum: usize,
    original: u32,
    original_checksum: u16,
}

/// A frame ready to send: its bytes with room for the stamp.
struct Prepared {
    data: Vec<u8>,
    side: Side,
    patch: Option<SeqPatch>,
}

/// Updates a ones'-complement checksum for a 32-bit word changed from
/// `old` to `new` (RFC 1624, eqn. 3).
fn checksum_update(checksum: u16, old: u32, new: u32) -> u16 {
    let mut sum = u32::from(!checksum);
    for (o, n) in [(old >> 16, new >> 16), (old & 0xffff, new & 0xffff)] {
        sum += u32::from(!(o as u16)) + n;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The offset of the TCP header in a frame whose IP header starts at `ip`
/// (IPv4 with options, or IPv6 straight to TCP; `None` otherwise).
fn tcp_offset(frame: &[u8], ip: usize) -> Option<usize> {
    let version = frame.get(ip)? >> 4;
    match version {
        4 => Some(ip + usize::from(frame.get(ip)? & 0x0f) * 4),
        6 if *frame.get(ip + 6)? == 6 => Some(ip + 40),
        _ => None,
    }
}

/// The bytes of every frame of `source`, in order: the capture read, or
/// the flows generated in memory.
fn frames_of(source: &Source) -> anyhow::Result<Vec<Vec<u8>>> {
    Ok(match source {
        Source::Capture(path) => {
            let frames = captures::load(path)?;
            ensure!(!frames.is_empty(), "{} has no frames", path.display());
            frames.iter().map(|f| f.data.to_vec()).collect()
        }
        Source::Generated(config) => {
            ensure!(config.flows > 0, "--flows must be positive");
            let mix = captures::mix_name(config.mix);
            eprintln!("mailgate-bench send: generating {} {mix} flows (seed {}) in memory", config.flows, config.seed);
            let mut frames = Vec::new();
            let made =
                generate(config, &mut frames, &mut std::io::sink(), &mut |_| {}).context("generating the flows")?;
            eprintln!("mailgate-bench send: {} frames, {} of the flows mail", made.frames, made.mail_flows);
            frames.into_iter().map(|f| f.data).collect()
        }
    })
}

/// Works out each frame's side and sequence patch.
fn prepare(frames: Vec<Vec<u8>>) -> Vec<Prepared> {
    type Ep = (IpAddr, u16);
    let mut clients: HashMap<(Ep, Ep), Ep> = HashMap::new();
    let mut out = Vec::with_capacity(frames.len());
    for mut data in frames {
        let (side, patch) = match decode_ethernet(&data) {
            Decoded::Tcp(seg) => {
                let (src, dst) = ((seg.src, seg.src_port), (seg.dst, seg.dst_port));
                let key = if src <= dst { (src, dst) } else { (dst, src) };
                let client = *clients.entry(key).or_insert(if seg.flags.syn && !seg.flags.ack {
                    src
                } else if seg.flags.syn || seg.src_port < seg.dst_port {
                    dst
                } else {
                    src
                });
                let from_client = src == client;
                let tcp = tcp_offset(&data, seg.layout.ip_offset).filter(|_| !seg.layout.encapsulated);
                // The client's sequence number, or the server's acknowledgement of it.
                let field = match (tcp, from_client, seg.flags.ack) {
                    (Some(t), true, _) => Some(t + 4),
                    (Some(t), false, true) => Some(t + 8),
                    _ => None,
                };
                let patch = field.zip(tcp).and_then(|(field, t)| {
                    let word = data.get(field..field + 4)?;
                    let sum = data.get(t + 16..t + 18)?;
                    Some(SeqPatch {
                        field,
                        checksum: t + 16,
                        original: u32::from_be_bytes(word.try_into().ok()?),
                        original_checksum: u16::from_be_bytes(sum.try_into().ok()?),
                    })
                });
                (if from_client { Side::Inside } else { Side::Outside }, patch)
            }
            // UDP, ARP…: not tracked by the appliance; sent from the inside.
            _ => (Side::Inside, None),
        };
        data.extend_from_slice(&[0; STAMP_LEN]);
        out.push(Prepared { data, side, patch });
    }
    out
}

impl Prepared {
    /// Writes the loop's sequence offset and the send time into the frame.
    fn stamp(&mut self, loop_no: u64, now_ns: u64) {
        if let Some(p) = self.patch {
            let value = p.original.wrapping_add(LOOP_SEQ_STEP.wrapping_mul(loop_no as u32));
            let sum = checksum_update(p.original_checksum, p.original, value);
            if let Some(w) = self.data.get_mut(p.field..p.field + 4) {
                w.copy_from_slice(&value.to_be_bytes());
            }
            if let Some(c) = self.data.get_mut(p.checksum..p.checksum + 2) {
                c.copy_from_slice(&sum.to_be_bytes());
            }
        }
        let at = self.data.len() - STAMP_LEN;
        if let Some(s) = self.data.get_mut(at..) {
            s.copy_from_slice(&now_ns.to_le_bytes());
        }
    }
}

/// The send time a received frame carries, if it is one of ours.
fn stamp_of(frame: &[u8], since_ns: u64, now_ns: u64) -> Option<u64> {
    let at = frame.len().checked_sub(STAMP_LEN)?;
    let ts = u64::from_le_bytes(frame.get(at..)?.try_into().ok()?);
    (since_ns..=now_ns).contains(&ts).then_some(ts)
}

/// A probe frame stamped `now_ns`.
fn probe(now_ns: u64) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0xbe, 0x01]);
    f.extend_from_slice(&PROBE_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(b"mailgate-bench send probe");
    f.resize(60, 0);
    f.extend_from_slice(&now_ns.to_le_bytes());
    f
}

/// Sends probes each way until both come back.
fn await_path(io: &mut DpdkIo<'_>, clock: &TscClock, ports: [u16; 2]) -> anyhow::Result<()> {
    let started = clock.now_ns();
    let deadline = started + PROBE_PATIENCE.as_nanos() as u64;
    let mut through = [false; 2];
    let mut last_probe = 0;
    while through != [true, true] {
        let now = clock.now_ns();
        if now > deadline {
            bail!("no probe came back through the appliance within {PROBE_PATIENCE:?} (ports {ports:?}; is it running and connected?)");
        }
        if now - last_probe > 50_000_000 {
            last_probe = now;
            for (i, port) in ports.iter().enumerate() {
                if through[i] {
                    continue;
                }
                let mut burst = Burst::new();
                if let Some(m) = io.alloc_frame(&probe(now)) {
                    burst.push(m);
                    io.tx_burst(*port, &mut burst);
                }
            }
        }
        for (i, port) in ports.iter().enumerate() {
            let mut rx = Burst::new();
            io.rx_burst(*port, &mut rx);
            // A probe sent from port i arrives on the other port.
            if rx.iter().any(|m| m.data().get(12..14) == Some(&PROBE_ETHERTYPE.to_be_bytes()[..])) {
                through[1 - i] = true;
            }
        }
    }
    Ok(())
}

/// Runs the sender; DPDK's EAL is initialised here (once per process).
pub fn send(config: &SendConfig) -> anyhow::Result<SendReport> {
    ensure!(config.rate > 0, "--rate must be positive");
    let ports = config.ports;
    ensure!(ports[0] != ports[1], "the inside and outside ports must differ (--port {},{})", ports[0], ports[1]);
    let mut frames = prepare(frames_of(&config.source)?);
    let eal = Eal::init(&config.eal_args)?;
    let available = eal.ports();
    for p in ports {
        ensure!(available.contains(&p), "no DPDK port {p} (ports: {available:?}); check the --vdev arguments");
    }
    let socket = eal.lcore_socket(eal.main_lcore());
    let pool = Mempool::new(&eal, "mgb_send", POOL_MBUFS, 256, socket)?;
    let pools = [&pool];
    let setup = PortSetup { rx_desc: 1024, tx_desc: 1024, rss_hf: None, rx_pools: &pools };
    let inside = Port::start(&eal, ports[0], &setup)?;
    let outside = Port::start(&eal, ports[1], &setup)?;
    let mut io = DpdkIo::new(&[&inside, &outside], 0, BURST as u16, &pool)?;
    let clock = eal.clock();
    await_path(&mut io, &clock, ports)?;

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).context("histogram bounds")?;
    let (mut offered, mut forwarded, mut foreign, mut not_sent) = (0u64, 0u64, 0u64, 0u64);
    let (mut next, mut loop_no, mut built) = (0usize, 0u64, 0u64);
    let mut pending: [Burst<_>; 2] = [Burst::new(), Burst::new()];
    let start = clock.now_ns();
    let duration_ns = (config.duration_s * 1e9) as u64;
    let end = start + duration_ns;
    let drain_end = end + DRAIN.as_nanos() as u64;
    loop {
        let now = clock.now_ns();
        if now >= drain_end {
            break;
        }
        if now < end {
            let due = (u128::from(now - start) * u128::from(config.rate) / 1_000_000_000) as u64;
            while built < due {
                let Some(frame) = frames.get_mut(next) else { break };
                let queue = &mut pending[frame.side as usize];
                if queue.is_full() {
                    break;
                }
                frame.stamp(loop_no, now);
                match io.alloc_frame(&frame.data) {
                    Some(m) => queue.push(m),
                    None => break,
                }
                built += 1;
                next += 1;
                if next == frames.len() {
                    next = 0;
                    loop_no += 1;
                }
            }
        }
        for (queue, port) in pending.iter_mut().zip(ports) {
            if !queue.is_empty() {
                offered += io.tx_burst(port, queue) as u64;
            }
        }
        for port in ports {
            let mut rx = Burst::new();
            io.rx_burst(port, &mut rx);
            if rx.is_empty() {
                continue;
            }
            let t = clock.now_ns();
            for m in rx.drain(..) {
                match stamp_of(m.data(), start, t) {
                    Some(ts) => {
                        forwarded += 1;
                        histogram.saturating_record((t - ts).max(1));
                    }
                    None => foreign += 1,
                }
            }
        }
    }
    not_sent += pending.iter().map(|q| q.len() as u64).sum::<u64>();
    drop(pending);
    let seconds = duration_ns as f64 / 1e9;
    let lost = offered.saturating_sub(forwarded);
    let report = SendReport {
        capture: match &config.source {
            Source::Capture(path) => Some(path.clone()),
            Source::Generated(_) => None,
        },
        generated: match config.source {
            Source::Capture(_) => None,
            Source::Generated(g) => {
                Some(GeneratedFlows { mix: captures::mix_name(g.mix).to_string(), flows: g.flows, seed: g.seed })
            }
        },
        rate_target_pps: config.rate,
        duration_s: seconds,
        offered,
        offered_pps: offered as f64 / seconds,
        forwarded,
        forwarded_pps: forwarded as f64 / seconds,
        lost,
        loss_ratio: lost as f64 / offered.max(1) as f64,
        foreign,
        not_sent,
        loops: loop_no,
        latency: Latency {
            count: histogram.len(),
            min_ns: histogram.min(),
            p50_ns: histogram.value_at_quantile(0.5),
            p90_ns: histogram.value_at_quantile(0.9),
            p99_ns: histogram.value_at_quantile(0.99),
            p999_ns: histogram.value_at_quantile(0.999),
            max_ns: histogram.max(),
            mean_ns: histogram.mean(),
        },
    };
    if let Some(path) = &config.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, format!("{text}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    std::thread::sleep(config.linger);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{IpAddress, Ipv4Address, TcpPacket};

    #[test]
    fn checksum_update_matches_a_full_recompute() {
        let src = IpAddress::Ipv4(Ipv4Address::new(198, 51, 100, 23));
        let dst = IpAddress::Ipv4(Ipv4Address::new(203, 0, 113, 25));
        let mut seg = [0u8; 24];
        let mut tcp = TcpPacket::new_unchecked(&mut seg[..]);
        tcp.set_src_port(40_001);
        tcp.set_dst_port(25);
        tcp.set_header_len(20);
        tcp.set_syn(true);
        for (old, new) in [(1u32, 2u32), (0xffff_fff0, 0x0000_0010), (0x1234_5678, 0x1234_5678), (7, 0x9e37_79c0)] {
            tcp.set_seq_number(smoltcp::wire::TcpSeqNumber(old as i32));
            tcp.fill_checksum(&src, &dst);
            let updated = checksum_update(tcp.checksum(), old, new);
            tcp.set_seq_number(smoltcp::wire::TcpSeqNumber(new as i32));
            tcp.set_checksum(updated);
            assert!(tcp.verify_checksum(&src, &dst), "{old:#x} → {new:#x}");
        }
    }

    #[test]
    fn stamps_are_read_back_only_in_their_window() {
        let mut f = probe(0);
        let at = f.len() - STAMP_LEN;
        f[at..].copy_from_slice(&1_000u64.to_le_bytes());
        assert_eq!(stamp_of(&f, 900, 1_100), Some(1_000));
        assert_eq!(stamp_of(&f, 1_001, 1_100), None);
        assert_eq!(stamp_of(&[1, 2, 3], 0, u64::MAX), None);
    }
}
