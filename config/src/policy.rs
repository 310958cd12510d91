//! The validated egress policy, as written: what [`crate::Document::parse`]
//! produces and [`crate::CompiledPolicy::new`] compiles.
//!
//! Every value here has passed validation: group references resolve, there
//! are no group cycles, names are unique, ports are 1–65535.

use std::collections::BTreeMap;

use mailgate_proto::Anomalies;
use mailgate_protocol::record::{Action, MailProto};
use time::Date;

use crate::cidr::Cidr;
use crate::names::NamePattern;

/// Whether blocks are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Drops and resets are carried out.
    Block,
    /// Nothing is blocked: a drop is recorded as `would_drop`, a reset as `would_reset`.
    Monitor,
}

impl Mode {
    /// The name as policy files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Monitor => "monitor",
        }
    }

    /// The action to carry out and record for a raw policy action: in
    /// monitor mode `drop` becomes `would_drop` and `reset` becomes
    /// `would_reset`; everything else is unchanged.
    pub fn effective(self, action: Action) -> Action {
        match (self, action) {
            (Mode::Monitor, Action::Drop) => Action::WouldDrop,
            (Mode::Monitor, Action::Reset) => Action::WouldReset,
            _ => action,
        }
    }
}

/// A key of the `[defaults]` table: a condition and the action it draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefaultKey {
    /// A mail session that no allow rule admits.
    UnapprovedMail,
    /// A mail protocol on a port that is not standard for it.
    MailOnNonstandardPort,
    /// Something that is not mail on one of [`crate::MAIL_PORTS`] (a tunnel).
    NonMailOnMailPort,
    /// AUTH / LOGIN / USER before TLS.
    CleartextAuth,
    /// A TLS ClientHello without SNI on a mail session.
    TlsWithoutSni,
    /// Encrypted Client Hello on a mail session.
    Ech,
}

impl DefaultKey {
    /// Every key, in the order evaluation considers them.
    pub const ALL: [DefaultKey; 6] = [
        DefaultKey::UnapprovedMail,
        DefaultKey::MailOnNonstandardPort,
        DefaultKey::NonMailOnMailPort,
        DefaultKey::CleartextAuth,
        DefaultKey::TlsWithoutSni,
        DefaultKey::Ech,
    ];

    /// The key as written in `[defaults]`.
    pub fn key(self) -> &'static str {
        match self {
            DefaultKey::UnapprovedMail => "unapproved_mail",
            DefaultKey::MailOnNonstandardPort => "mail_on_nonstandard_port",
            DefaultKey::NonMailOnMailPort => "non_mail_on_mail_port",
            DefaultKey::CleartextAuth => "cleartext_auth",
            DefaultKey::TlsWithoutSni => "tls_without_sni",
            DefaultKey::Ech => "ech",
        }
    }

    /// The rule name records carry when this key decided (`defaults.unapproved_mail`).
    pub fn rule_name(self) -> &'static str {
        match self {
            DefaultKey::UnapprovedMail => "defaults.unapproved_mail",
            DefaultKey::MailOnNonstandardPort => "defaults.mail_on_nonstandard_port",
            DefaultKey::NonMailOnMailPort => "defaults.non_mail_on_mail_port",
            DefaultKey::CleartextAuth => "defaults.cleartext_auth",
            DefaultKey::TlsWithoutSni => "defaults.tls_without_sni",
            DefaultKey::Ech => "defaults.ech",
        }
    }

    /// The action used when the key is absent from `[defaults]`.
    pub fn fallback(self) -> Action {
        match self {
            DefaultKey::UnapprovedMail => Action::Reset,
            _ => Action::Alert,
        }
    }

    fn index(self) -> usize {
        match self {
            DefaultKey::UnapprovedMail => 0,
            DefaultKey::MailOnNonstandardPort => 1,
            DefaultKey::NonMailOnMailPort => 2,
            DefaultKey::CleartextAuth => 3,
            DefaultKey::TlsWithoutSni => 4,
            DefaultKey::Ech => 5,
        }
    }
}

/// The `[defaults]` table: one raw action (`pass`, `alert`, `drop`, `reset`) per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    actions: [Action; 6],
}

impl Defaults {
    /// The action of `key`.
    pub fn get(&self, key: DefaultKey) -> Action {
        self.actions[key.index()]
    }

    /// Sets the action of `key`.
    pub fn set(&mut self, key: DefaultKey, action: Action) {
        self.actions[key.index()] = action;
    }
}

impl Default for Defaults {
    /// Every key at its [`DefaultKey::fallback`].
    fn default() -> Self {
        Defaults { actions: DefaultKey::ALL.map(DefaultKey::fallback) }
    }
}

/// A source or destination as written: a network or a `[hosts]` group name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrRef {
    /// A network written inline.
    Cidr(Cidr),
    /// The name of a `[hosts]` group.
    Group(String),
}

/// An `[[allow]]` rule: an approved mail path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    /// Unique name, carried in records as the deciding rule.
    pub name: String,
    /// Sources.
    pub from: Vec<AddrRef>,
    /// Destinations; `None` = any address.
    pub to: Option<Vec<AddrRef>>,
    /// Mail protocols admitted (implicit TLS counts as the protocol it carries).
    pub protocols: Vec<MailProto>,
    /// Destination ports; `None` = the standard ports of the session's protocol.
    pub ports: Option<Vec<u16>>,
    /// Allowed TLS server names; `None` = unconstrained.
    pub sni: Option<Vec<NamePattern>>,
    /// Allowed SMTP EHLO/HELO names; `None` = unconstrained.
    pub helo: Option<Vec<NamePattern>>,
    /// TLS (STARTTLS or implicit) must be active before AUTH or MAIL FROM.
    pub require_tls: bool,
    /// Sessions per minute per source address this rule admits; `None` = unlimited.
    pub max_sessions_per_minute: Option<u32>,
}

/// An `[[exception]]`: a tuned-out false positive, admitted with `pass` until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// Unique name (shared name space with allow rules).
    pub name: String,
    /// Sources.
    pub from: Vec<AddrRef>,
    /// Destinations; `None` = any address.
    pub to: Option<Vec<AddrRef>>,
    /// Protocols covered; `None` = any session, mail or not.
    pub protocols: Option<Vec<MailProto>>,
    /// Destination ports covered; `None` = any port.
    pub ports: Option<Vec<u16>>,
    /// Why the exception exists.
    pub reason: String,
    /// Who asked for it.
    pub owner: Option<String>,
    /// The last day it applies (inclusive).
    pub expires: Date,
}

/// What the control plane does when a process outside a `[[mail_clients]]`
/// list initiates a mail session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MailClientAction {
    /// Raise an `unexpected_mail_process` alert.
    Alert,
    /// Raise the alert marked as a block request. The dataplane decides
    /// before endpoint telemetry reaches the control plane, so nothing is
    /// blocked yet; the alert says so (`enforced: false`).
    Block,
}

impl MailClientAction {
    /// The name as policy files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MailClientAction::Alert => "alert",
            MailClientAction::Block => "block",
        }
    }
}

/// A `[[mail_clients]]` entry: the processes approved to initiate mail
/// sessions from some hosts, checked when endpoint telemetry names the
/// process behind a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailClients {
    /// The hosts the entry governs, as group names or networks.
    pub hosts: Vec<AddrRef>,
    /// Approved processes: an executable's file name (`outlook.exe`), or a
    /// full path when it contains `/` or `\`; compared ignoring case.
    pub processes: Vec<String>,
    /// What another process draws.
    pub action: MailClientAction,
}

/// The whole validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Block or monitor.
    pub mode: Mode,
    /// Actions for the conditions of `[defaults]`.
    pub defaults: Defaults,
    /// Named groups of networks (`[hosts]`), each a list of networks or other group names.
    pub hosts: BTreeMap<String, Vec<AddrRef>>,
    /// `[[allow]]` rules, in file order.
    pub allow: Vec<AllowRule>,
    /// `[[exception]]` entries, in file order.
    pub exceptions: Vec<Exception>,
    /// `[anomalies]`: an action for each named anomaly, in file order.
    pub anomalies: Vec<(Anomalies, Action)>,
    /// `[[mail_clients]]` entries, in file order.
    pub mail_clients: Vec<MailClients>,
}

impl Policy {
    /// The networks `refs` stand for, `[hosts]` groups resolved, sorted and
    /// without duplicates (for tools that reason about the policy's
    /// address sets, such as the control plane's relay groups).
    pub fn networks(&self, refs: &[AddrRef]) -> Vec<Cidr> {
        let groups = crate::compile::resolve_groups(self);
        let mut out: Vec<Cidr> = Vec::new();
        for r in refs {
            match r {
                AddrRef::Cidr(c) => out.push(*c),
                AddrRef::Group(g) => out.extend(groups.get(g.as_str()).into_iter().flatten()),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
