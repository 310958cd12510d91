//! The throughput set-up (compared against `dpdk-testpmd
//! --forward-mode=macswap` with the same EAL arguments) runs: a generated
//! 100k-frame capture replayed forever from memory by `net_pcap` with
//! `infinite_rx=1`, into a `net_null` sink, in `-m 2048` with the default
//! pool. Nothing here measures speed.

mod dpdk_common;

use dpdk_common::frames::{tcp4, udp4};
use dpdk_common::*;
use std::time::Duration;

/// 100 000 frames over 2 000 TCP flows and some DNS-like UDP.
fn capture() -> Vec<Vec<u8>> {
    (0..100_000u32)
        .map(|i| {
            let flow = i % 2000;
            let client = [198, 51, 100, 1 + (flow % 250) as u8];
            let server = [203, 0, 113, 1 + (flow / 250) as u8];
            if i % 10 == 9 {
                udp4(client, server, 30_000 + (flow as u16), 53, &i.to_be_bytes())
            } else {
                let payload = [b'x'; 64];
                tcp4(client, server, 40_000 + (flow as u16), 25, i, 0x18, &payload[..(i % 64) as usize])
            }
        })
        .collect()
}

#[test]
fn benchmark_command_runs_with_the_default_pool() {
    require_dpdk!();
    let dir = Scratch::new("bench");
    let pcap = dir.path("bench.pcap");
    write_pcap(&pcap, &capture());
    let summary_path = dir.path("s.json");
    let prefix = format!("mgtest-bench-{}", std::process::id());
    let eal: Vec<String> = [
        "--no-huge",
        "-m",
        "2048",
        "--no-pci",
        "--file-prefix",
        &prefix,
        "--vdev",
        &format!("net_pcap0,rx_pcap={},infinite_rx=1", pcap.display()),
        "--vdev",
        "net_null1,no-rx=1",
        "-l",
        "0,1",
    ]
    .map(String::from)
    .to_vec();
    let args = ["--duration".into(), "3".into(), "--summary-json".into(), summary_path.display().to_string()];
    let out = run_to_end(&args, &eal, Duration::from_secs(90));
    let err = stderr(&out);
    assert!(out.status.success(), "exit {:?}\n{err}", out.status);

    let s = summary(&summary_path);
    let rx = num(&s, "packets_rx");
    assert!(rx > 0, "{s}");
    assert_eq!(num(&s, "packets_tx") + num(&s, "tx_failed"), rx, "{s}");
    assert!(s["pps_rx"].as_f64().unwrap() > 0.0, "{s}");
    let ports = s["ports"].as_array().unwrap();
    assert_eq!(num(&ports[0], "ipackets"), rx, "{s}");
    assert_eq!(num(&ports[0], "rx_nombuf"), 0, "{s}");
    assert_eq!(num(&ports[1], "ipackets"), 0, "port 1 receives nothing\n{s}");
    assert_eq!(num(&ports[1], "opackets"), num(&s, "packets_tx"), "{s}");
    let workers = s["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(num(&workers[0], "lcore"), 1);
}
