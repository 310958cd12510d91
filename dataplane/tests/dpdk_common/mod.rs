//! Helpers for the DPDK tests: each case spawns `mailgate-dataplane run`
//! (EAL can start once per process) with its own `--file-prefix`, on
//! virtual devices, and reads its summary JSON.
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mailgate-dataplane");

/// Why DPDK tests cannot run here, if they cannot (they then skip).
pub fn dpdk_unavailable() -> Option<String> {
    let pmds = Path::new("/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0");
    if !pmds.is_dir() {
        return Some(format!("{} missing (apt-get install dpdk)", pmds.display()));
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        return Some("DPDK needs root here (memory locking, /var/run/dpdk)".into());
    }
    None
}

/// Skips the calling test (returns from it) when DPDK cannot run.
#[macro_export]
macro_rules! require_dpdk {
    () => {
        if let Some(why) = dpdk_common::dpdk_unavailable() {
            eprintln!("SKIPPED: DPDK not available: {why}");
            return;
        }
    };
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory for test `name`.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A path inside the directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// EAL arguments every test uses: no hugepages, no PCI, its own prefix.
pub fn base_eal(prefix: &str, mem_mb: u32) -> Vec<String> {
    let prefix = format!("mgtest-{prefix}-{}", std::process::id());
    ["--no-huge", "-m", &mem_mb.to_string(), "--no-pci", "--file-prefix", &prefix].map(String::from).to_vec()
}

/// Runs `mailgate-dataplane run ARGS -- EAL` to completion, killing it (by
/// pid) if it outlives `limit`.
pub fn run_to_end(args: &[String], eal: &[String], limit: Duration) -> Output {
    let child = spawn(args, eal);
    wait_with_limit(child, limit)
}

/// Starts `mailgate-dataplane run ARGS -- EAL` with piped output.
pub fn spawn(args: &[String], eal: &[String]) -> Child {
    Command::new(BIN)
        .arg("run")
        .args(args)
        .arg("--")
        .args(eal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child`; kills it by pid after `limit` (the test then fails
/// on its output).
pub fn wait_with_limit(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Sends `signal` (e.g. "INT") to `child` by pid.
pub fn signal(child: &Child, signal: &str) {
    let ok = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

/// stderr of a run, for assertion messages.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The summary JSON written by `--summary-json`.
pub fn summary(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("no summary at {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A u64 field of a JSON object.
pub fn num(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Writes Ethernet frames as a classic pcap file.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).unwrap();
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&u32::try_from(i).unwrap().to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// The frames of a classic pcap file, in order.
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (_, capture) =
        pcap_parser::parse_pcap(&bytes).unwrap_or_else(|e| panic!("{}: bad pcap: {e:?}", path.display()));
    capture.blocks.iter().map(|f| f.data.to_vec()).collect()
}

/// Frame builders (addresses from the documentation ranges only).
pub mod wires;

pub mod frames {
    /// MAC of the inside host.
    pub const MAC_IN: [u8; 6] = [0x02, 0, 0x5e, 0, 0, 0x01];
    /// MAC of the outside host.
    pub const MAC_OUT: [u8; 6] = [0x02, 0, 0x5e, 0, 0, 0x02];

    fn checksum(parts: &[&[u8]]) -> u16 {
        let mut sum = 0u32;
        let mut odd: Option<u8> = None;
        for b in parts.iter().flat_map(|p| p.iter()) {
            match odd.take() {
                None => odd = Some(*b),
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, *b])),
            }
        }
        if let Some(hi) = odd {
            sum += u32::from(u16::from_be_bytes([hi, 0]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// An Ethernet header.
    pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
        let mut f = Vec::with_capacity(64);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    /// A TCP segment header with `flags` and `payload`, checksummed for the
    /// pseudo-header `pseudo`.
    fn tcp(pseudo: &[u8], sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        let c = checksum(&[pseudo, &t]);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        t
    }

    /// IPv4 header + `l4` of protocol `proto`.
    fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
        let total = u16::try_from(20 + l4.len()).unwrap();
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        let c = checksum(&[&h]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(l4);
        h
    }

    fn pseudo4(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        p
    }

    /// Ethernet/IPv4/TCP.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let t = tcp(&pseudo4(src, dst, 6, 20 + payload.len()), sport, dport, seq, flags, payload);
        let mut f = eth(MAC_OUT, MAC_IN, 0x0800);
        f.extend(ipv4(src, dst, 6, &t));
        f
    }

    /// Ethernet/802.1Q VLAN `vid`/IPv4/TCP.
    pub fn vlan_tcp4(vid: u16, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let inner = tcp4(src, dst, sport, dport, 1, 0x18, payload);
        let mut f = eth(MAC_OUT, MAC_IN, 0x8100);
        f.extend_from_slice(&vid.to_be_bytes());
        f.extend_from_slice(&inner[12..]); // inner ethertype onward
        f
    }

    /// Ethernet/IPv4/UDP.
    pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let len = 8 + payload.len();
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        let c = checksum(&[&pseudo4(src, dst, 17, len), &u]);
        u[6..8].copy_from_slice(&c.to_be_bytes());
        let mut f = eth(MAC_OUT, MAC_IN, 0x0800);
        f.extend(ipv4(src, dst, 17, &u));
        f
    }

    /// An ARP request (`op` 1) or reply (`op` 2).
    pub fn arp(op: u16, sender_mac: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let dst = if op == 1 { [0xff; 6] } else { MAC_IN };
        let mut f = eth(dst, sender_mac, 0x0806);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&sender_mac);
        f.extend_from_slice(&sender);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target);
        f.resize(60, 0); // minimum frame, padded
        f
    }

    /// An IPv6 neighbour solicitation (ICMPv6 135) or advertisement (136).
    pub fn ipv6_nd(icmp_type: u8, src: [u8; 16], dst: [u8; 16], target: [u8; 16]) -> Vec<u8> {
        let mut icmp = vec![icmp_type, 0, 0, 0, 0, 0, 0, 0];
        if icmp_type == 136 {
            icmp[4] = 0x60; // solicited, override
        }
        icmp.extend_from_slice(&target);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&u32::try_from(icmp.len()).unwrap().to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        let c = checksum(&[&pseudo, &icmp]);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut f = eth([0x33, 0x33, 0xff, target[13], target[14], target[15]], MAC_IN, 0x86dd);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&u16::try_from(icmp.len()).unwrap().to_be_bytes());
        f.extend_from_slice(&[58, 255]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend(icmp);
        f
    }

    /// An LLDP frame (ethertype 0x88cc, not IP).
    pub fn lldp() -> Vec<u8> {
        let mut f = eth([0x01, 0x80, 0xc2, 0, 0, 0x0e], MAC_IN, 0x88cc);
        // chassis id (MAC), port id (local "1"), TTL 120, end.
        f.extend_from_slice(&[0x02, 0x07, 0x04]);
        f.extend_from_slice(&MAC_IN);
        f.extend_from_slice(&[0x04, 0x02, 0x07, b'1', 0x06, 0x02, 0x00, 0x78, 0x00, 0x00]);
        f.resize(60, 0);
        f
    }

    /// A frame of the local experimental ethertype 0x88b5 (neither IP nor ARP).
    pub fn non_ip(tag: u8) -> Vec<u8> {
        let mut f = eth(MAC_OUT, MAC_IN, 0x88b5);
        f.extend_from_slice(b"mailgate non-IP test frame");
        f.push(tag);
        f.resize(60, 0);
        f
    }

    /// 2001:db8::`last`.
    pub fn v6(last: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = last;
        a
    }
}
