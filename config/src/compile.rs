//! The compiled, immutable policy the dataplane evaluates: address tables,
//! per-rule port/protocol sets and name matchers, built once off the hot path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use mailgate_proto::Anomalies;
use mailgate_protocol::record::{Action, MailProto};
use time::Date;

use crate::cidr::{addr_key, Cidr};
use crate::diagnostic::ConfigError;
use crate::document::Document;
use crate::groups;
use crate::names::NameSet;
use crate::policy::{AddrRef, Defaults, Mode, Policy};
use crate::ports::{standard_ports, MAIL_PORTS};
use crate::table::AddrTable;

/// The embedded fallback policy (`config/default.toml`): monitor mode, every
/// unapproved mail session alerted, no rules.
pub const EMBEDDED_DEFAULT_TOML: &str = include_str!("../default.toml");

/// A set of mail protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProtoSet(u8);

impl ProtoSet {
    const ALL: [MailProto; 3] = [MailProto::Smtp, MailProto::Imap, MailProto::Pop3];

    fn of(protocols: &[MailProto]) -> ProtoSet {
        ProtoSet(protocols.iter().fold(0, |acc, p| acc | Self::bit(*p)))
    }

    fn bit(p: MailProto) -> u8 {
        match p {
            MailProto::Smtp => 1,
            MailProto::Imap => 2,
            MailProto::Pop3 => 4,
        }
    }

    #[inline]
    pub(crate) fn contains(self, p: MailProto) -> bool {
        self.0 & Self::bit(p) != 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = MailProto> {
        Self::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

/// An allow rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) name: String,
    pub(crate) protocols: ProtoSet,
    /// Sorted; `None` = the standard ports of the session's protocol.
    pub(crate) ports: Option<Box<[u16]>>,
    pub(crate) sni: Option<NameSet>,
    pub(crate) helo: Option<NameSet>,
    pub(crate) require_tls: bool,
    pub(crate) max_sessions_per_minute: Option<u32>,
}

impl CompiledRule {
    /// True when the rule admits `proto` on `port`.
    #[inline]
    pub(crate) fn port_matches(&self, port: u16, proto: MailProto) -> bool {
        match &self.ports {
            Some(ports) => ports.binary_search(&port).is_ok(),
            None => standard_ports(proto).contains(&port),
        }
    }

    /// True when some protocol of the rule could be admitted on `port`.
    #[inline]
    pub(crate) fn could_use_port(&self, port: u16) -> bool {
        self.protocols.iter().any(|p| self.port_matches(port, p))
    }
}

/// An exception, compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledException {
    pub(crate) name: String,
    pub(crate) protocols: Option<ProtoSet>,
    pub(crate) ports: Option<Box<[u16]>>,
    pub(crate) reason: String,
    pub(crate) expires: Date,
}

impl CompiledException {
    #[inline]
    pub(crate) fn port_matches(&self, port: u16) -> bool {
        self.ports.as_ref().is_none_or(|p| p.binary_search(&port).is_ok())
    }
}

/// An `[anomalies]` entry, with the rule name records carry.
#[derive(Debug, Clone)]
pub(crate) struct AnomalyRule {
    pub(crate) anomaly: Anomalies,
    pub(crate) action: Action,
    pub(crate) rule_name: String,
}

/// The tables for one direction (sources or destinations).
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    v4: AddrTable,
    v6: AddrTable,
}

impl Tables {
    #[inline]
    pub(crate) fn lookup(&self, addr: IpAddr) -> &[u64] {
        let table = if addr.is_ipv4() { &self.v4 } else { &self.v6 };
        table.lookup(addr_key(addr))
    }

    fn build(words: usize, nets: &[(usize, Cidr)]) -> Tables {
        let ranges = |v6: bool| -> Vec<(usize, u128, u128)> {
            nets.iter()
                .filter(|(_, c)| c.is_ipv6() == v6)
                .map(|(slot, c)| {
                    let (first, last) = c.range();
                    (*slot, first, last)
                })
                .collect()
        };
        Tables {
            v4: AddrTable::build(u128::from(u32::MAX), words, &ranges(false)),
            v6: AddrTable::build(u128::MAX, words, &ranges(true)),
        }
    }
}

/// Sizes reported by [`crate::Summary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) host_groups: usize,
    pub(crate) v4_prefixes: usize,
    pub(crate) v6_prefixes: usize,
}

/// The immutable policy the dataplane evaluates at every decision point.
///
/// Built once (off the hot path) from a validated [`Document`]; shared
/// between workers behind an `Arc` and swapped whole on a policy change.
/// Slots: allow rule `i` is slot `i`, exception `j` is slot `allow + j`.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub(crate) mode: Mode,
    pub(crate) hash: String,
    pub(crate) defaults: Defaults,
    pub(crate) anomalies: Vec<AnomalyRule>,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) exceptions: Vec<CompiledException>,
    pub(crate) src: Tables,
    pub(crate) dst: Tables,
    pub(crate) stats: Stats,
    pub(crate) mail_clients: Vec<crate::clients::CompiledMailClients>,
    /// One bit per port: set where a SYN can be decided (see
    /// [`CompiledPolicy::may_decide_at_syn`]).
    syn_ports: Box<[u64]>,
}

impl CompiledPolicy {
    /// Compiles a validated document.
    pub fn new(doc: &Document) -> CompiledPolicy {
        let policy = &doc.policy;
        let groups = resolve_groups(policy);
        let expand = |refs: &[AddrRef]| -> Vec<Cidr> {
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
        };
        let any: Vec<Cidr> = ["0.0.0.0/0", "::/0"].iter().filter_map(|s| s.parse().ok()).collect();
        let slots = policy.allow.len() + policy.exceptions.len();
        let words = slots.div_ceil(64);
        let mut src_nets = Vec::new();
        let mut dst_nets = Vec::new();
        let paths =
            policy.allow.iter().map(|r| (&r.from, &r.to)).chain(policy.exceptions.iter().map(|e| (&e.from, &e.to)));
        for (slot, (from, to)) in paths.enumerate() {
            src_nets.extend(expand(from).into_iter().map(|c| (slot, c)));
            let to = to.as_deref().map_or_else(|| any.clone(), expand);
            dst_nets.extend(to.into_iter().map(|c| (slot, c)));
        }
        let rules = policy
            .allow
            .iter()
            .map(|r| CompiledRule {
                name: r.name.clone(),
                protocols: ProtoSet::of(&r.protocols),
                ports: r.ports.as_deref().map(Into::into),
                sni: r.sni.as_deref().map(NameSet::new),
                helo: r.helo.as_deref().map(NameSet::new),
                require_tls: r.require_tls,
                max_sessions_per_minute: r.max_sessions_per_minute,
            })
            .collect();
        let exceptions: Vec<CompiledException> = policy
            .exceptions
            .iter()
            .map(|e| CompiledException {
                name: e.name.clone(),
                protocols: e.protocols.as_deref().map(ProtoSet::of),
                ports: e.ports.as_deref().map(Into::into),
                reason: e.reason.clone(),
                expires: e.expires,
            })
            .collect();
        let anomalies = policy
            .anomalies
            .iter()
            .map(|&(anomaly, action)| AnomalyRule {
                anomaly,
                action,
                rule_name: format!("anomalies.{}", anomaly.names().next().unwrap_or_default()),
            })
            .collect();
        let syn_ports = syn_ports(&exceptions);
        CompiledPolicy {
            mode: policy.mode,
            hash: doc.hash.clone(),
            defaults: policy.defaults,
            anomalies,
            rules,
            exceptions,
            src: Tables::build(words, &src_nets),
            dst: Tables::build(words, &dst_nets),
            stats: stats(policy),
            mail_clients: crate::clients::compile(policy),
            syn_ports,
        }
    }

    /// False when no SYN to `port` can be decided, whatever its addresses:
    /// at the SYN only the mail ports (which no rule may admit) and the
    /// ports of exceptions for every protocol (which pass the session at
    /// once) can draw a decision. The dataplane then skips the evaluation
    /// (its address lookups) for the SYNs of ordinary traffic.
    #[inline]
    pub fn may_decide_at_syn(&self, port: u16) -> bool {
        self.syn_ports.get(usize::from(port / 64)).is_some_and(|w| w >> (port % 64) & 1 != 0)
    }

    /// Parses, validates and compiles a policy text; `file` names it in messages.
    pub fn from_toml(file: &str, text: &str) -> Result<CompiledPolicy, ConfigError> {
        Document::parse(file, text).map(|d| CompiledPolicy::new(&d))
    }

    /// The embedded default policy ([`EMBEDDED_DEFAULT_TOML`]), used when no policy is configured.
    pub fn embedded_default() -> CompiledPolicy {
        CompiledPolicy::from_toml("<embedded default policy>", EMBEDDED_DEFAULT_TOML)
            .expect("the embedded default policy is validated by this crate's tests")
    }

    /// Block or monitor.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// SHA-256 of the policy text, lower-case hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The exceptions that no longer apply on `today` (their name and last day).
    pub fn expired_exceptions(&self, today: Date) -> impl Iterator<Item = (&str, Date)> {
        self.exceptions.iter().filter(move |e| e.expires < today).map(|e| (e.name.as_str(), e.expires))
    }
}

/// Every group's networks, children resolved before parents.
pub(crate) fn resolve_groups(policy: &Policy) -> HashMap<&str, Vec<Cidr>> {
    let graph: BTreeMap<&str, Vec<(&str, ())>> = policy
        .hosts
        .iter()
        .map(|(name, members)| {
            let edges = members
                .iter()
                .filter_map(|m| match m {
                    AddrRef::Group(g) => Some((g.as_str(), ())),
                    AddrRef::Cidr(_) => None,
                })
                .collect();
            (name.as_str(), edges)
        })
        .collect();
    let mut resolved: HashMap<&str, Vec<Cidr>> = HashMap::with_capacity(graph.len());
    for name in groups::post_order(&graph).0 {
        let mut nets = Vec::new();
        for m in policy.hosts.get(name).into_iter().flatten() {
            match m {
                AddrRef::Cidr(c) => nets.push(*c),
                AddrRef::Group(g) => nets.extend(resolved.get(g.as_str()).into_iter().flatten()),
            }
        }
        nets.sort_unstable();
        nets.dedup();
        resolved.insert(name, nets);
    }
    resolved
}

fn stats(policy: &Policy) -> Stats {
    let inline = policy
        .allow
        .iter()
        .flat_map(|r| r.from.iter().chain(r.to.iter().flatten()))
        .chain(policy.exceptions.iter().flat_map(|e| e.from.iter().chain(e.to.iter().flatten())));
    let prefixes: BTreeSet<Cidr> = policy
        .hosts
        .values()
        .flatten()
        .chain(inline)
        .filter_map(|r| match r {
            AddrRef::Cidr(c) => Some(*c),
            AddrRef::Group(_) => None,
        })
        .collect();
    let v6 = prefixes.iter().filter(|c| c.is_ipv6()).count();
    Stats { host_groups: policy.hosts.len(), v4_prefixes: prefixes.len() - v6, v6_prefixes: v6 }
}

/// The [`CompiledPolicy::may_decide_at_syn`] bitmap: the mail ports, and
/// every port an exception for all protocols covers.
fn syn_ports(exceptions: &[CompiledException]) -> Box<[u64]> {
    let mut bits = vec![0u64; 65536 / 64].into_boxed_slice();
    let mut set = |port: u16| {
        if let Some(w) = bits.get_mut(usize::from(port / 64)) {
            *w |= 1 << (port % 64);
        }
    };
    MAIL_PORTS.iter().copied().for_each(&mut set);
    for e in exceptions.iter().filter(|e| e.protocols.is_none()) {
        match &e.ports {
            Some(ports) => ports.iter().copied().for_each(&mut set),
            None => {
                bits.fill(u64::MAX);
                break;
            }
        }
    }
    bits
}
