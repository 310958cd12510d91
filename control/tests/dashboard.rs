//! The dashboard in a real headless Chromium, driven through chromedriver's
//! WebDriver HTTP API, against a running control plane fed with sessions:
//! sign in (a wrong token is refused), then what a person sees on each
//! page — counters, the blocked session with its rule, the mail paths
//! marked approved or not, a host's triage, coverage — with no console
//! error, and strings from the wire shown as text, never as markup.
//! Screenshots go to `target/dashboard-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test
//! prints `SKIPPED: …` and passes.

mod common;

use base64::Engine;
use common::fixtures::*;
use common::*;
use mailgate_protocol::record::{Action, MailProto};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and one browser session; both ended on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    shots: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn webdriver(method: &str, url: &str, body: Option<Value>) -> Value {
    let request = ureq::request(method, url).timeout(Duration::from_secs(60));
    let result = match body {
        Some(b) => request.send_json(b),
        None => request.call(),
    };
    match result {
        Ok(r) => r.into_json().unwrap_or(Value::Null),
        Err(ureq::Error::Status(code, r)) => panic!("{method} {url}: {code} {}", r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

impl Browser {
    fn start(profile: &Path, shots: PathBuf) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER}: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver", 20, || {
            ureq::get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .filter(|v| v["value"]["ready"] == true)
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut browser = Browser { driver, base, session: String::new(), shots };
        let created = webdriver("POST", &format!("{}/session", browser.base), Some(capabilities));
        browser.session = created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("{created}")).to_string();
        browser
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn go(&self, to: &str) {
        webdriver("POST", &self.url("/url"), Some(json!({"url": to})));
    }

    fn run(&self, script: &str) -> Value {
        webdriver("POST", &self.url("/execute/sync"), Some(json!({"script": script, "args": []})))["value"].clone()
    }

    fn element(&self, css: &str) -> String {
        let found = webdriver("POST", &self.url("/element"), Some(json!({"using": "css selector", "value": css})));
        found["value"][ELEMENT].as_str().unwrap_or_else(|| panic!("no {css}: {found}")).to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        webdriver("POST", &self.url(&format!("/element/{id}/value")), Some(json!({"text": text})));
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        webdriver("POST", &self.url(&format!("/element/{id}/click")), Some(json!({})));
    }

    /// Polls `script` until it returns something truthy.
    fn wait(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.run(script);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; page says: {}",
                self.run("return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The visible text of the element `css`.
    fn text(&self, css: &str) -> String {
        let script = format!("const e = document.querySelector({}); return e ? e.innerText : null;", json!(css));
        self.run(&script).as_str().unwrap_or_else(|| panic!("no {css} on the page")).to_string()
    }

    fn screenshot(&self, name: &str) {
        let shot = webdriver("GET", &self.url("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["value"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.shots.join(name), png).unwrap_or_else(|e| panic!("{e}"));
    }

    /// The browser's console and network messages since the last call.
    fn console(&self) -> Vec<Value> {
        webdriver("POST", &self.url("/se/log"), Some(json!({"type": "browser"})))["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session))
                .timeout(Duration::from_secs(20))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

const POLICY: &str = r#"mode = "block"
[hosts]
workstations = ["10.0.0.0/24"]
[[allow]]
name = "ws-imap"
from = ["workstations"]
to = ["198.51.100.2"]
protocols = ["imap"]
"#;

const HOSTILE_HELO: &str = "<img src=x onerror=alert(1)>";

#[test]
fn the_dashboard_shows_what_the_control_plane_knows_in_a_real_browser() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        println!("SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install -y chromium chromium-driver)");
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = ControlSetup::new(dir.path());
    let control = InProcess::start(&setup);
    let api = control.api.as_str();
    apply_policy(api, POLICY);
    let t0 = now_ns() / SECOND * SECOND - 1800 * SECOND;
    let mut feeder = Feeder::start("gw-dash", &setup.socket(), BTreeMap::new());
    let blocked = with_verdict(
        with_smtp(
            session(1, "10.0.0.5", 50001, "203.0.113.9", 25, Some(MailProto::Smtp), t0 + 60 * SECOND),
            HOSTILE_HELO,
            None,
            None,
        ),
        Action::Reset,
        "defaults.unapproved_mail",
    );
    let alerted = with_verdict(
        session(2, "10.0.0.5", 50002, "198.51.100.2", 143, Some(MailProto::Imap), t0 + 30 * SECOND),
        Action::Alert,
        "defaults.cleartext_auth",
    );
    let passed = with_tls(
        with_verdict(
            session(3, "10.0.0.5", 50003, "198.51.100.2", 993, Some(MailProto::Imap), t0),
            Action::Pass,
            "ws-imap",
        ),
        Some("imap.example.org"),
        false,
    );
    let (_, answer) = post_events(
        api,
        &json!({"ts": rfc3339(t0 + 60 * SECOND), "host_ip": "10.0.0.5", "src_port": 50001, "dest_ip": "203.0.113.9",
                "dest_port": 25, "process": "C:\\Temp\\beacon.exe", "pid": 6666, "user": "CORP\\alice", "host_name": "ws5"})
        .to_string(),
    );
    assert_eq!(answer["stored"], 1, "{answer}");
    feeder.send(vec![blocked, alerted, passed]);
    wait_sessions(api, 3);

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let shots = target.join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap_or_else(|e| panic!("{e}"));
    let browser = Browser::start(&dir.path().join("chromium-profile"), shots.clone());

    // The page asks for the token; a wrong one is refused.
    browser.go(&format!("{api}/"));
    browser.wait(
        "the sign-in form",
        "return document.querySelector('#login-view') && !document.querySelector('#login-view').hidden",
    );
    browser.screenshot("01-sign-in.png");
    browser.type_into("#token", "not-the-token-at-all");
    browser.click("#login-submit");
    let refused = browser.wait("the refusal", "return document.querySelector('#login-error').innerText");
    assert_eq!(refused, "The token was refused; sign in again.");
    let errors: Vec<Value> = browser.console().into_iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(
        !errors.is_empty() && errors.iter().all(|e| e["message"].as_str().is_some_and(|m| m.contains("status of 401"))),
        "the only errors are the refused requests: {errors:?}"
    );

    // Overview: live counters, the blocked session with its rule, the alerted one.
    browser.type_into("#token", TOKEN);
    browser.click("#login-submit");
    browser.wait("the overview", "return document.body.dataset.loaded === 'overview'");
    assert_eq!(browser.text("#count-sessions"), "3");
    assert_eq!(browser.text("#count-blocked"), "1");
    assert_eq!(browser.text("#count-alerted"), "1");
    assert_eq!(browser.text("#count-gateways"), "1 / 1");
    assert_eq!(browser.text("#count-endpoint"), "1");
    assert_eq!(browser.text("#count-policy"), "v1 (block)");
    let blocked_rows =
        browser.run("return Array.from(document.querySelectorAll('#blocked tbody tr'), r => r.innerText)");
    let blocked_rows: Vec<String> =
        blocked_rows.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    assert_eq!(blocked_rows.len(), 1, "{blocked_rows:?}");
    for want in [
        "10.0.0.5",
        "203.0.113.9:25",
        "smtp",
        "reset",
        "defaults.unapproved_mail",
        "C:\\Temp\\beacon.exe",
        HOSTILE_HELO,
    ] {
        assert!(blocked_rows[0].contains(want), "the blocked row shows {want:?}: {:?}", blocked_rows[0]);
    }
    assert_eq!(browser.run("return document.querySelectorAll('img').length"), 0, "the HELO name stayed text");
    let alerted_text = browser.text("#alerted");
    assert!(
        alerted_text.contains("defaults.cleartext_auth") && alerted_text.contains("198.51.100.2:143"),
        "{alerted_text}"
    );
    assert_eq!(browser.text("#alerts"), "No alert.");
    browser.screenshot("02-overview.png");
    // The counters refresh on their own.
    feeder.send(vec![session(4, "10.0.0.6", 50004, "198.51.100.2", 993, Some(MailProto::Imap), t0 + 90 * SECOND)]);
    browser.wait("the refreshed counter", "return document.querySelector('#count-sessions').innerText === '4'");

    // Mail paths, marked approved or not.
    browser.go(&format!("{api}/dashboard/#/inventory"));
    browser.wait("the inventory", "return document.body.dataset.loaded === 'inventory'");
    let rows = browser.run(
        "return Array.from(document.querySelectorAll('#inventory tbody tr'), r => Array.from(r.cells, c => c.innerText))",
    );
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 4, "{rows:?}");
    let status = |dest: &str| rows.iter().find(|r| r[2] == dest).map(|r| (r[8].clone(), r[9].clone()));
    assert_eq!(status("198.51.100.2:993"), Some(("approved".into(), "ws-imap".into())));
    assert_eq!(status("203.0.113.9:25").map(|s| s.0), Some("UNAPPROVED".into()));
    assert_eq!(browser.text("#inventory-summary"), "4 paths, 3 approved by policy version 1");
    browser.screenshot("03-mail-paths.png");

    // Host triage, reached by clicking the host.
    browser.click("#inventory tbody tr a.host");
    browser.wait("the host page", "return document.body.dataset.loaded === 'host'");
    assert_eq!(browser.text("#host-sessions-count"), "3");
    let destinations = browser.text("#host-destinations");
    assert!(destinations.contains("203.0.113.9:25") && destinations.contains("C:\\Temp\\beacon.exe"), "{destinations}");
    assert!(browser.text("#host-endpoint").starts_with("1 endpoint events (json), host names ws5"));
    assert!(browser.text("#host-sessions").contains("defaults.unapproved_mail"));
    browser.screenshot("04-host.png");

    // Coverage.
    browser.go(&format!("{api}/dashboard/#/coverage"));
    browser.wait("the coverage page", "return document.body.dataset.loaded === 'coverage'");
    let figures = browser.text("#coverage-figures");
    assert!(figures.contains("Sessions in the last 24 h\t4"), "{figures}");
    assert!(figures.contains("From unmanaged hosts\t1\t25.0 %"), "{figures}");
    assert!(browser.text("#coverage-unmanaged").contains("10.0.0.6"));
    assert!(browser.text("#coverage-gateways").contains("gw-dash"));
    browser.screenshot("05-coverage.png");

    let console = browser.console();
    assert!(console.iter().all(|e| e["level"] != "SEVERE"), "console errors: {console:?}");
    for name in ["01-sign-in.png", "02-overview.png", "03-mail-paths.png", "04-host.png", "05-coverage.png"] {
        assert!(shots.join(name).metadata().is_ok_and(|m| m.len() > 1000), "{name}");
    }
}
