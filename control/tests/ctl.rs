//! `mailgatectl` against a running control plane: output, and the
//! documented exit codes.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Output};

fn ctl(api: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailgatectl"));
    command.env_remove("MAILGATE_TOKEN").env_remove("MAILGATE_TOKEN_FILE").env_remove("MAILGATE_SERVER");
    command.arg("--server").arg(api);
    if let Some(token) = token {
        command.arg("--token").arg(token);
    }
    command.args(args).output().unwrap_or_else(|e| panic!("{e}"))
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const GOOD: &str =
    "mode = \"monitor\"\n[[allow]]\nname = \"lan-smtp\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smtp\"]\n";

#[test]
fn mailgatectl_commands_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = ControlSetup::new(dir.path());
    let control = InProcess::start(&setup);
    let api = control.api.as_str();
    let mut gateway = Gateway::start(Gateway::unix("gw-ctl", &setup.socket()), 256);
    gateway.push(1..=30);
    wait_for("30 sessions", 15, || (get(api, "/api/v1/sessions").as_array().map(Vec::len) == Some(30)).then_some(()));
    let good = dir.path().join("good.toml");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&good, GOOD).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&bad, "mode = \"monitor\"\n[[allow]]\nname = \"x\"\nprotocols = [\"smtpp\"]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let (good, bad) = (good.to_string_lossy().into_owned(), bad.to_string_lossy().into_owned());

    // Local validation needs no server.
    let out = ctl("http://127.0.0.1:9", None, &["policy", "validate", &good]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("valid"));
    let out = ctl("http://127.0.0.1:9", None, &["policy", "validate", &bad]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("bad.toml:"), "{}", stderr(&out));

    // Token problems.
    assert_eq!(code(&ctl(api, None, &["status"])), 2, "no token is a usage error");
    let out = ctl(api, Some("wrong-token-wrong-token"), &["status"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert_eq!(code(&ctl("http://127.0.0.1:9", Some(TOKEN), &["status"])), 1, "unreachable server");
    assert_eq!(code(&ctl(api, Some(TOKEN), &["no-such-command"])), 2);

    let out = ctl(api, Some(TOKEN), &["status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("gw-ctl") && stdout(&out).contains("policy: none stored"), "{}", stdout(&out));

    // Sessions as JSON lines (the API's items) and as a table.
    let out = ctl(api, Some(TOKEN), &["sessions", "--json", "--mail-proto", "smtp", "--limit", "100"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
    assert_eq!(lines.len(), 10);
    for line in &lines {
        let id = line.get("flow_id").and_then(Value::as_u64).unwrap_or_default();
        assert_eq!(line, &expected(id, "gw-ctl"));
    }
    let out = ctl(api, Some(TOKEN), &["sessions", "--limit", "3"]);
    assert_eq!(stdout(&out).lines().count(), 4, "{}", stdout(&out));
    assert!(stdout(&out).starts_with("TIME"));
    assert_eq!(code(&ctl(api, Some(TOKEN), &["sessions", "--src", "nonsense"])), 1, "the server refuses the filter");

    // Policies.
    let out = ctl(api, Some(TOKEN), &["policy", "apply", &good]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let hash = mailgate_config::CompiledPolicy::from_toml("g", GOOD).map(|p| p.hash().to_string()).unwrap_or_default();
    assert!(stdout(&out).contains(&format!("gw-ctl: applied {hash}")), "{}", stdout(&out));
    let out = ctl(api, Some(TOKEN), &["policy", "apply", &bad]);
    assert_eq!(code(&out), 2, "the server's validation errors are exit 2");
    assert!(stderr(&out).contains("policy.toml:"), "{}", stderr(&out));
    let out = ctl(api, Some(TOKEN), &["policy", "show"]);
    assert_eq!(stdout(&out), GOOD);
    let out = ctl(api, Some(TOKEN), &["policy", "versions"]);
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    assert!(stdout(&out).contains(&hash));

    // Inventory and a baseline from it.
    let out = ctl(api, Some(TOKEN), &["inventory"]);
    assert_eq!(code(&out), 0);
    let paths = get(api, "/api/v1/inventory").get("paths").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
    assert_eq!(stdout(&out).lines().count(), paths + 1);
    let draft = dir.path().join("draft.toml");
    let out = ctl(api, Some(TOKEN), &["baseline", "suggest", "-o", &draft.to_string_lossy()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&draft).unwrap_or_default();
    let compiled =
        mailgate_config::CompiledPolicy::from_toml("draft.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(compiled.summary(time::OffsetDateTime::now_utc().date()).allow_rules, paths);
    // Applied, the draft admits every observed path.
    let request = ureq::post(&format!("{api}/api/v1/policy")).set("Authorization", &format!("Bearer {TOKEN}"));
    assert_eq!(call(request, Some(&text)).0, 200);
    let inventory = get(api, "/api/v1/inventory");
    for path in inventory.get("paths").and_then(Value::as_array).into_iter().flatten() {
        assert_eq!(path.pointer("/policy/admitted").and_then(Value::as_bool), Some(true), "{path}");
    }
}
