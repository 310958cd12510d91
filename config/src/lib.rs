//! The mailgate egress policy: the TOML schema, its validation, the
//! compiled form, and its evaluation at a session's decision points.
//!
//! * [`Document::parse`] / [`Document::load`] validate a policy file and
//!   return **every** problem as `file:line:col: message`, with the nearest
//!   valid spelling where one is close. `config/mailgate.toml` documents
//!   every key.
//! * [`CompiledPolicy::new`] compiles a valid document once, off the hot
//!   path; [`CompiledPolicy::evaluate`] is allocation- and lock-free.
//! * [`CompiledPolicy::summary`] describes a valid policy;
//!   [`CompiledPolicy::reason_text`] explains a decision in words.
//!
//! # Evaluation semantics
//! At each [`DecisionPoint`] the dataplane fills a [`SessionView`] and asks
//! for a [`Decision`]; it keeps one decision per session and folds each new
//! one in with [`Decision::combine`] (the strongest action wins:
//! pass < alert < drop < reset, so later points only tighten). Actions are
//! raw; [`Decision::effective_action`] turns drop/reset into
//! would_drop/would_reset in monitor mode.
//!
//! 1. **Exceptions** first: an exception whose `from`/`to` contain the
//!    addresses, whose `ports` (if any) contain the port, whose `protocols`
//!    (if any) contain the session's protocol, and whose `expires` day is
//!    today or later passes the session (rule = the exception). Nothing
//!    else is evaluated — defaults and anomalies do not apply. Expired
//!    exceptions are skipped and listed by [`Summary`].
//! 2. **At the SYN**, on one of [`MAIL_PORTS`]: if no allow rule (by
//!    addresses and port, for any of its protocols) and no exception could
//!    ever admit the connection, `defaults.unapproved_mail` is decided at
//!    once. Otherwise nothing is decided yet.
//! 3. **Later**, once the protocol is known: the first allow rule (in file
//!    order) whose `from`, `to`, `protocols` and `ports` match and whose
//!    constraints hold so far admits the session (`pass`). Constraints not
//!    observable yet do not fail: `sni` fails on a different SNI or on a
//!    ClientHello without SNI; `helo` fails on a different EHLO/HELO name;
//!    `require_tls` fails at [`DecisionPoint::Auth`] / [`DecisionPoint::MailFrom`]
//!    without TLS, and at any point once `cleartext_auth` is set;
//!    `max_sessions_per_minute` is checked against the [`RateLimiter`] at
//!    [`DecisionPoint::Detect`]. No rule admitting →
//!    `defaults.unapproved_mail`, with the reason of the first rule that
//!    came closest ([`ReasonKind`]).
//! 4. **Conditions** apply whenever their flag is set, allowed or not:
//!    `non_mail_on_mail_port`, `cleartext_auth` (an approved path still
//!    alerts on credentials in clear), `tls_without_sni` and `ech` (on mail
//!    sessions), and each `[anomalies]` entry. The exception is
//!    `mail_on_nonstandard_port`, which an admitting allow rule suppresses —
//!    the rule listed that port, so the administrator approved it. Within
//!    one evaluation the strongest action wins, the earliest on a tie.
//!
//! # Mail clients
//! `[[mail_clients]]` lists the processes approved to initiate mail
//! sessions per host group. The dataplane does not see processes and
//! ignores it; the control plane checks sessions matched to endpoint
//! telemetry with [`CompiledPolicy::mail_process`] (see [`clients`]).
//!
//! # Other sections in the policy file
//! A program that keeps its own section in the same file (a `[dataplane]`
//! section, say) passes its name to [`Document::parse_with_sections`]; see
//! [`document`] for that and for making a section part of [`Document`].

pub mod cidr;
pub mod clients;
pub mod compile;
pub mod diagnostic;
pub mod document;
pub mod eval;
mod groups;
pub mod names;
mod parse;
pub mod policy;
pub mod ports;
pub mod rate;
pub mod reason;
mod suggest;
pub mod summary;
mod table;

pub use cidr::{Cidr, CidrError};
pub use clients::MailProcessCheck;
pub use compile::{CompiledPolicy, EMBEDDED_DEFAULT_TOML};
pub use diagnostic::{ConfigError, Diagnostic, Diagnostics};
pub use document::{Document, POLICY_KEYS};
pub use eval::{severity, Decision, DecisionPoint, ReasonKind, RuleRef, SessionView};
pub use names::NamePattern;
pub use policy::{AddrRef, AllowRule, DefaultKey, Defaults, Exception, MailClientAction, MailClients, Mode, Policy};
pub use ports::{is_mail_port, standard_ports, MAIL_PORTS};
pub use rate::RateLimiter;
pub use reason::SessionFacts;
pub use summary::Summary;
