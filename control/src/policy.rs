//! The control plane's use of `mailgate-config`: validating pushed
//! policies, and asking the current policy whether it admits an observed
//! mail path.

use crate::store::InventoryRow;
use mailgate_config::{CompiledPolicy, DecisionPoint, RuleRef, SessionView};
use mailgate_protocol::record::{Action, MailProto};
use serde::Serialize;
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
