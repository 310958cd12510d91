//! Every class of validation error, checked by its full message and location.

use mailgate_config::{ConfigError, Document};

/// The error lines for an invalid policy.
fn errors(text: &str) -> Vec<String> {
    match Document::parse("p.toml", text) {
        Ok(_) => panic!("policy unexpectedly valid:\n{text}"),
        Err(e) => e.to_string().lines().map(str::to_owned).collect(),
    }
}

fn error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    e.into_iter().next().unwrap()
}

const HOSTS: &str = "[hosts]\nrelays = [\"198.51.100.10/32\"]\ncorp_mx = [\"198.51.100.50/32\"]\n";

#[test]
fn unknown_key_in_a_rule_names_the_rule_lists_the_keys_and_suggests() {
    let text = format!(
        "{HOSTS}[[allow]]\nname = \"relay-to-corp-mx\"\nfrom = [\"relays\"]\nprotocol = [\"smtp\"]\nprotocols = [\"smtp\"]\n"
    );
    assert_eq!(
        error(&text),
        "p.toml:7:1: unknown key \"protocol\" in [[allow]] \"relay-to-corp-mx\", expected one of name, from, to, \
         protocols, ports, sni, helo, require_tls, max_sessions_per_minute; did you mean \"protocols\"?"
    );
}

#[test]
fn unknown_keys_at_top_level_in_defaults_and_in_exceptions() {
    let text = "mode = \"block\"\nexceptions = []\n[defaults]\nunaproved_mail = \"reset\"\n[[exception]]\nname = \"x\"\nfrom = [\"10.0.0.1\"]\nreason = \"r\"\nexpires = 2030-01-01\nexpiry = 2030-01-01\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:2:1: unknown top-level key \"exceptions\", expected one of mode, defaults, hosts, allow, exception, anomalies, mail_clients; did you mean \"exception\"?",
            "p.toml:4:1: unknown key \"unaproved_mail\" in [defaults], expected one of unapproved_mail, mail_on_nonstandard_port, non_mail_on_mail_port, cleartext_auth, tls_without_sni, ech; did you mean \"unapproved_mail\"?",
            "p.toml:10:1: unknown key \"expiry\" in [[exception]] \"x\", expected one of name, from, to, protocols, ports, reason, owner, expires; did you mean \"expires\"?",
        ]
    );
}

#[test]
fn bad_cidrs_say_what_is_wrong() {
    let text = "[hosts]\na = [\"10.0.0.0/33\", \"10.0.0.1/8\", \"2001:db8::/129\", \"10.0.0/8\", \"::1/x\"]\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:2:6: hosts.a: invalid address \"10.0.0.0/33\": prefix length 33 is too long for IPv4 (at most 32)",
            "p.toml:2:21: hosts.a: invalid address \"10.0.0.1/8\": host bits are set; did you mean \"10.0.0.0/8\"?",
            "p.toml:2:35: hosts.a: invalid address \"2001:db8::/129\": prefix length 129 is too long for IPv6 (at most 128)",
            "p.toml:2:53: hosts.a: invalid address \"10.0.0/8\": \"10.0.0\" is not an IPv4 or IPv6 address",
            "p.toml:2:65: hosts.a: invalid address \"::1/x\": prefix length \"x\" is not a number",
        ]
    );
}

#[test]
fn unknown_group_references_suggest_the_nearest_group() {
    let text = format!("{HOSTS}all = [\"relays\", \"corp-mx\"]\n[[allow]]\nname = \"r\"\nfrom = [\"relay\"]\nto = [\"nowhere\"]\nprotocols = [\"smtp\"]\n");
    assert_eq!(
        errors(&text),
        [
            "p.toml:4:18: hosts.all: unknown host group \"corp-mx\", expected a group defined in [hosts] or an address such as 198.51.100.0/24; did you mean \"corp_mx\"?",
            "p.toml:7:9: [[allow]] \"r\".from: unknown host group \"relay\", expected a group defined in [hosts] or an address such as 198.51.100.0/24; did you mean \"relays\"?",
            "p.toml:8:7: [[allow]] \"r\".to: unknown host group \"nowhere\", expected a group defined in [hosts] or an address such as 198.51.100.0/24",
        ]
    );
}

#[test]
fn group_cycles_are_reported_with_their_path() {
    let text = "[hosts]\na = [\"b\"]\nb = [\"c\", \"10.0.0.0/8\"]\nc = [\"a\"]\nself = [\"self\"]\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:4:6: hosts.a: host group cycle a -> b -> c -> a",
            "p.toml:5:9: hosts.self: host group cycle self -> self",
        ]
    );
}

#[test]
fn invalid_group_names_are_rejected() {
    assert_eq!(
        error("[hosts]\n\"mx servers\" = [\"10.0.0.1\"]\n"),
        "p.toml:2:1: hosts: invalid group name \"mx servers\", expected a letter followed by letters, digits, '_' or '-'"
    );
    assert_eq!(
        error("[hosts]\na = [\"mx.corp\"]\n"),
        "p.toml:2:6: hosts.a: \"mx.corp\" is neither an address (such as 198.51.100.0/24 or 2001:db8::/32) nor a group name"
    );
}

#[test]
fn duplicate_rule_names_point_at_the_first_use() {
    let text = "[[allow]]\nname = \"a\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smtp\"]\n\n[[exception]]\nname = \"a\"\nfrom = [\"10.0.0.1\"]\nreason = \"r\"\nexpires = 2030-01-01\n";
    assert_eq!(
        error(text),
        "p.toml:7:8: [[exception]] \"a\".name: duplicate rule name \"a\" (first used on line 2); allow rules and exceptions share one name space"
    );
}

#[test]
fn bad_mode_action_and_protocol_strings() {
    let text = "mode = \"blok\"\n[defaults]\nunapproved_mail = \"block\"\nech = \"rest\"\n[anomalies]\noverlap_mismatch = \"would_drop\"\n[[allow]]\nname = \"r\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smpt\", \"imap4\", 3]\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:1:8: mode: invalid mode \"blok\", expected one of \"block\", \"monitor\"; did you mean \"block\"?",
            "p.toml:3:19: defaults.unapproved_mail: invalid action \"block\", expected one of \"pass\", \"alert\", \"drop\", \"reset\"",
            "p.toml:4:7: defaults.ech: invalid action \"rest\", expected one of \"pass\", \"alert\", \"drop\", \"reset\"; did you mean \"reset\"?",
            "p.toml:6:20: anomalies.overlap_mismatch: invalid action \"would_drop\", expected one of \"pass\", \"alert\", \"drop\", \"reset\"",
            "p.toml:10:14: [[allow]] \"r\".protocols: invalid protocol \"smpt\", expected one of \"smtp\", \"imap\", \"pop3\"; did you mean \"smtp\"?",
            "p.toml:10:22: [[allow]] \"r\".protocols: invalid protocol \"imap4\", expected one of \"smtp\", \"imap\", \"pop3\"; did you mean \"imap\"?",
            "p.toml:10:31: [[allow]] \"r\".protocols: expected a protocol name, found integer",
        ]
    );
}

#[test]
fn unknown_anomaly_names_are_checked_against_the_dataplane_list() {
    let e = error("[anomalies]\noverlap_mismatched = \"reset\"\n");
    assert!(
        e.starts_with(
            "p.toml:2:1: anomalies: unknown anomaly \"overlap_mismatched\", expected one of \"overlap_mismatch\", "
        ),
        "{e}"
    );
    assert!(e.ends_with("; did you mean \"overlap_mismatch\"?"), "{e}");
}

#[test]
fn ports_must_be_1_to_65535() {
    let text = "[[allow]]\nname = \"r\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smtp\"]\nports = [0, 25, 65536, -1]\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:5:10: [[allow]] \"r\".ports: port 0 is out of range, expected 1-65535",
            "p.toml:5:17: [[allow]] \"r\".ports: port 65536 is out of range, expected 1-65535",
            "p.toml:5:24: [[allow]] \"r\".ports: port -1 is out of range, expected 1-65535",
        ]
    );
    assert_eq!(
        error("[[allow]]\nname = \"r\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smtp\"]\nports = []\n"),
        "p.toml:5:9: [[allow]] \"r\".ports: must not be empty (omit the key for the protocol's standard ports)"
    );
}

#[test]
fn wildcards_only_as_the_whole_leftmost_label() {
    let text = "[[allow]]\nname = \"r\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smtp\"]\nsni = [\"a.*.corp.test\", \"*corp.test\", \"*.corp.test\"]\nhelo = [\"mx..corp\"]\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:5:8: [[allow]] \"r\".sni: invalid name pattern \"a.*.corp.test\": \"*\" may only be the whole leftmost label, as in \"*.corp.test\"",
            "p.toml:5:25: [[allow]] \"r\".sni: invalid name pattern \"*corp.test\": \"*\" may only be the whole leftmost label, as in \"*.corp.test\"",
            "p.toml:6:9: [[allow]] \"r\".helo: invalid name pattern \"mx..corp\": a name has an empty label (two dots in a row, or a leading dot)",
        ]
    );
}

#[test]
fn helo_needs_an_smtp_rule() {
    let text = "[[allow]]\nname = \"r\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"imap\"]\nhelo = [\"*.corp.test\"]\n";
    assert_eq!(
        error(text),
        "p.toml:5:8: [[allow]] \"r\".helo: applies only to smtp, but protocols does not list \"smtp\""
    );
}

#[test]
fn bad_dates_are_rejected_as_toml_dates_and_as_strings() {
    let exception = |expires: &str| {
        format!("[[exception]]\nname = \"x\"\nfrom = [\"10.0.0.1\"]\nreason = \"r\"\nexpires = {expires}\n")
    };
    assert_eq!(
        error(&exception("\"2027-02-30\"")),
        "p.toml:5:11: [[exception]] \"x\".expires: invalid date \"2027-02-30\", expected a date such as 2027-06-30"
    );
    assert_eq!(
        error(&exception("2027-06-30T10:00:00")),
        "p.toml:5:11: [[exception]] \"x\".expires: invalid date 2027-06-30T10:00:00 (a day, without time of day), expected a date such as 2027-06-30"
    );
    assert_eq!(
        error(&exception("30")),
        "p.toml:5:11: [[exception]] \"x\".expires: expected a date such as 2027-06-30, found integer"
    );
    // An impossible TOML date is a syntax error, located the same way.
    assert_eq!(
        error(&exception("2027-02-30")),
        "p.toml:5:11: invalid TOML: invalid date, expected day between 01 and 28"
    );
    // A quoted date is accepted.
    assert!(Document::parse("p.toml", &exception("\"2027-06-30\"")).is_ok());
}

#[test]
fn exceptions_need_a_reason_and_an_expiry_and_rules_need_their_keys() {
    let text = "[[exception]]\nname = \"x\"\nfrom = [\"10.0.0.1\"]\n\n[[exception]]\nname = \"y\"\nfrom = [\"10.0.0.2\"]\nreason = \"  \"\nexpires = 2030-01-01\n\n[[allow]]\nfrom = []\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:1:1: [[exception]] \"x\": missing required key \"reason\"",
            "p.toml:1:1: [[exception]] \"x\": missing required key \"expires\"",
            "p.toml:8:10: [[exception]] \"y\".reason: must not be empty",
            "p.toml:11:1: [[allow]] #1: missing required key \"name\"",
            "p.toml:11:1: [[allow]] #1: missing required key \"protocols\"",
            "p.toml:12:8: [[allow]] #1.from: must not be empty",
        ]
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let text = "mode = 1\n[[allow]]\nname = \"r\"\nfrom = \"10.0.0.0/8\"\nprotocols = [\"smtp\"]\nrequire_tls = \"yes\"\nmax_sessions_per_minute = 0\n[defaults]\nech = true\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:1:8: mode: expected a string (\"block\" or \"monitor\"), found integer",
            "p.toml:4:8: [[allow]] \"r\".from: expected an array of addresses and group names, found string",
            "p.toml:6:15: [[allow]] \"r\".require_tls: expected true or false, found string",
            "p.toml:7:27: [[allow]] \"r\".max_sessions_per_minute: 0 is out of range, expected 1-4294967295 (remove the rule to admit nothing)",
            "p.toml:9:7: defaults.ech: expected an action string, found boolean",
        ]
    );
    assert_eq!(error("[allow]\nname = \"r\"\n"), "p.toml:1:1: allow: expected [[allow]] tables, found table");
}

#[test]
fn reserved_rule_names_are_rejected() {
    assert_eq!(
        error("[[allow]]\nname = \"defaults.unapproved_mail\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smtp\"]\n"),
        "p.toml:2:8: [[allow]] \"defaults.unapproved_mail\".name: names starting with \"defaults.\" or \"anomalies.\" are reserved for default actions"
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    let e = errors("mode = \"block\"\n[defaults\nech = \"alert\"\n");
    assert!(e.first().is_some_and(|l| l.starts_with("p.toml:2:")), "{e:#?}");
    assert!(e.iter().all(|l| l.contains("invalid TOML: ")), "{e:#?}");
}

#[test]
fn every_error_is_returned_in_file_order_with_its_location() {
    let text = "mode = \"enforce\"\n[hosts]\nx = [\"10.0.0.0/40\"]\n[[allow]]\nname = \"r\"\nfrom = [\"y\"]\nprotocols = [\"smtp\"]\nports = [0]\n";
    let Err(ConfigError::Invalid(d)) = Document::parse("p.toml", text) else {
        panic!("expected validation errors");
    };
    let at: Vec<_> = d.items.iter().map(|i| (i.line, i.col)).collect();
    assert_eq!(at, [(1, 8), (3, 6), (6, 9), (8, 10)]);
}

#[test]
fn io_errors_name_the_path() {
    let e = Document::load(std::path::Path::new("/nonexistent/mailgate.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().starts_with("/nonexistent/mailgate.toml: cannot read policy file: "), "{e}");
    assert!(e.diagnostics().is_empty());
}

#[test]
fn sections_owned_by_the_caller_are_skipped_and_suggested() {
    let text = "mode = \"block\"\n[dataplane]\nburst = 64\n";
    assert_eq!(
        error(text),
        "p.toml:2:2: unknown top-level key \"dataplane\", expected one of mode, defaults, hosts, allow, exception, anomalies, mail_clients"
    );
    let doc = Document::parse_with_sections("p.toml", text, &["dataplane"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc.policy.mode, mailgate_config::Mode::Block);
    let e = Document::parse_with_sections("p.toml", "[dataplan]\n", &["dataplane"]).unwrap_err().to_string();
    assert_eq!(
        e,
        "p.toml:1:2: unknown top-level key \"dataplan\", expected one of mode, defaults, hosts, allow, exception, anomalies, mail_clients, dataplane; did you mean \"dataplane\"?"
    );
}

#[test]
fn policies_too_large_to_compile_are_rejected() {
    let mut text = String::new();
    for i in 0..4097 {
        text.push_str(&format!("[[allow]]\nname = \"r{i}\"\nfrom = [\"10.0.0.0/8\"]\nprotocols = [\"smtp\"]\n"));
    }
    assert_eq!(error(&text), "p.toml:1:1: the policy has 4097 allow rules and exceptions, at most 4096 are supported");
    // Each group includes the next: 1500 groups resolve to about 1.1 million networks.
    let mut text = String::from("[hosts]\n");
    for i in 0..1500 {
        text.push_str(&format!("g{i} = [\"g{}\", \"10.{}.{}.0/24\"]\n", i + 1, i / 256, i % 256));
    }
    text.push_str("g1500 = []\n");
    let e = error(&text);
    assert!(e.starts_with("p.toml:1:1: the policy expands to 1125750 networks"), "{e}");
}

#[test]
fn mail_clients_unknown_keys_are_named_with_a_suggestion() {
    let text = format!("{HOSTS}[[mail_clients]]\nhosts = [\"relays\"]\nprocesses = [\"outlook.exe\"]\nproceses = []\n");
    assert_eq!(
        error(&text),
        "p.toml:7:1: unknown key \"proceses\" in [[mail_clients]] #1, expected one of hosts, processes, action; did you mean \"processes\"?"
    );
}

#[test]
fn mail_clients_need_hosts_and_processes() {
    let text = "[[mail_clients]]\naction = \"alert\"\n\n[[mail_clients]]\nhosts = []\nprocesses = []\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:1:1: [[mail_clients]] #1: missing required key \"hosts\"",
            "p.toml:1:1: [[mail_clients]] #1: missing required key \"processes\"",
            "p.toml:5:9: [[mail_clients]] #2.hosts: must not be empty",
            "p.toml:6:13: [[mail_clients]] #2.processes: must not be empty (omit the [[mail_clients]] entry to approve any process)",
        ]
    );
}

#[test]
fn mail_clients_hosts_are_checked_like_rule_addresses() {
    let text =
        format!("{HOSTS}[[mail_clients]]\nhosts = [\"relay\", \"10.0.0.0/33\"]\nprocesses = [\"outlook.exe\"]\n");
    assert_eq!(
        errors(&text),
        [
            "p.toml:5:10: [[mail_clients]] #1.hosts: unknown host group \"relay\", expected a group defined in [hosts] or an address such as 198.51.100.0/24; did you mean \"relays\"?",
            "p.toml:5:19: [[mail_clients]] #1.hosts: invalid address \"10.0.0.0/33\": prefix length 33 is too long for IPv4 (at most 32)",
        ]
    );
}

#[test]
fn mail_clients_processes_and_action_have_their_types_and_values() {
    let text = "[[mail_clients]]\nhosts = [\"10.0.0.0/8\"]\nprocesses = [\"outlook.exe\", \" \", 7]\naction = \"blok\"\n\n[[mail_clients]]\nhosts = [\"10.0.0.0/8\"]\nprocesses = \"outlook.exe\"\naction = true\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:3:29: [[mail_clients]] #1.processes: must not be empty",
            "p.toml:3:34: [[mail_clients]] #1.processes: expected a string, found integer",
            "p.toml:4:10: [[mail_clients]] #1.action: invalid action \"blok\", expected one of \"alert\", \"block\"; did you mean \"block\"?",
            "p.toml:8:13: [[mail_clients]] #2.processes: expected an array of process names, found string",
            "p.toml:9:10: [[mail_clients]] #2.action: expected an action string (\"alert\" or \"block\"), found boolean",
        ]
    );
    assert_eq!(
        error("[mail_clients]\nhosts = [\"10.0.0.0/8\"]\n"),
        "p.toml:1:1: mail_clients: expected [[mail_clients]] tables, found table"
    );
}

#[test]
fn mail_clients_parse_into_the_policy() {
    let text =
        format!("{HOSTS}[[mail_clients]]\nhosts = [\"relays\"]\nprocesses = [\"postfix\"]\naction = \"block\"\n");
    let doc = Document::parse("p.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let entry = &doc.policy.mail_clients[0];
    assert_eq!(entry.processes, ["postfix"]);
    assert_eq!(entry.action, mailgate_config::MailClientAction::Block);
    assert_eq!(doc.policy.networks(&entry.hosts), ["198.51.100.10/32".parse().unwrap()]);
}
