//! POP3 handshake (RFC 1939, 2449, 2595, 5034): greeting, CAPA, STLS and
//! the login (USER/PASS, APOP or SASL AUTH), up to the transaction state.
//!
//! [`Pop3Session`] is a state machine over lines in wire order. Replies are
//! not tagged, so commands are queued and replies matched in order (RFC 2449
//! PIPELINING); multi-line responses are read up to their `.` line.
//!
//! Steps: `Auth` at USER, APOP and AUTH, and again on the SASL response that
//! names the user when it comes later; `TlsUpgrade` at the `+OK` to STLS;
//! `Done` at the `+OK` to PASS/APOP/AUTH, at QUIT (at its reply when other
//! replies are still due), or after [`MAX_CLIENT_LINES`].

use crate::anomaly::Anomalies;
use crate::line::{split_word, starts_with_ignore_case, upper};
use crate::sasl::{SaslExchange, SaslMech, SaslOutcome, UserName};
use crate::smtp::CommandQueue;
use crate::text::{BoundedStr, StrList};
use crate::Step;

/// Client lines after which the handshake is considered over even without
/// a login (nothing new is expected after this many).
pub const MAX_CLIENT_LINES: u16 = 64;

/// What a POP3 session revealed before the transaction state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pop3Facts {
    /// The greeting's text after `+OK ` (an APOP timestamp included).
    pub banner: Option<BoundedStr<255>>,
    /// The lines of the CAPA response (`USER`, `SASL PLAIN LOGIN`, `STLS`…).
    pub capabilities: StrList<32, 32>,
    /// The client sent STLS and the server answered `+OK`.
    pub starttls: bool,
    /// `USER`, `APOP`, or the SASL mechanism of AUTH, upper-cased.
    pub auth_mech: Option<BoundedStr<20>>,
    /// The user name the client logged in as (never the password).
    pub user: Option<UserName>,
}

/// A sent command whose reply matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    /// PASS or APOP: `+OK` means logged in.
    Password,
    /// AUTH with a mechanism: `+ ` challenges, then `+OK`/`-ERR`.
    Auth,
    /// AUTH without argument: `+OK` and a list of mechanisms.
    AuthList,
    Capa,
    Stls,
    /// LIST or UIDL without argument, RETR, TOP: `+OK` and a multi-line body.
    Listing,
    /// Pipelined behind unanswered commands: its reply ends the handshake.
    Quit,
    /// Anything else: single-line reply.
    Other,
}

impl Command {
    /// True when a `+OK` to this command opens a multi-line response.
    fn multi_line(self) -> bool {
        matches!(self, Command::AuthList | Command::Capa | Command::Listing)
    }
}

/// A multi-line response being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// CAPA: each line is a capability.
    Capabilities,
    /// Anything else: lines are skipped.
    Skip,
}

/// One POP3 session's handshake parser. Holds no secret: PASS arguments are
/// never read and SASL responses are decoded on the stack.
#[derive(Clone, Copy, Debug)]
pub struct Pop3Session {
    /// What was learned so far.
    pub facts: Pop3Facts,
    pending: CommandQueue<Command>,
    from_start: bool,
    awaiting_greeting: bool,
    /// The greeting arrived while a multi-line command was pending: if the
    /// next line is a body line, that "greeting" was the command's reply
    /// (a server that did not greet).
    tentative_greeting: bool,
    body: Option<Body>,
    /// An AUTH exchange is under way.
    sasl: Option<SaslExchange>,
    tls_accepted: bool,
    client_lines: u16,
}

impl Default for Pop3Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Pop3Session {
    /// A session seen from its TCP handshake: the first status line is the
    /// greeting, and client commands before it are `EARLY_CLIENT_DATA`.
    #[inline]
    pub fn new() -> Self {
        Pop3Session {
            facts: Pop3Facts::default(),
            pending: CommandQueue::new(Command::Other),
            from_start: true,
            awaiting_greeting: true,
            tentative_greeting: false,
            body: None,
            sasl: None,
            tls_accepted: false,
            client_lines: 0,
        }
    }

    /// A session picked up mid-stream: a first `+OK` is the greeting only if
    /// no command is waiting for a reply.
    #[inline]
    pub fn mid_stream() -> Self {
        let mut session = Self::new();
        session.from_start = false;
        session
    }

    /// Consumes one client line (without CR LF).
    pub fn client_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        let line = line.trim_ascii();
        self.client_lines = self.client_lines.saturating_add(1);
        if self.tls_accepted {
            anomalies.insert(Anomalies::PLAINTEXT_AFTER_STARTTLS);
        }
        if self.from_start && self.awaiting_greeting {
            anomalies.insert(Anomalies::EARLY_CLIENT_DATA);
        }
        let step = self.client_command(line, anomalies);
        if step == Step::Continue && self.client_lines >= MAX_CLIENT_LINES {
            Step::Done
        } else {
            step
        }
    }

    fn client_command(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        if let Some(exchange) = self.sasl.as_mut() {
            if is_sasl_response(line, exchange) {
                return match exchange.client_response(line, &mut self.facts.user, anomalies) {
                    SaslOutcome::UserLearned => Step::Auth,
                    SaslOutcome::Cancelled => {
                        self.sasl = None;
                        Step::Continue
                    }
                    SaslOutcome::Continue => Step::Continue,
                };
            }
            self.sasl = None;
        }
        let (verb, args) = split_word(line);
        let verb = if verb.len() <= 4 { upper::<4>(verb) } else { BoundedStr::new() };
        let (command, step) = match verb.as_bytes() {
            b"USER" => {
                self.facts.auth_mech = Some(BoundedStr::from_bytes(b"USER"));
                self.facts.user = if args.is_empty() { None } else { Some(UserName::from_bytes(args)) };
                (Command::Other, Step::Auth)
            }
            b"PASS" => (Command::Password, Step::Continue),
            b"APOP" => {
                // RFC 1939: APOP name digest.
                let (name, _digest) = split_word(args);
                self.facts.auth_mech = Some(BoundedStr::from_bytes(b"APOP"));
                self.facts.user = if name.is_empty() { None } else { Some(UserName::from_bytes(name)) };
                (Command::Password, Step::Auth)
            }
            b"AUTH" => self.auth(args, anomalies),
            b"CAPA" => (Command::Capa, Step::Continue),
            b"STLS" => (Command::Stls, Step::Continue),
            // Replies still due (a CAPA list…) come before QUIT's.
            b"QUIT" if self.pending.count() == 0 => (Command::Other, Step::Done),
            b"QUIT" => (Command::Quit, Step::Continue),
            b"LIST" | b"UIDL" if args.is_empty() => (Command::Listing, Step::Continue),
            b"RETR" | b"TOP" => (Command::Listing, Step::Continue),
            _ => (Command::Other, Step::Continue),
        };
        self.pending.push(command);
        step
    }

    fn auth(&mut self, args: &[u8], anomalies: &mut Anomalies) -> (Command, Step) {
        let (mech, rest) = split_word(args);
        if mech.is_empty() {
            return (Command::AuthList, Step::Continue);
        }
        self.facts.auth_mech = Some(upper(mech));
        let mut exchange = SaslExchange::new(SaslMech::from_name(mech));
        // RFC 5034: an initial response may follow the mechanism.
        let (initial_response, _) = split_word(rest);
        let cancelled = !initial_response.is_empty()
            && exchange.client_response(initial_response, &mut self.facts.user, anomalies) == SaslOutcome::Cancelled;
        self.sasl = if cancelled { None } else { Some(exchange) };
        (Command::Auth, Step::Auth)
    }

    /// Consumes one server line (without CR LF).
    pub fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        if let Some(body) = self.body {
            self.body_line(body, line);
            return Step::Continue;
        }
        let line = line.trim_ascii();
        let ok = starts_with_ignore_case(line, b"+OK");
        let status = ok || starts_with_ignore_case(line, b"-ERR");
        if self.tentative_greeting {
            self.tentative_greeting = false;
            if !status && !is_continuation(line) {
                // No greeting was sent: that line opened the reply to the
                // pending multi-line command, and this one is its body.
                self.facts.banner = None;
                let body = self.open_body(self.pending.front());
                self.pending.pop();
                if let Some(body) = body {
                    self.body_line(body, line);
                }
                return Step::Continue;
            }
        }
        if self.awaiting_greeting && status {
            self.awaiting_greeting = false;
            let front = self.pending.front();
            if self.from_start || self.pending.count() == 0 {
                if ok {
                    let text = line.get(3..).unwrap_or_default().trim_ascii();
                    self.facts.banner = Some(BoundedStr::from_bytes(text));
                }
                self.tentative_greeting = ok && front.is_some_and(Command::multi_line);
                return Step::Continue;
            }
        }
        if !status {
            // `+ challenge` (SASL) or noise: nothing to match.
            return Step::Continue;
        }
        self.awaiting_greeting = false;
        let front = self.pending.front();
        self.pending.pop();
        match front {
            Some(Command::Password) if ok => Step::Done,
            Some(Command::Quit) => Step::Done,
            Some(Command::Auth) => {
                self.sasl = None;
                if ok {
                    Step::Done
                } else {
                    Step::Continue
                }
            }
            Some(Command::Stls) if ok => {
                // Commands pipelined after STLS were sent in clear and
                // would run inside TLS: the STARTTLS command-injection pattern.
                if self.pending.count() > 0 {
                    anomalies.insert(Anomalies::PLAINTEXT_AFTER_STARTTLS);
                }
                self.pending.clear();
                self.sasl = None;
                self.facts.starttls = true;
                self.tls_accepted = true;
                Step::TlsUpgrade
            }
            Some(command) if ok => {
                self.body = self.open_body(Some(command));
                Step::Continue
            }
            _ => Step::Continue,
        }
    }

    /// The body a `+OK` to `command` opens, if it is multi-line.
    fn open_body(&self, command: Option<Command>) -> Option<Body> {
        match command {
            Some(Command::Capa) => Some(Body::Capabilities),
            Some(c) if c.multi_line() => Some(Body::Skip),
            _ => None,
        }
    }

    /// One line of a multi-line response; `.` ends it, `..` is an
    /// escaped leading dot.
    fn body_line(&mut self, body: Body, line: &[u8]) {
        let line = line.trim_ascii_end();
        if line == b"." {
            self.body = None;
            return;
        }
        self.body = Some(body);
        if body == Body::Capabilities {
            let line = line.strip_prefix(b".").unwrap_or(line).trim_ascii();
            if !line.is_empty() {
                self.facts.capabilities.push_unique(line);
            }
        }
    }
}

/// `+ …` or a bare `+`: a SASL challenge.
fn is_continuation(line: &[u8]) -> bool {
    line == b"+" || line.starts_with(b"+ ")
}

/// While an AUTH exchange is open, is this client line a SASL response
/// rather than a command? Base64 has no spaces; once the mechanism has sent
/// all its responses, a bare command verb is a command.
fn is_sasl_response(line: &[u8], exchange: &SaslExchange) -> bool {
    if line.iter().any(u8::is_ascii_whitespace) {
        return false;
    }
    const BARE_VERBS: &[&[u8]] = &[b"QUIT", b"CAPA", b"STAT", b"LIST", b"UIDL", b"NOOP", b"RSET", b"STLS", b"AUTH"];
    exchange.expects_more() || !BARE_VERBS.iter().any(|v| line.eq_ignore_ascii_case(v))
}

impl crate::LineParser for Pop3Session {
    fn client_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        Pop3Session::client_line(self, line, anomalies)
    }
    fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        Pop3Session::server_line(self, line, anomalies)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::{drive, s};

    fn caps(f: &Pop3Facts) -> Vec<String> {
        f.capabilities.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn user_pass_login() {
        let mut session = Pop3Session::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: +OK POP server ready H migmxus005",
                "C: user cicciopernacchio@mail.com",
                "S: +OK password required",
                "C: pass pippozzo",
                "S: +OK mailbox has 2 messages",
            ],
        );
        assert_eq!(steps, [Step::Auth, Step::Done]);
        assert!(anomalies.is_empty());
        assert_eq!(s(&session.facts.banner).as_deref(), Some("POP server ready H migmxus005"));
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("USER"));
        assert_eq!(s(&session.facts.user).as_deref(), Some("cicciopernacchio@mail.com"));
        assert!(!format!("{session:?}").contains("pippozzo"));
    }

    #[test]
    fn a_failed_pass_is_not_done() {
        let mut session = Pop3Session::new();
        let (steps, _) = drive(&mut session, &["S: +OK hi", "C: USER a", "S: +OK", "C: PASS b", "S: -ERR no"]);
        assert_eq!(steps, [Step::Auth]);
    }

    #[test]
    fn apop_names_the_user() {
        // RFC 1939 §7 example.
        let mut session = Pop3Session::new();
        let (steps, _) = drive(
            &mut session,
            &[
                "S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
                "C: APOP mrose c4c9334bac560ecc979e58001b3e22fb",
                "S: +OK maildrop has 1 message (369 octets)",
            ],
        );
        assert_eq!(steps, [Step::Auth, Step::Done]);
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("APOP"));
        assert_eq!(s(&session.facts.user).as_deref(), Some("mrose"));
        assert_eq!(s(&session.facts.banner).as_deref(), Some("POP3 server ready <1896.697170952@dbc.mtview.ca.us>"));
        assert!(!format!("{session:?}").contains("c4c9334b"));
    }

    #[test]
    fn capa_then_sasl_plain_after_continuation() {
        let mut session = Pop3Session::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: +OK POP server ready",
                "C: AUTH",
                "S: -ERR 1 argument required",
                "C: CAPA",
                "S: +OK Capability list follows",
                "S: TOP",
                "S: USER",
                "S: SASL PLAIN",
                "S: ..dotted",
                "S: .",
                "C: AUTH PLAIN",
                "S: + ",
                "C: AGRpZ2l0YWxpbnZlc3RpZ2F0b3JAbmV0d29ya3NpbXMuY29tAG5hcGllcjEyMw==",
                "S: +OK mailbox has 3 messages",
            ],
        );
        assert_eq!(steps, [Step::Auth, Step::Auth, Step::Done]);
        assert!(anomalies.is_empty());
        assert_eq!(caps(&session.facts), ["TOP", "USER", "SASL PLAIN", ".dotted"]);
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("PLAIN"));
        assert_eq!(s(&session.facts.user).as_deref(), Some("digitalinvestigator@networksims.com"));
        assert!(!format!("{session:?}").contains("napier"));
    }

    #[test]
    fn auth_without_argument_lists_mechanisms_in_a_multi_line_reply() {
        let mut session = Pop3Session::new();
        let (steps, _) = drive(
            &mut session,
            &["S: +OK hi", "C: AUTH", "S: +OK", "S: PLAIN", "S: +OK not a status", "S: .", "C: STLS", "S: +OK go"],
        );
        assert_eq!(steps, [Step::TlsUpgrade]);
        assert!(session.facts.capabilities.is_empty());
        assert_eq!(session.facts.auth_mech, None);
    }

    #[test]
    fn xoauth2_with_initial_response_and_failed_auth() {
        let mut session = Pop3Session::new();
        let (steps, _) = drive(
            &mut session,
            &[
                "S: +OK hi",
                "C: AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==",
                "S: -ERR invalid",
                "C: QUIT",
            ],
        );
        assert_eq!(steps, [Step::Auth, Step::Done]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("someuser@example.com"));
        assert!(!format!("{session:?}").contains("ya29"));
    }

    #[test]
    fn login_sasl_and_cancel() {
        let mut session = Pop3Session::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: +OK hi",
                "C: AUTH LOGIN",
                "S: + VXNlcm5hbWU6",
                "C: *",
                "S: -ERR cancelled",
                "C: CAPA",
                "S: +OK",
                "S: STLS",
                "S: .",
            ],
        );
        assert_eq!(steps, [Step::Auth]);
        assert!(anomalies.is_empty());
        assert_eq!(caps(&session.facts), ["STLS"]);
        assert_eq!(session.facts.user, None);
    }

    #[test]
    fn stls_accepted_and_plaintext_after_it() {
        let mut session = Pop3Session::new();
        let (steps, anomalies) = drive(&mut session, &["S: +OK Cyrus POP3 <1.2@x>", "C: STLS", "S: +OK Begin TLS"]);
        assert_eq!(steps, [Step::TlsUpgrade]);
        assert!(anomalies.is_empty());
        assert!(session.facts.starttls);
        let (_, anomalies) = drive(&mut session, &["C: USER x"]);
        assert!(anomalies.contains(Anomalies::PLAINTEXT_AFTER_STARTTLS));

        let mut session = Pop3Session::new();
        let (_, anomalies) = drive(&mut session, &["S: +OK hi", "C: STLS", "C: USER injected", "S: +OK go"]);
        assert!(anomalies.contains(Anomalies::PLAINTEXT_AFTER_STARTTLS));

        let mut session = Pop3Session::new();
        let (steps, _) = drive(&mut session, &["S: +OK hi", "C: STLS", "S: -ERR not now"]);
        assert!(steps.is_empty());
        assert!(!session.facts.starttls);
    }

    #[test]
    fn pipelined_capa_and_quit() {
        // ndpi-pop3.pcap stream 1.
        let mut session = Pop3Session::new();
        let (steps, _) = drive(
            &mut session,
            &["S: +OK ready", "C: CAPA", "C: QUIT", "S: +OK Capability list follows", "S: STLS", "S: .", "S: +OK bye"],
        );
        assert_eq!(steps, [Step::Done]);
        assert_eq!(caps(&session.facts), ["STLS"]);
    }

    #[test]
    fn a_server_that_never_greets_is_followed() {
        // Shape of suricata-verify-pop3-auth-01.pcap: CAPA answered at once.
        let mut session = Pop3Session::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "C: CAPA",
                "S: +OK Capability list follows",
                "S: USER",
                "S: SASL PLAIN XOAUTH2",
                "S: .",
                "C: STAT",
                "S: +OK 1 2",
            ],
        );
        assert!(steps.is_empty());
        assert!(anomalies.contains(Anomalies::EARLY_CLIENT_DATA));
        assert_eq!(session.facts.banner, None);
        assert_eq!(caps(&session.facts), ["USER", "SASL PLAIN XOAUTH2"]);
    }

    #[test]
    fn an_early_capa_before_a_real_greeting() {
        let mut session = Pop3Session::new();
        drive(&mut session, &["C: CAPA", "S: +OK ready", "S: +OK list follows", "S: TOP", "S: ."]);
        assert_eq!(s(&session.facts.banner).as_deref(), Some("ready"));
        assert_eq!(caps(&session.facts), ["TOP"]);
    }

    #[test]
    fn mid_stream_replies_to_unseen_commands_are_ignored() {
        let mut session = Pop3Session::mid_stream();
        let (steps, anomalies) =
            drive(&mut session, &["S: +OK 2 messages", "C: USER late", "S: +OK", "C: PASS x", "S: +OK in"]);
        assert_eq!(steps, [Step::Auth, Step::Done]);
        assert!(anomalies.is_empty());
        assert_eq!(session.facts.banner.map(|b| b.to_string()).as_deref(), Some("2 messages"));
        assert_eq!(s(&session.facts.user).as_deref(), Some("late"));
    }

    #[test]
    fn line_budget() {
        let mut session = Pop3Session::new();
        let mut anomalies = Anomalies::NONE;
        session.server_line(b"+OK", &mut anomalies);
        let last = (0..MAX_CLIENT_LINES).map(|_| session.client_line(b"NOOP", &mut anomalies)).last();
        assert_eq!(last, Some(Step::Done));
    }

    proptest::proptest! {
        #[test]
        fn random_lines_never_panic(
            lines in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)),
                0..60,
            ),
        ) {
            let mut session = Pop3Session::new();
            let mut anomalies = Anomalies::NONE;
            for (client, line) in &lines {
                if *client { session.client_line(line, &mut anomalies); } else { session.server_line(line, &mut anomalies); }
            }
        }

        #[test]
        fn random_protocol_shaped_lines_never_panic(
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "C: USER a", "C: PASS b", "C: APOP a d", "C: AUTH", "C: AUTH PLAIN", "C: AUTH LOGIN dXNlcg==",
                    "C: dXNlcg==", "C: *", "C: CAPA", "C: STLS", "C: LIST", "C: RETR 1", "C: QUIT",
                    "S: +OK", "S: -ERR", "S: + ", "S: .", "S: TOP", "S: ..x",
                ]),
                0..80,
            ),
        ) {
            let mut session = Pop3Session::new();
            drive(&mut session, &lines);
        }
    }
}
