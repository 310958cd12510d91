//! IMAP4 handshake (RFC 9051, 3501): greeting, capabilities, ID, STARTTLS
//! and the login (LOGIN or AUTHENTICATE), up to the authenticated state.
//!
//! [`ImapSession`] is a state machine over lines in wire order. Replies are
//! matched to commands by tag, so pipelining and unknown tags need no
//! special care; literals (`{n}`) in the client's lines are skipped, and the
//! simple synchronising-literal user name of LOGIN is read.
//!
//! Steps: `Auth` at LOGIN and AUTHENTICATE, and again on the line that names
//! the user when it comes later (a literal user name, a SASL response after
//! `+`); `TlsUpgrade` at the tagged OK to STARTTLS; `Done` at the tagged OK
//! to LOGIN/AUTHENTICATE, at a PREAUTH greeting, at `* BYE` or the reply to
//! LOGOUT, or after [`MAX_CLIENT_LINES`].

use std::fmt;

use crate::anomaly::Anomalies;
use crate::detect::is_imap_tag;
use crate::line::{split_word, upper};
use crate::sasl::{SaslExchange, SaslMech, SaslOutcome, UserName};
use crate::text::{BoundedStr, StrList};
use crate::Step;

/// Client lines after which the handshake is considered over even without
/// a login (nothing new is expected after this many).
pub const MAX_CLIENT_LINES: u16 = 64;

/// Tagged commands awaiting their completion that are tracked.
const TAGS_MAX: usize = 8;

/// ID parameters kept (RFC 2971 allows 30).
const ID_PAIRS_MAX: usize = 8;

/// The client's IMAP ID parameters (RFC 2971), as name/value pairs; a NIL
/// value is kept as empty.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct IdParams {
    pairs: [(BoundedStr<32>, BoundedStr<64>); ID_PAIRS_MAX],
    count: u8,
    dropped: u8,
}

impl IdParams {
    fn push(&mut self, name: BoundedStr<32>, value: BoundedStr<64>) {
        match self.pairs.get_mut(usize::from(self.count)) {
            Some(slot) => {
                *slot = (name, value);
                self.count = self.count.saturating_add(1);
            }
            None => self.dropped = self.dropped.saturating_add(1),
        }
    }

    /// The stored pairs, in the order the client sent them.
    pub fn iter(&self) -> impl Iterator<Item = (&BoundedStr<32>, &BoundedStr<64>)> {
        self.pairs.iter().take(usize::from(self.count)).map(|(n, v)| (n, v))
    }

    /// How many pairs are stored.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True when the client sent no ID parameters (or none was seen).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many pairs did not fit.
    pub fn dropped(&self) -> usize {
        usize::from(self.dropped)
    }
}

impl fmt::Debug for IdParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// What an IMAP session revealed before authentication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImapFacts {
    /// The greeting's text after `* OK ` (or `* PREAUTH `), response code removed.
    pub banner: Option<BoundedStr<255>>,
    /// Capabilities from `[CAPABILITY …]` response codes and `* CAPABILITY` responses.
    pub capabilities: StrList<32, 32>,
    /// The client sent STARTTLS and the server answered it with OK.
    pub starttls: bool,
    /// `LOGIN` for the LOGIN command, else the AUTHENTICATE mechanism, upper-cased.
    pub auth_mech: Option<BoundedStr<20>>,
    /// The user name the client logged in as (never the password).
    pub user: Option<UserName>,
    /// The client's ID parameters.
    pub id: IdParams,
}

/// A tagged command whose completion matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Login,
    Authenticate,
    StartTls,
    Logout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingTag {
    /// Up to 64 bytes, the longest tag accepted.
    tag: BoundedStr<64>,
    command: Command,
}

/// Literal data (`{n}`) the client is sending on its next lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Literal {
    None,
    /// The LOGIN user name; the password follows it on the same line.
    LoginUser(u32),
    /// Anything else (a password, a message…): skipped unread.
    Skip(u32),
}

/// One IMAP session's handshake parser. Holds no secret: LOGIN passwords are
/// skipped and SASL responses decoded on the stack.
#[derive(Clone, Copy, Debug)]
pub struct ImapSession {
    /// What was learned so far.
    pub facts: ImapFacts,
    pending: [Option<PendingTag>; TAGS_MAX],
    from_start: bool,
    awaiting_greeting: bool,
    literal: Literal,
    /// An AUTHENTICATE exchange is under way.
    sasl: Option<SaslExchange>,
    /// The client sent lines while STARTTLS was pending.
    lines_after_starttls: bool,
    tls_accepted: bool,
    client_lines: u16,
}

impl Default for ImapSession {
    fn default() -> Self {
        Self::new()
    }
}

impl ImapSession {
    /// A session seen from its TCP handshake: the first `* OK` is the
    /// greeting, and client commands before it are `EARLY_CLIENT_DATA`.
    #[inline]
    pub fn new() -> Self {
        ImapSession {
            facts: ImapFacts::default(),
            pending: [None; TAGS_MAX],
            from_start: true,
            awaiting_greeting: true,
            literal: Literal::None,
            sasl: None,
            lines_after_starttls: false,
            tls_accepted: false,
            client_lines: 0,
        }
    }

    /// A session picked up mid-stream: a first `* OK` is the greeting only
    /// if no client command came before it.
    #[inline]
    pub fn mid_stream() -> Self {
        let mut session = Self::new();
        session.from_start = false;
        session
    }

    /// Consumes one client line (without CR LF).
    pub fn client_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        self.client_lines = self.client_lines.saturating_add(1);
        if self.tls_accepted {
            anomalies.insert(Anomalies::PLAINTEXT_AFTER_STARTTLS);
        }
        if self.from_start && self.awaiting_greeting {
            anomalies.insert(Anomalies::EARLY_CLIENT_DATA);
        }
        if self.pending.iter().flatten().any(|p| p.command == Command::StartTls) {
            self.lines_after_starttls = true;
        }
        let step = self.client_input(line, anomalies);
        if step == Step::Continue && self.client_lines >= MAX_CLIENT_LINES {
            Step::Done
        } else {
            step
        }
    }

    fn client_input(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        match self.literal {
            Literal::None => {}
            Literal::LoginUser(size) => {
                let (user, rest) = self.take_literal(line, size);
                self.facts.user = Some(UserName::from_bytes(user));
                if let Some(password) = rest {
                    // A password literal, if any, is skipped.
                    self.skip_trailing_literal(password);
                }
                return Step::Auth;
            }
            Literal::Skip(size) => {
                if let (_, Some(rest)) = self.take_literal(line, size) {
                    self.skip_trailing_literal(rest);
                }
                return Step::Continue;
            }
        }
        if let Some(exchange) = self.sasl.as_mut() {
            let line = line.trim_ascii();
            if !line.contains(&b' ') {
                return match exchange.client_response(line, &mut self.facts.user, anomalies) {
                    SaslOutcome::UserLearned => Step::Auth,
                    SaslOutcome::Cancelled => {
                        self.sasl = None;
                        Step::Continue
                    }
                    SaslOutcome::Continue => Step::Continue,
                };
            }
            // A tagged command: the client gave up on the exchange.
            self.sasl = None;
        }
        let (tag, rest) = split_word(line.trim_ascii());
        let (command, args) = split_word(rest);
        if !is_imap_tag(tag) {
            return Step::Continue;
        }
        let command = if command.len() <= 12 { upper::<12>(command) } else { BoundedStr::new() };
        let step = match command.as_bytes() {
            b"LOGIN" => return self.login(tag, args),
            b"AUTHENTICATE" => return self.authenticate(tag, args, anomalies),
            b"STARTTLS" => {
                self.track(tag, Command::StartTls);
                Step::Continue
            }
            b"ID" => {
                self.id(args);
                Step::Continue
            }
            // Done at the server's BYE or the tagged reply, so that replies
            // still due (a pipelined CAPABILITY…) are read first.
            b"LOGOUT" => {
                self.track(tag, Command::Logout);
                Step::Continue
            }
            _ => Step::Continue,
        };
        self.skip_trailing_literal(args);
        step
    }

    /// Splits `line` at the end of a literal of `size` bytes that started on
    /// it: the literal's bytes here, and the rest of the command line if the
    /// literal ended on this line.
    fn take_literal<'a>(&mut self, line: &'a [u8], size: u32) -> (&'a [u8], Option<&'a [u8]>) {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        self.literal = Literal::None;
        match line.split_at_checked(size) {
            Some((data, rest)) => (data, Some(rest)),
            None => {
                // The literal goes on past this line's CR LF.
                let left = size.saturating_sub(line.len()).saturating_sub(2);
                if left > 0 {
                    self.literal = Literal::Skip(u32::try_from(left).unwrap_or(u32::MAX));
                }
                (line, None)
            }
        }
    }

    /// A command line ending in `{n}` / `{n+}` / `~{n}` announces literal
    /// data on the next lines: skip it.
    fn skip_trailing_literal(&mut self, args: &[u8]) {
        if let Some(size) = trailing_literal(args) {
            self.literal = Literal::Skip(size);
        }
    }

    fn login(&mut self, tag: &[u8], args: &[u8]) -> Step {
        self.facts.auth_mech = Some(BoundedStr::from_bytes(b"LOGIN"));
        self.track(tag, Command::Login);
        let args = args.trim_ascii_start();
        match trailing_literal(args) {
            // `a LOGIN {5}`: the user name is on the next line.
            Some(size) if astring_len(args) == args.len() => {
                self.facts.user = None;
                self.literal = Literal::LoginUser(size);
            }
            _ => {
                let user_len = astring_len(args);
                let user = args.get(..user_len).unwrap_or_default();
                self.facts.user = if user.is_empty() { None } else { Some(astring_value(user)) };
                // The password: a literal is skipped, anything else ignored.
                self.skip_trailing_literal(args.get(user_len..).unwrap_or_default());
            }
        }
        Step::Auth
    }

    fn authenticate(&mut self, tag: &[u8], args: &[u8], anomalies: &mut Anomalies) -> Step {
        self.track(tag, Command::Authenticate);
        let (mech, rest) = split_word(args);
        if mech.is_empty() {
            return Step::Continue;
        }
        self.facts.auth_mech = Some(upper(mech));
        let mut exchange = SaslExchange::new(SaslMech::from_name(mech));
        // RFC 4959 SASL-IR: the initial response on the command line.
        let (initial_response, _) = split_word(rest);
        let cancelled = !initial_response.is_empty()
            && exchange.client_response(initial_response, &mut self.facts.user, anomalies) == SaslOutcome::Cancelled;
        self.sasl = if cancelled { None } else { Some(exchange) };
        Step::Auth
    }

    /// RFC 2971: `ID ("name" "value" …)` or `ID NIL`.
    fn id(&mut self, args: &[u8]) {
        let Some(mut rest) = args.trim_ascii_start().strip_prefix(b"(") else {
            return;
        };
        loop {
            rest = rest.trim_ascii_start();
            if rest.is_empty() || rest.starts_with(b")") || rest.starts_with(b"{") || rest.starts_with(b"~{") {
                return;
            }
            let name_len = astring_len(rest);
            let name = rest.get(..name_len).unwrap_or_default();
            rest = rest.get(name_len..).unwrap_or_default().trim_ascii_start();
            if name.is_empty() || rest.starts_with(b"{") || rest.starts_with(b"~{") {
                return;
            }
            let value_len = astring_len(rest);
            let value = rest.get(..value_len).unwrap_or_default();
            rest = rest.get(value_len..).unwrap_or_default();
            if value.is_empty() {
                return;
            }
            let value = if value.eq_ignore_ascii_case(b"NIL") { BoundedStr::new() } else { astring_value(value) };
            self.facts.id.push(astring_value(name), value);
        }
    }

    fn track(&mut self, tag: &[u8], command: Command) {
        if let Some(slot) = self.pending.iter_mut().find(|p| p.is_none()) {
            *slot = Some(PendingTag { tag: BoundedStr::from_bytes(tag), command });
        }
    }

    /// Consumes one server line (without CR LF).
    pub fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        let line = line.trim_ascii();
        let first_server_line = self.awaiting_greeting;
        self.awaiting_greeting = false;
        // `+ …`: a continuation request (literal or SASL challenge).
        if line.starts_with(b"+") {
            return Step::Continue;
        }
        let (tag, rest) = split_word(line);
        let (status, text) = split_word(rest);
        let status = if status.len() <= 10 { upper::<10>(status) } else { BoundedStr::new() };
        if tag == b"*" {
            return self.untagged(status.as_bytes(), text, first_server_line);
        }
        let ok = status.as_bytes() == b"OK";
        if ok {
            self.response_code(text);
        }
        if !matches!(status.as_bytes(), b"OK" | b"NO" | b"BAD") {
            return Step::Continue;
        }
        let Some(slot) = self.pending.iter_mut().find(|p| p.is_some_and(|p| p.tag.as_bytes() == tag)) else {
            return Step::Continue;
        };
        let Some(done) = slot.take() else {
            return Step::Continue;
        };
        match done.command {
            Command::Login => {
                // A refused `LOGIN {n}` is not followed by its literal.
                self.literal = Literal::None;
                if ok {
                    Step::Done
                } else {
                    Step::Continue
                }
            }
            Command::Authenticate => {
                self.sasl = None;
                if ok {
                    Step::Done
                } else {
                    Step::Continue
                }
            }
            Command::Logout => Step::Done,
            Command::StartTls => {
                let injected = std::mem::take(&mut self.lines_after_starttls);
                if !ok {
                    return Step::Continue;
                }
                // Commands pipelined after STARTTLS were sent in clear and
                // would run inside TLS: the STARTTLS command-injection pattern.
                if injected {
                    anomalies.insert(Anomalies::PLAINTEXT_AFTER_STARTTLS);
                }
                self.pending = [None; TAGS_MAX];
                self.sasl = None;
                self.literal = Literal::None;
                self.facts.starttls = true;
                self.tls_accepted = true;
                Step::TlsUpgrade
            }
        }
    }

    fn untagged(&mut self, status: &[u8], text: &[u8], first_server_line: bool) -> Step {
        match status {
            b"OK" | b"PREAUTH" | b"BYE" => {
                let text = self.response_code(text);
                let greeting = first_server_line && (self.from_start || self.client_lines == 0);
                if greeting && status != b"BYE" {
                    self.facts.banner = Some(BoundedStr::from_bytes(text));
                }
                // PREAUTH: already authenticated; BYE: the server is closing.
                if (greeting && status == b"PREAUTH") || status == b"BYE" {
                    return Step::Done;
                }
            }
            b"CAPABILITY" => self.capabilities(text),
            _ => {}
        }
        Step::Continue
    }

    /// Reads a leading `[CODE …]` response code (keeping capabilities);
    /// returns the human-readable text after it.
    fn response_code<'a>(&mut self, text: &'a [u8]) -> &'a [u8] {
        let Some(inner) = text.strip_prefix(b"[") else {
            return text;
        };
        let Some(close) = inner.iter().position(|&b| b == b']') else {
            return text;
        };
        let code = inner.get(..close).unwrap_or_default();
        let (name, args) = split_word(code);
        if name.eq_ignore_ascii_case(b"CAPABILITY") {
            self.capabilities(args);
        }
        inner.get(close + 1..).unwrap_or_default().trim_ascii_start()
    }

    fn capabilities(&mut self, list: &[u8]) {
        self.facts.capabilities.push_unique_all(list.split(u8::is_ascii_whitespace).filter(|c| !c.is_empty()));
    }
}

/// The length of the astring (atom, quoted string or literal announcement)
/// at the start of `s`; 0 if there is none.
fn astring_len(s: &[u8]) -> usize {
    match s.first() {
        Some(b'"') => {
            let mut escaped = false;
            for (i, &b) in s.iter().enumerate().skip(1) {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => return i + 1,
                    _ => {}
                }
            }
            // Unterminated: take it all, as a server would reject it anyway.
            s.len()
        }
        Some(_) => s.iter().position(|&b| b.is_ascii_whitespace() || b == b'(' || b == b')').unwrap_or(s.len()),
        None => 0,
    }
}

/// The value of an atom or quoted string (escapes removed).
fn astring_value<const N: usize>(s: &[u8]) -> BoundedStr<N> {
    let Some(inner) = s.strip_prefix(b"\"") else {
        return BoundedStr::from_bytes(s);
    };
    let inner = inner.strip_suffix(b"\"").unwrap_or(inner);
    let mut value = BoundedStr::new();
    let mut escaped = false;
    for &b in inner {
        if !escaped && b == b'\\' {
            escaped = true;
        } else {
            value.push_bytes(&[b]);
            escaped = false;
        }
    }
    value
}

/// The size of a literal (`{n}`, `{n+}`, `~{n}`) announced at the end of
/// a command line.
fn trailing_literal(line: &[u8]) -> Option<u32> {
    let inner = line.trim_ascii_end().strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let (before, digits) = (inner.get(..open)?, inner.get(open + 1..)?);
    let before = before.strip_suffix(b"~").unwrap_or(before);
    if !(before.is_empty() || before.ends_with(b" ")) {
        return None;
    }
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

impl crate::LineParser for ImapSession {
    fn client_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        ImapSession::client_line(self, line, anomalies)
    }
    fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        ImapSession::server_line(self, line, anomalies)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::{drive, s};

    fn caps(f: &ImapFacts) -> Vec<String> {
        f.capabilities.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn greeting_capabilities_and_login() {
        let mut session = ImapSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: * OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.",
                "C: a1 CAPABILITY",
                "S: * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=LOGIN ID",
                "S: a1 OK done",
                "C: a2 ID (\"name\" \"Thunderbird\" \"version\" \"115.0\" \"os\" NIL)",
                "S: * ID NIL",
                "S: a2 OK",
                "C: a3 LOGIN alice secret",
                "S: a3 OK [CAPABILITY IMAP4rev1 IDLE] Logged in",
            ],
        );
        assert_eq!(steps, [Step::Auth, Step::Done]);
        assert!(anomalies.is_empty());
        let f = &session.facts;
        assert_eq!(s(&f.banner).as_deref(), Some("Dovecot ready."));
        assert_eq!(caps(f), ["IMAP4rev1", "STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "ID", "IDLE"]);
        assert_eq!(s(&f.auth_mech).as_deref(), Some("LOGIN"));
        assert_eq!(s(&f.user).as_deref(), Some("alice"));
        let id: Vec<(String, String)> = f.id.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(
            id,
            [("name".into(), "Thunderbird".into()), ("version".into(), "115.0".into()), ("os".into(), String::new())]
        );
        assert!(!format!("{session:?}").contains("secret"));
    }

    #[test]
    fn id_keeps_eight_pairs_and_counts_the_rest() {
        let mut session = ImapSession::new();
        let params: Vec<String> = (0..10).map(|i| format!("\"k{i}\" \"v{i}\"")).collect();
        let line = format!("C: x ID ({})", params.join(" "));
        drive(&mut session, &["S: * OK hi", &line]);
        assert_eq!(session.facts.id.len(), 8);
        assert_eq!(session.facts.id.dropped(), 2);
        assert_eq!(
            session.facts.id.iter().last().map(|(n, v)| (n.to_string(), v.to_string())),
            Some(("k7".into(), "v7".into()))
        );
        let mut session = ImapSession::new();
        drive(&mut session, &["S: * OK hi", "C: x ID NIL"]);
        assert!(session.facts.id.is_empty());
    }

    #[test]
    fn quoted_user_with_escapes_and_failed_login() {
        let mut session = ImapSession::new();
        let (steps, _) = drive(
            &mut session,
            &[
                "S: * OK ready",
                "C: a LOGIN \"jo \\\"the\\\\ boss\" \"pass word\"",
                "S: a NO [AUTHENTICATIONFAILED] bad",
            ],
        );
        assert_eq!(steps, [Step::Auth]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("jo \"the\\ boss"));
        assert!(!format!("{session:?}").contains("pass word"));
    }

    #[test]
    fn literal_user_name_on_the_next_line_and_literal_password_skipped() {
        let mut session = ImapSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: * OK ready",
                "C: A001 LOGIN {11}",
                "S: + Ready for additional command text",
                "C: FRED FOOBAR {7}",
                "S: + Ready for additional command text",
                "C: fat man",
                "S: A001 OK LOGIN completed",
            ],
        );
        assert_eq!(steps, [Step::Auth, Step::Auth, Step::Done]);
        assert!(anomalies.is_empty());
        assert_eq!(s(&session.facts.user).as_deref(), Some("FRED FOOBAR"));
        assert!(!format!("{session:?}").contains("fat man"));
    }

    #[test]
    fn a_refused_literal_login_is_not_followed_by_its_literal() {
        let mut session = ImapSession::new();
        let (steps, _) =
            drive(&mut session, &["S: * OK ready", "C: a LOGIN {5}", "S: a BAD no literals", "C: b LOGIN carol pw"]);
        assert_eq!(steps, [Step::Auth, Step::Auth]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("carol"));
    }

    #[test]
    fn non_synchronising_literal_password_is_not_a_command() {
        let mut session = ImapSession::new();
        // The "password" looks like a command that would set other facts.
        let (steps, _) =
            drive(&mut session, &["S: * OK ready", "C: a LOGIN bob {22+}", "C: x AUTHENTICATE PLAIN =", "S: a OK"]);
        assert_eq!(steps, [Step::Auth, Step::Done]);
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("LOGIN"));
        assert_eq!(s(&session.facts.user).as_deref(), Some("bob"));
    }

    #[test]
    fn authenticate_plain_with_sasl_ir_and_after_continuation() {
        let mut session = ImapSession::new();
        let (steps, _) =
            drive(&mut session, &["S: * OK ready", "C: a AUTHENTICATE PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "S: a OK"]);
        assert_eq!(steps, [Step::Auth, Step::Done]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("tim"));
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("PLAIN"));

        let mut session = ImapSession::new();
        let (steps, _) = drive(
            &mut session,
            &[
                "S: * OK ready",
                "C: b authenticate login",
                "S: + VXNlcm5hbWU6",
                "C: dXNlcg==",
                "S: + UGFzc3dvcmQ6",
                "C: cGFzcw==",
                "S: b OK",
            ],
        );
        assert_eq!(steps, [Step::Auth, Step::Auth, Step::Done]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("user"));
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("LOGIN"));
        assert!(!format!("{session:?}").contains("cGFzcw"));
    }

    #[test]
    fn cancelled_or_failed_authenticate_returns_to_commands() {
        let mut session = ImapSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &["S: * OK ready", "C: a AUTHENTICATE XOAUTH2", "S: + ", "C: *", "S: a BAD cancelled", "C: b LOGIN eve pw"],
        );
        assert_eq!(steps, [Step::Auth, Step::Auth]);
        assert!(anomalies.is_empty());
        assert_eq!(s(&session.facts.user).as_deref(), Some("eve"));
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("LOGIN"));
    }

    #[test]
    fn invalid_sasl_is_flagged() {
        let mut session = ImapSession::new();
        let (_, anomalies) = drive(&mut session, &["S: * OK ready", "C: a AUTHENTICATE PLAIN", "S: + ", "C: ###"]);
        assert!(anomalies.contains(Anomalies::INVALID_SASL));
    }

    #[test]
    fn starttls_accepted_by_its_tag_only() {
        let mut session = ImapSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &["S: * OK [CAPABILITY IMAP4rev1 STARTTLS] hi", "C: . STARTTLS", "S: x OK not ours", "S: . OK Begin TLS"],
        );
        assert_eq!(steps, [Step::TlsUpgrade]);
        assert!(anomalies.is_empty());
        assert!(session.facts.starttls);
        let (_, anomalies) = drive(&mut session, &["C: a LOGIN clear text"]);
        assert!(anomalies.contains(Anomalies::PLAINTEXT_AFTER_STARTTLS));

        let mut session = ImapSession::new();
        let (steps, _) = drive(&mut session, &["S: * OK hi", "C: a STARTTLS", "C: b NOOP", "S: a BAD no"]);
        assert!(steps.is_empty());
        assert!(!session.facts.starttls);
        // A refused STARTTLS with a command after it does not taint a later, clean one.
        let (steps, anomalies) = drive(&mut session, &["S: b OK", "C: c STARTTLS", "S: c OK go"]);
        assert_eq!(steps, [Step::TlsUpgrade]);
        assert!(anomalies.is_empty(), "{anomalies:?}");

        let mut session = ImapSession::new();
        let (_, anomalies) = drive(&mut session, &["S: * OK hi", "C: a STARTTLS", "C: b LOGIN x y", "S: a OK go"]);
        assert!(anomalies.contains(Anomalies::PLAINTEXT_AFTER_STARTTLS));
    }

    #[test]
    fn preauth_ends_the_handshake() {
        let mut session = ImapSession::new();
        let (steps, _) = drive(&mut session, &["S: * PREAUTH [CAPABILITY IMAP4rev1] welcome back"]);
        assert_eq!(steps, [Step::Done]);
        assert_eq!(s(&session.facts.banner).as_deref(), Some("welcome back"));
        assert_eq!(caps(&session.facts), ["IMAP4rev1"]);
    }

    #[test]
    fn only_the_first_ok_is_the_greeting_and_mid_stream_learns_what_follows() {
        let mut session = ImapSession::new();
        drive(&mut session, &["S: * OK first", "S: * OK [UIDVALIDITY 3] later"]);
        assert_eq!(s(&session.facts.banner).as_deref(), Some("first"));

        let mut session = ImapSession::mid_stream();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "C: a5 SELECT INBOX",
                "S: * OK [UIDVALIDITY 3] not a greeting",
                "S: zz OK unknown tag",
                "C: a6 LOGOUT",
                "S: a6 OK",
            ],
        );
        assert_eq!(steps, [Step::Done]);
        assert!(anomalies.is_empty());
        assert_eq!(session.facts.banner, None);
    }

    #[test]
    fn logout_waits_for_bye_so_pipelined_replies_are_read() {
        let mut session = ImapSession::new();
        let (steps, _) = drive(
            &mut session,
            &["S: * OK hi", "C: a CAPABILITY", "C: b LOGOUT", "S: * CAPABILITY IMAP4rev1 X-LATE", "S: * BYE"],
        );
        assert_eq!(steps, [Step::Done]);
        assert_eq!(caps(&session.facts), ["IMAP4rev1", "X-LATE"]);
    }

    #[test]
    fn early_client_data_and_line_budget() {
        let mut session = ImapSession::new();
        let (_, anomalies) = drive(&mut session, &["C: a CAPABILITY", "S: * OK hi"]);
        assert!(anomalies.contains(Anomalies::EARLY_CLIENT_DATA));
        let mut anomalies = Anomalies::NONE;
        let last = (0..MAX_CLIENT_LINES).map(|_| session.client_line(b"a NOOP", &mut anomalies)).last();
        assert_eq!(last, Some(Step::Done));
    }

    #[test]
    fn literal_helpers() {
        assert_eq!(trailing_literal(b"a LOGIN {5}"), Some(5));
        assert_eq!(trailing_literal(b"a APPEND INBOX {310+}"), Some(310));
        assert_eq!(trailing_literal(b"a APPEND INBOX ~{12}"), Some(12));
        assert_eq!(trailing_literal(b"a LOGIN x{5}"), None);
        assert_eq!(trailing_literal(b"a LOGIN {}"), None);
        assert_eq!(trailing_literal(b"a LOGIN {99999999999}"), None);
        assert_eq!(astring_len(b"\"a\\\"b\" rest"), 6);
        assert_eq!(astring_len(b"atom) x"), 4);
        assert_eq!(astring_value::<8>(b"\"a\\\"b\"").as_bytes(), b"a\"b");
    }

    #[test]
    fn a_literal_spanning_lines_is_skipped_whole() {
        let mut session = ImapSession::new();
        let (steps, _) = drive(
            &mut session,
            &["S: * OK hi", "C: a APPEND INBOX {20}", "C: b LOGIN x", "C: c LOGIN y", "C: d LOGIN real pw"],
        );
        // 20 bytes of literal: "b LOGIN x\r\n" and "c LOGIN y".
        assert_eq!(steps, [Step::Auth]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("real"));
    }

    proptest::proptest! {
        #[test]
        fn random_lines_never_panic(
            lines in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)),
                0..60,
            ),
        ) {
            let mut session = ImapSession::new();
            let mut anomalies = Anomalies::NONE;
            for (client, line) in &lines {
                if *client { session.client_line(line, &mut anomalies); } else { session.server_line(line, &mut anomalies); }
            }
        }

        #[test]
        fn random_protocol_shaped_lines_never_panic(
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "C: a LOGIN {3}", "C: abc {4}", "C: a LOGIN u p", "C: a AUTHENTICATE PLAIN", "C: dXNlcg==",
                    "C: *", "C: a STARTTLS", "C: a ID (\"a\" \"b\")", "C: a ID (\"a\" {3}", "C: a APPEND x {5+}",
                    "S: * OK [CAPABILITY A B] x", "S: + ", "S: a OK", "S: a NO", "S: * PREAUTH x", "S: * CAPABILITY X",
                    "S: [", "C: \"",
                ]),
                0..80,
            ),
        ) {
            let mut session = ImapSession::new();
            drive(&mut session, &lines);
        }
    }
}
