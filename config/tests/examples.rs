//! The shipped policy files: the documented example and the embedded default.

use std::path::Path;

use mailgate_config::{CompiledPolicy, Document, Mode, EMBEDDED_DEFAULT_TOML, POLICY_KEYS};
use time::macros::date;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/mailgate.toml");

#[test]
fn the_documented_example_validates_and_summarizes() {
    let doc = Document::load(Path::new(EXAMPLE)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc.file, EXAMPLE);
    let exception = &doc.policy.exceptions[0];
    assert_eq!(exception.owner.as_deref(), Some("it-helpdesk@corp.test"));
    assert_eq!(exception.expires, date!(2027 - 06 - 30));
    let p = CompiledPolicy::new(&doc);
    assert_eq!(p.mode(), Mode::Block);
    assert_eq!(p.hash().len(), 64);
    assert_eq!(p.hash(), doc.hash);
    let summary = p.summary(date!(2026 - 12 - 04));
    assert_eq!(
        summary.to_string(),
        format!(
            "mode: block\nallow rules: 2\nexceptions: 1 (0 expired)\nhost groups: 5\nprefixes: 5 IPv4, 2 IPv6\nhash: {}",
            doc.hash
        )
    );
    let later = p.summary(date!(2027 - 07 - 01)).to_string();
    assert!(later.contains("exceptions: 1 (1 expired)"), "{later}");
    assert!(later.ends_with("warning: exception \"mfd-scan-to-mail\" expired on 2027-06-30 and no longer applies"));
}

#[test]
fn the_documented_example_shows_every_key() {
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let keys = [
        "unapproved_mail",
        "mail_on_nonstandard_port",
        "non_mail_on_mail_port",
        "cleartext_auth",
        "tls_without_sni",
        "ech",
        "name",
        "from",
        "to",
        "protocols",
        "ports",
        "sni",
        "helo",
        "require_tls",
        "max_sessions_per_minute",
        "reason",
        "owner",
        "expires",
        "processes",
        "action",
    ];
    for key in POLICY_KEYS.iter().chain(&keys) {
        let set = text.lines().any(|l| {
            l.starts_with(&format!("{key} ="))
                || l.starts_with(&format!("[{key}]"))
                || l.starts_with(&format!("[[{key}]]"))
        });
        assert!(set, "mailgate.toml does not set {key}");
    }
}

#[test]
fn the_embedded_default_is_a_valid_monitor_policy_without_rules() {
    let doc = Document::parse("default.toml", EMBEDDED_DEFAULT_TOML).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc.policy.mode, Mode::Monitor);
    assert!(doc.policy.allow.is_empty() && doc.policy.exceptions.is_empty());
    assert_eq!(CompiledPolicy::embedded_default().hash(), doc.hash);
}

#[test]
fn the_hash_changes_with_the_text() {
    let a = Document::parse("a", "mode = \"block\"\n").unwrap();
    let b = Document::parse("b", "mode = \"block\" # note\n").unwrap();
    assert_ne!(a.hash, b.hash);
    assert_eq!(a.policy, b.policy);
    // `printf 'mode = "block"\n' | sha256sum`
    assert_eq!(a.hash, "cc3520320953975b897ae517870ddfcecce3930414e0073e559eb44ed429ab43");
}
