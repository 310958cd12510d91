//! Both processes for real: `mailgate-control serve` with its SQLite store,
//! and `mailgate-dataplane` — `inspect` importing a capture and `run` on
//! DPDK ports — reporting over the Unix socket. The records the API serves
//! (read with `mailgatectl`) are the records the dataplane wrote, plus the
//! gateway's name; the live run's verdicts and handshake facts agree.

use mailgate_tests::{corpus_dir, workspace_binary};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A scratch directory, removed at the end.
struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The control plane process; killed (by pid) when dropped.
struct Control {
    child: Child,
    url: String,
    token_file: PathBuf,
    socket: PathBuf,
}
impl Drop for Control {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_control(dir: &Path) -> Control {
    let port = free_port();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "test-token-0123456789abcdef\n").unwrap();
    let socket = dir.join("control.sock");
    let config = dir.join("control.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"{}\"\n[storage]\ndb_path = \"{}\"\n[channel]\nunix_socket = \"{}\"\nstats_interval_secs = 1\n",
            token_file.display(),
            dir.join("control.db").display(),
            socket.display()
        ),
    )
    .unwrap();
    let child = Command::new(workspace_binary("mailgate-control"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mailgate-control is built by cargo test --workspace");
    let control = Control { child, url: format!("http://127.0.0.1:{port}"), token_file, socket };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(control.socket.exists() && ctl(&control, &["status"]).status.success()) {
        assert!(Instant::now() < deadline, "mailgate-control did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    control
}

fn ctl(control: &Control, args: &[&str]) -> Output {
    Command::new(workspace_binary("mailgatectl"))
        .args(["--server", &control.url, "--token-file"])
        .arg(&control.token_file)
        .args(args)
        .output()
        .unwrap()
}

/// `GET path` on the API with the bearer token; the JSON body.
fn api_get(control: &Control, path: &str) -> Value {
    use std::io::{Read, Write};
    let token = std::fs::read_to_string(&control.token_file).unwrap();
    let addr = control.url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token.trim()
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // The body may come chunked: take the JSON between the outermost brackets.
    let start = body.find(['[', '{']).unwrap_or(0);
    let end = body.rfind([']', '}']).map_or(body.len(), |e| e + 1);
    serde_json::from_str(&body[start..end]).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// The sessions the API holds for `gateway`, newest first.
fn api_sessions(control: &Control, gateway: &str, want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = ctl(control, &["sessions", "--json", "--limit", "1000"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let all: Vec<Value> =
            String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let mine: Vec<Value> = all.into_iter().filter(|r| r["gateway"] == gateway).collect();
        if mine.len() >= want || Instant::now() > deadline {
            return mine;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A dataplane config: the test policy plus where to report, as `gateway`.
fn dataplane_config(dir: &Path, control: &Control, gateway: &str, extra: &str) -> PathBuf {
    let path = dir.join(format!("{gateway}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"mode = "block"
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
sni = ["*.weberlab.de"]
require_tls = true

[dataplane]
{extra}
[dataplane.report]
gateway = "{gateway}"
flush_interval_ms = 50
[dataplane.report.endpoint]
transport = "unix"
path = "{}"
"#,
            control.socket.display()
        ),
    )
    .unwrap();
    path
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("mailgate-cp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn key(r: &Value) -> String {
    format!("{} {} {} {}", r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"])
}

#[test]
fn inspect_records_reach_the_api_unchanged() {
    let dir = scratch("inspect");
    let control = start_control(&dir.0);
    let config = dataplane_config(&dir.0, &control, "gw-inspect", "");
    let capture = corpus_dir().join("ndpi-smtp-starttls.pcap");
    let out = Command::new(workspace_binary("mailgate-dataplane"))
        .args(["inspect", "--config"])
        .arg(&config)
        .arg(&capture)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(written.len(), 2);
    let stored = api_sessions(&control, "gw-inspect", written.len());
    assert_eq!(stored.len(), written.len(), "{stored:?}");
    for w in &written {
        let s = stored.iter().find(|s| key(s) == key(w)).unwrap_or_else(|| panic!("not stored: {w}"));
        let mut s = s.clone();
        s.as_object_mut().unwrap().remove("gateway");
        assert_eq!(&s, w, "the API serves the record as inspect wrote it");
    }
}

#[test]
fn live_run_records_reach_the_api_with_the_same_verdicts() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root || !Path::new("/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0").is_dir() {
        eprintln!("SKIPPED: the live run needs root and DPDK (scripts/setup.sh)");
        return;
    }
    let dir = scratch("run");
    let control = start_control(&dir.0);
    // A one-place ring: the sessions all end at once when the run stops,
    // and the worker must wait for the reporter rather than drop them.
    let config = dataplane_config(&dir.0, &control, "gw-live", "mbufs = 8191\nstats_interval_s = 0\nring_capacity = 1");
    let capture = corpus_dir().join("ndpi-smtp-starttls.pcap");
    // An HTTPS session arrives on the outside port beside the mail: the
    // gateway inspects it and lets it pass, but does not report it.
    let web = corpus_dir().join("zeek-tls-chrome-34-google.pcap");
    let prefix = format!("mgtest-cp-{}", std::process::id());
    let out = Command::new(workspace_binary("mailgate-dataplane"))
        .args(["run", "--duration", "3", "--config"])
        .arg(&config)
        .args(["--summary-json"])
        .arg(dir.0.join("summary.json"))
        .args(["--", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", &prefix, "-l", "0,1", "--vdev"])
        .arg(format!("net_pcap0,rx_pcap={},tx_pcap={}", capture.display(), dir.0.join("out0.pcap").display()))
        .args(["--vdev"])
        .arg(format!("net_pcap1,rx_pcap={},tx_pcap={}", web.display(), dir.0.join("out1.pcap").display()))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = api_sessions(&control, "gw-live", 2);
    assert_eq!(stored.len(), 2, "{stored:?}");
    let relay = stored.iter().find(|r| r["src_ip"] == "2003:de:2016:125:fc36:8317:4e86:cb72").unwrap();
    assert_eq!(relay["verdict"]["action"], "pass", "{relay}");
    assert_eq!(relay["verdict"]["rule"], "relay-to-corp-mx");
    assert_eq!(relay["tls"]["sni"], "dovecot.weberlab.de");
    assert_eq!(relay["smtp"]["starttls"], true);
    let ws = stored.iter().find(|r| r["src_ip"] == "10.0.0.1").unwrap();
    assert_eq!(ws["verdict"]["action"], "reset", "{ws}");
    assert_eq!(ws["verdict"]["decided_at"], "syn");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(dir.0.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["rst_sent"], 1, "{summary}");
    assert_eq!(summary["sessions_finished"], 3, "the two mail sessions and the web one: {summary}");
    // The gateway's own counters reached the control plane.
    let gateways = api_get(&control, "/api/v1/gateways");
    let gw =
        gateways.as_array().unwrap().iter().find(|g| g["name"] == "gw-live").unwrap_or_else(|| panic!("{gateways}"));
    let counters = gw.to_string();
    assert!(counters.contains("packets_rx") && counters.contains("rst_sent"), "{gw}");
    // mailgatectl's table shows the blocked session with its rule.
    let table = String::from_utf8(ctl(&control, &["sessions"]).stdout).unwrap();
    assert!(table.contains("reset") && table.contains("defaults.unapproved_mail"), "{table}");
}
