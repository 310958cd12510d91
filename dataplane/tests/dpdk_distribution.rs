//! Two workers, each flow (both directions) on exactly one of them.
//!
//! `net_af_packet` with `qpairs=2` on two veth pairs into namespaces: DPDK's
//! af_packet driver joins its queues' sockets in a `PACKET_FANOUT_HASH`
//! group, and the kernel's flow hash is the same for both directions of a
//! flow and on both interfaces. (Of the virtual devices, net_pcap and
//! net_ring have no RSS, and net_null's "RSS" generates rather than
//! distributes; this is the one where flows really get spread here.)
//!
//! Attribution without per-flow logs: flow `i` sends 2^(2i) frames inward
//! and 2^(2i+1) outward, so each worker's received count, in binary, says
//! which directions of which flows it saw: bits 2i and 2i+1 must agree.

mod dpdk_common;

use dpdk_common::frames::tcp4;
use dpdk_common::wires::{tools_missing, Wires};
use dpdk_common::*;
use std::time::Duration;

const FLOWS: u32 = 6;

#[test]
fn both_directions_of_each_flow_reach_the_same_worker() {
    require_dpdk!();
    if let Some(tool) = tools_missing() {
        eprintln!("SKIPPED: {tool} not installed");
        return;
    }
    let dir = Scratch::new("dist");
    let (mut inward, mut outward) = (Vec::new(), Vec::new());
    for i in 0..FLOWS {
        let client = [198, 51, 100, 10 + i as u8];
        let server = [203, 0, 113, 20 + i as u8];
        let cport = 40_000 + 7 * i as u16;
        inward.extend((0..1u32 << (2 * i)).map(|k| tcp4(client, server, cport, 25, k, 0x10, b"")));
        outward.extend((0..1u32 << (2 * i + 1)).map(|k| tcp4(server, client, 25, cport, k, 0x10, b"")));
    }
    let (fwd, rev) = (dir.path("inward.pcap"), dir.path("outward.pcap"));
    write_pcap(&fwd, &inward);
    write_pcap(&rev, &outward);

    let wires = Wires::new();
    let summary_path = dir.path("summary.json");
    let config = dir.path("mailgate.toml");
    std::fs::write(&config, "[dataplane]\nmbufs = 8191\nstats_interval_s = 0\n").unwrap();
    let mut eal = base_eal("dist", 1024);
    eal.extend([
        "--vdev".into(),
        format!("net_af_packet0,iface={},qpairs=2", wires.outer("i")),
        "--vdev".into(),
        format!("net_af_packet1,iface={},qpairs=2", wires.outer("o")),
        // Main lcore + two workers; lcores 0 and 2 share CPU 0 (the main
        // lcore mostly sleeps), so this runs on a two-CPU machine.
        "--lcores".into(),
        "0@0,1@1,2@0".into(),
    ]);
    let args =
        ["--config".into(), config.display().to_string(), "--summary-json".into(), summary_path.display().to_string()];
    let child = spawn(&args, &eal);
    std::thread::sleep(Duration::from_secs(2)); // EAL and ports up
    wires.inject("i", &fwd);
    wires.inject("o", &rev);
    std::thread::sleep(Duration::from_secs(1));
    signal(&child, "INT");
    let out = wait_with_limit(child, Duration::from_secs(30));
    let err = stderr(&out);
    drop(wires);
    assert!(out.status.success(), "exit {:?}\n{err}", out.status);

    let s = summary(&summary_path);
    assert_eq!(s["distribution"], "kernel_fanout", "{s}");
    let workers = s["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{s}");
    let total = (inward.len() + outward.len()) as u64;
    assert_eq!(num(&s, "packets_rx"), total, "every frame reached a polled queue\n{s}\n{err}");
    assert_eq!(num(&s, "packets_tx"), total, "{s}");
    let ports = s["ports"].as_array().unwrap();
    assert_eq!(num(&ports[1], "opackets"), inward.len() as u64, "{s}");
    assert_eq!(num(&ports[0], "opackets"), outward.len() as u64, "{s}");

    let mut owner = vec![None; FLOWS as usize];
    for (w, worker) in workers.iter().enumerate() {
        let rx = num(worker, "packets_rx");
        for (i, o) in owner.iter_mut().enumerate() {
            let (inn, outn) = ((rx >> (2 * i)) & 1, (rx >> (2 * i + 1)) & 1);
            assert_eq!(
                inn, outn,
                "flow {i}: its two directions went to different workers (worker {w} rx {rx:#b})\n{s}"
            );
            if inn == 1 {
                assert!(o.is_none(), "flow {i} seen by two workers\n{s}");
                *o = Some(w);
            }
        }
    }
    assert!(owner.iter().all(Option::is_some), "{owner:?}\n{s}");
    // The engines agree: each tracked exactly the flows it was given.
    for (w, worker) in workers.iter().enumerate() {
        let mine = owner.iter().filter(|o| **o == Some(w)).count() as u64;
        assert_eq!(num(worker, "flows_active"), mine, "worker {w}\n{s}");
        assert_eq!(num(worker, "sessions_finished"), mine, "worker {w}\n{s}");
    }
    eprintln!("flow → worker: {owner:?}");
}
