//! `[[mail_clients]]`, compiled: which processes may initiate mail
//! sessions from which hosts. The dataplane never sees processes; the
//! control plane asks [`CompiledPolicy::mail_process`] when endpoint
//! telemetry names the process behind a session.
//!
//! Every entry whose `hosts` contain the session's source applies. The
//! process is approved when any applying entry lists it; otherwise the
//! session is an `unexpected_mail_process`, with the strongest action of
//! the applying entries. A source no entry covers is not governed.
//!
//! An entry without `/` or `\` is compared with the reported executable's
//! file name (the part after the last `/` or `\`), one with a separator
//! with the whole path; both ignoring ASCII case, as Windows does.

use std::net::IpAddr;

use crate::cidr::Cidr;
use crate::compile::CompiledPolicy;
use crate::policy::{MailClientAction, Policy};

/// A `[[mail_clients]]` entry with its groups resolved.
#[derive(Debug, Clone)]
pub(crate) struct CompiledMailClients {
    nets: Vec<Cidr>,
    /// Lower-cased.
    processes: Vec<String>,
    action: MailClientAction,
}

/// Compiles every entry of the policy.
pub(crate) fn compile(policy: &Policy) -> Vec<CompiledMailClients> {
    policy
        .mail_clients
        .iter()
        .map(|entry| CompiledMailClients {
            nets: policy.networks(&entry.hosts),
            processes: entry.processes.iter().map(|p| p.to_ascii_lowercase()).collect(),
            action: entry.action,
        })
        .collect()
}

/// The policy's view of the process that initiated a mail session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailProcessCheck {
    /// No `[[mail_clients]]` entry covers the source host.
    NotGoverned,
    /// An entry covering the host lists the process.
    Approved,
    /// Entries cover the host and none lists the process.
    Unexpected {
        /// The strongest action of the entries covering the host.
        action: MailClientAction,
        /// The processes those entries approve (lower-cased, sorted).
        approved: Vec<String>,
    },
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn matches(entry: &str, process: &str) -> bool {
    if entry.contains(['/', '\\']) {
        entry.eq_ignore_ascii_case(process)
    } else {
        entry.eq_ignore_ascii_case(file_name(process))
    }
}

impl CompiledPolicy {
    /// Whether `process` (a path or file name, as the endpoint reported it)
    /// may initiate mail sessions from `src`.
    pub fn mail_process(&self, src: IpAddr, process: &str) -> MailProcessCheck {
        let mut applying = self.mail_clients.iter().filter(|e| e.nets.iter().any(|n| n.contains(src))).peekable();
        if applying.peek().is_none() {
            return MailProcessCheck::NotGoverned;
        }
        let mut action = MailClientAction::Alert;
        let mut approved: Vec<String> = Vec::new();
        for entry in applying {
            if entry.processes.iter().any(|p| matches(p, process)) {
                return MailProcessCheck::Approved;
            }
            action = action.max(entry.action);
            approved.extend(entry.processes.iter().cloned());
        }
        approved.sort();
        approved.dedup();
        MailProcessCheck::Unexpected { action, approved }
    }

    /// True when the policy has `[[mail_clients]]` entries.
    pub fn governs_mail_processes(&self) -> bool {
        !self.mail_clients.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
[hosts]
workstations = ["10.20.0.0/16"]
finance = ["10.20.5.0/24"]
[[mail_clients]]
hosts = ["workstations"]
processes = ["outlook.exe", "/usr/bin/thunderbird"]
[[mail_clients]]
hosts = ["finance", "2001:db8::/32"]
processes = ["erp-mailer.exe"]
action = "block"
"#;

    fn policy() -> CompiledPolicy {
        CompiledPolicy::from_toml("p.toml", POLICY).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn names_match_the_file_name_and_paths_the_whole_path_ignoring_case() {
        let p = policy();
        let ws: IpAddr = "10.20.1.1".parse().unwrap();
        assert_eq!(p.mail_process(ws, "C:\\Program Files\\Microsoft Office\\OUTLOOK.EXE"), MailProcessCheck::Approved);
        assert_eq!(p.mail_process(ws, "/usr/bin/thunderbird"), MailProcessCheck::Approved);
        let other = p.mail_process(ws, "/tmp/thunderbird");
        assert_eq!(
            other,
            MailProcessCheck::Unexpected {
                action: MailClientAction::Alert,
                approved: vec!["/usr/bin/thunderbird".into(), "outlook.exe".into()]
            }
        );
    }

    #[test]
    fn every_covering_entry_applies_and_the_strongest_action_wins() {
        let p = policy();
        let finance: IpAddr = "10.20.5.9".parse().unwrap();
        assert_eq!(p.mail_process(finance, "outlook.exe"), MailProcessCheck::Approved);
        assert_eq!(p.mail_process(finance, "ERP-Mailer.exe"), MailProcessCheck::Approved);
        assert!(matches!(
            p.mail_process(finance, "powershell.exe"),
            MailProcessCheck::Unexpected { action: MailClientAction::Block, .. }
        ));
        assert_eq!(p.mail_process("10.99.0.1".parse().unwrap(), "powershell.exe"), MailProcessCheck::NotGoverned);
        assert!(matches!(
            p.mail_process("2001:db8::7".parse().unwrap(), "outlook.exe"),
            MailProcessCheck::Unexpected { action: MailClientAction::Block, .. }
        ));
        assert!(p.governs_mail_processes());
        assert!(!CompiledPolicy::embedded_default().governs_mail_processes());
    }
}
