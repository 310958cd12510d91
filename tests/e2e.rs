//! End-to-end: `mailgate-dataplane run` inline between two network
//! namespaces, with Postfix, Dovecot and a web server outside and real
//! clients inside, reporting to `mailgate-control` (`scripts/e2e/run.sh`,
//! the same run the demo makes), in block mode and then in monitor mode.
//! Asserted per scenario: what each client saw, what was delivered, the
//! session records the control plane serves, that they agree with a replay
//! of what the appliance received, `mailgatectl sessions`, the appliance's
//! counters, and that no output holds a password.
//!
//! Needs root, a `mailgate-dataplane` built with DPDK, `mailgate-control`
//! and `mailgatectl` (`cargo test --workspace` builds them); otherwise it
//! prints "SKIPPED: …" and passes. docs/e2e.md describes the topology and
//! the scenarios.

use mailgate_tests::{repo_root, workspace_binary};
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole run may take this long (it takes about a minute, after
/// waiting for another run of the same topology to finish).
const RUN_TIMEOUT: Duration = Duration::from_secs(900);
/// Namespace and veth names of this test (scripts/e2e/lib.sh `MG_TOPO`),
/// apart from the demo's and a manual run's.
const TOPOLOGY: &str = "mge2et";

/// Why the test cannot run here, if it cannot.
fn skip_reason(dataplane: &Path) -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("the end-to-end test needs root (network namespaces, DPDK)".into());
    }
    if !dataplane.exists() {
        return Some(format!("{} is not built", dataplane.display()));
    }
    for name in ["mailgate-control", "mailgatectl"] {
        let bin = dataplane.with_file_name(name);
        if !bin.exists() {
            return Some(format!("{} is not built", bin.display()));
        }
    }
    let run_help = Command::new(dataplane).args(["run", "--help"]).output();
    if !run_help.is_ok_and(|o| o.status.success()) {
        return Some(format!("{} was built without DPDK (no `run`)", dataplane.display()));
    }
    if Command::new("bash").arg("--version").output().is_err() {
        return Some("bash is missing".into());
    }
    None
}

/// The address plan (scripts/e2e/topology.env, KEY=VALUE lines).
fn topology() -> HashMap<String, String> {
    let path = repo_root().join("scripts/e2e/topology.env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs scripts/e2e/run.sh into `out`; `None` when it says a tool is
/// missing and cannot be installed (exit status 77).
fn run_e2e(out: &Path, bin_dir: &Path) -> Option<()> {
    let mut child = Command::new("bash")
        .arg(repo_root().join("scripts/e2e/run.sh"))
        .arg("--out")
        .arg(out)
        .arg("--bin-dir")
        .arg(bin_dir)
        .env("MG_TOPO", TOPOLOGY)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start scripts/e2e/run.sh: {e}"));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > RUN_TIMEOUT => {
                // SIGTERM: run.sh stops what it started and removes the namespaces.
                let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
                let status = child.wait();
                panic!("scripts/e2e/run.sh took more than {RUN_TIMEOUT:?}; stopped ({status:?})");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("waiting for scripts/e2e/run.sh: {e}"),
        }
    };
    if status.code() == Some(77) {
        return None;
    }
    assert!(status.success(), "scripts/e2e/run.sh failed ({status}); results so far in {}", out.display());
    Some(())
}

/// The results of one policy mode of the run.
struct ModeRun {
    mode: &'static str,
    dir: PathBuf,
    marker: String,
}

impl ModeRun {
    /// The session records of one scenario: the live appliance's, as the
    /// control plane's API serves them (`GET /api/v1/sessions` for the
    /// scenario's time window, through `mailgatectl sessions --json`).
    fn records_for(&self, scenario: &str) -> Vec<Value> {
        read_json_lines(&self.dir.join(scenario).join("api-records.jsonl"))
    }

    /// The same scenario replayed: `mailgate-dataplane inspect` on what the
    /// appliance received, with the same policy — the sessions a gateway
    /// reports (mail, or a mail port).
    fn replayed(&self, scenario: &str) -> Vec<Value> {
        read_json_lines(&self.dir.join(scenario).join("records.jsonl"))
    }

    /// The same replay with `--all-flows`: every TCP flow.
    fn replayed_all_flows(&self, scenario: &str) -> Vec<Value> {
        read_json_lines(&self.dir.join(scenario).join("records-all.jsonl"))
    }

    /// What the clients of one scenario saw (clients.py's steps).
    fn steps(&self, scenario: &str) -> Vec<Value> {
        let path = self.dir.join(scenario).join("client.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        report["steps"].as_array().cloned().unwrap_or_default()
    }

    /// One step by name.
    fn step(&self, scenario: &str, name: &str) -> Value {
        self.steps(scenario)
            .into_iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{}: no step {name} in {scenario}", self.mode))
    }

    /// The appliance's summary (`run --summary-json`).
    fn summary(&self) -> Value {
        let path = self.dir.join("summary.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Subjects of the messages in `user`'s mailbox sent during `scenario` of this mode.
    fn delivered(&self, user: &str, scenario: &str) -> Vec<String> {
        let wanted = format!("mailgate-e2e {}-{} {scenario} ", self.marker, self.mode);
        let dir = self.dir.join("mailbox").join(user);
        let mut subjects: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|m| m.lines().find(|l| l.starts_with("Subject: ")).map(|l| l["Subject: ".len()..].to_string()))
            .filter(|s| s.starts_with(&wanted))
            .collect();
        subjects.sort();
        subjects
    }
}

fn read_json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

/// True when the client saw the appliance's RST: refused at the SYN, or reset later.
fn blocked(step: &Value) -> bool {
    matches!(step["outcome"].as_str(), Some("refused" | "reset"))
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// The records of `scenario` from `src` to port `port`.
fn sessions<'a>(records: &'a [Value], src: &str, port: u64) -> Vec<&'a Value> {
    records.iter().filter(|r| r["src_ip"] == src && r["dest_port"] == port).collect()
}

/// Asserts a record's verdict: action, rule, where decided.
fn assert_verdict(r: &Value, action: &str, rule: &str, decided_at: &str) {
    let v = &r["verdict"];
    assert_eq!(v["action"], action, "{r}");
    assert_eq!(v["rule"], rule, "{r}");
    assert_eq!(v["decided_at"], decided_at, "{r}");
    assert!(str_of(v, &["reason"]).is_some_and(|s| !s.is_empty()), "no reason: {r}");
}

#[test]
fn mail_paths_through_the_inline_appliance() {
    let dataplane = workspace_binary("mailgate-dataplane");
    if let Some(why) = skip_reason(&dataplane) {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let bin_dir = dataplane.parent().map(Path::to_path_buf).unwrap_or_default();
    if run_e2e(&out, &bin_dir).is_none() {
        eprintln!("SKIPPED: a peer or client package is missing and could not be installed (see above)");
        return;
    }
    let run: Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap_or_default())
        .unwrap_or_else(|e| panic!("run.json: {e}"));
    let marker = run["marker"].as_str().unwrap_or_default().to_string();
    let t = topology();
    let block = ModeRun { mode: "block", dir: out.join("block"), marker: marker.clone() };
    let monitor = ModeRun { mode: "monitor", dir: out.join("monitor"), marker };

    if let Ok(report) = std::fs::read_to_string(out.join("report.txt")) {
        // The run's own report, throughput included (shown when a check fails).
        eprintln!("{report}");
    }
    assert_block_mode(&block, &t);
    assert_monitor_mode(&block, &monitor, &t);
    for m in [&block, &monitor] {
        assert_control_plane(m, &out);
        assert_live_matches_replay(m);
    }
    assert_no_password_in_outputs(&out);
    let _ = std::fs::remove_dir_all(&out);
}

const SCENARIOS: [&str; 6] = ["relay_mail", "workstation_smtp", "mailbox_login", "bad_sni", "nonstandard_port", "web"];

/// Scenario 8: the control plane holds every session of the mode under the
/// mode's gateway, and `mailgatectl sessions` lists each with its verdict
/// and rule.
fn assert_control_plane(m: &ModeRun, out: &Path) {
    let gateway = format!("{TOPOLOGY}-{}", m.mode);
    let table = std::fs::read_to_string(m.dir.join("mailgatectl-sessions.txt")).unwrap_or_default();
    let mut total = 0;
    for scenario in SCENARIOS {
        for r in m.records_for(scenario) {
            total += 1;
            assert_eq!(r["gateway"], gateway.as_str(), "{r}");
            let src = format!("{}:{}", r["src_ip"].as_str().unwrap_or("?"), r["src_port"]);
            let action = r["verdict"]["action"].as_str().unwrap_or("?");
            let rule = r["verdict"]["rule"].as_str().unwrap_or("-");
            assert!(
                table
                    .lines()
                    .any(|l| l.contains(&gateway) && l.contains(&src) && l.contains(action) && l.contains(rule)),
                "mailgatectl sessions does not list {src} {action} {rule}:\n{table}"
            );
        }
    }
    assert_eq!(table.lines().filter(|l| l.contains(&gateway)).count(), total, "{table}");
    let status = std::fs::read_to_string(out.join("control/status.txt")).unwrap_or_default();
    assert!(status.lines().any(|l| l.starts_with(&gateway) && l.contains(m.mode)), "{status}");
}

/// The live appliance and the replay of what it received agree, session by
/// session, on what was seen and decided.
fn assert_live_matches_replay(m: &ModeRun) {
    let facts = |r: &Value| {
        let at = |path: &[&str]| path.iter().try_fold(r, |v, k| v.get(k)).cloned().unwrap_or(Value::Null);
        serde_json::json!([
            at(&["src_ip"]),
            at(&["src_port"]),
            at(&["dest_ip"]),
            at(&["dest_port"]),
            at(&["mail_proto"]),
            at(&["smtp", "helo"]),
            at(&["smtp", "starttls"]),
            at(&["imap", "user"]),
            at(&["pop3", "user"]),
            at(&["tls", "sni"]),
            at(&["anomalies"]),
            at(&["verdict", "action"]),
            at(&["verdict", "rule"]),
            at(&["verdict", "decided_at"]),
        ])
        .to_string()
    };
    for scenario in SCENARIOS {
        let mut live: Vec<String> = m.records_for(scenario).iter().map(facts).collect();
        let mut replayed: Vec<String> = m.replayed(scenario).iter().map(facts).collect();
        live.sort();
        replayed.sort();
        assert_eq!(live, replayed, "{}: {scenario}: live records (API) and replay differ", m.mode);
    }
}

fn assert_block_mode(m: &ModeRun, t: &HashMap<String, String>) {
    let (relay, ws, app) = (&t["RELAY"], &t["WORKSTATION"], &t["APPHOST"]);

    // 1. The approved relay: delivered, and recorded with its handshake.
    for s in m.steps("relay_mail") {
        assert_eq!(s["outcome"], "ok", "relay_mail: {s}");
    }
    let records = m.records_for("relay_mail");
    let sessions25 = sessions(&records, relay, 25);
    assert_eq!(sessions25.len(), 3, "relay_mail: {records:?}");
    for r in sessions25 {
        assert_eq!(r["dest_ip"], t["CORP_MX"].as_str(), "{r}");
        assert_eq!(r["mail_proto"], "smtp", "{r}");
        assert_eq!(str_of(r, &["smtp", "helo"]), Some(t["RELAY_HELO"].as_str()), "{r}");
        assert_eq!(r["smtp"]["starttls"], true, "{r}");
        assert_eq!(str_of(r, &["tls", "sni"]), Some(t["MX_NAME"].as_str()), "{r}");
        assert_eq!(r["verdict"]["action"], "pass", "{r}");
        assert_eq!(r["verdict"]["rule"], "relay-to-corp-mx", "{r}");
    }
    assert_eq!(m.delivered("alice", "relay_mail").len(), 2, "alice's mailbox");
    assert_eq!(m.delivered("bob", "relay_mail").len(), 1, "bob's mailbox");

    // 2. A workstation speaking SMTP to the MX: reset at the SYN, nothing delivered.
    for s in m.steps("workstation_smtp") {
        assert!(blocked(&s), "workstation_smtp: the client was not reset: {s}");
    }
    let records = m.records_for("workstation_smtp");
    assert_eq!(records.len(), 2, "{records:?}");
    for r in &records {
        assert_eq!(r["src_ip"], ws.as_str(), "{r}");
        assert_verdict(r, "reset", "defaults.unapproved_mail", "syn");
    }
    assert!(m.delivered("alice", "workstation_smtp").is_empty(), "delivered despite the reset");

    // 3. Mailbox access: the approved read passes; logins elsewhere are reset
    // where the policy can first tell, the records name the users.
    assert_eq!(m.step("mailbox_login", "imaps-approved")["outcome"], "ok");
    for s in m.steps("mailbox_login").iter().filter(|s| s["name"] != "imaps-approved") {
        assert!(blocked(s), "mailbox_login: the client was not reset: {s}");
    }
    let records = m.records_for("mailbox_login");
    let approved = sessions(&records, ws, 993);
    assert_eq!(approved.len(), 1, "{records:?}");
    assert_eq!(str_of(approved[0], &["tls", "sni"]), Some(t["MX_NAME"].as_str()));
    assert_eq!(approved[0]["verdict"]["action"], "pass", "{}", approved[0]);
    assert_eq!(approved[0]["verdict"]["rule"], "workstations-read-corp-mail");
    let imap = sessions(&records, ws, 143);
    let login = imap.iter().find(|r| r["tls"].is_null()).unwrap_or_else(|| panic!("no IMAP LOGIN: {imap:?}"));
    assert_eq!(str_of(login, &["imap", "user"]), Some("bob"), "{login}");
    assert_eq!(str_of(login, &["imap", "auth_mech"]), Some("LOGIN"), "{login}");
    assert_verdict(login, "reset", "defaults.unapproved_mail", "auth");
    let starttls = imap.iter().find(|r| !r["tls"].is_null()).unwrap_or_else(|| panic!("no IMAP STARTTLS: {imap:?}"));
    assert_eq!(starttls["imap"]["starttls"], true, "{starttls}");
    assert_eq!(str_of(starttls, &["tls", "sni"]), Some(t["PROVIDER_NAME"].as_str()));
    assert_verdict(starttls, "reset", "defaults.unapproved_mail", "client_hello");
    let pop3 = sessions(&records, ws, 110);
    assert_eq!(pop3.len(), 1, "{records:?}");
    assert_eq!(str_of(pop3[0], &["pop3", "user"]), Some("carol"), "{}", pop3[0]);
    assert_verdict(pop3[0], "reset", "defaults.unapproved_mail", "auth");
    let pop3s = sessions(&records, ws, 995);
    assert_eq!(pop3s.len(), 2, "{records:?}");
    for r in pop3s {
        assert_eq!(str_of(r, &["tls", "sni"]), Some(t["PROVIDER_NAME"].as_str()));
        assert_verdict(r, "reset", "defaults.unapproved_mail", "client_hello");
    }
    let apphost = sessions(&records, app, 143);
    assert_eq!(apphost.len(), 1, "{records:?}");
    assert_verdict(apphost[0], "reset", "defaults.unapproved_mail", "syn");

    // 4. The approved path with another server's name: reset at the ClientHello.
    for s in m.steps("bad_sni") {
        assert!(blocked(&s), "bad_sni: the client was not reset: {s}");
    }
    let records = m.records_for("bad_sni");
    let bad = sessions(&records, relay, 25);
    assert_eq!(bad.len(), 2, "{records:?}");
    for r in bad {
        assert_eq!(str_of(r, &["tls", "sni"]), Some("exfil.other-provider.test"), "{r}");
        assert_eq!(r["smtp"]["starttls"], true, "{r}");
        assert_verdict(r, "reset", "defaults.unapproved_mail", "client_hello");
        assert!(str_of(r, &["verdict", "reason"]).is_some_and(|s| s.contains("exfil.other-provider.test")), "{r}");
    }
    assert!(m.delivered("alice", "bad_sni").is_empty(), "delivered despite the reset");

    // 5. SMTP from the application host on 2525 (a mail port: reset at the
    // SYN) and on 8025 (detected from the banner, reset there).
    for s in m.steps("nonstandard_port") {
        assert!(blocked(&s), "nonstandard_port: the client was not reset: {s}");
    }
    let records = m.records_for("nonstandard_port");
    let on2525 = sessions(&records, app, 2525);
    assert_eq!(on2525.len(), 1, "{records:?}");
    assert_verdict(on2525[0], "reset", "defaults.unapproved_mail", "syn");
    let on8025 = sessions(&records, app, 8025);
    assert_eq!(on8025.len(), 2, "{records:?}");
    for r in on8025 {
        assert_eq!(r["mail_proto"], "smtp", "{r}");
        assert_eq!(r["mail_proto_source"], "content", "{r}");
        assert!(r["anomalies"].as_array().is_some_and(|a| a.iter().any(|x| x == "mail_on_nonstandard_port")), "{r}");
        assert_verdict(r, "reset", "defaults.unapproved_mail", "detect");
    }
    assert!(m.delivered("alice", "nonstandard_port").is_empty(), "delivered despite the reset");

    // 6. Web and neighbour discovery cross untouched.
    assert_web(m);

    // The live counters agree: every reset sent at least one RST, and dropped
    // at least the segment that decided it.
    let resets: usize =
        SCENARIOS.iter().map(|s| m.records_for(s).iter().filter(|r| r["verdict"]["action"] == "reset").count()).sum();
    let summary = m.summary();
    assert_eq!(summary["stop_reason"], "signal", "{summary}");
    let counter = |k: &str| summary[k].as_u64().unwrap_or_else(|| panic!("summary has no {k}: {summary}"));
    assert!(counter("rst_sent") as usize >= resets, "{resets} resets recorded: {summary}");
    assert!(counter("packets_dropped_policy") as usize >= resets, "{resets} resets recorded: {summary}");
    assert_eq!(counter("tx_failed"), 0, "{summary}");
}

fn assert_web(m: &ModeRun) {
    for s in m.steps("web") {
        assert_eq!(s["outcome"], "ok", "{}: web: {s}", m.mode);
        if let Some(rate) = s["throughput_mbit_s"].as_f64() {
            eprintln!("{}: {} through the appliance: {rate} Mbit/s", m.mode, s["name"]);
        }
    }
    // The engine saw each download and let it pass…
    let flows = m.replayed_all_flows("web");
    assert_eq!(flows.len(), 3, "{}: one flow per download: {flows:?}", m.mode);
    for r in flows {
        assert!(r["mail_proto"].is_null(), "{r}");
        assert_eq!(r["verdict"]["action"], "pass", "{r}");
    }
    // …and the gateway reported none: not mail, not a mail port.
    let reported = m.records_for("web");
    assert!(reported.is_empty(), "{}: web sessions reached the control plane: {reported:?}", m.mode);
}

fn assert_monitor_mode(block: &ModeRun, m: &ModeRun, t: &HashMap<String, String>) {
    // 7. Every session completes…
    for scenario in SCENARIOS {
        for s in m.steps(scenario) {
            assert_eq!(s["outcome"], "ok", "monitor: {scenario}: {s}");
        }
    }
    // …and each would-be block is recorded as would_reset, by the same rule.
    let key = |r: &Value, action: &str| {
        format!("{} {}:{} {} {}", r["src_ip"], r["dest_ip"], r["dest_port"], action, r["verdict"]["rule"])
    };
    for scenario in SCENARIOS {
        let mut expected: Vec<String> = block
            .records_for(scenario)
            .iter()
            .map(|r| {
                let action = match r["verdict"]["action"].as_str() {
                    Some("reset") => "would_reset",
                    Some("drop") => "would_drop",
                    Some(other) => other,
                    None => "?",
                };
                key(r, action)
            })
            .collect();
        let mut seen: Vec<String> =
            m.records_for(scenario).iter().map(|r| key(r, r["verdict"]["action"].as_str().unwrap_or("?"))).collect();
        expected.sort();
        seen.sort();
        assert_eq!(seen, expected, "monitor: {scenario}: the records differ from block mode's");
    }
    // The sessions blocked at the SYN now show what they were.
    for r in m.records_for("workstation_smtp") {
        assert_eq!(r["mail_proto"], "smtp", "{r}");
        assert_eq!(str_of(&r, &["smtp", "helo"]), Some("ws23.corp.test"), "{r}");
    }
    let apphost = m.records_for("mailbox_login");
    let apphost: Vec<_> = sessions(&apphost, &t["APPHOST"], 143);
    assert_eq!(str_of(apphost[0], &["imap", "user"]), Some("bob"), "{}", apphost[0]);
    // Delivered this time.
    assert_eq!(m.delivered("alice", "workstation_smtp").len(), 2, "monitor: workstation_smtp");
    assert_eq!(m.delivered("alice", "bad_sni").len(), 1, "monitor: bad_sni (smtplib)");
    assert_eq!(m.delivered("alice", "nonstandard_port").len(), 3, "monitor: nonstandard_port");
    assert_web(m);
    let summary = m.summary();
    assert_eq!(summary["packets_dropped_policy"], 0, "monitor mode dropped: {summary}");
    assert_eq!(summary["rst_sent"], 0, "monitor mode reset: {summary}");
}

/// No file the run wrote holds a test password. The captures are the
/// exception: they are the wire, and the wire carries the cleartext logins
/// (checked, so that this search is known to look for something that was
/// there).
fn assert_no_password_in_outputs(out: &Path) {
    let mut files = Vec::new();
    collect_files(out, &mut files);
    let mut searched = 0;
    for f in files.iter().filter(|f| f.extension() != Some(OsStr::new("pcap"))) {
        let bytes = std::fs::read(f).unwrap_or_default();
        assert!(!contains(&bytes, b"Pw-secret-"), "{} holds a password", f.display());
        searched += 1;
    }
    assert!(searched > 20, "only {searched} output files");
    let wire = std::fs::read(out.join("monitor/mailbox_login/capture.pcap")).unwrap_or_default();
    assert!(contains(&wire, b"Pw-secret-bob"), "the cleartext login is not in the capture: the search proves nothing");
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
