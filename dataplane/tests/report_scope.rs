//! What a gateway reports: the sessions `inspect` writes by default — mail,
//! or a mail port — and, with `all_flows = true` in `[dataplane.report]`,
//! every TCP flow. Real captures (SMTP with STARTTLS, and an HTTPS session)
//! go through a worker whose sink is the report filter built from the
//! parsed configuration.

mod corpus_frames;

use corpus_frames::frames_of;
use mailgate_dataplane::engine::{Engine, EngineConfig, SessionEnd, SessionSink};
use mailgate_dataplane::io::mem::MemIo;
use mailgate_dataplane::report::ReportFilter;
use mailgate_dataplane::settings::RuntimeConfig;
use mailgate_dataplane::verdict::{load_policy, Verdicts};
use mailgate_dataplane::worker::{PortPair, Worker};
use std::cell::RefCell;
use std::rc::Rc;

/// The server port of every session the filter passes on.
struct Ports(Rc<RefCell<Vec<u16>>>);
impl SessionSink for Ports {
    fn emit(&mut self, session: &mut SessionEnd<'_>) {
        self.0.borrow_mut().push(session.server.port);
    }
}

/// The server ports of the sessions reported under `report_table`.
fn reported_ports(report_table: &str) -> Vec<u16> {
    let text = format!(
        "[dataplane.report]\ngateway = \"gw\"\n{report_table}\n[dataplane.report.endpoint]\ntransport = \"unix\"\npath = \"/unused\"\n"
    );
    let config = RuntimeConfig::parse(&text, "t.toml").unwrap().runtime;
    let all_flows = config.report.unwrap().all_flows;
    let frames = frames_of(&["ndpi-smtp-starttls.pcap", "zeek-tls-chrome-34-google.pcap"]);
    let total = frames.len();
    let engine = Engine::new(&EngineConfig::default(), Verdicts::new(load_policy(None).unwrap()));
    let ports = Rc::default();
    let mut worker = Worker::new(engine, ReportFilter::new(Ports(Rc::clone(&ports)), all_flows));
    let mut io = MemIo::new(vec![frames, Vec::new()], false, false);
    let pairs = [PortPair { inside: 0, outside: 1 }];
    let (mut seen, mut now) = (0, 1_700_000_000_000_000_000u64);
    while seen < total {
        now += 1_000;
        seen += worker.poll_once(&mut io, &pairs, now);
    }
    worker.finish();
    let mut ports = ports.take();
    ports.sort_unstable();
    ports
}

#[test]
fn a_gateway_reports_mail_and_mail_port_sessions_only() {
    // The capture's two sessions to port 25; not the HTTPS one.
    assert_eq!(reported_ports(""), [25, 25]);
    assert_eq!(reported_ports("all_flows = false"), [25, 25]);
}

#[test]
fn all_flows_reports_every_tcp_flow() {
    assert_eq!(reported_ports("all_flows = true"), [25, 25, 443]);
}
