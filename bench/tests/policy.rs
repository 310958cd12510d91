//! bench/policy/demo.toml is the policy the truth's verdicts assume: its
//! hosts, rule and defaults are those the truth module encodes, and the
//! verdicts in generated truth follow from it.

mod common;

use common::gen;
use mailgate_bench::mix::Mix;
use mailgate_bench::truth::{demo, DEMO_POLICY};
use serde_json::json;

#[test]
fn demo_policy_says_what_the_truth_assumes() {
    let policy: toml::Table = toml::from_str(DEMO_POLICY).expect("demo.toml parses");
    assert_eq!(policy["mode"].as_str(), Some("monitor"));
    let defaults = policy["defaults"].as_table().expect("[defaults]");
    assert_eq!(defaults["unapproved_mail"].as_str(), Some("reset"));
    for key in ["mail_on_nonstandard_port", "non_mail_on_mail_port", "cleartext_auth", "tls_without_sni", "ech"] {
        // Weaker than reset: never the deciding action for an unapproved session.
        assert_eq!(defaults[key].as_str(), Some("alert"), "{key}");
    }
    let hosts = policy["hosts"].as_table().expect("[hosts]");
    assert_eq!(hosts["relays"].as_array().unwrap(), &[toml::Value::from(format!("{}/32", demo::RELAY))]);
    assert_eq!(hosts["corp_mx"].as_array().unwrap(), &[toml::Value::from(format!("{}/32", demo::CORP_MX))]);
    let rules = policy["allow"].as_array().expect("[[allow]]");
    assert_eq!(rules.len(), 1);
    let rule = rules[0].as_table().unwrap();
    assert_eq!(rule["name"].as_str(), Some(demo::ALLOW_RULE));
    assert_eq!(rule["from"].as_array().unwrap(), &[toml::Value::from("relays")]);
    assert_eq!(rule["to"].as_array().unwrap(), &[toml::Value::from("corp_mx")]);
    assert_eq!(rule["protocols"].as_array().unwrap(), &[toml::Value::from("smtp")]);
    let ports: Vec<i64> = rule["ports"].as_array().unwrap().iter().map(|p| p.as_integer().unwrap()).collect();
    assert_eq!(ports, demo::ALLOW_PORTS.map(i64::from));
    assert_eq!(rule["sni"].as_array().unwrap(), &[toml::Value::from(demo::ALLOW_SNI)]);
    assert_eq!(rule["helo"].as_array().unwrap(), &[toml::Value::from(format!("*{}", demo::HELO_SUFFIX))]);
    assert_eq!(rule["require_tls"].as_bool(), Some(true));
}

#[test]
fn verdicts_follow_the_demo_policy() {
    for mix in [Mix::Realistic, Mix::Mailstorm] {
        for t in gen(mix, 1000, 12).truth() {
            let action = t.expected.get("verdict.action");
            let rule = t.expected.get("verdict.rule");
            if !t.record {
                assert!(action.is_none() && rule.is_none(), "flow {}: no record, no verdict", t.flow);
                continue;
            }
            let approved = t.profile == "relay" || t.profile == "storm_relay";
            if approved {
                assert_eq!(t.src_ip, demo::RELAY.to_string());
                assert_eq!(t.dest_ip, demo::CORP_MX.to_string());
                assert_eq!(action, Some(&json!("pass")), "flow {}", t.flow);
                assert_eq!(rule, Some(&json!(demo::ALLOW_RULE)));
                assert_eq!(t.block_action.as_str(), "pass");
                let helo = t.expected["smtp.helo"].as_str().unwrap();
                assert!(helo.ends_with(demo::HELO_SUFFIX), "{helo}");
            } else {
                assert_eq!(action, Some(&json!("would_reset")), "flow {} ({})", t.flow, t.profile);
                assert_eq!(rule, Some(&json!(demo::UNAPPROVED_RULE)));
                assert_eq!(t.block_action.as_str(), "reset");
            }
            if t.profile == "relay" {
                assert_eq!(t.expected["tls.sni"], json!(demo::ALLOW_SNI));
                assert_eq!(t.expected["smtp.starttls"], json!(true));
                assert_eq!(t.expected["smtp.mail_from"], json!(null), "MAIL FROM is inside TLS");
            }
        }
    }
}
