//! `mailgatectl baseline suggest`: turns the observed inventory into a
//! draft policy with one `[[allow]]` rule per observed mail path, for a
//! person to review. It admits exactly what was seen; nothing in it says
//! the traffic was legitimate, hence `mode = "monitor"` and the comments.

use serde_json::Value;
use std::fmt::Write;

/// A TOML string literal.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Whether a name seen on the wire can go into a policy's `sni`/`helo`
/// list as an exact name (a DNS name, or for HELO an address literal).
fn usable_name(name: &str) -> bool {
    let literal = name.starts_with('[') && name.ends_with(']') && name.len() > 2;
    let dns = !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('*')
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    literal || dns
}

fn rule_name(proto: &str, src: &str, dest: &str, port: u64) -> String {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>();
    format!("{proto}-{}-to-{}-{port}", clean(src), clean(dest))
}

fn names(item: &Value, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The draft policy for an inventory answer (`{"paths": [...]}`), and how
/// many rules it has. Paths without a mail protocol are listed in a comment.
pub fn suggest(inventory: &Value, generated_at: &str) -> (String, usize) {
    let paths = inventory.get("paths").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut rules = String::new();
    let mut skipped = Vec::new();
    let mut count = 0;
    for item in &paths {
        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let (src, dest, port) =
            (text("src_ip"), text("dest_ip"), item.get("dest_port").and_then(Value::as_u64).unwrap_or(0));
        let Some(proto) = item.get("mail_proto").and_then(Value::as_str) else {
            skipped.push(format!("{src} -> {dest}:{port}"));
            continue;
        };
        count += 1;
        let _ = writeln!(rules, "\n[[allow]]");
        let _ = writeln!(
            rules,
            "# seen: {} sessions, {} to {}, TLS in {:.0}%",
            item.get("sessions").and_then(Value::as_u64).unwrap_or(0),
            text("first_seen"),
            text("last_seen"),
            item.get("tls_share").and_then(Value::as_f64).unwrap_or(0.0) * 100.0
        );
        let _ = writeln!(rules, "name = {}", quoted(&rule_name(proto, &src, &dest, port)));
        let _ = writeln!(rules, "from = [{}]", quoted(&src));
        let _ = writeln!(rules, "to = [{}]", quoted(&dest));
        let _ = writeln!(rules, "protocols = [{}]", quoted(proto));
        let _ = writeln!(rules, "ports = [{port}]");
        for (key, seen) in [("sni", names(item, "sni")), ("helo", names(item, "helo"))] {
            if key == "helo" && proto != "smtp" {
                continue;
            }
            let (usable, odd): (Vec<String>, Vec<String>) = seen.into_iter().partition(|n| usable_name(n));
            if !usable.is_empty() {
                let list: Vec<String> = usable.iter().map(|n| quoted(n)).collect();
                let _ = writeln!(rules, "{key} = [{}]", list.join(", "));
            }
            for name in odd {
                let _ = writeln!(rules, "# {key} also seen, not usable as a name: {}", quoted(&name));
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "# Draft mailgate policy suggested by `mailgatectl baseline suggest` at {generated_at}");
    let _ =
        writeln!(out, "# from {} observed paths. One allow rule per mail path that was SEEN — seen is", paths.len());
    let _ = writeln!(out, "# not approved: review every rule, delete what is not a sanctioned mail path,");
    let _ = writeln!(out, "# merge hosts into [hosts] groups, then switch mode to \"block\".");
    let _ = writeln!(out, "mode = \"monitor\"\n\n[defaults]\nunapproved_mail = \"reset\"");
    for path in &skipped {
        let _ = writeln!(out, "# not mail, not suggested: {path}");
    }
    out.push_str(&rules);
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draft_is_a_valid_policy_with_one_rule_per_mail_path() {
        let inventory = json!({"paths": [
            {"src_ip": "10.0.0.5", "mail_proto": "smtp", "dest_ip": "198.51.100.50", "dest_port": 587,
             "first_seen": "a", "last_seen": "b", "sessions": 3, "tls_share": 1.0,
             "sni": ["smtp.corp.test"], "helo": ["ws5.corp.test", "[10.0.0.5]", "bad name\""]},
            {"src_ip": "2001:db8::5", "mail_proto": "imap", "dest_ip": "2001:db8::50", "dest_port": 993,
             "first_seen": "a", "last_seen": "b", "sessions": 1, "tls_share": 1.0, "sni": [], "helo": []},
            {"src_ip": "10.0.0.6", "mail_proto": null, "dest_ip": "203.0.113.9", "dest_port": 25,
             "first_seen": "a", "last_seen": "b", "sessions": 1, "tls_share": 0.0, "sni": [], "helo": []}
        ]});
        let (draft, rules) = suggest(&inventory, "2026-01-01T00:00:00Z");
        assert_eq!(rules, 2);
        let compiled = crate::policy::check(&draft).unwrap_or_else(|e| panic!("{}\n{draft}", e.join("\n")));
        assert_eq!(compiled.summary(time::OffsetDateTime::now_utc().date()).allow_rules, 2);
        assert!(draft.contains("not mail, not suggested: 10.0.0.6 -> 203.0.113.9:25"));
        assert!(draft.contains("not usable as a name"));
    }
}
