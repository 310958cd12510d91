//! The shared capture corpus through `inspect`'s pipeline:
//! * every capture's records equal the golden records checked in under
//!   `tests/golden/` (regenerate with `MAILGATE_BLESS=1` and review the diff);
//! * the handshake facts agree with tshark, the reference dissector, on
//!   every session where tshark decodes them (EHLO/HELO names, IMAP LOGIN
//!   and POP3 USER names, TLS SNI).

use mailgate_dataplane::engine::EngineConfig;
use mailgate_dataplane::replay::replay;
use mailgate_dataplane::verdict::load_policy;
use mailgate_tests::{corpus_captures, repo_root, stem, tshark};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

fn records(capture: &Path, all_flows: bool) -> Vec<Value> {
    let policy = load_policy(None).unwrap();
    let mut out = Vec::new();
    let config = EngineConfig { inspect_blocked: true, ..EngineConfig::default() };
    let summary =
        replay(capture, policy, &config, all_flows, &mut out).unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    assert!(summary.capture_error.is_none(), "{:?}", summary.capture_error);
    String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_capture_matches_its_golden_records() {
    let captures = corpus_captures();
    assert!(captures.len() > 40, "corpus not found at {:?}", mailgate_tests::corpus_dir());
    let bless = std::env::var_os("MAILGATE_BLESS").is_some();
    let mut failures = Vec::new();
    for capture in &captures {
        let got = records(capture, false);
        let golden = repo_root().join("tests/golden").join(format!("{}.jsonl", stem(capture)));
        if bless {
            let text: String = got.iter().map(|r| format!("{r}\n")).collect();
            std::fs::write(&golden, text).unwrap();
            continue;
        }
        let want: Vec<Value> = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with MAILGATE_BLESS=1)", golden.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if got.len() != want.len() {
            failures.push(format!("{}: {} records, golden has {}", stem(capture), got.len(), want.len()));
            continue;
        }
        for (g, w) in got.iter().zip(&want) {
            if g != w {
                failures.push(format!("{}: flow {} differs\n got: {g}\nwant: {w}", stem(capture), w["flow_id"]));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (client ip, client port, server ip, server port) as tshark and records spell them.
type Tuple = (String, String, String, String);

/// The first value tshark shows per session for each field of interest.
#[derive(Default, Debug)]
struct Seen {
    helo: Option<String>,
    sni: Option<String>,
    imap_user: Option<String>,
    pop3_user: Option<String>,
}

fn tshark_facts(capture: &Path) -> Option<HashMap<Tuple, Seen>> {
    let path = capture.to_str()?;
    let fields = [
        "ip.src",
        "ipv6.src",
        "tcp.srcport",
        "ip.dst",
        "ipv6.dst",
        "tcp.dstport",
        "smtp.req.command",
        "smtp.req.parameter",
        "tls.handshake.type",
        "tls.handshake.extensions_server_name",
        "imap.request.username",
        "pop.request.command",
        "pop.request.parameter",
    ];
    let mut args =
        vec!["-n", "-r", path, "-d", "tcp.port==2525,smtp", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=l"];
    for f in &fields {
        args.extend(["-e", f]);
    }
    args.extend(["-Y", "smtp.req.command or tls.handshake.type == 1 or imap.request.username or pop.request.command"]);
    let out = tshark(&args)?;
    let mut seen: HashMap<Tuple, Seen> = HashMap::new();
    for line in out.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| c.get(i).copied().unwrap_or("");
        let src = if get(1).is_empty() { get(0) } else { get(1) };
        let dst = if get(4).is_empty() { get(3) } else { get(4) };
        let key = (src.to_string(), get(2).to_string(), dst.to_string(), get(5).to_string());
        let entry = seen.entry(key).or_default();
        let cmd = get(6).to_ascii_uppercase();
        if (cmd == "EHLO" || cmd == "HELO") && entry.helo.is_none() {
            entry.helo = Some(get(7).to_string());
        }
        if get(8).split(',').any(|t| t == "1") && entry.sni.is_none() && !get(9).is_empty() {
            entry.sni = Some(get(9).to_string());
        }
        if !get(10).is_empty() && entry.imap_user.is_none() {
            entry.imap_user = Some(get(10).trim_matches('"').to_string());
        }
        if get(11).eq_ignore_ascii_case("USER") && entry.pop3_user.is_none() {
            entry.pop3_user = Some(get(12).to_string());
        }
    }
    Some(seen)
}

#[test]
fn handshake_facts_agree_with_tshark() {
    if tshark(&["-v"]).is_none() {
        eprintln!("SKIPPED: tshark is not installed (scripts/setup.sh installs it)");
        return;
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for capture in corpus_captures() {
        let Some(seen) = tshark_facts(&capture) else { continue };
        let ours: HashMap<Tuple, Value> = records(&capture, true)
            .into_iter()
            .map(|r| {
                let key = (
                    r["src_ip"].as_str().unwrap_or("").to_string(),
                    r["src_port"].to_string(),
                    r["dest_ip"].as_str().unwrap_or("").to_string(),
                    r["dest_port"].to_string(),
                );
                (key, r)
            })
            .collect();
        for (tuple, facts) in &seen {
            // Every row selected is a client command or ClientHello, so tshark's
            // source is the client: a missing tuple is a missed or mis-directed session.
            let Some(rec) = ours.get(tuple) else {
                failures.push(format!("{} {tuple:?}: no record (tshark saw {facts:?})", stem(&capture)));
                continue;
            };
            let mut check = |what: &str, want: &Option<String>, got: &Value| {
                if let Some(want) = want {
                    checked += 1;
                    // Facts are capped (a HELO name at 255 bytes): a cut value is a prefix.
                    let capped = got.as_str().is_some_and(|g| g.len() >= 255 && want.starts_with(g));
                    if got.as_str() != Some(want.as_str()) && !capped {
                        failures.push(format!("{} {tuple:?}: {what}: tshark {want:?}, ours {got}", stem(&capture)));
                    }
                }
            };
            check("smtp.helo", &facts.helo, &rec["smtp"]["helo"]);
            check("tls.sni", &facts.sni, &rec["tls"]["sni"]);
            check("imap.user", &facts.imap_user, &rec["imap"]["user"]);
            check("pop3.user", &facts.pop3_user, &rec["pop3"]["user"]);
        }
    }
    assert!(checked > 30, "only {checked} facts compared");
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}
