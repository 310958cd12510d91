//! `mailgatectl`: the operator's command line for the control plane.

use clap::{Args, Parser, Subcommand};
use mailgate_control::client::{Client, ClientError};
use mailgate_control::{audit, coverage, report, terminal, timespec, triage};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "Exit codes:
  0  success
  1  the server answered with an error, or could not be reached
  2  usage error, or the policy is not valid
  3  the policy was stored but not every connected gateway applied it";

#[derive(Parser)]
#[command(name = "mailgatectl", version, about = "Query and steer the mailgate control plane", after_help = EXIT_CODES)]
struct Cli {
    /// The control plane's API.
    #[arg(long, env = "MAILGATE_SERVER", default_value = "http://127.0.0.1:8787", global = true)]
    server: String,
    /// The API bearer token.
    #[arg(long, env = "MAILGATE_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// A file holding the API bearer token.
    #[arg(long, env = "MAILGATE_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gateways and the current policy.
    Status,
    /// Stored sessions, newest first.
    Sessions(SessionArgs),
    /// Every observed mail path and whether the current policy admits it.
    Inventory {
        /// Only sessions since this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate, apply and inspect policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Draft policies from observed traffic.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Everything known about one host's mail sessions: destinations,
    /// names, users, verdicts, processes, timing, and its neighbours.
    Investigate {
        /// The host's address.
        host: String,
        /// Only sessions since this time (RFC 3339, or a span back from now: 30d, 12h, 90m).
        #[arg(long)]
        since: Option<String>,
        /// Only sessions before this time (RFC 3339, or a span back from now).
        #[arg(long)]
        until: Option<String>,
        /// List at most this many sessions.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Blind spots and coverage: what could not be inspected, unmanaged
    /// hosts, new talkers, direct-to-internet mail, gateway losses.
    Coverage {
        /// The period's start (RFC 3339, or a span back from now); default 24h.
        #[arg(long, default_value = "24h")]
        since: String,
        /// The period's end (RFC 3339, or a span back from now); default now.
        #[arg(long)]
        until: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// An evidence report for auditors: policy and history, exceptions,
    /// verdicts, blocked attempts, coverage, gateway uptime.
    Report {
        /// The period's start (RFC 3339, or a span back from now: 30d).
        #[arg(long)]
        since: String,
        /// The period's end (RFC 3339, or a span back from now); default now.
        #[arg(long)]
        until: Option<String>,
        /// html (self-contained, with charts) or md (Markdown).
        #[arg(long, default_value = "html")]
        format: ReportFormat,
        /// Write the report here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `mailgatectl report --format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    /// One HTML file with inline CSS and SVG charts.
    Html,
    /// Markdown.
    Md,
}

#[derive(Args)]
struct SessionArgs {
    /// Client address or CIDR.
    #[arg(long)]
    src: Option<String>,
    /// Server address or CIDR.
    #[arg(long)]
    dest: Option<String>,
    /// smtp, imap or pop3.
    #[arg(long)]
    mail_proto: Option<String>,
    /// pass, alert, drop, reset, would_drop, would_reset.
    #[arg(long)]
    action: Option<String>,
    /// TLS server name.
    #[arg(long)]
    sni: Option<String>,
    /// SMTP EHLO/HELO name.
    #[arg(long)]
    helo: Option<String>,
    /// User name.
    #[arg(long)]
    user: Option<String>,
    /// Sessions since this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Sessions before this RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print the records as JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check a policy file locally (no server needed).
    Validate {
        /// The policy file.
        file: PathBuf,
    },
    /// Store a policy on the server and push it to every connected gateway.
    Apply {
        /// The policy file.
        file: PathBuf,
    },
    /// Print the current policy.
    Show,
    /// List the stored policy versions.
    Versions,
}

#[derive(Subcommand)]
enum BaselineCommand {
    /// Print a draft policy with one allow rule per observed mail path.
    Suggest {
        /// Only paths seen since this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Write the draft here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// A failure and the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Status { status: 422, message, errors } => {
                Failure { code: 2, message: format!("{message}\n{}", errors.join("\n")) }
            }
            ClientError::Status { status: 401, .. } => Failure {
                code: 1,
                message: "the server refused the token (401); check --token / MAILGATE_TOKEN".into(),
            },
            other => Failure { code: 1, message: other.to_string() },
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure { code: 2, message: message.into() }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {}", failure.message.trim_end());
            ExitCode::from(failure.code)
        }
    }
}

fn client(cli: &Cli) -> Result<Client, Failure> {
    let token = match (&cli.token, &cli.token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(file)) => {
            std::fs::read_to_string(file).map_err(|e| usage(format!("{}: {e}", file.display())))?.trim().to_string()
        }
        (None, None) => return Err(usage("no API token: pass --token, --token-file, or set MAILGATE_TOKEN")),
    };
    Ok(Client::new(&cli.server, &token))
}

fn run(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Status => status(&client(cli)?),
        Command::Sessions(args) => sessions(&client(cli)?, args),
        Command::Inventory { since, json } => inventory(&client(cli)?, since.as_deref(), *json),
        Command::Policy(PolicyCommand::Validate { file }) => validate(file),
        Command::Policy(PolicyCommand::Apply { file }) => apply(&client(cli)?, file),
        Command::Policy(PolicyCommand::Show) => {
            let policy = client(cli)?.get("/api/v1/policy", &[])?;
            eprintln!(
                "# version {} ({}), stored {}",
                num(&policy, "version"),
                text(&policy, "hash"),
                text(&policy, "created_at")
            );
            print!("{}", text(&policy, "toml"));
            Ok(0)
        }
        Command::Policy(PolicyCommand::Versions) => {
            let versions = client(cli)?.get("/api/v1/policy/versions", &[])?;
            println!("{:>7}  {:<25}  HASH", "VERSION", "STORED");
            for v in versions.as_array().into_iter().flatten() {
                println!("{:>7}  {:<25}  {}", num(v, "version"), text(v, "created_at"), text(v, "hash"));
            }
            Ok(0)
        }
        Command::Investigate { host, since, until, limit, json } => {
            let mut query = period_query(since.as_deref(), until.as_deref())?;
            query.push(("limit", limit.to_string()));
            let path = format!("/api/v1/hosts/{}", host.trim());
            let answer = client(cli)?.get(&path, &query)?;
            if *json {
                println!("{answer}");
                return Ok(0);
            }
            let report: triage::HostReport = serde_json::from_value(answer)
                .map_err(|e| Failure { code: 1, message: format!("unexpected answer: {e}") })?;
            print!("{}", terminal::host(&report));
            Ok(0)
        }
        Command::Coverage { since, until, json } => {
            let query = period_query(Some(since), until.as_deref())?;
            let answer = client(cli)?.get("/api/v1/coverage", &query)?;
            if *json {
                println!("{answer}");
                return Ok(0);
            }
            let figures: coverage::Coverage = serde_json::from_value(answer)
                .map_err(|e| Failure { code: 1, message: format!("unexpected answer: {e}") })?;
            print!("{}", terminal::coverage(&figures));
            Ok(0)
        }
        Command::Report { since, until, format, output } => {
            let query = period_query(Some(since), until.as_deref())?;
            let answer = client(cli)?.get("/api/v1/report", &query)?;
            let data: audit::AuditReport = serde_json::from_value(answer)
                .map_err(|e| Failure { code: 1, message: format!("unexpected answer: {e}") })?;
            let format = match format {
                ReportFormat::Html => report::Format::Html,
                ReportFormat::Md => report::Format::Markdown,
            };
            let rendered = report::render(&data, format);
            match output {
                Some(path) => {
                    std::fs::write(path, &rendered)
                        .map_err(|e| Failure { code: 1, message: format!("{}: {e}", path.display()) })?;
                    eprintln!("wrote the report for {} to {} to {}", data.since, data.until, path.display());
                }
                None => print!("{rendered}"),
            }
            Ok(0)
        }
        Command::Baseline(BaselineCommand::Suggest { since, output }) => {
            let query: Vec<(&str, String)> = since.iter().map(|s| ("since", s.clone())).collect();
            let inventory = client(cli)?.get("/api/v1/inventory", &query)?;
            let now = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let (draft, rules) = mailgate_control::baseline::suggest(&inventory, &now);
            match output {
                Some(path) => {
                    std::fs::write(path, &draft)
                        .map_err(|e| Failure { code: 1, message: format!("{}: {e}", path.display()) })?;
                    eprintln!(
                        "wrote a draft with {rules} allow rule(s) to {}; review it before applying",
                        path.display()
                    );
                }
                None => {
                    print!("{draft}");
                    eprintln!("# {rules} allow rule(s) suggested; review before applying");
                }
            }
            Ok(0)
        }
    }
}

/// `since` / `until` query parameters, spans resolved against now.
fn period_query(since: Option<&str>, until: Option<&str>) -> Result<Vec<(&'static str, String)>, Failure> {
    let now = time::OffsetDateTime::now_utc();
    let mut query = Vec::new();
    for (name, value) in [("since", since), ("until", until)] {
        if let Some(value) = value {
            query.push((name, timespec::resolve(value, now).map_err(|e| usage(format!("--{name} {e}")))?));
        }
    }
    Ok(query)
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn status(client: &Client) -> Result<u8, Failure> {
    let gateways = client.get("/api/v1/gateways", &[])?;
    match client.get("/api/v1/policy", &[]) {
        Ok(p) => println!("policy: version {} ({})", num(&p, "version"), text(&p, "hash")),
        Err(ClientError::Status { status: 404, .. }) => println!("policy: none stored"),
        Err(e) => return Err(e.into()),
    }
    println!(
        "\n{:<24} {:<6} {:<8} {:<9} {:<10} {:<26} POLICY",
        "GATEWAY", "STATE", "VERSION", "MODE", "UPTIME", "LAST REPORT"
    );
    for g in gateways.as_array().into_iter().flatten() {
        let state = if g.get("alive").and_then(Value::as_bool) == Some(true) {
            "up"
        } else if g.get("connected").and_then(Value::as_bool) == Some(true) {
            "stale"
        } else {
            "down"
        };
        let uptime = g
            .get("uptime_secs")
            .and_then(Value::as_u64)
            .map_or("-".into(), |s| format!("{}h{:02}m", s / 3600, s / 60 % 60));
        let hash = text(g, "policy_hash");
        println!(
            "{:<24} {:<6} {:<8} {:<9} {:<10} {:<26} {}",
            text(g, "name"),
            state,
            text(g, "software_version"),
            text(g, "mode"),
            uptime,
            text(g, "last_report"),
            hash.get(..12).unwrap_or(&hash)
        );
        if let Some(counters) = g.get("counters").and_then(Value::as_object) {
            let drops: Vec<String> = ["ring_dropped", "spool_discarded"]
                .iter()
                .filter_map(|k| counters.get(*k).and_then(Value::as_u64).filter(|n| *n > 0).map(|n| format!("{k}={n}")))
                .collect();
            if !drops.is_empty() {
                println!("{:<24} records lost: {}", "", drops.join(", "));
            }
        }
    }
    Ok(0)
}

fn sessions(client: &Client, args: &SessionArgs) -> Result<u8, Failure> {
    let mut query: Vec<(&str, String)> = vec![("limit", args.limit.to_string())];
    for (name, value) in [
        ("src", &args.src),
        ("dest", &args.dest),
        ("mail_proto", &args.mail_proto),
        ("action", &args.action),
        ("sni", &args.sni),
        ("helo", &args.helo),
        ("user", &args.user),
        ("since", &args.since),
        ("until", &args.until),
    ] {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    let records = client.get("/api/v1/sessions", &query)?;
    let records = records.as_array().cloned().unwrap_or_default();
    if args.json {
        for r in &records {
            println!("{r}");
        }
        return Ok(0);
    }
    println!(
        "{:<27} {:<12} {:<41} {:<41} {:<5} {:<11} {:<28} NAME",
        "TIME", "GATEWAY", "SOURCE", "DESTINATION", "PROTO", "ACTION", "RULE"
    );
    for r in &records {
        let verdict = r.get("verdict").cloned().unwrap_or(Value::Null);
        let name = r
            .pointer("/tls/sni")
            .and_then(Value::as_str)
            .or_else(|| r.pointer("/smtp/helo").and_then(Value::as_str))
            .unwrap_or("-");
        println!(
            "{:<27} {:<12} {:<41} {:<41} {:<5} {:<11} {:<28} {}",
            text(r, "ts"),
            text(r, "gateway"),
            format!("{}:{}", text(r, "src_ip"), num(r, "src_port")),
            format!("{}:{}", text(r, "dest_ip"), num(r, "dest_port")),
            text(r, "mail_proto"),
            text(&verdict, "action"),
            text(&verdict, "rule"),
            name
        );
    }
    eprintln!("{} session(s)", records.len());
    Ok(0)
}

fn inventory(client: &Client, since: Option<&str>, json: bool) -> Result<u8, Failure> {
    let query: Vec<(&str, String)> = since.iter().map(|s| ("since", s.to_string())).collect();
    let inventory = client.get("/api/v1/inventory", &query)?;
    if json {
        println!("{inventory}");
        return Ok(0);
    }
    println!(
        "{:<40} {:<5} {:<46} {:>8} {:>12} {:>5} {:<10} RULE",
        "SOURCE", "PROTO", "DESTINATION", "SESSIONS", "BYTES", "TLS", "ADMITTED"
    );
    for p in inventory.get("paths").and_then(Value::as_array).into_iter().flatten() {
        let policy = p.get("policy").cloned().unwrap_or(Value::Null);
        let admitted = match policy.get("admitted").and_then(Value::as_bool) {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "{:<40} {:<5} {:<46} {:>8} {:>12} {:>4.0}% {:<10} {}",
            text(p, "src_ip"),
            text(p, "mail_proto"),
            format!("{}:{}", text(p, "dest_ip"), num(p, "dest_port")),
            num(p, "sessions"),
            num(p, "bytes"),
            p.get("tls_share").and_then(Value::as_f64).unwrap_or(0.0) * 100.0,
            admitted,
            text(&policy, "rule")
        );
    }
    Ok(0)
}

fn validate(file: &PathBuf) -> Result<u8, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| usage(format!("{}: {e}", file.display())))?;
    let shown = file.display().to_string();
    match mailgate_config::CompiledPolicy::from_toml(&shown, &text) {
        Ok(policy) => {
            print!("{}", policy.summary(time::OffsetDateTime::now_utc().date()));
            println!("{shown}: valid");
            Ok(0)
        }
        Err(e) => Err(usage(e.to_string())),
    }
}

fn apply(client: &Client, file: &PathBuf) -> Result<u8, Failure> {
    let policy = std::fs::read_to_string(file).map_err(|e| usage(format!("{}: {e}", file.display())))?;
    let answer = client.post_text("/api/v1/policy", &policy)?;
    println!("stored as version {} ({})", num(&answer, "version"), text(&answer, "hash"));
    let acks = answer.get("acks").and_then(Value::as_array).cloned().unwrap_or_default();
    if acks.is_empty() {
        println!("no gateway is connected; gateways get the policy when they connect");
    }
    let mut all = true;
    for ack in &acks {
        let gateway = text(ack, "gateway");
        let in_force = ack.get("in_force").and_then(Value::as_bool) == Some(true);
        all &= in_force;
        let detail = match ack.pointer("/answer/status").and_then(Value::as_str) {
            Some("applied") => {
                format!("applied {}", ack.pointer("/answer/hash").and_then(Value::as_str).unwrap_or("-"))
            }
            Some("rejected") => {
                let errors: Vec<&str> = ack
                    .pointer("/answer/errors")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                format!("REJECTED: {}", errors.join("; "))
            }
            _ => text(ack, "status"),
        };
        println!("  {gateway}: {detail}");
    }
    Ok(if all { 0 } else { 3 })
}
