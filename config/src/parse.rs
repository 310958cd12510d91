//! Walks the TOML tree of the policy keys, checks every key and value, and
//! builds a [`Policy`]. Problems are recorded and walking goes on, so one
//! run reports everything wrong with a file.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use mailgate_proto::Anomalies;
use mailgate_protocol::record::{Action, MailProto};
use time::{Date, Month};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::cidr::Cidr;
use crate::diagnostic::Collector;
use crate::groups;
use crate::names::{NamePattern, PatternKind};
use crate::policy::{AddrRef, AllowRule, DefaultKey, Defaults, Exception, MailClientAction, MailClients, Mode, Policy};
use crate::suggest::{hint, quoted_list};

type Span = Range<usize>;
type Value<'i> = Spanned<DeValue<'i>>;

/// The top-level keys the policy owns.
pub const POLICY_KEYS: &[&str] = &["mode", "defaults", "hosts", "allow", "exception", "anomalies", "mail_clients"];

const ALLOW_KEYS: &[&str] =
    &["name", "from", "to", "protocols", "ports", "sni", "helo", "require_tls", "max_sessions_per_minute"];
const EXCEPTION_KEYS: &[&str] = &["name", "from", "to", "protocols", "ports", "reason", "owner", "expires"];
const MAIL_CLIENTS_KEYS: &[&str] = &["hosts", "processes", "action"];
const MAIL_CLIENT_ACTIONS: &[&str] = &["alert", "block"];
const MODES: &[&str] = &["block", "monitor"];
const ACTIONS: &[&str] = &["pass", "alert", "drop", "reset"];
const PROTOCOLS: &[&str] = &["smtp", "imap", "pop3"];

/// The most allow rules and exceptions a policy may have: each is a bit in
/// every address-table interval, so this bounds the compiled size.
const MAX_RULES: usize = 4096;

/// The most networks a policy may expand to (every group's resolved
/// members plus every rule's), bounding compile time and memory.
const MAX_EXPANDED_ENTRIES: u64 = 1_000_000;

/// A reference to a `[hosts]` group, checked once every group is known.
struct GroupRef {
    name: String,
    span: Span,
    path: String,
}

/// Accumulates the policy keys of one document.
pub(crate) struct PolicyParser<'c, 's> {
    diags: &'c mut Collector<'s>,
    mode: Mode,
    defaults: Defaults,
    hosts: BTreeMap<String, Vec<(AddrRef, Span)>>,
    allow: Vec<AllowRule>,
    exceptions: Vec<Exception>,
    anomalies: Vec<(Anomalies, Action)>,
    mail_clients: Vec<MailClients>,
    rule_names: HashMap<String, usize>,
    group_refs: Vec<GroupRef>,
}

impl<'c, 's> PolicyParser<'c, 's> {
    pub(crate) fn new(diags: &'c mut Collector<'s>) -> Self {
        PolicyParser {
            diags,
            mode: Mode::Monitor,
            defaults: Defaults::default(),
            hosts: BTreeMap::new(),
            allow: Vec::new(),
            exceptions: Vec::new(),
            anomalies: Vec::new(),
            mail_clients: Vec::new(),
            rule_names: HashMap::new(),
            group_refs: Vec::new(),
        }
    }

    /// Where problems are recorded, for top-level keys the policy does not own.
    pub(crate) fn collector(&mut self) -> &mut Collector<'s> {
        self.diags
    }

    /// Parses one top-level entry; returns false when `key` is not a policy key.
    pub(crate) fn entry(&mut self, key: &str, value: &Value<'_>) -> bool {
        match key {
            "mode" => self.mode(value),
            "defaults" => self.defaults(value),
            "hosts" => self.hosts(value),
            "allow" => {
                for (i, t) in self.array_of_tables(value, "allow").into_iter().enumerate() {
                    if let Some(rule) = self.allow_rule(i, t) {
                        self.allow.push(rule);
                    }
                }
            }
            "exception" => {
                for (i, t) in self.array_of_tables(value, "exception").into_iter().enumerate() {
                    if let Some(exception) = self.exception(i, t) {
                        self.exceptions.push(exception);
                    }
                }
            }
            "anomalies" => self.anomalies(value),
            "mail_clients" => {
                for (i, t) in self.array_of_tables(value, "mail_clients").into_iter().enumerate() {
                    if let Some(entry) = self.mail_clients(i, t) {
                        self.mail_clients.push(entry);
                    }
                }
            }
            _ => return false,
        }
        true
    }

    /// Checks what needs the whole document (group references, cycles) and
    /// returns the policy when nothing at all was wrong.
    pub(crate) fn finish(self) -> Option<Policy> {
        let PolicyParser {
            diags, mode, defaults, hosts, allow, exceptions, anomalies, mail_clients, group_refs, ..
        } = self;
        for r in &group_refs {
            if !hosts.contains_key(&r.name) {
                diags.error(
                    &r.span,
                    format!(
                        "{}: unknown host group \"{}\", expected a group defined in [hosts] or an address such as 198.51.100.0/24{}",
                        r.path,
                        r.name,
                        hint(&r.name, hosts.keys().map(String::as_str))
                    ),
                );
            }
        }
        let graph: BTreeMap<&str, Vec<(&str, Span)>> = hosts
            .iter()
            .map(|(name, members)| {
                let edges = members
                    .iter()
                    .filter_map(|(m, span)| match m {
                        AddrRef::Group(g) => Some((g.as_str(), span.clone())),
                        AddrRef::Cidr(_) => None,
                    })
                    .collect();
                (name.as_str(), edges)
            })
            .collect();
        let (order, cycles) = groups::post_order(&graph);
        let acyclic = cycles.is_empty();
        for cycle in cycles {
            let first = cycle.path.first().copied().unwrap_or_default();
            diags.error(&cycle.edge, format!("hosts.{first}: host group cycle {}", cycle.path.join(" -> ")));
        }
        let slots = allow.len() + exceptions.len();
        if slots > MAX_RULES {
            diags.error(
                &(0..0),
                format!("the policy has {slots} allow rules and exceptions, at most {MAX_RULES} are supported"),
            );
        }
        if acyclic {
            let entries = expanded_entries(&hosts, &order, &allow, &exceptions);
            if entries > MAX_EXPANDED_ENTRIES {
                diags.error(
                    &(0..0),
                    format!(
                        "the policy expands to {entries} networks once group references are resolved, at most \
                         {MAX_EXPANDED_ENTRIES} are supported; reference large groups from fewer groups and rules"
                    ),
                );
            }
        }
        if !diags.is_empty() {
            return None;
        }
        Some(Policy {
            mode,
            defaults,
            hosts: hosts
                .into_iter()
                .map(|(name, members)| (name, members.into_iter().map(|(m, _)| m).collect()))
                .collect(),
            allow,
            exceptions,
            anomalies,
            mail_clients,
        })
    }

    fn mode(&mut self, value: &Value<'_>) {
        if let Some(s) = self.string(value, "mode", "a string (\"block\" or \"monitor\")") {
            match s {
                "block" => self.mode = Mode::Block,
                "monitor" => self.mode = Mode::Monitor,
                other => self.diags.error(
                    &value.span(),
                    format!(
                        "mode: invalid mode \"{other}\", expected one of {}{}",
                        quoted_list(MODES),
                        hint(other, MODES.iter().copied())
                    ),
                ),
            }
        }
    }

    fn defaults(&mut self, value: &Value<'_>) {
        let Some(table) = self.table(value, "defaults") else {
            return;
        };
        let keys: Vec<&str> = DefaultKey::ALL.iter().map(|k| k.key()).collect();
        for (k, v) in sorted(table) {
            match DefaultKey::ALL.iter().find(|d| d.key() == k.get_ref().as_ref()) {
                Some(&key) => {
                    if let Some(action) = self.action(v, &format!("defaults.{}", key.key())) {
                        self.defaults.set(key, action);
                    }
                }
                None => self.unknown_key(k, "[defaults]", &keys),
            }
        }
    }

    fn anomalies(&mut self, value: &Value<'_>) {
        let Some(table) = self.table(value, "anomalies") else {
            return;
        };
        let names: Vec<&str> = Anomalies::ALL.iter().map(|(_, n)| *n).collect();
        for (k, v) in sorted(table) {
            let name = k.get_ref().as_ref();
            let action = self.action(v, &format!("anomalies.{name}"));
            match Anomalies::from_name(name) {
                Some(anomaly) => {
                    if let Some(action) = action {
                        self.anomalies.push((anomaly, action));
                    }
                }
                None => self.diags.error(
                    &k.span(),
                    format!(
                        "anomalies: unknown anomaly \"{name}\", expected one of {}{}",
                        quoted_list(&names),
                        hint(name, names.iter().copied())
                    ),
                ),
            }
        }
    }

    fn hosts(&mut self, value: &Value<'_>) {
        let Some(table) = self.table(value, "hosts") else {
            return;
        };
        for (k, v) in sorted(table) {
            let name = k.get_ref().as_ref();
            if !is_group_name(name) {
                self.diags.error(
                    &k.span(),
                    format!(
                        "hosts: invalid group name \"{name}\", expected a letter followed by letters, digits, '_' or '-'"
                    ),
                );
                continue;
            }
            let path = format!("hosts.{name}");
            let Some(items) = self.array(v, &path, "an array of addresses and group names") else {
                continue;
            };
            let mut members = Vec::with_capacity(items.len());
            for item in items {
                if let Some(m) = self.addr_ref(item, &path) {
                    members.push((m, item.span()));
                }
            }
            self.hosts.insert(name.to_owned(), members);
        }
    }

    fn allow_rule(&mut self, index: usize, value: &Value<'_>) -> Option<AllowRule> {
        let table = value.get_ref().as_table()?;
        let (name, ctx) = self.rule_name(table, value, "allow", index);
        self.check_keys(table, ALLOW_KEYS, &ctx);
        let from = self.required(table, value, "from", &ctx).and_then(|v| self.addr_list(v, &format!("{ctx}.from")));
        let to = field(table, "to").map(|v| self.addr_list(v, &format!("{ctx}.to")));
        let protocols =
            self.required(table, value, "protocols", &ctx).and_then(|v| self.protocols(v, &format!("{ctx}.protocols")));
        let ports = field(table, "ports").map(|v| self.ports(v, &format!("{ctx}.ports")));
        let sni = field(table, "sni").map(|v| self.patterns(v, &format!("{ctx}.sni"), PatternKind::Sni));
        let helo_value = field(table, "helo");
        let helo = helo_value.map(|v| self.patterns(v, &format!("{ctx}.helo"), PatternKind::Helo));
        if let (Some(v), Some(protocols)) = (helo_value, &protocols) {
            if !protocols.contains(&MailProto::Smtp) {
                self.diags.error(
                    &v.span(),
                    format!("{ctx}.helo: applies only to smtp, but protocols does not list \"smtp\""),
                );
            }
        }
        let require_tls = match field(table, "require_tls") {
            Some(v) => self.boolean(v, &format!("{ctx}.require_tls")),
            None => Some(false),
        };
        let max_sessions_per_minute = field(table, "max_sessions_per_minute").map(|v| {
            let path = format!("{ctx}.max_sessions_per_minute");
            let n = self.integer(v, &path)?;
            match u32::try_from(n) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    self.diags.error(
                        &v.span(),
                        format!(
                            "{path}: {n} is out of range, expected 1-{} (remove the rule to admit nothing)",
                            u32::MAX
                        ),
                    );
                    None
                }
            }
        });
        Some(AllowRule {
            name: name?,
            from: from?,
            to: optional(to)?,
            protocols: protocols?,
            ports: optional(ports)?,
            sni: optional(sni)?,
            helo: optional(helo)?,
            require_tls: require_tls?,
            max_sessions_per_minute: optional(max_sessions_per_minute)?,
        })
    }

    fn exception(&mut self, index: usize, value: &Value<'_>) -> Option<Exception> {
        let table = value.get_ref().as_table()?;
        let (name, ctx) = self.rule_name(table, value, "exception", index);
        self.check_keys(table, EXCEPTION_KEYS, &ctx);
        let from = self.required(table, value, "from", &ctx).and_then(|v| self.addr_list(v, &format!("{ctx}.from")));
        let to = field(table, "to").map(|v| self.addr_list(v, &format!("{ctx}.to")));
        let protocols = field(table, "protocols").map(|v| self.protocols(v, &format!("{ctx}.protocols")));
        let ports = field(table, "ports").map(|v| self.ports(v, &format!("{ctx}.ports")));
        let reason =
            self.required(table, value, "reason", &ctx).and_then(|v| self.nonempty_string(v, &format!("{ctx}.reason")));
        let owner = field(table, "owner").map(|v| self.nonempty_string(v, &format!("{ctx}.owner")));
        let expires =
            self.required(table, value, "expires", &ctx).and_then(|v| self.date(v, &format!("{ctx}.expires")));
        Some(Exception {
            name: name?,
            from: from?,
            to: optional(to)?,
            protocols: optional(protocols)?,
            ports: optional(ports)?,
            reason: reason?,
            owner: optional(owner)?,
            expires: expires?,
        })
    }

    fn mail_clients(&mut self, index: usize, value: &Value<'_>) -> Option<MailClients> {
        let table = value.get_ref().as_table()?;
        let ctx = format!("[[mail_clients]] #{}", index + 1);
        self.check_keys(table, MAIL_CLIENTS_KEYS, &ctx);
        let hosts = self.required(table, value, "hosts", &ctx).and_then(|v| self.addr_list(v, &format!("{ctx}.hosts")));
        let processes =
            self.required(table, value, "processes", &ctx).and_then(|v| self.processes(v, &format!("{ctx}.processes")));
        let action = match field(table, "action") {
            None => Some(MailClientAction::Alert),
            Some(v) => {
                let path = format!("{ctx}.action");
                let s = self.string(v, &path, "an action string (\"alert\" or \"block\")");
                match s {
                    Some("alert") => Some(MailClientAction::Alert),
                    Some("block") => Some(MailClientAction::Block),
                    Some(other) => {
                        self.diags.error(
                            &v.span(),
                            format!(
                                "{path}: invalid action \"{other}\", expected one of {}{}",
                                quoted_list(MAIL_CLIENT_ACTIONS),
                                hint(other, MAIL_CLIENT_ACTIONS.iter().copied())
                            ),
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        Some(MailClients { hosts: hosts?, processes: processes?, action: action? })
    }

    /// Approved process names: non-empty strings, at least one.
    fn processes(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<String>> {
        let items = self.array(value, path, "an array of process names")?;
        if items.is_empty() {
            self.diags.error(
                &value.span(),
                format!("{path}: must not be empty (omit the [[mail_clients]] entry to approve any process)"),
            );
            return None;
        }
        let parsed: Vec<Option<String>> = items.iter().map(|item| self.nonempty_string(item, path)).collect();
        parsed.into_iter().collect()
    }

    /// The rule's name (checked for uniqueness) and the context that prefixes its messages.
    fn rule_name(
        &mut self,
        table: &DeTable<'_>,
        value: &Value<'_>,
        kind: &str,
        index: usize,
    ) -> (Option<String>, String) {
        let fallback = format!("[[{kind}]] #{}", index + 1);
        let Some(v) = field(table, "name") else {
            self.diags.error(&value.span(), format!("{fallback}: missing required key \"name\""));
            return (None, fallback);
        };
        let Some(name) = self.nonempty_string(v, &format!("{fallback}.name")) else {
            return (None, fallback);
        };
        let ctx = format!("[[{kind}]] \"{name}\"");
        if name.starts_with("defaults.") || name.starts_with("anomalies.") {
            self.diags.error(
                &v.span(),
                format!(
                    "{ctx}.name: names starting with \"defaults.\" or \"anomalies.\" are reserved for default actions"
                ),
            );
            return (None, ctx);
        }
        if let Some(&first) = self.rule_names.get(&name) {
            let line = self.diags.line_of(first);
            self.diags.error(
                &v.span(),
                format!(
                    "{ctx}.name: duplicate rule name \"{name}\" (first used on line {line}); allow rules and exceptions share one name space"
                ),
            );
            return (None, ctx);
        }
        self.rule_names.insert(name.clone(), v.span().start);
        (Some(name), ctx)
    }

    fn array_of_tables<'v, 'i>(&mut self, value: &'v Value<'i>, key: &str) -> Vec<&'v Value<'i>> {
        let expected = format!("[[{key}]] tables");
        let Some(items) = self.array(value, key, &expected) else {
            return Vec::new();
        };
        items
            .iter()
            .filter(|item| {
                let ok = item.get_ref().is_table();
                if !ok {
                    self.type_error(item, key, &format!("{expected} (an array of tables)"));
                }
                ok
            })
            .collect()
    }

    fn addr_list(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<AddrRef>> {
        let items = self.array(value, path, "an array of addresses and group names")?;
        if items.is_empty() {
            self.diags.error(&value.span(), format!("{path}: must not be empty"));
            return None;
        }
        let parsed: Vec<Option<AddrRef>> = items.iter().map(|item| self.addr_ref(item, path)).collect();
        parsed.into_iter().collect()
    }

    /// One address or group name; group names are queued for checking in [`Self::finish`].
    fn addr_ref(&mut self, value: &Value<'_>, path: &str) -> Option<AddrRef> {
        let text = self.string(value, path, "a string (an address or a group name)")?;
        if looks_like_address(text) {
            match text.parse::<Cidr>() {
                Ok(c) => Some(AddrRef::Cidr(c)),
                Err(e) => {
                    self.diags.error(&value.span(), format!("{path}: invalid address \"{text}\": {e}"));
                    None
                }
            }
        } else if is_group_name(text) {
            self.group_refs.push(GroupRef { name: text.to_owned(), span: value.span(), path: path.to_owned() });
            Some(AddrRef::Group(text.to_owned()))
        } else {
            self.diags.error(
                &value.span(),
                format!("{path}: \"{text}\" is neither an address (such as 198.51.100.0/24 or 2001:db8::/32) nor a group name"),
            );
            None
        }
    }

    fn protocols(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<MailProto>> {
        let items = self.array(value, path, "an array of protocols")?;
        if items.is_empty() {
            self.diags.error(&value.span(), format!("{path}: must not be empty"));
            return None;
        }
        let mut out: Vec<MailProto> = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let Some(s) = self.string(item, path, "a protocol name") else {
                ok = false;
                continue;
            };
            match PROTOCOLS.iter().position(|p| *p == s) {
                Some(0) => out.push(MailProto::Smtp),
                Some(1) => out.push(MailProto::Imap),
                Some(_) => out.push(MailProto::Pop3),
                None => {
                    ok = false;
                    self.diags.error(
                        &item.span(),
                        format!(
                            "{path}: invalid protocol \"{s}\", expected one of {}{}",
                            quoted_list(PROTOCOLS),
                            hint(s, PROTOCOLS.iter().copied())
                        ),
                    );
                }
            }
        }
        out.sort();
        out.dedup();
        ok.then_some(out)
    }

    fn ports(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<u16>> {
        let items = self.array(value, path, "an array of port numbers")?;
        if items.is_empty() {
            self.diags.error(
                &value.span(),
                format!("{path}: must not be empty (omit the key for the protocol's standard ports)"),
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let Some(n) = self.integer(item, path) else {
                ok = false;
                continue;
            };
            match u16::try_from(n) {
                Ok(p) if p != 0 => out.push(p),
                _ => {
                    ok = false;
                    self.diags.error(&item.span(), format!("{path}: port {n} is out of range, expected 1-65535"));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        ok.then_some(out)
    }

    fn patterns(&mut self, value: &Value<'_>, path: &str, kind: PatternKind) -> Option<Vec<NamePattern>> {
        let items = self.array(value, path, "an array of host-name patterns")?;
        if items.is_empty() {
            self.diags.error(&value.span(), format!("{path}: must not be empty (omit the key to allow any name)"));
            return None;
        }
        let parsed: Vec<Option<NamePattern>> = items
            .iter()
            .map(|item| {
                let s = self.string(item, path, "a host-name pattern")?;
                NamePattern::parse(s, kind)
                    .map_err(|e| {
                        self.diags.error(&item.span(), format!("{path}: invalid name pattern \"{s}\": {e}"));
                    })
                    .ok()
            })
            .collect();
        parsed.into_iter().collect()
    }

    fn action(&mut self, value: &Value<'_>, path: &str) -> Option<Action> {
        let s = self.string(value, path, "an action string")?;
        let action = match s {
            "pass" => Action::Pass,
            "alert" => Action::Alert,
            "drop" => Action::Drop,
            "reset" => Action::Reset,
            other => {
                self.diags.error(
                    &value.span(),
                    format!(
                        "{path}: invalid action \"{other}\", expected one of {}{}",
                        quoted_list(ACTIONS),
                        hint(other, ACTIONS.iter().copied())
                    ),
                );
                return None;
            }
        };
        Some(action)
    }

    fn date(&mut self, value: &Value<'_>, path: &str) -> Option<Date> {
        let bad = |what: &str| format!("{path}: invalid date {what}, expected a date such as 2027-06-30");
        match value.get_ref() {
            DeValue::Datetime(dt) => {
                let date = match (dt.date, dt.time, dt.offset) {
                    (Some(d), None, None) => Month::try_from(d.month)
                        .ok()
                        .and_then(|m| Date::from_calendar_date(i32::from(d.year), m, d.day).ok()),
                    _ => None,
                };
                if date.is_none() {
                    self.diags.error(&value.span(), bad(&format!("{dt} (a day, without time of day)")));
                }
                date
            }
            DeValue::String(s) => {
                let date = Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok();
                if date.is_none() {
                    self.diags.error(&value.span(), bad(&format!("\"{s}\"")));
                }
                date
            }
            _ => {
                self.type_error(value, path, "a date such as 2027-06-30");
                None
            }
        }
    }

    fn check_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], ctx: &str) {
        for (k, _) in sorted(table) {
            if !allowed.contains(&k.get_ref().as_ref()) {
                self.unknown_key(k, ctx, allowed);
            }
        }
    }

    fn unknown_key(&mut self, key: &Spanned<std::borrow::Cow<'_, str>>, ctx: &str, allowed: &[&str]) {
        let name = key.get_ref().as_ref();
        self.diags.error(
            &key.span(),
            format!(
                "unknown key \"{name}\" in {ctx}, expected one of {}{}",
                allowed.join(", "),
                hint(name, allowed.iter().copied())
            ),
        );
    }

    fn required<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        value: &Value<'_>,
        key: &str,
        ctx: &str,
    ) -> Option<&'t Value<'i>> {
        let v = field(table, key);
        if v.is_none() {
            self.diags.error(&value.span(), format!("{ctx}: missing required key \"{key}\""));
        }
        v
    }

    fn table<'v, 'i>(&mut self, value: &'v Value<'i>, path: &str) -> Option<&'v DeTable<'i>> {
        let t = value.get_ref().as_table();
        if t.is_none() {
            self.type_error(value, path, "a table");
        }
        t
    }

    fn array<'v, 'i>(&mut self, value: &'v Value<'i>, path: &str, expected: &str) -> Option<&'v [Value<'i>]> {
        let a = value.get_ref().as_array();
        if a.is_none() {
            self.type_error(value, path, expected);
        }
        a.map(|a| a.as_ref())
    }

    fn string<'v>(&mut self, value: &'v Value<'_>, path: &str, expected: &str) -> Option<&'v str> {
        let s = value.get_ref().as_str();
        if s.is_none() {
            self.type_error(value, path, expected);
        }
        s
    }

    fn nonempty_string(&mut self, value: &Value<'_>, path: &str) -> Option<String> {
        let s = self.string(value, path, "a string")?;
        if s.trim().is_empty() {
            self.diags.error(&value.span(), format!("{path}: must not be empty"));
            return None;
        }
        Some(s.to_owned())
    }

    fn boolean(&mut self, value: &Value<'_>, path: &str) -> Option<bool> {
        let b = value.get_ref().as_bool();
        if b.is_none() {
            self.type_error(value, path, "true or false");
        }
        b
    }

    fn integer(&mut self, value: &Value<'_>, path: &str) -> Option<i128> {
        let n = value.get_ref().as_integer().and_then(|i| i128::from_str_radix(i.as_str(), i.radix()).ok());
        if n.is_none() {
            self.type_error(value, path, "an integer");
        }
        n
    }

    fn type_error(&mut self, value: &Value<'_>, path: &str, expected: &str) {
        self.diags.error(&value.span(), format!("{path}: expected {expected}, found {}", value.get_ref().type_str()));
    }
}

/// An upper bound of the networks compiling materializes: each group's
/// members with nested groups resolved (`order` lists groups after the
/// groups they reference), and each rule's `from` and `to`.
fn expanded_entries(
    hosts: &BTreeMap<String, Vec<(AddrRef, Span)>>,
    order: &[&str],
    allow: &[AllowRule],
    exceptions: &[Exception],
) -> u64 {
    let mut sizes: HashMap<&str, u64> = HashMap::with_capacity(order.len());
    let size_of = |refs: &mut dyn Iterator<Item = &AddrRef>, sizes: &HashMap<&str, u64>| -> u64 {
        refs.map(|r| match r {
            AddrRef::Cidr(_) => 1,
            AddrRef::Group(g) => sizes.get(g.as_str()).copied().unwrap_or(0),
        })
        .fold(0u64, u64::saturating_add)
    };
    let mut total = 0u64;
    for &name in order {
        let members = hosts.get(name).map(Vec::as_slice).unwrap_or_default();
        let size = size_of(&mut members.iter().map(|(m, _)| m), &sizes);
        sizes.insert(name, size);
        total = total.saturating_add(size);
    }
    let paths = allow.iter().map(|r| (&r.from, &r.to)).chain(exceptions.iter().map(|e| (&e.from, &e.to)));
    for (from, to) in paths {
        let to_size = to.as_ref().map_or(2, |to| size_of(&mut to.iter(), &sizes));
        total = total.saturating_add(size_of(&mut from.iter(), &sizes)).saturating_add(to_size);
    }
    total
}

/// A parsed optional key: `Some(None)` when absent, `None` when present but invalid.
fn optional<T>(parsed: Option<Option<T>>) -> Option<Option<T>> {
    match parsed {
        None => Some(None),
        Some(value) => value.map(Some),
    }
}

/// The value of `key` in `table`.
fn field<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Value<'i>> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v)
}

/// The entries of `table` in file order.
fn sorted<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Spanned<std::borrow::Cow<'i, str>>, &'t Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// Strings that must parse as addresses; anything else is a group name.
fn looks_like_address(s: &str) -> bool {
    s.contains(':') || s.contains('/') || s.starts_with(|c: char| c.is_ascii_digit())
}

fn is_group_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
