//! Evaluation semantics: what the dataplane gets at each decision point.

use std::net::IpAddr;

use mailgate_config::{
    CompiledPolicy, Decision, DecisionPoint, DefaultKey, Mode, RateLimiter, ReasonKind, RuleRef, SessionFacts,
    SessionView,
};
use mailgate_proto::Anomalies;
use mailgate_protocol::record::{Action, MailProto};
use time::macros::date;
use time::Date;

const TODAY: Date = date!(2026 - 12 - 04);

fn policy(text: &str) -> CompiledPolicy {
    CompiledPolicy::from_toml("test.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn syn<'a>(src: &str, dst: &str, port: u16) -> SessionView<'a> {
    SessionView::new(ip(src), ip(dst), port, TODAY, 1_000_000)
}

/// The same session at a later point, with its protocol known.
fn at<'a>(view: SessionView<'a>, point: DecisionPoint, proto: MailProto) -> SessionView<'a> {
    SessionView { point, proto: Some(proto), ..view }
}

/// Runs the points in order and folds the decisions as the dataplane does.
fn session(p: &CompiledPolicy, views: &[SessionView<'_>]) -> Decision {
    views.iter().fold(Decision::UNDECIDED, |d, v| d.combine(p.evaluate(v, None)))
}

const BASE: &str = r#"
mode = "block"
[defaults]
unapproved_mail = "reset"
mail_on_nonstandard_port = "alert"
non_mail_on_mail_port = "drop"
cleartext_auth = "alert"
tls_without_sni = "alert"
ech = "drop"

[hosts]
relays = ["198.51.100.10/32"]
corp_mx = ["198.51.100.50/32", "2001:db8:50::/48"]
workstations = ["10.20.0.0/16"]
provider = ["203.0.113.0/24"]

[[allow]]
name = "relay-to-corp-mx"
from = ["relays"]
to = ["corp_mx"]
protocols = ["smtp"]
ports = [25, 587]
sni = ["mx.corp.test", "*.corp.test"]
helo = ["*.corp.test"]
require_tls = true

[[allow]]
name = "ws-submission"
from = ["workstations"]
to = ["provider"]
protocols = ["smtp"]
ports = [587]

[[allow]]
name = "ws-imap-corp"
from = ["workstations"]
protocols = ["imap"]
sni = ["imap.corp.test"]
"#;

#[test]
fn approved_relay_passes_at_every_point() {
    let p = policy(BASE);
    let s = syn("198.51.100.10", "198.51.100.50", 25);
    let helo = SessionView { helo: Some(b"out1.corp.test"), ..at(s, DecisionPoint::Helo, MailProto::Smtp) };
    let tls = SessionView {
        tls_active: true,
        sni: Some(b"MX.corp.test"),
        ..at(helo, DecisionPoint::ClientHello, MailProto::Smtp)
    };
    assert_eq!(p.evaluate(&s, None), Decision::UNDECIDED, "the SYN could be approved mail");
    let detect = p.evaluate(&at(s, DecisionPoint::Detect, MailProto::Smtp), None);
    assert_eq!(detect, Decision { action: Action::Pass, rule: RuleRef::Allow(0), reason: ReasonKind::Allowed });
    assert_eq!(p.rule_name(detect.rule), Some("relay-to-corp-mx"));
    let d = session(
        &p,
        &[
            s,
            at(s, DecisionPoint::Detect, MailProto::Smtp),
            helo,
            tls,
            SessionView { point: DecisionPoint::End, ..tls },
        ],
    );
    assert_eq!(d.action, Action::Pass);
    assert_eq!(d.rule, RuleRef::Allow(0));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&tls)),
        "smtp from 198.51.100.10 to 198.51.100.50:25 allowed by rule \"relay-to-corp-mx\""
    );
}

#[test]
fn smtp_from_a_workstation_to_the_mx_is_reset_at_the_syn() {
    let p = policy(BASE);
    let s = syn("10.20.1.5", "198.51.100.50", 25);
    let d = p.evaluate(&s, None);
    assert_eq!(d.action, Action::Reset);
    assert_eq!(d.rule, RuleRef::Default(DefaultKey::UnapprovedMail));
    assert_eq!(d.reason, ReasonKind::NoRuleAtSyn);
    assert_eq!(p.rule_name(d.rule), Some("defaults.unapproved_mail"));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&s)),
        "connection from 10.20.1.5 to 198.51.100.50:25 (a mail port) matches no allow rule or exception for any mail protocol"
    );
    // Were the SYN let through (midstream pickup), detection decides the same.
    let detect = at(s, DecisionPoint::Detect, MailProto::Smtp);
    let d = p.evaluate(&detect, None);
    assert_eq!((d.action, d.reason), (Action::Reset, ReasonKind::NoMatchingRule));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&detect)),
        "smtp from 10.20.1.5 to 198.51.100.50:25 matches no allow rule"
    );
}

#[test]
fn non_mail_ports_are_not_decided_at_the_syn() {
    let p = policy(BASE);
    assert_eq!(p.evaluate(&syn("10.20.1.5", "192.0.2.1", 443), None), Decision::UNDECIDED);
}

#[test]
fn syns_the_policy_says_it_cannot_decide_are_undecided_on_every_port() {
    // The dataplane skips evaluating a SYN when `may_decide_at_syn` says
    // no: that must never hide a decision, for any port or address.
    let all_protocol_exception = r#"
mode = "block"
[[exception]]
name = "backup-agent"
from = ["192.0.2.7/32"]
ports = [8443, 9000]
reason = "vendor agent tunnels over a mail library"
expires = 2027-06-30
"#;
    let endpoints = [
        ("10.20.1.5", "192.0.2.1"),
        ("198.51.100.10", "198.51.100.50"),
        ("198.51.100.77", "198.51.100.50"),
        ("192.0.2.7", "203.0.113.9"),
        ("2001:db8::7", "2001:db8:50::1"),
    ];
    // EXCEPTIONS has an exception for every protocol on every port: no SYN is skipped there.
    for (text, most_skipped) in [
        (BASE, true),
        (EXCEPTIONS, false),
        (all_protocol_exception, true),
        (mailgate_config::EMBEDDED_DEFAULT_TOML, true),
    ] {
        let p = policy(text);
        let mut skipped = 0;
        for port in 0..=u16::MAX {
            if p.may_decide_at_syn(port) {
                continue;
            }
            skipped += 1;
            for (src, dst) in endpoints {
                assert_eq!(p.evaluate(&syn(src, dst, port), None), Decision::UNDECIDED, "{src} -> {dst}:{port}");
            }
        }
        assert_eq!(skipped > 60_000, most_skipped, "{skipped} ports skipped");
        assert!(mailgate_config::MAIL_PORTS.iter().all(|&port| p.may_decide_at_syn(port)));
    }
    let p = policy(all_protocol_exception);
    assert!(p.may_decide_at_syn(8443) && p.may_decide_at_syn(9000) && !p.may_decide_at_syn(443));
    let d = p.evaluate(&syn("192.0.2.7", "203.0.113.9", 9000), None);
    assert_eq!(d.rule, RuleRef::Exception(0));
}

#[test]
fn imap_where_the_syn_could_not_decide_is_reset_at_detection() {
    let p = policy(BASE);
    // ws-submission admits smtp to the provider on 587, so the SYN passes;
    // the session then turns out to be IMAP, which no rule admits there.
    let s = syn("10.20.1.5", "203.0.113.9", 587);
    assert_eq!(p.evaluate(&s, None), Decision::UNDECIDED);
    let detect = SessionView { mail_on_nonstandard_port: true, ..at(s, DecisionPoint::Detect, MailProto::Imap) };
    let d = p.evaluate(&detect, None);
    assert_eq!(d.action, Action::Reset);
    assert_eq!(d.rule, RuleRef::Default(DefaultKey::UnapprovedMail), "reset beats the nonstandard-port alert");
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&detect)),
        "imap from 10.20.1.5 to 203.0.113.9:587 matches no allow rule"
    );
}

#[test]
fn imap_to_an_unapproved_provider_is_reset_at_the_client_hello() {
    let p = policy(BASE);
    // ws-imap-corp admits imap to any address with SNI imap.corp.test.
    let s = syn("10.20.1.5", "203.0.113.99", 993);
    assert_eq!(p.evaluate(&s, None), Decision::UNDECIDED);
    let detect = SessionView { tls_active: true, ..at(s, DecisionPoint::Detect, MailProto::Imap) };
    assert_eq!(p.evaluate(&detect, None).rule, RuleRef::Allow(2), "SNI not seen yet");
    let hello = SessionView { point: DecisionPoint::ClientHello, sni: Some(b"imap.gmail.test"), ..detect };
    let d = session(&p, &[s, detect, hello]);
    assert_eq!(d.action, Action::Reset);
    assert_eq!(d.reason, ReasonKind::SniNotAllowed { rule: 2 });
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&hello)),
        "imap from 10.20.1.5 to 203.0.113.99:993: SNI \"imap.gmail.test\" is not allowed by rule \"ws-imap-corp\" and no other rule admits it"
    );
    let good = SessionView { sni: Some(b"IMAP.corp.test."), ..hello };
    assert_eq!(session(&p, &[s, detect, good]).rule, RuleRef::Allow(2));
}

#[test]
fn disallowed_sni_after_starttls_is_reset_at_the_client_hello() {
    let p = policy(BASE);
    let s = syn("198.51.100.10", "198.51.100.50", 587);
    let starttls = SessionView {
        tls_active: true,
        helo: Some(b"out1.corp.test"),
        ..at(s, DecisionPoint::StartTls, MailProto::Smtp)
    };
    assert_eq!(p.evaluate(&starttls, None).action, Action::Pass);
    let evil = SessionView { point: DecisionPoint::ClientHello, sni: Some(b"c2.evil.test"), ..starttls };
    let d = p.evaluate(&evil, None);
    assert_eq!((d.action, d.reason), (Action::Reset, ReasonKind::SniNotAllowed { rule: 0 }));
    // Wildcards: one or more labels, never the bare suffix.
    for (sni, admitted) in
        [(&b"a.corp.test"[..], true), (b"a.b.corp.test", true), (b"corp.test", false), (b"xcorp.test", false)]
    {
        let v = SessionView { sni: Some(sni), ..evil };
        assert_eq!(p.evaluate(&v, None).action == Action::Pass, admitted, "{sni:?}");
    }
    // A ClientHello without SNI fails the sni constraint, and is itself tls_without_sni.
    let nosni = SessionView { sni: None, client_hello_without_sni: true, ..evil };
    let d = p.evaluate(&nosni, None);
    assert_eq!((d.action, d.reason), (Action::Reset, ReasonKind::NoSni { rule: 0 }));
}

#[test]
fn helo_and_require_tls_constraints() {
    let p = policy(BASE);
    let s = syn("198.51.100.10", "198.51.100.50", 25);
    let helo = SessionView { helo: Some(b"laptop.home.test"), ..at(s, DecisionPoint::Helo, MailProto::Smtp) };
    let d = p.evaluate(&helo, None);
    assert_eq!((d.action, d.reason), (Action::Reset, ReasonKind::HeloNotAllowed { rule: 0 }));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&helo)),
        "smtp from 198.51.100.10 to 198.51.100.50:25: HELO \"laptop.home.test\" is not allowed by rule \"relay-to-corp-mx\" and no other rule admits it"
    );

    let good = SessionView { helo: Some(b"out1.corp.test"), ..helo };
    let mail_in_clear = SessionView { point: DecisionPoint::MailFrom, ..good };
    let d = p.evaluate(&mail_in_clear, None);
    assert_eq!((d.action, d.reason), (Action::Reset, ReasonKind::TlsRequired { rule: 0 }));
    let auth_in_clear = SessionView { point: DecisionPoint::Auth, cleartext_auth: true, ..good };
    assert_eq!(p.evaluate(&auth_in_clear, None).reason, ReasonKind::TlsRequired { rule: 0 });
    // Once credentials went in clear, require_tls keeps failing at later points.
    let end = SessionView { point: DecisionPoint::End, ..auth_in_clear };
    assert_eq!(p.evaluate(&end, None).action, Action::Reset);
    // With TLS active, MAIL FROM is fine.
    let mail_tls = SessionView { tls_active: true, ..mail_in_clear };
    assert_eq!(p.evaluate(&mail_tls, None).action, Action::Pass);
}

#[test]
fn monitor_mode_records_would_reset_and_would_drop() {
    let p = policy(&BASE.replace("mode = \"block\"", "mode = \"monitor\""));
    assert_eq!(p.mode(), Mode::Monitor);
    let d = p.evaluate(&syn("10.20.1.5", "198.51.100.50", 25), None);
    assert_eq!(d.action, Action::Reset, "decisions stay raw");
    assert_eq!(d.effective_action(p.mode()), Action::WouldReset);
    // non_mail_on_mail_port = "drop" in BASE.
    let tunnel = SessionView {
        point: DecisionPoint::NonMail,
        non_mail_on_mail_port: true,
        ..syn("198.51.100.10", "198.51.100.50", 25)
    };
    let d = p.evaluate(&tunnel, None);
    assert_eq!(d.rule, RuleRef::Default(DefaultKey::NonMailOnMailPort));
    assert_eq!(d.effective_action(p.mode()), Action::WouldDrop);
    assert_eq!(d.effective_action(Mode::Block), Action::Drop);
    let pass = p.evaluate(&at(syn("198.51.100.10", "198.51.100.50", 25), DecisionPoint::Detect, MailProto::Smtp), None);
    assert_eq!(pass.effective_action(p.mode()), Action::Pass);
}

const EXCEPTIONS: &str = r#"
mode = "block"
[hosts]
corp_mx = ["198.51.100.50/32"]
[[exception]]
name = "mfd-scan-to-mail"
from = ["198.51.100.77/32"]
to = ["corp_mx"]
reason = "printer scan-to-email"
owner = "helpdesk"
expires = 2027-06-30

[[exception]]
name = "legacy-pop"
from = ["10.9.0.0/16"]
protocols = ["pop3"]
ports = [110]
reason = "old client"
expires = "2025-01-31"
"#;

#[test]
fn an_exception_applies_through_its_expiry_day_and_not_the_day_after() {
    let p = policy(EXCEPTIONS);
    let on = |today: Date| SessionView { today, ..syn("198.51.100.77", "198.51.100.50", 25) };
    let d = p.evaluate(&on(date!(2027 - 06 - 30)), None);
    assert_eq!(d, Decision { action: Action::Pass, rule: RuleRef::Exception(0), reason: ReasonKind::ExceptionApplies });
    assert_eq!(p.rule_name(d.rule), Some("mfd-scan-to-mail"));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&on(TODAY))),
        "session from 198.51.100.77 to 198.51.100.50:25 is covered by exception \"mfd-scan-to-mail\" (printer scan-to-email; until 2027-06-30)"
    );
    // Covered sessions draw no default action either.
    let clear =
        SessionView { cleartext_auth: true, point: DecisionPoint::Auth, proto: Some(MailProto::Smtp), ..on(TODAY) };
    assert_eq!(p.evaluate(&clear, None).action, Action::Pass);
    let d = p.evaluate(&on(date!(2027 - 07 - 01)), None);
    assert_eq!((d.action, d.reason), (Action::Reset, ReasonKind::NoRuleAtSyn));
}

#[test]
fn exceptions_with_protocols_decide_once_the_protocol_is_known() {
    let p = policy(EXCEPTIONS);
    let s = SessionView { today: date!(2025 - 01 - 31), ..syn("10.9.1.1", "192.0.2.8", 110) };
    assert_eq!(p.evaluate(&s, None), Decision::UNDECIDED, "pop3 could still arrive");
    assert_eq!(p.evaluate(&at(s, DecisionPoint::Detect, MailProto::Pop3), None).rule, RuleRef::Exception(1));
    assert_eq!(p.evaluate(&at(s, DecisionPoint::Detect, MailProto::Smtp), None).action, Action::Reset);
    let other_port = SessionView { dst_port: 995, ..s };
    assert_eq!(p.evaluate(&other_port, None).reason, ReasonKind::NoRuleAtSyn);
    // Expired: listed by the summary and no longer applied.
    let later = SessionView { today: TODAY, ..s };
    assert_eq!(p.evaluate(&later, None).reason, ReasonKind::NoRuleAtSyn);
    let summary = p.summary(TODAY);
    assert_eq!(summary.expired, [("legacy-pop".to_owned(), date!(2025 - 01 - 31))]);
    assert!(summary
        .to_string()
        .ends_with("warning: exception \"legacy-pop\" expired on 2025-01-31 and no longer applies"));
}

#[test]
fn an_exception_without_protocols_covers_a_tunnel_on_a_mail_port() {
    let p = policy(EXCEPTIONS);
    let tunnel = SessionView {
        point: DecisionPoint::NonMail,
        non_mail_on_mail_port: true,
        ..syn("198.51.100.77", "198.51.100.50", 25)
    };
    assert_eq!(p.evaluate(&tunnel, None).rule, RuleRef::Exception(0));
    let elsewhere = SessionView { src: ip("198.51.100.78"), ..tunnel };
    let d = p.evaluate(&elsewhere, None);
    assert_eq!((d.action, d.rule), (Action::Alert, RuleRef::Default(DefaultKey::NonMailOnMailPort)));
}

#[test]
fn rate_limit_is_counted_at_detection_per_source() {
    let p = policy(
        r#"
mode = "block"
[[allow]]
name = "limited"
from = ["10.0.0.0/8"]
to = ["192.0.2.25"]
protocols = ["smtp"]
max_sessions_per_minute = 2
"#,
    );
    let mut limiter = RateLimiter::new(1024);
    let detect = |src: &str, now: u64| SessionView {
        now_secs: now,
        ..at(syn(src, "192.0.2.25", 25), DecisionPoint::Detect, MailProto::Smtp)
    };
    let t = 120;
    for _ in 0..2 {
        assert_eq!(p.evaluate(&detect("10.0.0.1", t), Some(&mut limiter)).action, Action::Pass);
    }
    let d = p.evaluate(&detect("10.0.0.1", t + 30), Some(&mut limiter));
    assert_eq!((d.action, d.reason), (Action::Reset, ReasonKind::RateLimited { rule: 0 }));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&detect("10.0.0.1", t))),
        "smtp from 10.0.0.1 to 192.0.2.25:25: over the limit of 2 sessions per minute from 10.0.0.1 of rule \"limited\""
    );
    // Other points do not count sessions.
    let helo = SessionView { point: DecisionPoint::Helo, ..detect("10.0.0.2", t) };
    for _ in 0..5 {
        assert_eq!(p.evaluate(&helo, Some(&mut limiter)).action, Action::Pass);
    }
    assert_eq!(p.evaluate(&detect("10.0.0.2", t), Some(&mut limiter)).action, Action::Pass);
    // The next minute admits again; without a limiter nothing is limited.
    assert_eq!(p.evaluate(&detect("10.0.0.1", t + 60), Some(&mut limiter)).action, Action::Pass);
    assert_eq!(p.evaluate(&detect("10.0.0.1", t + 30), None).action, Action::Pass);
}

#[test]
fn longest_prefix_nesting_and_ipv6() {
    let p = policy(
        r#"
mode = "block"
[hosts]
mx_a = ["192.0.2.1"]
mx_b = ["192.0.2.2"]
mx_c = ["192.0.2.3"]
wide = ["10.0.0.0/8"]
narrow = ["10.1.0.0/16"]
[[allow]]
name = "wide"
from = ["wide"]
to = ["mx_a"]
protocols = ["smtp"]
[[allow]]
name = "narrow"
from = ["narrow"]
to = ["mx_b"]
protocols = ["smtp"]
[[allow]]
name = "v6"
from = ["2001:db8:20::/48"]
protocols = ["smtp"]
[[exception]]
name = "one-host"
from = ["10.1.2.3/32"]
to = ["mx_c"]
reason = "test"
expires = 2030-01-01
"#,
    );
    let verdict = |src: &str, dst: &str| {
        let d = p.evaluate(&at(syn(src, dst, 25), DecisionPoint::Detect, MailProto::Smtp), None);
        p.rule_name(d.rule).unwrap_or("-").to_owned()
    };
    assert_eq!(verdict("10.1.2.3", "192.0.2.1"), "wide");
    assert_eq!(verdict("10.1.2.3", "192.0.2.2"), "narrow");
    assert_eq!(verdict("10.1.2.3", "192.0.2.3"), "one-host");
    assert_eq!(verdict("10.1.2.4", "192.0.2.3"), "defaults.unapproved_mail");
    assert_eq!(verdict("10.1.255.255", "192.0.2.2"), "narrow");
    assert_eq!(verdict("10.2.0.0", "192.0.2.2"), "defaults.unapproved_mail");
    assert_eq!(verdict("10.255.255.255", "192.0.2.1"), "wide");
    assert_eq!(verdict("11.0.0.0", "192.0.2.1"), "defaults.unapproved_mail");
    // IPv6: `to` omitted means any address of either family.
    assert_eq!(verdict("2001:db8:20:1::5", "2001:db8:ffff::1"), "v6");
    assert_eq!(verdict("2001:db8:20:1::5", "192.0.2.200"), "v6");
    assert_eq!(verdict("2001:db8:21::5", "2001:db8:ffff::1"), "defaults.unapproved_mail");
    // An IPv4 rule does not match the IPv4-mapped IPv6 form.
    assert_eq!(verdict("::ffff:10.1.2.3", "192.0.2.1"), "defaults.unapproved_mail");
}

#[test]
fn defaults_conditions_and_which_ones_an_allow_rule_suppresses() {
    let p = policy(&format!(
        "{BASE}\n[[allow]]\nname = \"odd-port\"\nfrom = [\"relays\"]\nto = [\"192.0.2.9\"]\nprotocols = [\"smtp\"]\nports = [8025]\n"
    ));
    let relay = |port: u16| at(syn("198.51.100.10", "192.0.2.9", port), DecisionPoint::Detect, MailProto::Smtp);
    // An allow rule that lists a nonstandard port suppresses mail_on_nonstandard_port…
    let listed = SessionView { mail_on_nonstandard_port: true, ..relay(8025) };
    assert_eq!(p.evaluate(&listed, None).rule, RuleRef::Allow(3));
    // …but not cleartext_auth: an approved path still alerts on credentials in clear.
    let auth = SessionView { point: DecisionPoint::Auth, cleartext_auth: true, ..listed };
    let d = p.evaluate(&auth, None);
    assert_eq!((d.action, d.rule), (Action::Alert, RuleRef::Default(DefaultKey::CleartextAuth)));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&auth)),
        "smtp from 198.51.100.10 to 192.0.2.9:8025: authentication before TLS (credentials in clear)"
    );
    // TLS without SNI on a mail session: alert.
    let nosni =
        SessionView { point: DecisionPoint::ClientHello, client_hello_without_sni: true, tls_active: true, ..listed };
    assert_eq!(p.evaluate(&nosni, None).rule, RuleRef::Default(DefaultKey::TlsWithoutSni));
    // ECH on a mail session: drop (BASE), beating the alert.
    let ech = SessionView { ech: true, ..nosni };
    let d = p.evaluate(&ech, None);
    assert_eq!((d.action, d.rule), (Action::Drop, RuleRef::Default(DefaultKey::Ech)));
    assert_eq!(p.rule_name(d.rule), Some("defaults.ech"));
    // ECH and missing SNI on a session that is not mail are not this policy's business.
    let web = SessionView {
        proto: None,
        point: DecisionPoint::ClientHello,
        ech: true,
        client_hello_without_sni: true,
        ..syn("10.20.1.5", "192.0.2.80", 443)
    };
    assert_eq!(p.evaluate(&web, None), Decision::UNDECIDED);
    // Unapproved mail on a nonstandard port: reset, the nonstandard alert is weaker.
    let unlisted = SessionView {
        mail_on_nonstandard_port: true,
        ..at(syn("10.20.1.5", "192.0.2.9", 2526), DecisionPoint::Detect, MailProto::Smtp)
    };
    let d = p.evaluate(&unlisted, None);
    assert_eq!((d.action, d.rule), (Action::Reset, RuleRef::Default(DefaultKey::UnapprovedMail)));
}

#[test]
fn mail_on_nonstandard_port_alone_draws_its_own_action() {
    let p = policy("mode = \"block\"\n[defaults]\nunapproved_mail = \"pass\"\nmail_on_nonstandard_port = \"drop\"\n");
    let v = SessionView {
        mail_on_nonstandard_port: true,
        ..at(syn("10.0.0.1", "192.0.2.9", 8025), DecisionPoint::Detect, MailProto::Pop3)
    };
    let d = p.evaluate(&v, None);
    assert_eq!((d.action, d.rule), (Action::Drop, RuleRef::Default(DefaultKey::MailOnNonstandardPort)));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&v)),
        "pop3 from 10.0.0.1 to 192.0.2.9:8025: mail on a nonstandard port"
    );
    // unapproved_mail = "pass" lets unapproved mail through without a record-worthy action.
    let plain = SessionView { mail_on_nonstandard_port: false, dst_port: 110, ..v };
    let d = p.evaluate(&plain, None);
    assert_eq!((d.action, d.rule), (Action::Pass, RuleRef::Default(DefaultKey::UnapprovedMail)));
}

#[test]
fn anomaly_table_blocks_on_named_anomalies_only() {
    let p = policy(&format!("{BASE}\n[anomalies]\noverlap_mismatch = \"reset\"\nbare_lf = \"alert\"\n"));
    let allowed = at(syn("198.51.100.10", "198.51.100.50", 25), DecisionPoint::Detect, MailProto::Smtp);
    let mut anomalies = Anomalies::NONE;
    anomalies.insert(Anomalies::LONG_LINE);
    let v = SessionView { anomalies, ..allowed };
    assert_eq!(p.evaluate(&v, None).rule, RuleRef::Allow(0), "long_line has no entry");
    anomalies.insert(Anomalies::BARE_LF);
    let v = SessionView { anomalies, ..allowed };
    let d = p.evaluate(&v, None);
    assert_eq!((d.action, p.rule_name(d.rule)), (Action::Alert, Some("anomalies.bare_lf")));
    anomalies.insert(Anomalies::OVERLAP_MISMATCH);
    let v = SessionView { anomalies, ..allowed };
    let d = p.evaluate(&v, None);
    assert_eq!((d.action, p.rule_name(d.rule)), (Action::Reset, Some("anomalies.overlap_mismatch")));
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&v)),
        "smtp from 198.51.100.10 to 198.51.100.50:25: anomaly overlap_mismatch"
    );
}

#[test]
fn combine_only_tightens_and_keeps_where_the_verdict_was_reached() {
    let pass_rule = Decision { action: Action::Pass, rule: RuleRef::Allow(1), reason: ReasonKind::Allowed };
    let alert = Decision {
        action: Action::Alert,
        rule: RuleRef::Default(DefaultKey::CleartextAuth),
        reason: ReasonKind::CleartextAuth,
    };
    let reset = Decision {
        action: Action::Reset,
        rule: RuleRef::Default(DefaultKey::UnapprovedMail),
        reason: ReasonKind::NoMatchingRule,
    };
    assert_eq!(Decision::UNDECIDED.combine(pass_rule), pass_rule);
    assert_eq!(pass_rule.combine(Decision::UNDECIDED), pass_rule);
    assert_eq!(pass_rule.combine(alert), alert);
    assert_eq!(alert.combine(pass_rule), alert);
    assert_eq!(reset.combine(alert), reset);
    let later_alert = Decision { reason: ReasonKind::Ech, ..alert };
    assert_eq!(alert.combine(later_alert), alert, "ties keep the first");
    let narrower = Decision { rule: RuleRef::Allow(2), ..pass_rule };
    assert_eq!(pass_rule.combine(narrower), narrower, "a later pass saw more of the session");
}

#[test]
fn embedded_default_alerts_on_all_mail_and_blocks_nothing() {
    let p = CompiledPolicy::embedded_default();
    assert_eq!(p.mode(), Mode::Monitor);
    let s = syn("10.0.0.1", "192.0.2.1", 25);
    let d = p.evaluate(&s, None);
    assert_eq!((d.action, d.rule), (Action::Alert, RuleRef::Default(DefaultKey::UnapprovedMail)));
    assert_eq!(d.effective_action(p.mode()), Action::Alert);
    let d = p.evaluate(&at(s, DecisionPoint::Detect, MailProto::Imap), None);
    assert_eq!(d.action, Action::Alert);
    assert_eq!(p.evaluate(&syn("10.0.0.1", "192.0.2.1", 443), None), Decision::UNDECIDED);
    assert_eq!(p.summary(TODAY).allow_rules, 0);
}

#[test]
fn ipv6_servers_are_bracketed_in_reasons() {
    let p = policy(BASE);
    let v = at(syn("2001:db8:99::1", "2001:db8:50::25", 465), DecisionPoint::Detect, MailProto::Smtp);
    let d = p.evaluate(&v, None);
    assert_eq!(
        p.reason_text(&d, &SessionFacts::from_view(&v)),
        "smtp from 2001:db8:99::1 to [2001:db8:50::25]:465 matches no allow rule"
    );
}

#[test]
fn nested_groups_resolve_through_every_level() {
    let mut text = String::from("mode = \"block\"\n[hosts]\n");
    for i in 0..50 {
        text.push_str(&format!("g{i} = [\"g{}\", \"10.0.{i}.0/24\"]\n", i + 1));
    }
    text.push_str("g50 = [\"2001:db8::/32\"]\n[[allow]]\nname = \"deep\"\nfrom = [\"g0\"]\nprotocols = [\"smtp\"]\n");
    let p = policy(&text);
    for src in ["10.0.0.1", "10.0.49.1", "2001:db8::1"] {
        let d = p.evaluate(&at(syn(src, "192.0.2.1", 25), DecisionPoint::Detect, MailProto::Smtp), None);
        assert_eq!(d.rule, RuleRef::Allow(0), "{src}");
    }
    let s = p.summary(TODAY);
    assert_eq!((s.host_groups, s.v4_prefixes, s.v6_prefixes), (51, 50, 1));
}
