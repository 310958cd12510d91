//! Evaluating the compiled policy at one decision point of a session.
//!
//! [`CompiledPolicy::evaluate`] borrows everything, allocates nothing and
//! takes no lock: two binary searches (source and destination tables), a
//! walk over the set bits the two share, and per-rule checks.

use std::net::IpAddr;

use mailgate_proto::Anomalies;
use mailgate_protocol::record::{Action, MailProto};
use time::Date;

use crate::compile::{CompiledPolicy, CompiledRule};
use crate::policy::{DefaultKey, Mode};
use crate::ports::is_mail_port;
use crate::rate::RateLimiter;
use crate::table::Slots;

/// Where in a session the dataplane asks for a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionPoint {
    /// The client's SYN: only addresses and the port are known.
    Syn,
    /// The mail protocol was identified (from content, port, or ALPN).
    Detect,
    /// SMTP EHLO/HELO/LHLO.
    Helo,
    /// AUTH / LOGIN / USER / APOP.
    Auth,
    /// The server accepted STARTTLS/STLS.
    StartTls,
    /// A TLS ClientHello was parsed.
    ClientHello,
    /// SMTP MAIL FROM.
    MailFrom,
    /// The session was found not to be mail.
    NonMail,
    /// The session ended.
    End,
}

impl DecisionPoint {
    /// The name records use in `verdict.decided_at`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionPoint::Syn => "syn",
            DecisionPoint::Detect => "detect",
            DecisionPoint::Helo => "helo",
            DecisionPoint::Auth => "auth",
            DecisionPoint::StartTls => "starttls",
            DecisionPoint::ClientHello => "client_hello",
            DecisionPoint::MailFrom => "mail_from",
            DecisionPoint::NonMail => "non_mail",
            DecisionPoint::End => "end",
        }
    }
}

/// What the dataplane knows about a session at a decision point, borrowed
/// from its session state. Flags are sticky: once set they stay set at
/// every later point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView<'a> {
    /// The client address.
    pub src: IpAddr,
    /// The server address.
    pub dst: IpAddr,
    /// The server port.
    pub dst_port: u16,
    /// The point being evaluated.
    pub point: DecisionPoint,
    /// The mail protocol, once identified.
    pub proto: Option<MailProto>,
    /// The ClientHello's server name; `None` = no ClientHello seen yet, or one without SNI.
    pub sni: Option<&'a [u8]>,
    /// A ClientHello was seen and carried no SNI.
    pub client_hello_without_sni: bool,
    /// The SMTP EHLO/HELO argument, once seen.
    pub helo: Option<&'a [u8]>,
    /// TLS is active: STARTTLS was accepted, or the session is implicit TLS.
    pub tls_active: bool,
    /// AUTH / LOGIN / USER was sent before TLS.
    pub cleartext_auth: bool,
    /// The ClientHello carried Encrypted Client Hello.
    pub ech: bool,
    /// The mail protocol runs on a port that is not in [`crate::standard_ports`] for it.
    pub mail_on_nonstandard_port: bool,
    /// The session is not mail but uses one of [`crate::MAIL_PORTS`].
    pub non_mail_on_mail_port: bool,
    /// Anomalies recorded on the session so far.
    pub anomalies: Anomalies,
    /// Today's date, for exception expiry (the dataplane refreshes it on its tick).
    pub today: Date,
    /// Seconds on any clock that does not go backwards; only its minute windows matter (rate limits).
    pub now_secs: u64,
}

impl<'a> SessionView<'a> {
    /// A view at the SYN with nothing seen yet; set the other fields as the session goes on.
    pub fn new(src: IpAddr, dst: IpAddr, dst_port: u16, today: Date, now_secs: u64) -> SessionView<'a> {
        SessionView {
            src,
            dst,
            dst_port,
            point: DecisionPoint::Syn,
            proto: None,
            sni: None,
            client_hello_without_sni: false,
            helo: None,
            tls_active: false,
            cleartext_auth: false,
            ech: false,
            mail_on_nonstandard_port: false,
            non_mail_on_mail_port: false,
            anomalies: Anomalies::NONE,
            today,
            now_secs,
        }
    }
}

/// Which part of the policy reached a decision; named by [`CompiledPolicy::rule_name`].
///
/// Indexes refer to the policy that produced the decision: name a decision
/// with that same policy, not with one swapped in later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleRef {
    /// Nothing decided (records carry `null`).
    None,
    /// An `[[allow]]` rule, by position.
    Allow(usize),
    /// An `[[exception]]`, by position.
    Exception(usize),
    /// A `[defaults]` key.
    Default(DefaultKey),
    /// An `[anomalies]` entry, by position in file order.
    Anomaly(usize),
}

/// Why a decision was reached, without allocating; [`CompiledPolicy::reason_text`] puts it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonKind {
    /// Nothing in the policy applies (yet).
    Undecided,
    /// An allow rule admits the session.
    Allowed,
    /// An unexpired exception covers the session.
    ExceptionApplies,
    /// At the SYN, on a mail port, no rule or exception could admit this path as any mail protocol.
    NoRuleAtSyn,
    /// No allow rule matches the session's addresses, protocol and port.
    NoMatchingRule,
    /// The closest rule (by position) matched but does not allow the SNI.
    SniNotAllowed {
        /// The allow rule.
        rule: usize,
    },
    /// The closest rule requires an SNI and the ClientHello had none.
    NoSni {
        /// The allow rule.
        rule: usize,
    },
    /// The closest rule matched but does not allow the HELO name.
    HeloNotAllowed {
        /// The allow rule.
        rule: usize,
    },
    /// The closest rule requires TLS before AUTH / MAIL FROM.
    TlsRequired {
        /// The allow rule.
        rule: usize,
    },
    /// The closest rule's `max_sessions_per_minute` was reached for this source.
    RateLimited {
        /// The allow rule.
        rule: usize,
    },
    /// `defaults.mail_on_nonstandard_port`.
    MailOnNonstandardPort,
    /// `defaults.non_mail_on_mail_port`.
    NonMailOnMailPort,
    /// `defaults.cleartext_auth`.
    CleartextAuth,
    /// `defaults.tls_without_sni`.
    TlsWithoutSni,
    /// `defaults.ech`.
    Ech,
    /// An `[anomalies]` entry: the anomaly that drew the action.
    Anomaly(Anomalies),
}

/// The policy's verdict at one decision point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The raw action: `pass`, `alert`, `drop` or `reset` (never `would_*`;
    /// see [`Decision::effective_action`]).
    pub action: Action,
    /// What decided.
    pub rule: RuleRef,
    /// Why.
    pub reason: ReasonKind,
}

/// How strong an action is: pass < alert < drop < reset (`would_*` rank as what they stand for).
pub fn severity(action: Action) -> u8 {
    match action {
        Action::Pass => 0,
        Action::Alert => 1,
        Action::Drop | Action::WouldDrop => 2,
        Action::Reset | Action::WouldReset => 3,
    }
}

impl Decision {
    /// Nothing decided: pass, no rule.
    pub const UNDECIDED: Decision =
        Decision { action: Action::Pass, rule: RuleRef::None, reason: ReasonKind::Undecided };

    /// The session's verdict after a later decision point: the stronger
    /// action wins, so later points can only tighten the verdict. On equal
    /// strength the earlier decision stays (it is where the verdict was first
    /// reached), except that a `pass` is replaced by a later `pass` that names
    /// a rule, which saw more of the session.
    ///
    /// The dataplane keeps one `Decision` per session and folds every
    /// evaluation into it with this.
    pub fn combine(self, later: Decision) -> Decision {
        let (now, next) = (severity(self.action), severity(later.action));
        if next > now || (next == now && self.action == Action::Pass && later.rule != RuleRef::None) {
            later
        } else {
            self
        }
    }

    /// The action to carry out and record: in monitor mode `drop` becomes
    /// `would_drop` and `reset` becomes `would_reset` (nothing is blocked).
    pub fn effective_action(self, mode: Mode) -> Action {
        mode.effective(self.action)
    }

    /// Replaces `self` by `other` only when `other` is strictly stronger.
    fn tighten(self, other: Decision) -> Decision {
        if severity(other.action) > severity(self.action) {
            other
        } else {
            self
        }
    }
}

impl CompiledPolicy {
    /// The verdict at `view.point`. Allocation-free and lock-free.
    ///
    /// `limiter` is consulted at [`DecisionPoint::Detect`] only (once per
    /// session), for the first rule that would admit the session and has
    /// `max_sessions_per_minute`; pass `None` to ignore rate limits.
    /// See the crate documentation for the full semantics.
    pub fn evaluate(&self, view: &SessionView<'_>, limiter: Option<&mut RateLimiter>) -> Decision {
        let src = self.src.lookup(view.src);
        let dst = self.dst.lookup(view.dst);
        let allow = self.rules.len();

        // An unexpired exception covering the session passes it outright.
        let mut exception_could_admit = false;
        for slot in Slots::new(src, dst, allow) {
            let index = slot - allow;
            let Some(e) = self.exceptions.get(index) else {
                break;
            };
            if view.today > e.expires || !e.port_matches(view.dst_port) {
                continue;
            }
            let covers = match (e.protocols, view.proto) {
                (None, _) => true,
                (Some(set), Some(p)) => set.contains(p),
                (Some(_), None) => {
                    exception_could_admit |= view.point == DecisionPoint::Syn;
                    false
                }
            };
            if covers {
                return Decision {
                    action: Action::Pass,
                    rule: RuleRef::Exception(index),
                    reason: ReasonKind::ExceptionApplies,
                };
            }
        }

        let mut decision = Decision::UNDECIDED;
        let mut admitted = false;
        if view.point == DecisionPoint::Syn {
            if is_mail_port(view.dst_port) && !exception_could_admit && !self.could_admit(src, dst, view.dst_port) {
                decision = self.default_decision(DefaultKey::UnapprovedMail, ReasonKind::NoRuleAtSyn);
            }
        } else if let Some(proto) = view.proto {
            match self.admit(view, proto, src, dst, limiter) {
                Ok(rule) => {
                    admitted = true;
                    decision =
                        Decision { action: Action::Pass, rule: RuleRef::Allow(rule), reason: ReasonKind::Allowed };
                }
                Err(reason) => decision = self.default_decision(DefaultKey::UnapprovedMail, reason),
            }
        }

        let mail = view.proto.is_some();
        let conditions = [
            (
                view.mail_on_nonstandard_port && !admitted,
                DefaultKey::MailOnNonstandardPort,
                ReasonKind::MailOnNonstandardPort,
            ),
            (view.non_mail_on_mail_port, DefaultKey::NonMailOnMailPort, ReasonKind::NonMailOnMailPort),
            (view.cleartext_auth, DefaultKey::CleartextAuth, ReasonKind::CleartextAuth),
            (view.client_hello_without_sni && mail, DefaultKey::TlsWithoutSni, ReasonKind::TlsWithoutSni),
            (view.ech && mail, DefaultKey::Ech, ReasonKind::Ech),
        ];
        for (holds, key, reason) in conditions {
            if holds {
                decision = decision.tighten(self.default_decision(key, reason));
            }
        }
        if !view.anomalies.is_empty() {
            for (i, a) in self.anomalies.iter().enumerate() {
                if view.anomalies.contains(a.anomaly) {
                    decision = decision.tighten(Decision {
                        action: a.action,
                        rule: RuleRef::Anomaly(i),
                        reason: ReasonKind::Anomaly(a.anomaly),
                    });
                }
            }
        }
        decision
    }

    /// The name records carry for `rule`: the allow rule's or exception's
    /// name, `defaults.<key>`, `anomalies.<name>`; `None` for [`RuleRef::None`]
    /// (and for an index this policy does not have).
    pub fn rule_name(&self, rule: RuleRef) -> Option<&str> {
        match rule {
            RuleRef::None => None,
            RuleRef::Allow(i) => self.rules.get(i).map(|r| r.name.as_str()),
            RuleRef::Exception(i) => self.exceptions.get(i).map(|e| e.name.as_str()),
            RuleRef::Default(key) => Some(key.rule_name()),
            RuleRef::Anomaly(i) => self.anomalies.get(i).map(|a| a.rule_name.as_str()),
        }
    }

    fn default_decision(&self, key: DefaultKey, reason: ReasonKind) -> Decision {
        Decision { action: self.defaults.get(key), rule: RuleRef::Default(key), reason }
    }

    /// True when some allow rule for these addresses could admit some mail protocol on `port`.
    fn could_admit(&self, src: &[u64], dst: &[u64], port: u16) -> bool {
        Slots::new(src, dst, 0).map_while(|slot| self.rules.get(slot)).any(|rule| rule.could_use_port(port))
    }

    /// The first allow rule that admits the session, or why the closest one did not.
    fn admit(
        &self,
        view: &SessionView<'_>,
        proto: MailProto,
        src: &[u64],
        dst: &[u64],
        mut limiter: Option<&mut RateLimiter>,
    ) -> Result<usize, ReasonKind> {
        let mut miss = ReasonKind::NoMatchingRule;
        for slot in Slots::new(src, dst, 0) {
            let Some(rule) = self.rules.get(slot) else {
                break;
            };
            if !rule.protocols.contains(proto) || !rule.port_matches(view.dst_port, proto) {
                continue;
            }
            let unmet = unmet_constraint(rule, slot, view).or_else(|| {
                let limit = rule.max_sessions_per_minute?;
                let limiter = limiter.as_deref_mut()?;
                let counted = view.point == DecisionPoint::Detect;
                (counted && !limiter.admit(slot, view.src, limit, view.now_secs))
                    .then_some(ReasonKind::RateLimited { rule: slot })
            });
            match unmet {
                None => return Ok(slot),
                Some(reason) => {
                    if miss == ReasonKind::NoMatchingRule {
                        miss = reason;
                    }
                }
            }
        }
        Err(miss)
    }
}

/// The first constraint of `rule` that the session is known to break;
/// constraints not observable yet do not fail.
fn unmet_constraint(rule: &CompiledRule, slot: usize, view: &SessionView<'_>) -> Option<ReasonKind> {
    if let Some(sni) = &rule.sni {
        match view.sni {
            Some(name) if !sni.matches(name) => return Some(ReasonKind::SniNotAllowed { rule: slot }),
            None if view.client_hello_without_sni => return Some(ReasonKind::NoSni { rule: slot }),
            _ => {}
        }
    }
    if let (Some(helo), Some(name)) = (&rule.helo, view.helo) {
        if !helo.matches(name) {
            return Some(ReasonKind::HeloNotAllowed { rule: slot });
        }
    }
    let in_clear_at_auth_or_mail =
        !view.tls_active && matches!(view.point, DecisionPoint::Auth | DecisionPoint::MailFrom);
    if rule.require_tls && (view.cleartext_auth || in_clear_at_auth_or_mail) {
        return Some(ReasonKind::TlsRequired { rule: slot });
    }
    None
}
