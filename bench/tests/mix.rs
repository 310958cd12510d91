//! The mixes hold what the `mix` module documents: profile shares, 30 %
//! mail, IPv6 and VLAN shares, DNS lookups, the frame-size mix, many flows
//! open at once, C2-like flows on a regular schedule.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{decode, gen, L4};
use mailgate_bench::mix::Mix;
use mailgate_bench::profile::Profile;

fn profile_by_name(mix: Mix) -> HashMap<&'static str, (Profile, u32)> {
    mix.shares().iter().map(|&(p, s)| (p.as_str(), (p, s))).collect()
}

/// The most flows open (between their first and last frame) at one time.
fn max_concurrent(frames: &[(u64, Vec<u8>)]) -> usize {
    let mut span: HashMap<(std::net::IpAddr, u16), (u64, u64)> = HashMap::new();
    for (ts, frame) in frames {
        let p = decode(frame).expect("decodes");
        if let L4::Tcp(t) = &p.l4 {
            // The client end identifies the flow (ports are unique per host).
            let key = if t.sport >= 32_768 { (p.src, t.sport) } else { (p.dst, t.dport) };
            let e = span.entry(key).or_insert((*ts, *ts));
            e.1 = *ts;
        }
    }
    let mut events: Vec<(u64, i32)> = span.values().flat_map(|&(a, b)| [(a, 1), (b, -1)]).collect();
    events.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        open += delta;
        most = most.max(open);
    }
    most as usize
}

#[test]
fn realistic_mix_has_the_documented_shares() {
    let flows = 2000u64;
    let capture = gen(Mix::Realistic, flows, 3);
    let truth = capture.truth();
    let shares = profile_by_name(Mix::Realistic);
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for t in &truth {
        let (profile, _) = shares[t.profile.as_str()];
        *counts.entry(profile.as_str()).or_default() += 1;
        assert_eq!(t.mail_proto.is_some(), profile.is_mail(), "flow {}: mail_proto of {}", t.flow, t.profile);
    }
    for (name, (_, per_mille)) in &shares {
        let want = flows * u64::from(*per_mille) / 1000;
        let got = counts.get(name).copied().unwrap_or(0);
        assert!(got.abs_diff(want) <= 1, "{name}: {got} flows, documented {want}");
    }
    let mail = truth.iter().filter(|t| t.mail_proto.is_some()).count() as f64 / flows as f64;
    assert!((0.29..=0.31).contains(&mail), "mail share {mail}");

    let workstation = |t: &&mailgate_bench::truth::FlowTruth| {
        !t.profile.starts_with("relay") && !t.profile.starts_with("c2_") && t.profile != "smtp_port_2525"
    };
    let ws: Vec<_> = truth.iter().filter(workstation).collect();
    let v6 = ws.iter().filter(|t| t.src_ip.contains(':')).count() as f64 / ws.len() as f64;
    assert!((0.10..=0.30).contains(&v6), "IPv6 share of workstation flows {v6}");
    let tagged = ws.iter().filter(|t| t.vlan.is_some()).count() as f64 / ws.len() as f64;
    assert!((0.06..=0.20).contains(&tagged), "VLAN share of workstation flows {tagged}");

    let frames = capture.frames();
    let (mut small, mut medium, mut large, mut dns, mut vlan_frames) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for (_, f) in &frames {
        match f.len() {
            0..=128 => small += 1,
            129..=1023 => medium += 1,
            _ => large += 1,
        }
        let p = decode(f).expect("decodes");
        dns += usize::from(matches!(p.l4, L4::Udp { .. }));
        vlan_frames += usize::from(p.vlan.is_some());
    }
    let n = frames.len() as f64;
    let (small, medium, large) = (small as f64 / n, medium as f64 / n, large as f64 / n);
    assert!((0.40..=0.65).contains(&small), "frames ≤128 B: {small}");
    assert!((0.12..=0.35).contains(&medium), "frames 129–1023 B: {medium}");
    assert!((0.15..=0.40).contains(&large), "frames ≥1024 B: {large}");
    let web = (counts["https"] + counts["http"]) as f64;
    let lookups = dns as f64 / 2.0 / web;
    assert!((0.4..=0.6).contains(&lookups), "half the web flows look their server up: {lookups}");
    assert!(vlan_frames > 0 && (vlan_frames as f64 / n) < 0.25, "VLAN frames {vlan_frames}");

    let concurrent = max_concurrent(&frames);
    assert!(concurrent >= 100, "flows open at once: {concurrent}");
}

#[test]
fn c2_like_flows_come_from_one_host_on_a_schedule() {
    let flows = 4000u64;
    let truth = gen(Mix::Realistic, flows, 8).truth();
    let duration_us = flows * 1_000_000 / Mix::Realistic.flows_per_second();
    for profile in ["c2_pop3_poll", "c2_imap_poll", "c2_smtp_beacon"] {
        let starts: Vec<u64> = truth.iter().filter(|t| t.profile == profile).map(|t| t.ts_us).collect();
        let hosts: std::collections::BTreeSet<_> =
            truth.iter().filter(|t| t.profile == profile).map(|t| t.src_ip.as_str()).collect();
        assert_eq!(hosts.len(), 1, "{profile}: one host");
        assert_eq!(starts.len(), 20, "{profile}: 5 ‰ of {flows}");
        let period = duration_us / starts.len() as u64;
        for gap in starts.windows(2).map(|w| w[1] - w[0]) {
            // ±20 % jitter on each start (plus DNS-free SYN offsets of microseconds).
            assert!(gap > period * 55 / 100 && gap < period * 145 / 100, "{profile}: gap {gap} for period {period}");
        }
    }
}

#[test]
fn nonmail64_is_tiny_flows_only() {
    let capture = gen(Mix::Nonmail64, 5000, 4);
    let truth = capture.truth();
    assert!(truth.iter().all(|t| t.profile == "tiny" && t.mail_proto.is_none() && !t.record));
    assert!(truth.iter().all(|t| !mailgate_bench::truth::demo::MAIL_PORTS.contains(&t.dest_port)));
    let frames = capture.frames();
    assert!(frames.iter().all(|(_, f)| f.len() == 60));
    let concurrent = max_concurrent(&frames);
    assert!(concurrent >= 20, "flows open at once: {concurrent}");
}

#[test]
fn mailstorm_is_short_mail_handshakes() {
    let capture = gen(Mix::Mailstorm, 2000, 4);
    let truth = capture.truth();
    assert!(truth.iter().all(|t| t.mail_proto.is_some() && t.record));
    let shares = profile_by_name(Mix::Mailstorm);
    for (name, (_, per_mille)) in &shares {
        let got = truth.iter().filter(|t| t.profile == *name).count() as u64;
        assert!(got.abs_diff(2 * u64::from(*per_mille)) <= 1, "{name}: {got}");
    }
    let per_flow = capture.frames().len() as f64 / truth.len() as f64;
    assert!(per_flow <= 16.0, "short sessions: {per_flow} frames per flow");
    // A storm: thousands of new sessions per second.
    let first = truth.first().unwrap().ts_us;
    let last = truth.last().unwrap().ts_us;
    let rate = truth.len() as f64 / ((last - first) as f64 / 1e6);
    assert!(rate > 1000.0, "{rate} new sessions per second");
}
