//! Enforcement on the DPDK path, pcap in → pcap out: every input frame comes
//! out of the peer port, byte for byte and in order, except the packets of a
//! blocked flow from its blocking point on; the RSTs come out where the
//! receivers will see them (one back towards the sender, one on towards the
//! receiver). A real session of the shared corpus is replayed into port 0.

mod dpdk_common;

use dpdk_common::{base_eal, run_to_end, summary, Scratch};
use mailgate_dataplane::decode::{decode_ethernet, Decoded};
use mailgate_dataplane::io::pcap::PcapIo;
use mailgate_dataplane::io::{Burst, Frame, PacketIo};
use std::path::Path;
use std::time::Duration;

fn frames(path: &Path) -> Vec<Vec<u8>> {
    if !path.exists() {
        return Vec::new();
    }
    let mut io = PcapIo::open(path).unwrap();
    let mut out = Vec::new();
    loop {
        let mut b = Burst::new();
        io.rx_burst(0, &mut b);
        if b.is_empty() {
            return out;
        }
        out.extend(b.iter().map(|f| f.data().to_vec()));
    }
}

fn corpus(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus").join(name)
}

const POLICY: &str = r#"mode = "block"
[defaults]
unapproved_mail = "reset"
[hosts]
relays = ["2003:de:2016:125::/64"]
corp_mx = ["2003:de:2016:120::a08:53/128"]
[[allow]]
name = "relay-to-corp-mx"
from = ["relays"]
to = ["corp_mx"]
protocols = ["smtp"]
sni = ["SNI"]
require_tls = true
[dataplane]
mbufs = 8191
stats_interval_s = 0
"#;

/// Runs the capture through the appliance with the policy; returns (out of port 0, out of port 1).
fn enforce(name: &str, sni: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, serde_json::Value) {
    let dir = Scratch::new(name);
    let config = dir.path("policy.toml");
    std::fs::write(&config, POLICY.replace("SNI", sni)).unwrap();
    let (out0, out1, sum) = (dir.path("out0.pcap"), dir.path("out1.pcap"), dir.path("summary.json"));
    let mut eal = base_eal(name, 512);
    eal.extend([
        "-l".into(),
        "0,1".into(),
        "--vdev".into(),
        format!("net_pcap0,rx_pcap={},tx_pcap={}", corpus("ndpi-smtp-starttls.pcap").display(), out0.display()),
        "--vdev".into(),
        format!("net_pcap1,tx_pcap={}", out1.display()),
    ]);
    let args =
        ["--config", &config.display().to_string(), "--duration", "2", "--summary-json", &sum.display().to_string()]
            .map(String::from);
    let out = run_to_end(&args, &eal, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (frames(&out0), frames(&out1), summary(&sum))
}

fn tcp(frame: &[u8]) -> Option<(String, u16, String, u16, bool, usize)> {
    match decode_ethernet(frame) {
        Decoded::Tcp(s) => {
            Some((s.src.to_string(), s.src_port, s.dst.to_string(), s.dst_port, s.flags.rst, s.payload.len()))
        }
        _ => None,
    }
}

fn is_workstation(frame: &[u8]) -> bool {
    tcp(frame).is_some_and(|(s, _, d, _, _, _)| s == "10.0.0.1" || d == "10.0.0.1")
}

fn is_relay(frame: &[u8]) -> bool {
    tcp(frame).is_some_and(|(s, _, d, _, _, _)| s.starts_with("2003:de:2016:125") || d.starts_with("2003:de:2016:125"))
}

#[test]
fn a_flow_reset_at_the_syn_is_cut_off_and_the_rest_passes_unchanged() {
    require_dpdk!();
    let input = frames(&corpus("ndpi-smtp-starttls.pcap"));
    let (out0, out1, s) = enforce("enforce-syn", "*.weberlab.de");
    // Everything but the workstation's flow went through, unchanged and in order.
    let expected: Vec<&Vec<u8>> = input.iter().filter(|f| !is_workstation(f)).collect();
    assert_eq!(out1.iter().collect::<Vec<_>>(), expected, "forwarded frames differ");
    // One RST+ACK back to the workstation for its SYN, out of the port it came in on.
    assert_eq!(out0.len(), 1, "{out0:?}");
    let (src, sport, dst, _, rst, _) = tcp(&out0[0]).unwrap();
    assert!(rst && src == "173.194.68.26" && sport == 25 && dst == "10.0.0.1");
    let ws_frames = input.iter().filter(|f| is_workstation(f)).count() as u64;
    assert_eq!(s["packets_dropped_policy"], ws_frames, "{s}");
    assert_eq!(s["rst_sent"], 1);
}

#[test]
fn a_disallowed_sni_is_reset_at_the_client_hello_on_both_sides() {
    require_dpdk!();
    let input = frames(&corpus("ndpi-smtp-starttls.pcap"));
    let (out0, out1, s) = enforce("enforce-sni", "mx.corp.test");
    // The relay's frames before its ClientHello went through; from the hello on, none.
    let relay_in: Vec<&Vec<u8>> = input.iter().filter(|f| is_relay(f)).collect();
    let relay_out: Vec<&Vec<u8>> = out1.iter().filter(|f| is_relay(f) && !tcp(f).unwrap().4).collect();
    assert!(!relay_out.is_empty() && relay_out.len() < relay_in.len());
    assert_eq!(relay_out[..], relay_in[..relay_out.len()], "the forwarded prefix is unchanged");
    let hello = relay_in[relay_out.len()];
    assert!(tcp(hello).unwrap().5 > 100, "the first dropped relay frame is the ClientHello");
    // A RST on towards the server, where the hello would have gone…
    let on: Vec<_> = out1.iter().filter(|f| is_relay(f) && tcp(f).unwrap().4).collect();
    assert_eq!(on.len(), 1);
    assert_eq!(tcp(on[0]).unwrap().2, "2003:de:2016:120::a08:53");
    // …and one back to the relay (plus the workstation's SYN RST).
    let back: Vec<_> = out0.iter().filter(|f| is_relay(f)).collect();
    assert_eq!(back.len(), 1);
    assert_eq!(tcp(back[0]).unwrap().2, "2003:de:2016:125:fc36:8317:4e86:cb72");
    assert_eq!(s["rst_sent"], 3, "{s}");
}
