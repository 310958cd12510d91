//! The generator's ground truth, checked against the engine: every field
//! the truth file expects for every flow of a realistic generated capture
//! (real rustls ClientHellos, post-quantum key shares over two segments,
//! STARTTLS, implicit TLS, C2 pollers, IPv6, VLANs) is what `inspect`
//! reports — in monitor mode, and with the verdicts of block mode. No
//! password the clients sent appears in any record.

use mailgate_bench::gen::{generate, GenConfig};
use mailgate_bench::mix::Mix;
use mailgate_bench::pcap::Writer;
use mailgate_dataplane::engine::EngineConfig;
use mailgate_dataplane::replay::{replay, ReplayError};
use mailgate_dataplane::verdict::load_policy;
use mailgate_tests::repo_root;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const FLOWS: u64 = 600;

fn generated(seed: u64) -> (PathBuf, Vec<Value>) {
    generated_mix(seed, Mix::Realistic)
}

fn generated_mix(seed: u64, mix: Mix) -> (PathBuf, Vec<Value>) {
    let dir = std::env::temp_dir().join(format!("mailgate-generated-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join(format!("{mix:?}.pcap"));
    let mut writer = Writer::new(std::io::BufWriter::new(std::fs::File::create(&pcap).unwrap())).unwrap();
    let mut truth = Vec::new();
    generate(&GenConfig { flows: FLOWS, seed, mix }, &mut writer, &mut truth, &mut |_| {}).unwrap();
    writer.finish().unwrap();
    let truth = String::from_utf8(truth).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (pcap, truth)
}

fn inspect(capture: &Path, policy_toml: &str) -> (String, Vec<Value>) {
    let policy_file = capture.with_extension("toml");
    std::fs::write(&policy_file, policy_toml).unwrap();
    let policy = load_policy(Some(&policy_file)).unwrap();
    let config = EngineConfig { inspect_blocked: true, ..EngineConfig::default() };
    let mut out = Vec::new();
    replay(capture, policy, &config, false, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let records = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (text, records)
}

/// The value at a dotted path (`smtp.helo`); `Null` where any step is missing.
fn at<'a>(record: &'a Value, path: &str) -> &'a Value {
    path.split('.').try_fold(record, |v, k| v.get(k)).unwrap_or(&Value::Null)
}

fn key(v: &Value, ts: &str) -> (String, u64, String, u64, String) {
    (
        v["src_ip"].as_str().unwrap().to_string(),
        v["src_port"].as_u64().unwrap(),
        v["dest_ip"].as_str().unwrap().to_string(),
        v["dest_port"].as_u64().unwrap(),
        ts.to_string(),
    )
}

fn ts_of_truth(t: &Value) -> String {
    mailgate_dataplane::record::rfc3339(t["ts_us"].as_u64().unwrap() * 1000)
}

#[test]
fn inspect_reports_what_the_generator_sent() {
    let (pcap, truth) = generated(11);
    let demo = std::fs::read_to_string(repo_root().join("bench/policy/demo.toml")).unwrap();
    let (text, records) = inspect(&pcap, &demo);
    let by_key: HashMap<_, _> = records.iter().map(|r| (key(r, r["ts"].as_str().unwrap()), r)).collect();
    let mut checked = 0;
    let mut failures = Vec::new();
    for t in truth.iter().filter(|t| t["record"] == true) {
        let Some(rec) = by_key.get(&key(t, &ts_of_truth(t))) else {
            failures.push(format!("flow {} ({}): no record", t["flow"], t["profile"]));
            continue;
        };
        for (path, want) in t["expected"].as_object().unwrap() {
            checked += 1;
            if at(rec, path) != want {
                failures.push(format!(
                    "flow {} ({}): {path}: want {want}, got {}",
                    t["flow"],
                    t["profile"],
                    at(rec, path)
                ));
            }
        }
    }
    assert!(checked > 1000, "only {checked} fields compared");
    assert!(failures.is_empty(), "{} of {checked} fields differ:\n{}", failures.len(), failures.join("\n"));
    let expected_records = truth.iter().filter(|t| t["record"] == true).count();
    assert_eq!(records.len(), expected_records, "records for exactly the mail and mail-port flows");
    // Passwords (and their base64 forms) never reach a record.
    for secret in truth.iter().flat_map(|t| t["secrets"].as_array().cloned().unwrap_or_default()) {
        let secret = secret.as_str().unwrap();
        assert!(!text.contains(secret), "a secret leaked into the records: {secret}");
    }
    assert!(!text.contains("Pw-secret-"));
}

#[test]
fn block_mode_verdicts_match_the_truth() {
    let (pcap, truth) = generated(12);
    let demo = std::fs::read_to_string(repo_root().join("bench/policy/demo.toml")).unwrap();
    let block = demo.replace("mode = \"monitor\"", "mode = \"block\"");
    assert_ne!(block, demo, "demo.toml sets mode = \"monitor\"");
    let (_, records) = inspect(&pcap, &block);
    let by_key: HashMap<_, _> = records.iter().map(|r| (key(r, r["ts"].as_str().unwrap()), r)).collect();
    let mut actions = HashMap::new();
    for t in truth.iter().filter(|t| t["record"] == true) {
        let rec = by_key[&key(t, &ts_of_truth(t))];
        assert_eq!(rec["verdict"]["action"], t["block_action"], "flow {} ({}): {rec}", t["flow"], t["profile"]);
        *actions.entry(t["block_action"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    assert!(actions.get("pass").copied().unwrap_or(0) > 5, "{actions:?}");
    assert!(actions.get("reset").copied().unwrap_or(0) > 20, "{actions:?}");
}

/// Output that takes `room` bytes and then fails, as a closed pipe does.
struct ClosesAfter {
    room: usize,
    taken: Vec<u8>,
}

impl std::io::Write for ClosesAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.room - self.taken.len());
        if n == 0 {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        self.taken.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn output_that_fails_midway_ends_the_replay_with_its_error() {
    // Every flow a mail session: the engine still has hundreds of sessions
    // to hand over when the writer's output breaks, and must not wait for
    // a writer that has stopped.
    let (pcap, _) = generated_mix(13, Mix::Mailstorm);
    let policy = load_policy(None).unwrap();
    let mut whole = Vec::new();
    let summary = replay(&pcap, policy.clone(), &EngineConfig::default(), false, &mut whole).unwrap();
    assert_eq!(summary.records, FLOWS);
    let mut out = ClosesAfter { room: 20_000, taken: Vec::new() };
    match replay(&pcap, policy, &EngineConfig::default(), false, &mut out) {
        Err(ReplayError::Output(e)) => assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe),
        other => panic!("expected the output's error, got {other:?}"),
    }
    assert_eq!(out.taken.len(), 20_000);
    assert!(whole.starts_with(&out.taken), "what was written before the error is the start of the records");
}
