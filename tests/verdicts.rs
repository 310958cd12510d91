//! Policy verdicts on real sessions, end to end through the engine: every
//! decision point the policy issue names, every action, monitor mode,
//! exception expiry, and a policy reload under traffic. Captures come from
//! the shared corpus; policies are written to a temporary directory.

use mailgate_dataplane::engine::{Engine, EngineConfig, SessionEnd, SessionSink};
use mailgate_dataplane::io::mem::{MemFrame, MemIo};
use mailgate_dataplane::io::pcap::PcapIo;
use mailgate_dataplane::io::{Burst, Frame, PacketIo};
use mailgate_dataplane::record::to_record;
use mailgate_dataplane::replay::{replay, ReplaySummary};
use mailgate_dataplane::verdict::{load_policy, PolicyHandle, Verdicts};
use mailgate_dataplane::worker::{PortPair, Worker};
use mailgate_tests::corpus_dir;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// Writes `toml` to a fresh file and loads it.
fn policy(name: &str, toml: &str) -> PolicyHandle {
    let dir = std::env::temp_dir().join(format!("mailgate-verdicts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml).unwrap();
    load_policy(Some(&path)).unwrap_or_else(|e| panic!("{e}"))
}

/// Replays a corpus capture as the live workers would (blocked flows are no
/// longer inspected), returning the records and the summary.
fn run(capture: &str, policy: PolicyHandle) -> (Vec<Value>, ReplaySummary) {
    let mut out = Vec::new();
    let summary = replay(&corpus_dir().join(capture), policy, &EngineConfig::default(), true, &mut out).unwrap();
    let records = String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (records, summary)
}

fn flow<'a>(records: &'a [Value], src_ip: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["src_ip"] == src_ip && r["mail_proto"] != Value::Null)
        .unwrap_or_else(|| panic!("no mail record from {src_ip}"))
}

const RELAY_POLICY: &str = r#"
mode = "block"
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
ports = [25]
sni = ["*.weberlab.de"]
helo = ["[IPv6:2003:de:2016:125:fc36:8317:4e86:cb72]"]
require_tls = true
"#;

/// ndpi-smtp-starttls.pcap: 10.0.0.1 → 173.194.68.26:25 (a workstation), and
/// 2003:de:2016:125:… → 2003:de:2016:120::a08:53:25 over VLAN with STARTTLS
/// and SNI dovecot.weberlab.de (the relay).
const STARTTLS_CAPTURE: &str = "ndpi-smtp-starttls.pcap";
const RELAY: &str = "2003:de:2016:125:fc36:8317:4e86:cb72";
const WORKSTATION: &str = "10.0.0.1";

#[test]
fn approved_relay_passes_and_the_workstation_is_reset_at_the_syn() {
    let (records, summary) = run(STARTTLS_CAPTURE, policy("relay", RELAY_POLICY));
    let relay = flow(&records, RELAY);
    assert_eq!(relay["verdict"]["action"], "pass", "{relay}");
    assert_eq!(relay["verdict"]["rule"], "relay-to-corp-mx");
    assert_eq!(relay["smtp"]["starttls"], true);
    assert_eq!(relay["tls"]["sni"], "dovecot.weberlab.de");

    let ws = records.iter().find(|r| r["src_ip"] == WORKSTATION).unwrap();
    assert_eq!(ws["verdict"]["action"], "reset", "{ws}");
    assert_eq!(ws["verdict"]["rule"], "defaults.unapproved_mail");
    assert_eq!(ws["verdict"]["decided_at"], "syn");
    assert_eq!(
        ws["verdict"]["reason"],
        "connection from 10.0.0.1 to 173.194.68.26:25 (a mail port) matches no allow rule or exception for any mail protocol"
    );
    // Live behaviour: the SYN is answered with a RST and every packet of that flow is dropped.
    let ws_packets = ws["pkts_toserver"].as_u64().unwrap() + ws["pkts_toclient"].as_u64().unwrap();
    assert_eq!(summary.packets_dropped_policy, ws_packets);
    assert_eq!(summary.rst_sent, 1, "one RST+ACK back to the client for its SYN");
}

#[test]
fn disallowed_sni_after_starttls_is_reset_at_the_client_hello() {
    let p = RELAY_POLICY.replace(r#"sni = ["*.weberlab.de"]"#, r#"sni = ["mx.corp.test"]"#);
    let (records, summary) = run(STARTTLS_CAPTURE, policy("sni", &p));
    let relay = flow(&records, RELAY);
    assert_eq!(relay["verdict"]["action"], "reset", "{relay}");
    assert_eq!(relay["verdict"]["decided_at"], "client_hello");
    assert_eq!(relay["verdict"]["rule"], "defaults.unapproved_mail");
    assert!(relay["verdict"]["reason"].as_str().unwrap().contains("SNI"), "{}", relay["verdict"]["reason"]);
    // Both sides get a RST (plus the workstation's SYN RST).
    assert_eq!(summary.rst_sent, 3);
}

#[test]
fn monitor_mode_turns_blocks_into_would_alerts() {
    let p = RELAY_POLICY.replace(r#"mode = "block""#, r#"mode = "monitor""#);
    let (records, summary) = run(STARTTLS_CAPTURE, policy("monitor", &p));
    let ws = records.iter().find(|r| r["src_ip"] == WORKSTATION).unwrap();
    assert_eq!(ws["verdict"]["action"], "would_reset");
    assert_eq!(flow(&records, RELAY)["verdict"]["action"], "pass");
    assert_eq!((summary.packets_dropped_policy, summary.rst_sent), (0, 0), "monitor mode blocks nothing");
    // The unblocked session was inspected to its end.
    assert_eq!(ws["smtp"]["helo"], "xxxxxxxxxxxxx.xxx.com");
}

#[test]
fn drop_discards_without_resets() {
    let p = RELAY_POLICY.replace(r#"unapproved_mail = "reset""#, r#"unapproved_mail = "drop""#);
    let (records, summary) = run(STARTTLS_CAPTURE, policy("drop", &p));
    assert_eq!(records.iter().find(|r| r["src_ip"] == WORKSTATION).unwrap()["verdict"]["action"], "drop");
    assert!(summary.packets_dropped_policy > 0);
    assert_eq!(summary.rst_sent, 0);
}

#[test]
fn imap_login_in_clear_is_reset_at_auth_when_the_syn_could_not_decide() {
    // A rule admits IMAP from this host to this server, but only under TLS.
    let p = r#"
mode = "block"
[defaults]
unapproved_mail = "reset"
[[allow]]
name = "imap-over-tls-only"
from = ["10.40.4.2/32"]
to = ["10.40.3.2/32"]
protocols = ["imap"]
require_tls = true
"#;
    let (records, summary) = run("ndpi-imap.pcap", policy("imap", p));
    let imap = flow(&records, "10.40.4.2");
    assert_eq!(imap["verdict"]["action"], "reset", "{imap}");
    assert_eq!(imap["verdict"]["decided_at"], "auth");
    assert_eq!(imap["imap"]["auth_mech"], "LOGIN");
    assert_eq!(imap["imap"]["user"], "samir");
    assert!(!imap.to_string().contains("pfres"), "the password never reaches a record");
    assert_eq!(summary.rst_sent, 2, "a RST to each side");
    // Everything before the LOGIN segment was forwarded.
    let total = imap["pkts_toserver"].as_u64().unwrap() + imap["pkts_toclient"].as_u64().unwrap();
    assert!(summary.packets_dropped_policy > 0 && summary.packets_dropped_policy < total);
}

#[test]
fn an_exception_applies_until_its_expiry_date_and_not_after() {
    // The workstation session was captured on 2013-12-26.
    let with_expiry = |date: &str| {
        format!(
            "{RELAY_POLICY}\n[[exception]]\nname = \"ws-tuned-out\"\nfrom = [\"10.0.0.1/32\"]\nto = [\"173.194.68.26/32\"]\nreason = \"ticketing system\"\nexpires = {date}\n"
        )
    };
    let (records, _) = run(STARTTLS_CAPTURE, policy("exc-valid", &with_expiry("2013-12-26")));
    let ws = records.iter().find(|r| r["src_ip"] == WORKSTATION).unwrap();
    assert_eq!(ws["verdict"]["action"], "pass", "{ws}");
    assert_eq!(ws["verdict"]["rule"], "ws-tuned-out");
    let (records, _) = run(STARTTLS_CAPTURE, policy("exc-expired", &with_expiry("2013-12-25")));
    let ws = records.iter().find(|r| r["src_ip"] == WORKSTATION).unwrap();
    assert_eq!(ws["verdict"]["action"], "reset", "{ws}");
}

/// Collects records in memory.
struct Collect(Vec<PolicyHandle>, Vec<Value>);
impl SessionSink for Collect {
    fn emit(&mut self, s: &mut SessionEnd<'_>) {
        self.1.push(serde_json::to_value(to_record(s, &self.0)).unwrap());
    }
}

#[test]
fn a_reload_under_traffic_changes_new_sessions_and_loses_no_packet() {
    // ndpi-pop3.pcap: six POP3 sessions one after the other.
    let mut io = PcapIo::open(&corpus_dir().join("ndpi-pop3.pcap")).unwrap();
    let mut frames = Vec::new();
    loop {
        let mut b = Burst::new();
        io.rx_burst(0, &mut b);
        if b.is_empty() {
            break;
        }
        frames.extend(b.iter().map(|f| MemFrame::new(Arc::from(f.data()), f.timestamp_ns())));
    }
    let allow = policy("allow-pop3", "mode = \"block\"\n[defaults]\ncleartext_auth = \"pass\"\n[[allow]]\nname = \"pop3-anywhere\"\nfrom = [\"0.0.0.0/0\"]\nprotocols = [\"pop3\"]\n");
    let deny = policy("deny-all", "mode = \"block\"\n[defaults]\nunapproved_mail = \"reset\"\n");
    // Swap the policy right before the fourth session's SYN.
    let syn_of_4th = frames
        .iter()
        .position(|f| {
            f.data().len() > 54
                && f.data()[14 + 20 + 13] == 0x02
                && f.data()[14 + 20..14 + 22] == 26304u16.to_be_bytes()
        })
        .unwrap();
    let (before, after) = frames.split_at(syn_of_4th);
    let mut worker = Worker::new(
        Engine::new(&EngineConfig::default(), Verdicts::new(allow.clone())),
        Collect(vec![deny.clone(), allow.clone()], Vec::new()),
    );
    let pairs = [PortPair { inside: 0, outside: 1 }];
    let mut io = MemIo::new(vec![before.to_vec(), Vec::new()], false, true);
    while !io.exhausted() {
        worker.poll_once(&mut io, &pairs, 0);
    }
    let old = worker.engine.verdicts_mut().set_policy(deny);
    drop(old);
    let forwarded_before = io.tx[1].len();
    assert_eq!(forwarded_before, before.len(), "nothing lost before the reload");
    let mut io = MemIo::new(vec![after.to_vec(), Vec::new()], false, true);
    while !io.exhausted() {
        worker.poll_once(&mut io, &pairs, 0);
    }
    worker.finish();
    let verdicts: Vec<(u64, String)> = worker
        .sink
        .1
        .iter()
        .map(|r| (r["src_port"].as_u64().unwrap(), r["verdict"]["action"].as_str().unwrap().to_string()))
        .collect();
    for (port, action) in &verdicts {
        let want = if [26304, 26308, 26383].contains(port) { "reset" } else { "pass" };
        assert_eq!(action, want, "session from port {port}: {verdicts:?}");
    }
    // After the swap only the new sessions' packets were dropped; the old ones' all went through.
    let sent_after = io.tx[1].len() + io.tx[0].len();
    let c = &worker.counters;
    let dropped = c.packets_dropped_policy.load(std::sync::atomic::Ordering::Relaxed) as usize;
    assert_eq!(sent_after - c.rst_sent.load(std::sync::atomic::Ordering::Relaxed) as usize + dropped, after.len());
}
