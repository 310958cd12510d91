//! Test harness: a real control plane (in-process or as a child process)
//! and real dataplane reporters feeding it through their rings.
#![allow(dead_code, missing_docs)]

use mailgate_dataplane::report::{
    session_ring, Endpoint, MailboxControl, MailboxReader, PolicyMailbox, Reporter, ReporterConfig, RingItem, RingSink,
};
use mailgate_protocol::record::{
    Action, Ja3, MailProto, MailProtoSource, MailboxRecord, SmtpRecord, TlsRecord, Verdict,
};
use mailgate_protocol::SessionRecord;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod fixtures;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// Polls `f` until it returns `Some`, or panics after `secs` seconds.
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The control plane's configuration for a test, in `dir`.
pub struct ControlSetup {
    pub dir: PathBuf,
    pub api_port: u16,
    pub extra: String,
}

impl ControlSetup {
    pub fn new(dir: &Path) -> Self {
        ControlSetup { dir: dir.to_path_buf(), api_port: 0, extra: String::new() }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    pub fn eve(&self) -> PathBuf {
        self.dir.join("eve.json")
    }

    pub fn toml(&self) -> String {
        format!(
            "[api]\nlisten = \"127.0.0.1:{}\"\ntoken = \"{TOKEN}\"\nack_timeout_ms = 5000\n\
             [storage]\ndb_path = \"{}\"\n\
             [channel]\nunix_socket = \"{}\"\nstats_interval_secs = 1\n\
             [eve]\npath = \"{}\"\n{}",
            self.api_port,
            self.dir.join("control.db").display(),
            self.socket().display(),
            self.eve().display(),
            self.extra
        )
    }

    pub fn write(&self) -> PathBuf {
        let path = self.dir.join("control.toml");
        std::fs::write(&path, self.toml()).unwrap_or_else(|e| panic!("{e}"));
        path
    }
}

/// A control plane running in this process on its own runtime.
pub struct InProcess {
    pub running: Option<mailgate_control::server::Running>,
    pub runtime: tokio::runtime::Runtime,
    pub api: String,
}

impl InProcess {
    pub fn start(setup: &ControlSetup) -> InProcess {
        let config = mailgate_control::config::ControlConfig::parse("test.toml", &setup.toml())
            .unwrap_or_else(|e| panic!("{e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let running = runtime.block_on(mailgate_control::server::start(config)).unwrap_or_else(|e| panic!("{e}"));
        let api = format!("http://{}", running.api_addr);
        InProcess { running: Some(running), runtime, api }
    }

    pub fn tls_addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().and_then(|r| r.tls_addr).unwrap_or_else(|| panic!("no TLS listener"))
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let running = self.running.take();
        let _guard = self.runtime.enter();
        drop(running);
    }
}

/// `GET` with the right token; panics on failure.
pub fn get(api: &str, path: &str) -> Value {
    ureq::get(&format!("{api}{path}"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .into_json()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The status and JSON body of a request, whatever the status.
pub fn call(request: ureq::Request, body: Option<&str>) -> (u16, Value) {
    let result = match body {
        Some(b) => request.send_string(b),
        None => request.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{e}"),
    }
}

pub fn metrics(api: &str) -> String {
    ureq::get(&format!("{api}/metrics")).call().unwrap_or_else(|e| panic!("{e}")).into_string().unwrap_or_default()
}

/// The value of one sample line in the metrics text (0 if absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The worker's summary in these tests: a flow id, from which the
/// reporter's conversion builds a full record (as the engine's
/// `ReportedSession` → `SessionRecord` conversion does).
#[derive(Clone, Copy, Debug)]
pub struct Item(pub u64);

impl RingItem for Item {
    /// A flow id holds no storage to give back to the worker.
    type Spare = ();
    fn into_spare(self) -> Option<()> {
        None
    }
}

/// Session `id`'s record, every field set; `start_secs` is its start time.
pub fn record(id: u64, start_secs: i64) -> SessionRecord {
    let ts = |s: i64, micros: u32| {
        let t = time::OffsetDateTime::from_unix_timestamp(s).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            + time::Duration::microseconds(i64::from(micros));
        t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    };
    let proto = [MailProto::Smtp, MailProto::Imap, MailProto::Pop3][(id % 3) as usize];
    let action = [Action::Pass, Action::Alert, Action::Drop, Action::Reset, Action::WouldDrop][(id % 5) as usize];
    let mailbox = MailboxRecord {
        banner: Some(format!("* OK server {id}")),
        capabilities: vec!["IMAP4rev1".into(), "STARTTLS".into()],
        starttls: id.is_multiple_of(2),
        auth_mech: Some("PLAIN".into()),
        user: Some(format!("user{}", id % 7)),
        id: vec![("name".into(), "client".into())],
    };
    SessionRecord {
        ts: ts(start_secs, (id % 1000) as u32),
        ts_end: ts(start_secs + 2, 0),
        flow_id: id,
        src_ip: if id % 4 == 3 {
            format!("2001:db8::{:x}", id % 50 + 1)
        } else {
            format!("10.0.{}.{}", id % 3, id % 50 + 1)
        },
        src_port: 40000 + (id % 20000) as u16,
        dest_ip: format!("198.51.100.{}", id % 5 + 1),
        dest_port: [25, 587, 143, 993, 110][(id % 5) as usize],
        community_id: format!("1:flow{id}="),
        direction_inferred: id.is_multiple_of(11),
        mail_proto: Some(proto),
        mail_proto_source: Some(MailProtoSource::Content),
        smtp: (proto == MailProto::Smtp).then(|| SmtpRecord {
            helo_verb: Some("EHLO".into()),
            helo: Some(format!("ws{}.corp.test", id % 4)),
            banner: Some("220 mx ESMTP".into()),
            auth_mechs_offered: vec!["PLAIN".into(), "LOGIN".into()],
            starttls_offered: true,
            auth_mech: Some("PLAIN".into()),
            user: Some(format!("user{}", id % 7)),
            starttls: true,
            mail_from: Some(format!("<a{id}@corp.test>")),
            rcpt_to: vec!["<b@example.org>".into(), "<c@example.org>".into()],
        }),
        imap: (proto == MailProto::Imap).then(|| mailbox.clone()),
        pop3: (proto == MailProto::Pop3).then(|| MailboxRecord { id: vec![], ..mailbox.clone() }),
        tls: (id.is_multiple_of(2)).then(|| TlsRecord {
            implicit: false,
            sni: Some(format!("mail{}.example.org", id % 3)),
            alpn: vec!["imap".into()],
            version: Some("TLSv1.3".into()),
            ja3: Ja3 { string: "771,4865,0-10,29,0".into(), hash: format!("{:032x}", id) },
            ja4: "t13d0101im_aaaaaaaaaaaa_bbbbbbbbbbbb".into(),
            ech: id.is_multiple_of(13),
        }),
        socks: id.is_multiple_of(9).then(|| mailgate_protocol::record::SocksRecord {
            version: 5,
            target_host: format!("198.51.100.{}", id % 5 + 1),
            target_port: 25,
            user: Some("proxyuser".into()),
        }),
        anomalies: if id.is_multiple_of(6) { vec!["bare_lf".into()] } else { vec![] },
        verdict: Verdict {
            action,
            rule: Some(format!("rule-{}", id % 4)),
            reason: format!("reason {id}"),
            policy_hash: Some("abc".into()),
            decided_at: Some("detect".into()),
        },
        pkts_toserver: id,
        pkts_toclient: id + 1,
        bytes_toserver: id * 100,
        bytes_toclient: id * 200,
        gateway: None,
    }
}

/// Base of the start times (a day ago, so retention keeps them): session
/// `id` starts `id` seconds after it.
pub fn epoch() -> i64 {
    static EPOCH: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(|| time::OffsetDateTime::now_utc().unix_timestamp() / 3600 * 3600 - 86_400)
}

/// A reporter with one worker ring, fed by the test.
pub struct Gateway {
    pub sink: RingSink<Item>,
    pub reporter: Option<Reporter>,
    /// The workers' policy mailbox (starting with the embedded default policy).
    pub mailbox: Arc<PolicyMailbox>,
    /// What a worker would read from it on its tick.
    pub worker: MailboxReader,
}

impl Gateway {
    pub fn start(config: ReporterConfig, ring: usize) -> Gateway {
        let convert = |id: &Item| record(id.0, epoch() + id.0 as i64);
        Gateway::start_with(config, ring, convert, BTreeMap::from([("packets_rx".to_string(), 42)]))
    }

    /// A reporter whose workers hand over `convert(item)`, reporting `counters` as the dataplane's own.
    pub fn start_with(
        config: ReporterConfig,
        ring: usize,
        convert: impl FnMut(&Item) -> SessionRecord + Send + 'static,
        counters: BTreeMap<String, u64>,
    ) -> Gateway {
        let (sink, source) = session_ring::<Item>(ring, []);
        let mailbox = PolicyMailbox::new(Arc::new(mailgate_config::CompiledPolicy::embedded_default()));
        let worker = mailbox.reader();
        let control = MailboxControl::new(Arc::clone(&mailbox), move || counters.clone());
        let reporter = Reporter::spawn(config, vec![source], convert, control).unwrap_or_else(|e| panic!("{e}"));
        Gateway { sink, reporter: Some(reporter), mailbox, worker }
    }

    pub fn unix(name: &str, socket: &Path) -> ReporterConfig {
        let mut config = ReporterConfig::new(name, Endpoint::Unix { path: socket.to_path_buf() });
        config.flush_interval_ms = 20;
        config.backoff_initial_ms = 20;
        config.backoff_max_ms = 200;
        config
    }

    pub fn push(&mut self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            assert!(self.sink.push(&Item(id)), "ring full at {id}");
        }
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.reporter.as_ref().and_then(|r| r.counters().get(name).copied()).unwrap_or(0)
    }
}

/// The expected API item for session `id` reported by `gateway`.
pub fn expected(id: u64, gateway: &str) -> Value {
    let mut r = record(id, epoch() + id as i64);
    r.gateway = Some(gateway.to_string());
    serde_json::to_value(&r).unwrap_or(Value::Null)
}
