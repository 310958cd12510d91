//! A one-screen description of a valid policy, printed by
//! `mailgate-dataplane check-config FILE` and when a policy is installed.

use std::fmt;

use time::Date;

use crate::compile::CompiledPolicy;
use crate::policy::Mode;

/// What a policy contains, and what needs attention (expired exceptions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Block or monitor.
    pub mode: Mode,
    /// `[[allow]]` rules.
    pub allow_rules: usize,
    /// `[[exception]]` entries, expired or not.
    pub exceptions: usize,
    /// `[hosts]` groups.
    pub host_groups: usize,
    /// Distinct IPv4 networks written in the policy.
    pub v4_prefixes: usize,
    /// Distinct IPv6 networks written in the policy.
    pub v6_prefixes: usize,
    /// Exceptions past their last day (name, last day): they no longer apply.
    pub expired: Vec<(String, Date)>,
    /// SHA-256 of the policy text.
    pub hash: String,
}

impl CompiledPolicy {
    /// The policy's summary as of `today`.
    pub fn summary(&self, today: Date) -> Summary {
        Summary {
            mode: self.mode,
            allow_rules: self.rules.len(),
            exceptions: self.exceptions.len(),
            host_groups: self.stats.host_groups,
            v4_prefixes: self.stats.v4_prefixes,
            v6_prefixes: self.stats.v6_prefixes,
            expired: self.expired_exceptions(today).map(|(name, date)| (name.to_owned(), date)).collect(),
            hash: self.hash.clone(),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "mode: {}", self.mode.as_str())?;
        writeln!(f, "allow rules: {}", self.allow_rules)?;
        writeln!(f, "exceptions: {} ({} expired)", self.exceptions, self.expired.len())?;
        writeln!(f, "host groups: {}", self.host_groups)?;
        writeln!(f, "prefixes: {} IPv4, {} IPv6", self.v4_prefixes, self.v6_prefixes)?;
        write!(f, "hash: {}", self.hash)?;
        for (name, date) in &self.expired {
            write!(f, "\nwarning: exception \"{name}\" expired on {date} and no longer applies")?;
        }
        Ok(())
    }
}
