//! Renders an [`AuditReport`] for an auditor: self-contained HTML (inline
//! CSS and SVG charts, no script, no external asset) or Markdown. Both
//! carry the same sections and numbers; key figures in the HTML have
//! stable ids (`fig-sessions`, `fig-blocked`, …) for tools.

use crate::audit::AuditReport;
use crate::svg::{escape, share_bars, stacked_bars, Series};
use std::fmt::Write;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One HTML file.
    Html,
    /// Markdown.
    Markdown,
}

/// Renders the report.
pub fn render(report: &AuditReport, format: Format) -> String {
    match format {
        Format::Html => html(report),
        Format::Markdown => markdown(report),
    }
}

fn pct(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

/// The headline figures: (id, label, value).
fn figures(r: &AuditReport) -> Vec<(&'static str, &'static str, String)> {
    let c = &r.coverage;
    let total: u64 = r.verdicts.values().sum();
    vec![
        ("fig-sessions", "Mail sessions inspected and reported", total.to_string()),
        ("fig-blocked", "Sessions blocked (dropped or reset)", r.blocked.enforced.to_string()),
        ("fig-would-block", "Sessions that would be blocked (monitor mode)", r.blocked.monitor_only.to_string()),
        ("fig-alerted", "Sessions allowed with an alert", r.verdicts.get("alert").copied().unwrap_or(0).to_string()),
        (
            "fig-alerts",
            "Alerts raised by the control plane",
            r.alerts.iter().map(|a| a.raised).sum::<u64>().to_string(),
        ),
        ("fig-uninspected", "Sessions whose content could not be inspected", pct(c.uninspected.share)),
        ("fig-unmanaged", "Sessions from hosts without endpoint telemetry", pct(c.endpoint.unmanaged_share)),
        (
            "fig-direct",
            "SMTP sessions to the internet from outside the relay groups",
            c.direct_to_internet.sessions.to_string(),
        ),
        ("fig-new-talkers", "Hosts first seen sending mail in the period", c.new_talkers.len().to_string()),
        ("fig-records-lost", "Session records lost by the gateways", c.records_lost.to_string()),
        ("fig-gateways-stopped", "Gateways not reporting now", c.gateways_stopped.len().to_string()),
    ]
}

/// Rows of the policy-history table.
fn history_rows(r: &AuditReport) -> Vec<Vec<String>> {
    r.policy_history
        .iter()
        .map(|p| {
            vec![
                p.version.to_string(),
                p.created_at.clone(),
                p.replaced_at.clone().unwrap_or_else(|| "in force".into()),
                or_dash(p.mode.as_deref()).to_string(),
                p.allow_rules.to_string(),
                p.exceptions.to_string(),
                p.mail_clients.to_string(),
                p.hash.get(..16).unwrap_or(&p.hash).to_string(),
            ]
        })
        .collect()
}

const HISTORY_HEAD: [&str; 8] =
    ["Version", "Stored", "Replaced", "Mode", "Allow rules", "Exceptions", "Mail clients", "Hash"];
const EXCEPTION_HEAD: [&str; 6] = ["Name", "Owner", "Reason", "Scope", "Expires", "Status"];
const RULE_HEAD: [&str; 3] = ["Rule", "Action", "Sessions"];
const BLOCKED_HEAD: [&str; 8] = ["Source", "Destination", "Protocol", "Action", "Rule", "Sessions", "First", "Last"];
const GATEWAY_HEAD: [&str; 7] = ["Gateway", "Version", "Mode", "First report", "Last report", "Reporting", "Now"];

fn exception_rows(r: &AuditReport) -> Vec<Vec<String>> {
    r.exceptions
        .iter()
        .map(|e| {
            let to = if e.to.is_empty() { "any".to_string() } else { e.to.join(", ") };
            let status = if e.expired {
                format!("EXPIRED {} days ago", -e.days_left)
            } else {
                format!("active, {} days left", e.days_left)
            };
            vec![
                e.name.clone(),
                or_dash(e.owner.as_deref()).to_string(),
                e.reason.clone(),
                format!("{} → {to}", e.from.join(", ")),
                e.expires.clone(),
                status,
            ]
        })
        .collect()
}

fn rule_rows(r: &AuditReport) -> Vec<Vec<String>> {
    r.rules
        .iter()
        .map(|x| vec![or_dash(x.rule.as_deref()).to_string(), x.action.clone(), x.sessions.to_string()])
        .collect()
}

fn blocked_rows(r: &AuditReport) -> Vec<Vec<String>> {
    r.blocked
        .paths
        .iter()
        .map(|p| {
            vec![
                p.src_ip.clone(),
                format!("{}:{}", p.dest_ip, p.dest_port),
                or_dash(p.mail_proto.as_deref()).to_string(),
                p.action.clone(),
                or_dash(p.rule.as_deref()).to_string(),
                p.sessions.to_string(),
                p.first_seen.clone(),
                p.last_seen.clone(),
            ]
        })
        .collect()
}

fn gateway_rows(r: &AuditReport) -> Vec<Vec<String>> {
    r.gateways
        .iter()
        .map(|g| {
            vec![
                g.name.clone(),
                g.software_version.clone(),
                or_dash(g.mode.as_deref()).to_string(),
                g.first_seen.clone(),
                g.last_report.clone(),
                g.reporting_share.map_or_else(|| "-".into(), pct),
                if g.alive { "reporting".into() } else { "NOT REPORTING".into() },
            ]
        })
        .collect()
}

fn coverage_rows(r: &AuditReport) -> Vec<Vec<String>> {
    let c = &r.coverage;
    let mut rows: Vec<Vec<String>> = c
        .uninspected
        .reasons
        .iter()
        .map(|x| vec![format!("Not inspected: {}", x.reason), x.sessions.to_string(), pct(x.share)])
        .collect();
    rows.insert(
        0,
        vec!["Not inspected (any reason)".into(), c.uninspected.sessions.to_string(), pct(c.uninspected.share)],
    );
    rows.push(vec![
        "Matched to endpoint telemetry".into(),
        c.endpoint.matched_sessions.to_string(),
        pct(c.endpoint.matched_share),
    ]);
    rows.push(vec![
        format!("From unmanaged hosts ({} of {} hosts)", c.endpoint.unmanaged.len(), c.endpoint.hosts),
        c.endpoint.unmanaged_sessions.to_string(),
        pct(c.endpoint.unmanaged_share),
    ]);
    rows.push(vec![
        "SMTP to the internet from outside the relay groups".into(),
        c.direct_to_internet.sessions.to_string(),
        pct(if c.sessions == 0 { 0.0 } else { c.direct_to_internet.sessions as f64 / c.sessions as f64 }),
    ]);
    rows
}

fn host_lists(r: &AuditReport) -> Vec<(&'static str, Vec<String>)> {
    let c = &r.coverage;
    vec![
        (
            "Unmanaged hosts (no endpoint telemetry)",
            c.endpoint.unmanaged.iter().map(|h| format!("{} ({} sessions)", h.ip, h.sessions)).collect(),
        ),
        ("New mail talkers", c.new_talkers.iter().map(|h| format!("{} (first seen {})", h.ip, h.first_seen)).collect()),
        (
            "Direct-to-internet SMTP",
            c.direct_to_internet
                .hosts
                .iter()
                .map(|h| format!("{} ({} sessions to {})", h.ip, h.sessions, h.destinations.join(", ")))
                .collect(),
        ),
    ]
}

fn relay_text(r: &AuditReport) -> String {
    let relays = &r.coverage.direct_to_internet.relays;
    let from = match relays.source {
        crate::policy::RelaySource::Config => "configured (coverage.relay_groups)",
        crate::policy::RelaySource::Policy => "derived from the policy's allow rules for smtp to the internet",
        crate::policy::RelaySource::None => "none (no policy stored)",
    };
    let groups = if relays.groups.is_empty() { "-".to_string() } else { relays.groups.join(", ") };
    format!("Relay groups {from}: {groups}.")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn md_table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        out.push_str("_None._\n\n");
        return;
    }
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(head.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// The report as Markdown.
pub fn markdown(r: &AuditReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Mail-protocol C2 monitoring — evidence report\n");
    let _ = writeln!(out, "Period: {} to {}  \nGenerated: {} by mailgate\n", r.since, r.until, r.generated_at);
    let _ = writeln!(
        out,
        "This report shows that mail protocols (SMTP, IMAP, POP3 and their TLS forms) leaving the network \
         are inspected by mailgate gateways and checked against an approved-mail-path policy (MITRE ATT&CK \
         T1071.003).\n"
    );
    out.push_str("## Summary\n\n");
    let rows: Vec<Vec<String>> = figures(r).into_iter().map(|(_, label, v)| vec![label.to_string(), v]).collect();
    md_table(&mut out, &["Figure", "Value"], &rows);
    out.push_str("## Policy in force\n\n");
    match &r.policy {
        Some(p) => {
            let _ = writeln!(
                out,
                "Version {} (hash `{}`), stored {}, mode **{}**: {} allow rules, {} exceptions, {} host groups, {} \
                 mail-client lists.\n",
                p.version,
                p.hash,
                p.created_at,
                or_dash(p.mode.as_deref()),
                p.allow_rules,
                p.exceptions,
                p.host_groups,
                p.mail_clients
            );
        }
        None => out.push_str("_No policy has been stored._\n\n"),
    }
    out.push_str("### Policy history in the period\n\n");
    md_table(&mut out, &HISTORY_HEAD, &history_rows(r));
    out.push_str("## Exceptions\n\n");
    md_table(&mut out, &EXCEPTION_HEAD, &exception_rows(r));
    out.push_str("## Sessions by verdict\n\n");
    let verdicts: Vec<Vec<String>> = r.verdicts.iter().map(|(a, n)| vec![a.clone(), n.to_string()]).collect();
    md_table(&mut out, &["Action", "Sessions"], &verdicts);
    let days: Vec<Vec<String>> = r
        .daily
        .iter()
        .map(|d| {
            vec![
                d.day.clone(),
                d.pass.to_string(),
                d.alert.to_string(),
                d.blocked.to_string(),
                d.would_block.to_string(),
            ]
        })
        .collect();
    out.push_str("### Per day\n\n");
    md_table(&mut out, &["Day", "Pass", "Alert", "Blocked", "Would block"], &days);
    out.push_str("### By rule\n\n");
    md_table(&mut out, &RULE_HEAD, &rule_rows(r));
    out.push_str("## Blocked attempts\n\n");
    let _ = writeln!(
        out,
        "{} sessions blocked, {} more would have been blocked in monitor mode.\n",
        r.blocked.enforced, r.blocked.monitor_only
    );
    md_table(&mut out, &BLOCKED_HEAD, &blocked_rows(r));
    out.push_str("## Alerts raised by the control plane\n\n");
    let alerts: Vec<Vec<String>> = r.alerts.iter().map(|a| vec![a.kind.clone(), a.raised.to_string()]).collect();
    md_table(&mut out, &["Kind", "Raised"], &alerts);
    out.push_str("## Coverage\n\n");
    let _ = writeln!(out, "{} sessions in the period. {}\n", r.coverage.sessions, relay_text(r));
    md_table(&mut out, &["Figure", "Sessions", "Share"], &coverage_rows(r));
    for (title, items) in host_lists(r) {
        let _ = writeln!(out, "### {title}\n");
        if items.is_empty() {
            out.push_str("_None._\n\n");
        }
        for item in &items {
            let _ = writeln!(out, "- {}", md_cell(item));
        }
        if !items.is_empty() {
            out.push('\n');
        }
    }
    out.push_str("## Gateways and uptime\n\n");
    md_table(&mut out, &GATEWAY_HEAD, &gateway_rows(r));
    let _ = writeln!(
        out,
        "Records lost by the gateways: {}; packets dropped: {} (counters since each gateway process started).",
        r.coverage.records_lost, r.coverage.packets_dropped
    );
    out
}

fn html_table(out: &mut String, id: &str, head: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        out.push_str("<p class=\"none\">None.</p>\n");
        return;
    }
    let _ = write!(out, "<table id=\"{id}\"><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;\
color:#222;line-height:1.4}h1{font-size:1.6em}h2{border-bottom:2px solid #1976d2;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;\
text-align:left;vertical-align:top}th{background:#f0f4f8}td.num{text-align:right}.meta{color:#555}.none{color:#777;\
font-style:italic}svg.chart{display:block;margin:.5em 0}@media print{h2{page-break-after:avoid}}";

/// The report as one self-contained HTML document.
pub fn html(r: &AuditReport) -> String {
    let mut out = String::new();
    let title = format!("mailgate evidence report, {} to {}", r.since, r.until);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>{}</title><style>{CSS}</style>\
         </head><body>\n",
        escape(&title)
    );
    out.push_str("<h1>Mail-protocol C2 monitoring — evidence report</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"meta\">Period <b id=\"period-since\">{}</b> to <b id=\"period-until\">{}</b>. Generated {} by mailgate.</p>",
        escape(&r.since),
        escape(&r.until),
        escape(&r.generated_at)
    );
    out.push_str(
        "<p>This report shows that mail protocols (SMTP, IMAP, POP3 and their TLS forms) leaving the network are \
         inspected by mailgate gateways and checked against an approved-mail-path policy (MITRE ATT&amp;CK \
         T1071.003).</p>\n",
    );
    out.push_str("<section id=\"summary\"><h2>Summary</h2><table><tbody>\n");
    for (id, label, value) in figures(r) {
        let _ =
            writeln!(out, "<tr><th>{}</th><td class=\"num\" id=\"{id}\">{}</td></tr>", escape(label), escape(&value));
    }
    out.push_str("</tbody></table></section>\n");

    out.push_str("<section id=\"policy\"><h2>Policy in force</h2>\n");
    match &r.policy {
        Some(p) => {
            let _ = writeln!(
                out,
                "<p>Version <b id=\"policy-version\">{}</b> (hash <code>{}</code>), stored {}, mode <b>{}</b>: {} allow \
                 rules, {} exceptions, {} host groups, {} mail-client lists.</p>",
                p.version,
                escape(&p.hash),
                escape(&p.created_at),
                escape(or_dash(p.mode.as_deref())),
                p.allow_rules,
                p.exceptions,
                p.host_groups,
                p.mail_clients
            );
        }
        None => out.push_str("<p class=\"none\">No policy has been stored.</p>\n"),
    }
    out.push_str("<h3>Policy history in the period</h3>\n");
    html_table(&mut out, "policy-history", &HISTORY_HEAD, &history_rows(r));
    out.push_str("</section>\n<section id=\"exceptions\"><h2>Exceptions</h2>\n");
    html_table(&mut out, "exceptions-table", &EXCEPTION_HEAD, &exception_rows(r));
    out.push_str("</section>\n<section id=\"verdicts\"><h2>Sessions by verdict</h2>\n");
    let series = [
        Series { name: "pass", color: "#4caf50" },
        Series { name: "alert", color: "#ff9800" },
        Series { name: "blocked", color: "#d32f2f" },
        Series { name: "would block", color: "#9c27b0" },
    ];
    let bars: Vec<(String, Vec<u64>)> =
        r.daily.iter().map(|d| (d.day.clone(), vec![d.pass, d.alert, d.blocked, d.would_block])).collect();
    out.push_str(&stacked_bars("Sessions per day by verdict", &series, &bars));
    out.push('\n');
    let verdicts: Vec<Vec<String>> = r.verdicts.iter().map(|(a, n)| vec![a.clone(), n.to_string()]).collect();
    html_table(&mut out, "verdicts-table", &["Action", "Sessions"], &verdicts);
    out.push_str("<h3>By rule</h3>\n");
    html_table(&mut out, "rules-table", &RULE_HEAD, &rule_rows(r));
    out.push_str("</section>\n<section id=\"blocked\"><h2>Blocked attempts</h2>\n");
    let _ = writeln!(
        out,
        "<p>{} sessions blocked, {} more would have been blocked in monitor mode.</p>",
        r.blocked.enforced, r.blocked.monitor_only
    );
    html_table(&mut out, "blocked-table", &BLOCKED_HEAD, &blocked_rows(r));
    out.push_str("</section>\n<section id=\"alerts\"><h2>Alerts raised by the control plane</h2>\n");
    let alerts: Vec<Vec<String>> = r.alerts.iter().map(|a| vec![a.kind.clone(), a.raised.to_string()]).collect();
    html_table(&mut out, "alerts-table", &["Kind", "Raised"], &alerts);
    out.push_str("</section>\n<section id=\"coverage\"><h2>Coverage</h2>\n");
    let _ = writeln!(out, "<p>{} sessions in the period. {}</p>", r.coverage.sessions, escape(&relay_text(r)));
    let mut shares: Vec<(String, f64)> =
        r.coverage.uninspected.reasons.iter().map(|x| (format!("not inspected: {}", x.reason), x.share)).collect();
    shares.push(("matched to endpoint telemetry".into(), r.coverage.endpoint.matched_share));
    shares.push(("from unmanaged hosts".into(), r.coverage.endpoint.unmanaged_share));
    out.push_str(&share_bars("Coverage figures, share of sessions", "#1976d2", &shares));
    out.push('\n');
    html_table(&mut out, "coverage-table", &["Figure", "Sessions", "Share"], &coverage_rows(r));
    for (title, items) in host_lists(r) {
        let _ = writeln!(out, "<h3>{}</h3>", escape(title));
        if items.is_empty() {
            out.push_str("<p class=\"none\">None.</p>\n");
        } else {
            out.push_str("<ul>");
            for item in &items {
                let _ = write!(out, "<li>{}</li>", escape(item));
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</section>\n<section id=\"gateways\"><h2>Gateways and uptime</h2>\n");
    let uptime: Vec<(String, f64)> =
        r.gateways.iter().filter_map(|g| g.reporting_share.map(|s| (g.name.clone(), s))).collect();
    if !uptime.is_empty() {
        out.push_str(&share_bars("Share of the period each gateway reported", "#4caf50", &uptime));
        out.push('\n');
    }
    html_table(&mut out, "gateways-table", &GATEWAY_HEAD, &gateway_rows(r));
    let _ = writeln!(
        out,
        "<p>Records lost by the gateways: <b id=\"records-lost\">{}</b>; packets dropped: <b id=\"packets-dropped\">{}</b> \
         (counters since each gateway process started).</p>",
        r.coverage.records_lost, r.coverage.packets_dropped
    );
    out.push_str("</section>\n</body></html>\n");
    out
}
