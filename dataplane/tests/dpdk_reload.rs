//! SIGHUP under traffic: the policy file is re-read and new sessions get
//! the new verdict, while every frame of the sessions already under way is
//! still forwarded, unchanged and in order (real kernel veths, frames
//! injected with tcpreplay and captured with tcpdump on the far side).

mod dpdk_common;

use dpdk_common::frames::tcp4;
use dpdk_common::wires::{stop_capture, tools_missing, Wires};
use dpdk_common::*;
use std::time::Duration;

const CLIENT: [u8; 4] = [198, 51, 100, 23];
const SERVER: [u8; 4] = [203, 0, 113, 9];

const ALLOW: &str = "mode = \"block\"\n[defaults]\nunapproved_mail = \"reset\"\n[[allow]]\nname = \"ws-may-send\"\nfrom = [\"198.51.100.23/32\"]\nto = [\"203.0.113.9/32\"]\nprotocols = [\"smtp\"]\n[dataplane]\nmbufs = 8191\nstats_interval_s = 0\n";
const DENY: &str =
    "mode = \"block\"\n[defaults]\nunapproved_mail = \"reset\"\n[dataplane]\nmbufs = 8191\nstats_interval_s = 0\n";

/// A SYN and then `acks` bare ACKs of a session from client port `port`.
fn session(port: u16, acks: u32) -> Vec<Vec<u8>> {
    let mut f = vec![tcp4(CLIENT, SERVER, port, 25, 1000, 0x02, b"")];
    f.extend((0..acks).map(|k| tcp4(CLIENT, SERVER, port, 25, 1001 + k, 0x10, b"")));
    f
}

#[test]
fn a_reload_under_traffic_changes_new_sessions_and_loses_or_reorders_nothing() {
    require_dpdk!();
    if let Some(tool) = tools_missing() {
        eprintln!("SKIPPED: {tool} not installed");
        return;
    }
    let dir = Scratch::new("reload");
    // Before the reload: three sessions the first policy admits.
    let before: Vec<Vec<u8>> = (0..3).flat_map(|i| session(41000 + i, 4)).collect();
    // After: the same sessions go on, and three new ones start.
    let ongoing: Vec<Vec<u8>> =
        (0..3).flat_map(|i| (0..4).map(move |k| tcp4(CLIENT, SERVER, 41000 + i, 25, 1005 + k, 0x10, b""))).collect();
    let fresh: Vec<Vec<u8>> = (0..3).flat_map(|i| session(42000 + i, 0)).collect();
    let (p_before, p_ongoing, p_fresh) = (dir.path("before.pcap"), dir.path("ongoing.pcap"), dir.path("fresh.pcap"));
    write_pcap(&p_before, &before);
    write_pcap(&p_ongoing, &ongoing);
    write_pcap(&p_fresh, &fresh);

    let wires = Wires::new();
    let config = dir.path("mailgate.toml");
    std::fs::write(&config, ALLOW).unwrap();
    let summary_path = dir.path("summary.json");
    let mut eal = base_eal("reload", 1024);
    eal.extend([
        "--vdev".into(),
        format!("net_af_packet0,iface={}", wires.outer("i")),
        "--vdev".into(),
        format!("net_af_packet1,iface={}", wires.outer("o")),
        "-l".into(),
        "0,1".into(),
    ]);
    let args =
        ["--config".into(), config.display().to_string(), "--summary-json".into(), summary_path.display().to_string()];
    let child = spawn(&args, &eal);
    std::thread::sleep(Duration::from_secs(2));
    let (out_far, out_near) = (dir.path("far.pcap"), dir.path("near.pcap"));
    let far = wires.capture("o", &out_far);
    let near = wires.capture("i", &out_near);

    wires.inject("i", &p_before);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&config, DENY).unwrap();
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(500)); // the workers take it up on their next tick
    wires.inject("i", &p_ongoing);
    wires.inject("i", &p_fresh);
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, "INT");
    let out = wait_with_limit(child, Duration::from_secs(30));
    stop_capture(far);
    stop_capture(near);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("SIGHUP: policy"), "{err}");

    // Every frame of the admitted sessions came out the far side, unchanged and in order.
    let forwarded: Vec<Vec<u8>> =
        read_pcap(&out_far).into_iter().filter(|f| f.len() >= 54 && f[12..14] == [0x08, 0x00]).collect();
    let expected: Vec<Vec<u8>> = before.iter().chain(&ongoing).cloned().collect();
    assert_eq!(forwarded.len(), expected.len(), "forwarded {} of {}", forwarded.len(), expected.len());
    for (got, want) in forwarded.iter().zip(&expected) {
        assert_eq!(&got[..want.len()], &want[..], "a forwarded frame differs or is out of order");
    }
    // The new sessions' SYNs were reset back to the client, and never reached the server.
    let resets: Vec<Vec<u8>> =
        read_pcap(&out_near).into_iter().filter(|f| f.len() >= 54 && f[47] & 0x04 != 0).collect();
    assert_eq!(resets.len(), 3, "one RST per new session");
    let s = summary(&summary_path);
    assert_eq!(num(&s, "rst_sent"), 3, "{s}");
    assert_eq!(num(&s, "packets_dropped_policy"), 3, "{s}");
}
