//! Applying the compiled policy at every decision point of a session.
//!
//! Each flow carries one [`FlowVerdict`]; every point folds the policy's
//! [`Decision`] into it with [`Decision::combine`], so the first blocking
//! decision wins and later points can only tighten. The worker asks
//! [`Verdicts::enforced`] per packet (one comparison) to drop a blocked
//! flow's packets; names and reasons are put in words only when the record
//! is written, off the hot path.

use crate::engine::FinishedSession;
use crate::flow::Endpoint;
use crate::record::RecordText;
use crate::session::{Parser, Point, SessionFacts};
use mailgate_config::{CompiledPolicy, ConfigError, Decision, DecisionPoint, Document, Mode, RateLimiter, SessionView};
use mailgate_proto::Anomalies;
use mailgate_protocol::record::{Action, Verdict};
use std::path::Path;
use std::sync::Arc;

/// A compiled policy shared by the workers, the reporter and `inspect`.
pub type PolicyHandle = Arc<CompiledPolicy>;

/// Distinct (rule, source) pairs a worker rate-limits per minute.
const RATE_LIMIT_SLOTS: usize = 65_536;

/// Loads and compiles a policy file, or the embedded default (monitor mode,
/// alert on all unapproved mail) when `path` is `None`.
pub fn load_policy(path: Option<&Path>) -> Result<PolicyHandle, ConfigError> {
    match path {
        Some(p) => load_policy_file(p),
        None => Ok(Arc::new(CompiledPolicy::embedded_default())),
    }
}

/// A block-mode policy that resets every unapproved mail session at once,
/// for the engine's and the worker's tests.
#[cfg(test)]
pub(crate) fn reset_unapproved_mail_policy() -> PolicyHandle {
    let text = "mode = \"block\"\n[defaults]\nunapproved_mail = \"reset\"\n";
    Arc::new(CompiledPolicy::from_toml("block.toml", text).expect("a valid policy"))
}

/// Sections of the config file that belong to the dataplane's runtime, not
/// to the policy (validated by `settings`).
pub const RUNTIME_SECTIONS: &[&str] = &["dataplane"];

/// Loads and compiles the policy of a config file (its `[dataplane]`
/// runtime section is skipped here and validated by the runtime).
pub fn load_policy_file(path: &Path) -> Result<PolicyHandle, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
    let doc = Document::parse_with_sections(&path.display().to_string(), &text, RUNTIME_SECTIONS)?;
    Ok(Arc::new(CompiledPolicy::new(&doc)))
}

/// The verdict state of one flow (fixed size, kept in the flow table).
#[derive(Debug, Clone, Copy)]
pub struct FlowVerdict {
    decision: Decision,
    /// Where the current decision was reached.
    point: Option<DecisionPoint>,
    /// Which policy decided (first 8 bytes of its hash), to name rules correctly after a reload.
    policy_id: u64,
    /// Whether blocks were enforced when it was decided (block mode), or only reported.
    block: bool,
}

impl Default for FlowVerdict {
    fn default() -> Self {
        FlowVerdict { decision: Decision::UNDECIDED, point: None, policy_id: 0, block: false }
    }
}

/// Where a worker's verdict engine finds a newer policy, polled on the
/// worker's tick (never per packet): the control plane's pushes and SIGHUP
/// reloads arrive this way.
pub trait PolicySource: Send {
    /// A new policy and whether to enforce it (`true`) or only monitor,
    /// when either changed since the last poll.
    fn poll(&mut self) -> Option<(PolicyHandle, bool)>;
}

impl FlowVerdict {
    /// The raw action decided so far.
    pub fn action(&self) -> Action {
        self.decision.action
    }
}

/// A short identity of a policy, from its hash.
fn policy_id(policy: &CompiledPolicy) -> u64 {
    let hex = policy.hash().get(..16).unwrap_or("0");
    u64::from_str_radix(hex, 16).unwrap_or(0)
}

/// Per-worker verdict engine: the policy in force and the rate limiter.
pub struct Verdicts {
    policy: PolicyHandle,
    policy_id: u64,
    block: bool,
    limiter: RateLimiter,
    source: Option<Box<dyn PolicySource>>,
    /// The last second a decision was made in, and its date (exceptions
    /// expire by date; the calendar is worked out once a second, not per decision).
    today: (u64, time::Date),
}

impl Verdicts {
    /// A verdict engine applying `policy`.
    pub fn new(policy: PolicyHandle) -> Self {
        Verdicts {
            policy_id: policy_id(&policy),
            block: policy.mode() == Mode::Block,
            policy,
            limiter: RateLimiter::new(RATE_LIMIT_SLOTS),
            source: None,
            today: (0, date_of(0)),
        }
    }

    /// This engine, taking newer policies from `source` on every tick.
    pub fn with_source(mut self, source: impl PolicySource + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Picks up a newer policy or mode from the source, if any (on the tick).
    pub fn refresh(&mut self) {
        if let Some((policy, block)) = self.source.as_mut().and_then(|s| s.poll()) {
            if !Arc::ptr_eq(&policy, &self.policy) {
                self.set_policy(policy);
                // Counts for the old policy's rules mean nothing under the new one.
                self.limiter.clear();
            }
            self.block = block;
        }
    }

    /// Swaps in a new policy (compiled off the hot path). Sessions already
    /// decided keep their verdict; their next decision point uses the new one.
    /// Returns the old policy so the caller can drop it off the worker core.
    pub fn set_policy(&mut self, policy: PolicyHandle) -> PolicyHandle {
        self.policy_id = policy_id(&policy);
        self.block = policy.mode() == Mode::Block;
        std::mem::replace(&mut self.policy, policy)
    }

    /// The policy in force.
    pub fn policy(&self) -> &PolicyHandle {
        &self.policy
    }

    /// True when the flow's packets are to be discarded (block mode, drop or reset).
    #[inline]
    pub fn enforced(&self, v: &FlowVerdict) -> bool {
        v.block && matches!(v.decision.action, Action::Drop | Action::Reset)
    }

    /// True when a blocked flow is to be reset rather than silently dropped.
    pub fn resets(&self, v: &FlowVerdict) -> bool {
        v.decision.action == Action::Reset
    }

    /// True when a SYN to `port` can be decided ([`Verdicts::at_syn`] is
    /// worth calling): most SYNs are to ports the policy cannot decide at
    /// the SYN (the evaluation would come back undecided and change nothing).
    #[inline]
    pub fn may_decide_at_syn(&self, port: u16) -> bool {
        self.policy.may_decide_at_syn(port)
    }

    /// The SYN decision point: only addresses and port are known.
    pub fn at_syn(&mut self, v: &mut FlowVerdict, client: &Endpoint, server: &Endpoint, now_ns: u64) -> bool {
        if !self.may_decide_at_syn(server.port) {
            return false;
        }
        let view = SessionView::new(client.ip(), server.ip(), server.port, self.date(now_ns), now_ns / 1_000_000_000);
        self.fold(v, &view)
    }

    /// A later decision point; returns true when it newly blocks the flow.
    #[allow(clippy::too_many_arguments)]
    pub fn at_point(
        &mut self,
        v: &mut FlowVerdict,
        point: Point,
        facts: &SessionFacts,
        anomalies: &Anomalies,
        client: &Endpoint,
        server: &Endpoint,
        now_ns: u64,
    ) -> bool {
        let mut view =
            SessionView::new(client.ip(), server.ip(), server.port, self.date(now_ns), now_ns / 1_000_000_000);
        view.point = match point {
            Point::Detect if facts.not_mail => DecisionPoint::NonMail,
            Point::Detect => DecisionPoint::Detect,
            Point::Helo => DecisionPoint::Helo,
            Point::Auth => DecisionPoint::Auth,
            Point::MailFrom => DecisionPoint::MailFrom,
            Point::StartTls => DecisionPoint::StartTls,
            Point::ClientHello => DecisionPoint::ClientHello,
        };
        view.proto = facts.mail;
        let tls = facts.tls();
        view.sni = tls.and_then(|t| t.sni.as_ref()).map(|s| s.as_bytes());
        view.client_hello_without_sni = tls.is_some_and(|t| t.sni.is_none());
        view.ech = tls.is_some_and(|t| t.ech);
        let (helo, starttls) = match &facts.parser {
            Parser::Smtp(s) => (s.facts.helo.as_ref().map(|h| h.as_bytes()), s.facts.starttls),
            Parser::Imap(s) => (None, s.facts.starttls),
            Parser::Pop3(s) => (None, s.facts.starttls),
            Parser::None => (None, false),
        };
        view.helo = helo;
        view.tls_active = tls.is_some() || starttls;
        view.cleartext_auth = facts.cleartext_auth;
        view.mail_on_nonstandard_port = anomalies.contains(Anomalies::MAIL_ON_NONSTANDARD_PORT);
        view.non_mail_on_mail_port = anomalies.contains(Anomalies::NON_MAIL_ON_MAIL_PORT);
        view.anomalies = *anomalies;
        self.fold(v, &view)
    }

    /// The date (UTC) of `now_ns`, from the cache when it is the same second.
    fn date(&mut self, now_ns: u64) -> time::Date {
        let secs = now_ns / 1_000_000_000;
        if self.today.0 != secs {
            self.today = (secs, date_of(now_ns));
        }
        self.today.1
    }

    /// Folds the decision at `view.point` into the flow's; true when the
    /// flow became blocked now.
    fn fold(&mut self, v: &mut FlowVerdict, view: &SessionView<'_>) -> bool {
        let was_enforced = self.enforced(v);
        let decision = self.policy.evaluate(view, Some(&mut self.limiter));
        let combined = v.decision.combine(decision);
        if combined != v.decision || v.point.is_none() && decision.rule != mailgate_config::RuleRef::None {
            v.decision = combined;
            v.point = Some(view.point);
            v.policy_id = self.policy_id;
            v.block = self.block;
        }
        !was_enforced && self.enforced(v)
    }
}

/// The day of `ns` since the epoch (UTC), for exception expiry.
fn date_of(ns: u64) -> time::Date {
    let secs = i64::try_from(ns / 1_000_000_000).unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs).map(|t| t.date()).unwrap_or(time::Date::MIN)
}

/// The record's verdict for a finished session: the rule's name and the
/// reason in words, from whichever of `policies` decided (newest first).
pub fn describe<'a, F: std::borrow::Borrow<crate::session::SessionFacts>, S: RecordText<'a>>(
    s: &'a FinishedSession<F>,
    policies: &'a [PolicyHandle],
) -> Verdict<S> {
    let v = &s.verdict;
    let Some(policy) = policies.iter().find(|p| policy_id(p) == v.policy_id).or(policies.first()) else {
        return Verdict {
            action: Action::Pass,
            rule: None,
            reason: S::from("no policy"),
            policy_hash: None,
            decided_at: None,
        };
    };
    let decided_by_this = policy_id(policy) == v.policy_id || v.point.is_none();
    let facts = s.facts();
    let sni = facts.and_then(|f| f.tls()).and_then(|t| t.sni.as_ref()).map(|s| s.to_str_lossy().into_owned());
    let helo = match facts.map(|f| &f.parser) {
        Some(Parser::Smtp(p)) => p.facts.helo.as_ref().map(|h| h.to_str_lossy().into_owned()),
        _ => None,
    };
    let about = mailgate_config::SessionFacts {
        src: s.client.ip(),
        dst: s.server.ip(),
        dst_port: s.server.port,
        proto: facts.and_then(|f| f.mail),
        sni,
        helo,
    };
    let (rule, reason) = if decided_by_this {
        (policy.rule_name(v.decision.rule).map(S::from), S::from(policy.reason_text(&v.decision, &about)))
    } else {
        (None, S::from("decided by a policy no longer loaded"))
    };
    let mode = if v.block { Mode::Block } else { Mode::Monitor };
    Verdict {
        action: v.decision.effective_action(mode),
        rule,
        reason,
        policy_hash: Some(S::from(policy.hash())),
        decided_at: v.point.map(|p| S::from(p.as_str())),
    }
}
