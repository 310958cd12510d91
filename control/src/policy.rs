//! The control plane's use of `mailgate-config`: validating pushed
//! policies, asking the current policy whether it admits an observed mail
//! path, and reading its relay groups.

use crate::config::CoverageConfig;
use crate::store::{InventoryRow, PolicyVersion};
use mailgate_config::{AddrRef, CompiledPolicy, DecisionPoint, Document, RuleRef, SessionView};
use mailgate_protocol::record::{Action, MailProto};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The name policy texts get in validation messages.
pub const POLICY_FILE_NAME: &str = "policy.toml";

/// Validates and compiles a policy text; on failure, one message per
/// problem (`policy.toml:line:col: message`).
pub fn check(text: &str) -> Result<CompiledPolicy, Vec<String>> {
    CompiledPolicy::from_toml(POLICY_FILE_NAME, text).map_err(|e| e.to_string().lines().map(str::to_string).collect())
}

/// Whether the current policy admits an observed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Admission {
    /// True when an allow rule or exception admits the path and every SNI
    /// and HELO name seen on it.
    pub admitted: bool,
    /// The allow rule or exception that admits the path (by addresses,
    /// protocol and port), if one does.
    pub rule: Option<String>,
    /// What the policy decides for the path when nothing else is known.
    pub action: Action,
    /// SNI names seen on the path that the admitting rule does not allow.
    pub sni_not_admitted: Vec<String>,
    /// HELO names seen on the path that the admitting rule does not allow.
    pub helo_not_admitted: Vec<String>,
}

fn admits(decision: &mailgate_config::Decision) -> bool {
    decision.action == Action::Pass && matches!(decision.rule, RuleRef::Allow(_) | RuleRef::Exception(_))
}

/// Evaluates `row` against `policy` as the dataplane would at protocol
/// detection, then again for each SNI (at the ClientHello) and each HELO
/// name (at EHLO). `None` for a path without a mail protocol or with an
/// unparsable address.
pub fn admission(policy: &CompiledPolicy, row: &InventoryRow) -> Option<Admission> {
    let proto = match row.mail_proto.as_deref()? {
        "smtp" => MailProto::Smtp,
        "imap" => MailProto::Imap,
        "pop3" => MailProto::Pop3,
        _ => return None,
    };
    let src: IpAddr = row.src_ip.parse().ok()?;
    let dst: IpAddr = row.dest_ip.parse().ok()?;
    let today = time::OffsetDateTime::now_utc().date();
    let mut view = SessionView::new(src, dst, row.dest_port, today, 0);
    view.point = DecisionPoint::Detect;
    view.proto = Some(proto);
    let path = policy.evaluate(&view, None);
    let rule = if admits(&path) { policy.rule_name(path.rule).map(str::to_string) } else { None };
    let sni_not_admitted: Vec<String> = row
        .sni
        .iter()
        .filter(|sni| {
            let mut v = view;
            v.point = DecisionPoint::ClientHello;
            v.sni = Some(sni.as_bytes());
            !admits(&policy.evaluate(&v, None))
        })
        .cloned()
        .collect();
    let helo_not_admitted: Vec<String> = row
        .helo
        .iter()
        .filter(|helo| {
            let mut v = view;
            v.point = DecisionPoint::Helo;
            v.helo = Some(helo.as_bytes());
            !admits(&policy.evaluate(&v, None))
        })
        .cloned()
        .collect();
    Some(Admission {
        admitted: rule.is_some() && sni_not_admitted.is_empty() && helo_not_admitted.is_empty(),
        rule,
        action: path.effective_action(policy.mode()),
        sni_not_admitted,
        helo_not_admitted,
    })
}

/// A stored policy version, parsed and compiled once.
#[derive(Debug, Clone)]
pub struct PolicyInForce {
    /// Its version number.
    pub version: u64,
    /// Its hash.
    pub hash: String,
    /// When it was stored.
    pub created_at: String,
    /// The policy as written (groups, rules, exceptions, mail clients).
    pub document: Document,
    /// The compiled form.
    pub compiled: CompiledPolicy,
}

impl PolicyInForce {
    /// Parses a stored version; `None` if its text is missing or no longer
    /// valid (a policy stored by an older build that this one rejects).
    pub fn from_version(stored: &PolicyVersion) -> Option<PolicyInForce> {
        let text = stored.toml.as_deref()?;
        let document = Document::parse(POLICY_FILE_NAME, text).ok()?;
        let compiled = CompiledPolicy::new(&document);
        Some(PolicyInForce {
            version: stored.version,
            hash: stored.hash.clone(),
            created_at: stored.created_at.clone(),
            document,
            compiled,
        })
    }
}

/// Where the relay groups come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelaySource {
    /// `coverage.relay_groups` in the control plane's configuration.
    Config,
    /// Derived from the policy's allow rules.
    Policy,
    /// No policy stored: no host is a relay.
    None,
}

/// The hosts that may send mail to the internet: the relay groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relays {
    /// Where the list comes from.
    pub source: RelaySource,
    /// The `[hosts]` groups.
    pub groups: Vec<String>,
    /// Their networks (and networks written inline in the deriving rules).
    pub networks: Vec<String>,
    /// Problems (a configured group the policy does not define).
    pub notes: Vec<String>,
    #[serde(skip)]
    nets: Vec<ipnet::IpNet>,
}

impl Relays {
    /// Whether `addr` is in a relay group.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&addr))
    }
}

fn ipnet_of(cidr: &mailgate_config::Cidr) -> Option<ipnet::IpNet> {
    ipnet::IpNet::new(cidr.addr(), cidr.prefix_len()).ok()
}

/// Whether every address of `net` is internal.
pub fn is_internal(net: &ipnet::IpNet, internal: &[ipnet::IpNet]) -> bool {
    internal.iter().any(|i| i.contains(net))
}

/// The relay groups: `coverage.relay_groups` when configured, else every
/// group (and inline network) in `from` of an allow rule that admits smtp
/// to a destination outside `coverage.internal_networks` (a rule without
/// `to` admits any destination, so it counts).
pub fn relays(document: Option<&Document>, coverage: &CoverageConfig) -> Relays {
    let Some(document) = document else {
        return Relays { source: RelaySource::None, groups: vec![], networks: vec![], notes: vec![], nets: vec![] };
    };
    let policy = &document.policy;
    let mut notes = Vec::new();
    let (source, refs): (RelaySource, Vec<AddrRef>) = match &coverage.relay_groups {
        Some(groups) => {
            for g in groups.iter().filter(|g| !policy.hosts.contains_key(g.as_str())) {
                notes.push(format!("coverage.relay_groups: the policy defines no [hosts] group {g:?}"));
            }
            (RelaySource::Config, groups.iter().map(|g| AddrRef::Group(g.clone())).collect())
        }
        None => {
            let mut refs = Vec::new();
            for rule in policy.allow.iter().filter(|r| r.protocols.contains(&MailProto::Smtp)) {
                let external = match &rule.to {
                    None => true,
                    Some(to) => policy
                        .networks(to)
                        .iter()
                        .filter_map(ipnet_of)
                        .any(|n| !is_internal(&n, &coverage.internal_networks)),
                };
                if external {
                    refs.extend(rule.from.iter().cloned());
                }
            }
            (RelaySource::Policy, refs)
        }
    };
    let mut groups: Vec<String> = refs
        .iter()
        .filter_map(|r| match r {
            AddrRef::Group(g) => Some(g.clone()),
            AddrRef::Cidr(_) => None,
        })
        .collect();
    groups.sort();
    groups.dedup();
    let cidrs = policy.networks(&refs);
    let nets: Vec<ipnet::IpNet> = cidrs.iter().filter_map(ipnet_of).collect();
    Relays { source, groups, networks: nets.iter().map(ToString::to_string).collect(), notes, nets }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
[hosts]
relays = ["10.1.0.10", "10.1.0.11"]
mx = ["203.0.113.25"]
internal_mx = ["10.1.0.25"]
workstations = ["10.20.0.0/16"]
[[allow]]
name = "relays-out"
from = ["relays", "10.1.0.12"]
protocols = ["smtp"]
[[allow]]
name = "ws-submission"
from = ["workstations"]
to = ["internal_mx"]
protocols = ["smtp", "imap"]
[[allow]]
name = "ws-imap-out"
from = ["workstations"]
to = ["mx"]
protocols = ["imap"]
"#;

    #[test]
    fn relay_groups_are_the_sources_of_smtp_rules_to_the_internet() {
        let document = Document::parse("p.toml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        let relays = relays(Some(&document), &CoverageConfig::default());
        assert_eq!(relays.source, RelaySource::Policy);
        assert_eq!(relays.groups, ["relays"]);
        assert_eq!(relays.networks, ["10.1.0.10/32", "10.1.0.11/32", "10.1.0.12/32"]);
        assert!(relays.contains("10.1.0.12".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!relays.contains("10.20.0.5".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
    }

    #[test]
    fn configured_relay_groups_win_and_unknown_ones_are_noted() {
        let document = Document::parse("p.toml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        let config =
            CoverageConfig { relay_groups: Some(vec!["workstations".into(), "relay".into()]), ..Default::default() };
        let relays = relays(Some(&document), &config);
        assert_eq!(relays.source, RelaySource::Config);
        assert_eq!(relays.networks, ["10.20.0.0/16"]);
        assert_eq!(relays.notes, ["coverage.relay_groups: the policy defines no [hosts] group \"relay\""]);
        assert_eq!(super::relays(None, &config).source, RelaySource::None);
    }
}
