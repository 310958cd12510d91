//! `mailgatectl`'s terminal output for host triage and coverage: plain
//! text in columns, one fact per line, readable in an 100-column terminal.

use crate::coverage::Coverage;
use crate::triage::HostReport;
use serde_json::Value;
use std::fmt::Write;

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

fn pct(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

fn field<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("-")
}

/// The triage of a host, for reading.
pub fn host(r: &HostReport) -> String {
    let mut out = String::new();
    let period = match (&r.since, &r.until) {
        (None, None) => String::new(),
        (since, until) => format!(
            " between {} and {}",
            since.as_deref().unwrap_or("the first record"),
            until.as_deref().unwrap_or("now")
        ),
    };
    let _ = writeln!(out, "Host {}: {} sessions{period}", r.host, r.sessions);
    if r.sessions > 0 {
        let _ = writeln!(
            out,
            "  first seen {}, last seen {}",
            r.first_seen.as_deref().unwrap_or("-"),
            r.last_seen.as_deref().unwrap_or("-")
        );
    }
    if r.endpoint.events == 0 {
        let _ = writeln!(out, "Endpoint: no telemetry from this address (an unmanaged asset?)");
    } else {
        let _ = writeln!(
            out,
            "Endpoint: {} events ({}), host names {}; {} of {} sessions attributed to a process",
            r.endpoint.events,
            list(&r.endpoint.sources),
            list(&r.endpoint.host_names),
            r.endpoint.attributed_sessions,
            r.sessions
        );
    }
    let protocols: Vec<String> = r.protocols.iter().map(|(p, n)| format!("{p} {n}")).collect();
    let _ = writeln!(out, "Protocols: {}", list(&protocols));
    let _ = writeln!(out, "HELO names: {}", list(&r.helo));
    let _ = writeln!(out, "TLS names: {}", list(&r.sni));
    let _ = writeln!(out, "AUTH users: {} (mechanisms: {})", list(&r.users), list(&r.auth_mechs));

    let _ = writeln!(out, "\nVerdicts\n  {:<12} {:<40} {:>8}", "ACTION", "RULE", "SESSIONS");
    for v in &r.verdicts {
        let _ = writeln!(out, "  {:<12} {:<40} {:>8}", v.action, v.rule.as_deref().unwrap_or("-"), v.sessions);
    }
    let _ = writeln!(out, "\nInitiating processes\n  {:>8}  {:<50} USER", "SESSIONS", "PROCESS");
    for p in &r.processes {
        let _ = writeln!(
            out,
            "  {:>8}  {:<50} {}",
            p.sessions,
            p.process.as_deref().unwrap_or("(not matched to endpoint telemetry)"),
            p.user.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(out, "\nDestinations");
    for d in &r.destinations {
        let _ = writeln!(
            out,
            "  {}:{}  {}  {} sessions, {} bytes, {} .. {}",
            d.dest_ip,
            d.dest_port,
            d.mail_proto.as_deref().unwrap_or("not mail"),
            d.sessions,
            d.bytes,
            d.first_seen,
            d.last_seen
        );
        let actions: Vec<String> = d.actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
        let _ = writeln!(out, "    verdicts: {}; rules: {}", list(&actions), list(&d.rules));
        let _ = writeln!(
            out,
            "    tls: {}; helo: {}; users: {} ({})",
            list(&d.sni),
            list(&d.helo),
            list(&d.users),
            list(&d.auth_mechs)
        );
        let _ = writeln!(out, "    processes: {}", list(&d.processes));
        match &d.regularity {
            Some(g) => {
                let _ = writeln!(
                    out,
                    "    timing: periodicity score {:.2}, mean interval {:.0} s over {} intervals (CV {:.2})",
                    g.score, g.mean_interval_secs, g.intervals, g.cv
                );
            }
            None => {
                let _ = writeln!(out, "    timing: too few sessions to score");
            }
        }
        let bins: Vec<String> =
            d.intervals.iter().filter(|b| b.count > 0).map(|b| format!("{} {}", b.label, b.count)).collect();
        if !bins.is_empty() {
            let _ = writeln!(out, "    intervals: {}", bins.join(" | "));
        }
        let others: Vec<String> = d.other_hosts.iter().map(|o| format!("{} ({})", o.src_ip, o.sessions)).collect();
        let _ = writeln!(out, "    also used by: {}", list(&others));
    }
    let _ = writeln!(
        out,
        "\nSessions (newest first, {} of {})\n  {:<32} {:<40} {:<5} {:<11} {:<28} {:<28} PROCESS",
        r.recent.len(),
        r.sessions,
        "TIME",
        "DESTINATION",
        "PROTO",
        "ACTION",
        "RULE",
        "NAME"
    );
    for s in &r.recent {
        let name = s
            .pointer("/tls/sni")
            .and_then(Value::as_str)
            .or_else(|| s.pointer("/smtp/helo").and_then(Value::as_str))
            .unwrap_or("-");
        let _ = writeln!(
            out,
            "  {:<32} {:<40} {:<5} {:<11} {:<28} {:<28} {}",
            field(s, "/ts"),
            format!("{}:{}", field(s, "/dest_ip"), s.get("dest_port").and_then(Value::as_u64).unwrap_or(0)),
            field(s, "/mail_proto"),
            field(s, "/verdict/action"),
            field(s, "/verdict/rule"),
            name,
            field(s, "/endpoint/process")
        );
    }
    out
}

/// Coverage figures, for reading.
pub fn coverage(c: &Coverage) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Coverage from {} to {}: {} sessions", c.since, c.until, c.sessions);
    let _ = writeln!(out, "\nNot inspected: {} sessions ({})", c.uninspected.sessions, pct(c.uninspected.share));
    for r in &c.uninspected.reasons {
        let _ = writeln!(out, "  {:<28} {:>8}  {:>7}", r.reason, r.sessions, pct(r.share));
    }
    let e = &c.endpoint;
    let _ = writeln!(
        out,
        "\nEndpoint telemetry: {} sessions matched ({}); {} of {} hosts send telemetry",
        e.matched_sessions,
        pct(e.matched_share),
        e.managed_hosts,
        e.hosts
    );
    let _ = writeln!(
        out,
        "Unmanaged hosts: {} hosts, {} sessions ({})",
        e.unmanaged.len(),
        e.unmanaged_sessions,
        pct(e.unmanaged_share)
    );
    for h in &e.unmanaged {
        let _ = writeln!(out, "  {:<40} {:>8} sessions, last {}", h.ip, h.sessions, h.last_seen);
    }
    let _ = writeln!(out, "\nNew mail talkers: {}", c.new_talkers.len());
    for h in &c.new_talkers {
        let _ = writeln!(out, "  {:<40} {:>8} sessions, first {}", h.ip, h.sessions, h.first_seen);
    }
    let d = &c.direct_to_internet;
    let source = match d.relays.source {
        crate::policy::RelaySource::Config => "configured",
        crate::policy::RelaySource::Policy => "from the policy",
        crate::policy::RelaySource::None => "none: no policy",
    };
    let _ = writeln!(
        out,
        "\nDirect-to-internet SMTP (relay groups {source}: {}): {} sessions",
        list(&d.relays.groups),
        d.sessions
    );
    for note in &d.relays.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    for h in &d.hosts {
        let _ = writeln!(out, "  {:<40} {:>8} sessions to {}", h.ip, h.sessions, h.destinations.join(", "));
    }
    let _ = writeln!(
        out,
        "\nGateways: {} session records lost, {} packets dropped (since each gateway started)",
        c.records_lost, c.packets_dropped
    );
    for g in &c.gateways {
        let lost: Vec<String> = g.records_lost.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let dropped: Vec<String> = g.packets_dropped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            out,
            "  {:<24} {:<14} last report {}; records lost: {}; packets dropped: {}",
            g.name,
            if g.stopped_reporting { "NOT REPORTING" } else { "reporting" },
            g.last_report,
            list(&lost),
            list(&dropped)
        );
    }
    out
}
