//! SMTP handshake (RFC 5321, ESMTP extensions, LMTP): what the client says
//! about itself and its login before the message data.
//!
//! [`SmtpSession`] is a state machine over lines in wire order. Commands are
//! queued as they are sent and replies matched to them in order (RFC 2920
//! pipelining), so a client that sends `EHLO`, `MAIL` and `RCPT` in one
//! segment is followed correctly; replies to commands that were never seen
//! (a session picked up mid-stream) are ignored.
//!
//! Steps: `Helo` at EHLO/HELO/LHLO; `Auth` at AUTH, and again on the
//! response line that names the user when it comes later (AUTH LOGIN, or
//! PLAIN after a 334), so that a policy on the user sees it; `MailFrom` at
//! each MAIL FROM; `TlsUpgrade` at the 220 to STARTTLS; `Done` at the 354 to
//! DATA, at BDAT, at QUIT (at its reply when other replies are still due),
//! at a 421, or after [`MAX_CLIENT_LINES`]. Client lines after an accepted
//! STARTTLS are still parsed (decrypted captures, clients that never start
//! TLS) and flagged `PLAINTEXT_AFTER_STARTTLS`.

use crate::anomaly::Anomalies;
use crate::detect::reply_code;
use crate::line::{split_word, starts_with_ignore_case, upper};
use crate::sasl::{SaslExchange, SaslMech, SaslOutcome, UserName};
use crate::text::{BoundedStr, StrList};
use crate::Step;

/// Client lines after which the handshake is considered over even without
/// `DATA` (nothing new is expected after this many).
pub const MAX_CLIENT_LINES: u16 = 64;

/// Commands awaiting a reply that are tracked; later ones are only counted.
const QUEUE_MAX: usize = 16;

/// What an SMTP session revealed before its message data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmtpFacts {
    /// `EHLO`, `HELO` or `LHLO`, upper-cased, of the latest greeting command.
    pub helo_verb: Option<BoundedStr<4>>,
    /// The name the client gave itself (the latest one; empty for a bare EHLO/HELO).
    pub helo: Option<BoundedStr<255>>,
    /// The text of the 220 greeting's first line, without the code.
    pub banner: Option<BoundedStr<255>>,
    /// SASL mechanisms any EHLO/LHLO reply offered (`AUTH …` and old `AUTH=…`), upper-cased.
    pub auth_mechs_offered: StrList<16, 20>,
    /// An EHLO/LHLO reply offered STARTTLS.
    pub starttls_offered: bool,
    /// The SASL mechanism of the latest AUTH command, upper-cased.
    pub auth_mech: Option<BoundedStr<20>>,
    /// The user name the client authenticated as (never the password).
    pub user: Option<UserName>,
    /// The client asked for STARTTLS and the server accepted it with 220.
    pub starttls: bool,
    /// The reverse-path of the first MAIL FROM (inside `<>`; empty for `<>`).
    pub mail_from: Option<BoundedStr<255>>,
    /// The forward-paths of the first 8 RCPT TO commands.
    pub rcpt_to: StrList<8, 255>,
}

/// A sent command whose reply matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    /// EHLO or LHLO: the reply lists extensions.
    Ehlo,
    /// HELO.
    Helo,
    StartTls,
    /// Answered by 334 challenges, then a final reply.
    Auth,
    /// Answered by 354 when the message may follow.
    Data,
    /// Pipelined behind unanswered commands: its reply ends the handshake.
    Quit,
    /// Anything else: only its place in the queue matters.
    Other,
}

/// What a server reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Greeting,
    Command(Command),
    /// A command that was never seen, or one past the tracked queue.
    Untracked,
}

/// Commands sent and not yet answered, oldest first, so that replies can be
/// matched to pipelined commands (RFC 2920 for SMTP, RFC 2449 for POP3).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CommandQueue<C> {
    ring: [C; QUEUE_MAX],
    head: usize,
    len: usize,
    /// Commands sent after the ring filled up; all newer than the ring's.
    untracked: u16,
}

impl<C: Copy> CommandQueue<C> {
    /// An empty queue; `filler` only initialises unused slots.
    pub(crate) const fn new(filler: C) -> Self {
        CommandQueue { ring: [filler; QUEUE_MAX], head: 0, len: 0, untracked: 0 }
    }

    pub(crate) fn push(&mut self, command: C) {
        if self.untracked > 0 || self.len == QUEUE_MAX {
            self.untracked = self.untracked.saturating_add(1);
        } else if let Some(slot) = self.ring.get_mut((self.head + self.len) % QUEUE_MAX) {
            *slot = command;
            self.len += 1;
        }
    }

    /// The oldest unanswered command, `None` if it is untracked or none was seen.
    pub(crate) fn front(&self) -> Option<C> {
        if self.len > 0 {
            self.ring.get(self.head).copied()
        } else {
            None
        }
    }

    /// Drops the oldest unanswered command (tracked or not), if any.
    pub(crate) fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % QUEUE_MAX;
            self.len -= 1;
        } else {
            self.untracked = self.untracked.saturating_sub(1);
        }
    }

    /// Commands awaiting a reply, tracked or not.
    pub(crate) fn count(&self) -> usize {
        self.len + usize::from(self.untracked)
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.untracked = 0;
    }
}

/// A multi-line reply (`250-…`) in progress.
#[derive(Clone, Copy, Debug)]
struct ReplyInProgress {
    target: Target,
    /// Lines of this reply seen so far.
    lines: u16,
}

/// One SMTP session's handshake parser. Holds no secret: SASL responses are
/// decoded on the stack and only the user name is kept.
#[derive(Clone, Copy, Debug)]
pub struct SmtpSession {
    /// What was learned so far.
    pub facts: SmtpFacts,
    pending: CommandQueue<Command>,
    reply: Option<ReplyInProgress>,
    /// The session was seen from its start, so the server must greet first.
    from_start: bool,
    /// No server reply has been seen yet.
    awaiting_greeting: bool,
    /// An AUTH exchange is under way (no final reply yet).
    sasl: Option<SaslExchange>,
    /// DATA was sent and not answered: client lines are message content.
    data_pending: bool,
    /// The server accepted STARTTLS.
    tls_accepted: bool,
    client_lines: u16,
}

impl Default for SmtpSession {
    fn default() -> Self {
        Self::new()
    }
}

impl SmtpSession {
    /// A session seen from its TCP handshake: the first reply is the
    /// greeting, and client commands before it are `EARLY_CLIENT_DATA`.
    #[inline]
    pub fn new() -> Self {
        SmtpSession {
            facts: SmtpFacts::default(),
            pending: CommandQueue::new(Command::Other),
            reply: None,
            from_start: true,
            awaiting_greeting: true,
            sasl: None,
            data_pending: false,
            tls_accepted: false,
            client_lines: 0,
        }
    }

    /// A session picked up mid-stream: a first `220` is taken as the
    /// greeting only if it cannot be the reply to a STARTTLS just seen.
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
            // The client moved on without waiting for the final reply.
            self.sasl = None;
        }
        if self.data_pending {
            // RFC 2920: DATA ends a pipelined group; these lines are
            // message content sent before the 354.
            if !self.awaiting_greeting {
                anomalies.insert(Anomalies::UNEXPECTED_COMMAND);
            }
            return Step::Continue;
        }
        let (verb, args) = split_word(line);
        let verb = if verb.len() <= 8 { upper::<8>(verb) } else { BoundedStr::new() };
        match verb.as_bytes() {
            b"EHLO" | b"LHLO" => self.helo(verb, args, Command::Ehlo),
            b"HELO" => self.helo(verb, args, Command::Helo),
            b"STARTTLS" => {
                self.pending.push(Command::StartTls);
                Step::Continue
            }
            b"AUTH" => self.auth(args, anomalies),
            b"MAIL" => {
                self.pending.push(Command::Other);
                match path_argument(args, b"FROM") {
                    Some(path) => {
                        if self.facts.mail_from.is_none() {
                            self.facts.mail_from = Some(BoundedStr::from_bytes(path));
                        }
                        Step::MailFrom
                    }
                    None => Step::Continue,
                }
            }
            b"RCPT" => {
                self.pending.push(Command::Other);
                if let Some(path) = path_argument(args, b"TO") {
                    self.facts.rcpt_to.push(path);
                }
                Step::Continue
            }
            b"DATA" => {
                self.pending.push(Command::Data);
                self.data_pending = true;
                Step::Continue
            }
            // RFC 3030: the chunk follows the command at once.
            b"BDAT" => Step::Done,
            // Replies still due (an EHLO's extensions…) come before QUIT's.
            b"QUIT" if self.pending.count() == 0 => Step::Done,
            b"QUIT" => {
                self.pending.push(Command::Quit);
                Step::Continue
            }
            _ => {
                self.pending.push(Command::Other);
                Step::Continue
            }
        }
    }

    fn helo(&mut self, verb: BoundedStr<8>, name: &[u8], command: Command) -> Step {
        self.facts.helo_verb = Some(BoundedStr::from_bytes(verb.as_bytes()));
        // A bare EHLO/HELO is recorded as an empty name: the client said the verb and nothing else.
        self.facts.helo = Some(BoundedStr::from_bytes(name));
        self.pending.push(command);
        Step::Helo
    }

    fn auth(&mut self, args: &[u8], anomalies: &mut Anomalies) -> Step {
        self.pending.push(Command::Auth);
        let (mech, rest) = split_word(args);
        if mech.is_empty() {
            return Step::Continue;
        }
        self.facts.auth_mech = Some(upper(mech));
        let mut exchange = SaslExchange::new(SaslMech::from_name(mech));
        let (initial_response, _) = split_word(rest);
        let cancelled = !initial_response.is_empty()
            && exchange.client_response(initial_response, &mut self.facts.user, anomalies) == SaslOutcome::Cancelled;
        self.sasl = if cancelled { None } else { Some(exchange) };
        Step::Auth
    }

    /// Consumes one server line (without CR LF).
    pub fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        let Some((code, separator, text)) = reply_code(line.trim_ascii()) else {
            return Step::Continue;
        };
        let (target, index) = match self.reply.take() {
            Some(reply) => (reply.target, reply.lines),
            None => (self.new_reply_target(code), 0),
        };
        let last = separator != b'-';
        if !last {
            self.reply = Some(ReplyInProgress { target, lines: index.saturating_add(1) });
        }
        let step = self.reply_line(target, code, index, last, text.trim_ascii(), anomalies);
        if last && target != Target::Greeting && !(target == Target::Command(Command::Auth) && code == 334) {
            self.pending.pop();
        }
        if last && code == 421 {
            // The server is closing the session.
            return Step::Done;
        }
        step
    }

    fn new_reply_target(&mut self, code: u16) -> Target {
        if self.awaiting_greeting {
            self.awaiting_greeting = false;
            let greeting_code = matches!(code, 220 | 421 | 554);
            let starttls_reply = self.pending.front() == Some(Command::StartTls);
            if greeting_code && (self.from_start || !starttls_reply) {
                return Target::Greeting;
            }
        }
        self.pending.front().map_or(Target::Untracked, Target::Command)
    }

    fn reply_line(
        &mut self,
        target: Target,
        code: u16,
        index: u16,
        last: bool,
        text: &[u8],
        anomalies: &mut Anomalies,
    ) -> Step {
        match target {
            Target::Greeting if index == 0 && code == 220 && self.facts.banner.is_none() => {
                self.facts.banner = Some(BoundedStr::from_bytes(text));
            }
            // The first line of an EHLO reply names the server; extensions follow.
            Target::Command(Command::Ehlo) if code == 250 && index > 0 => self.extension(text),
            Target::Command(Command::StartTls) if last && code == 220 => {
                // Commands pipelined after STARTTLS were sent in clear and
                // would run inside TLS: the STARTTLS command-injection pattern.
                if self.pending.count() > 1 {
                    anomalies.insert(Anomalies::PLAINTEXT_AFTER_STARTTLS);
                }
                self.pending.clear();
                self.facts.starttls = true;
                self.tls_accepted = true;
                self.sasl = None;
                self.data_pending = false;
                return Step::TlsUpgrade;
            }
            Target::Command(Command::Auth) if last && code != 334 => self.sasl = None,
            Target::Command(Command::Quit) if last => return Step::Done,
            Target::Command(Command::Data) if last => {
                self.data_pending = false;
                if code == 354 {
                    return Step::Done;
                }
            }
            _ => {}
        }
        Step::Continue
    }

    /// One EHLO keyword line: `AUTH PLAIN LOGIN`, `AUTH=LOGIN PLAIN`, `STARTTLS`.
    fn extension(&mut self, text: &[u8]) {
        let (keyword, params) = split_word(text);
        if keyword.eq_ignore_ascii_case(b"STARTTLS") {
            self.facts.starttls_offered = true;
            return;
        }
        let old_form = match keyword.split_at_checked(4) {
            Some((auth, rest)) if auth.eq_ignore_ascii_case(b"AUTH") => match rest.strip_prefix(b"=") {
                Some(first) => first,
                None if rest.is_empty() => rest,
                None => return,
            },
            _ => return,
        };
        let mechs = std::iter::once(old_form).chain(params.split(u8::is_ascii_whitespace));
        for mech in mechs.filter(|m| !m.is_empty()) {
            self.facts.auth_mechs_offered.push_unique(upper::<20>(mech).as_bytes());
        }
    }
}

/// While an AUTH exchange is open, is this client line a SASL response
/// rather than a command? Base64 has no spaces or colons; and once the
/// mechanism has sent all its responses, a bare command verb is a command.
fn is_sasl_response(line: &[u8], exchange: &SaslExchange) -> bool {
    if line.iter().any(|&b| b == b' ' || b == b':' || b == b'\t') {
        return false;
    }
    const BARE_VERBS: &[&[u8]] = &[b"QUIT", b"RSET", b"NOOP", b"DATA", b"STARTTLS", b"HELP"];
    exchange.expects_more() || !BARE_VERBS.iter().any(|v| line.eq_ignore_ascii_case(v))
}

/// The path of `MAIL FROM:<path> params` / `RCPT TO:<path> params`
/// (`args` starts after the verb); tolerates a space around the colon and a
/// path without angle brackets.
fn path_argument<'a>(args: &'a [u8], keyword: &[u8]) -> Option<&'a [u8]> {
    if !starts_with_ignore_case(args, keyword) {
        return None;
    }
    let rest = args.get(keyword.len()..)?.trim_ascii_start().strip_prefix(b":")?.trim_ascii_start();
    let path = match rest.strip_prefix(b"<") {
        Some(inner) => match inner.iter().position(|&b| b == b'>') {
            Some(end) => inner.get(..end)?,
            None => split_word(inner).0,
        },
        None => split_word(rest).0,
    };
    Some(path)
}

impl crate::LineParser for SmtpSession {
    fn client_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        SmtpSession::client_line(self, line, anomalies)
    }
    fn server_line(&mut self, line: &[u8], anomalies: &mut Anomalies) -> Step {
        SmtpSession::server_line(self, line, anomalies)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::line::{LineSplitter, Split};
    use crate::testing::{drive, s};

    fn list<const I: usize, const L: usize>(l: &StrList<I, L>) -> Vec<String> {
        l.iter().map(|b| b.to_string()).collect()
    }

    #[test]
    fn full_handshake_learns_every_fact() {
        let mut session = SmtpSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: 220-mx.example.com ESMTP Postfix",
                "S: 220 second greeting line",
                "C: EHLO client.example.org",
                "S: 250-mx.example.com Hello",
                "S: 250-PIPELINING",
                "S: 250-AUTH PLAIN LOGIN",
                "S: 250-AUTH=LOGIN CRAM-MD5",
                "S: 250-STARTTLS",
                "S: 250 8BITMIME",
                "C: AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm",
                "S: 235 2.7.0 Authentication successful",
                "C: MAIL FROM:<tim@example.org> SIZE=100",
                "S: 250 2.1.0 Ok",
                "C: RCPT TO:<a@example.com>",
                "S: 250 2.1.5 Ok",
                "C: RCPT TO:<b@example.com> NOTIFY=NEVER",
                "S: 550 no such user",
                "C: DATA",
                "S: 354 End data with <CR><LF>.<CR><LF>",
            ],
        );
        assert_eq!(steps, [Step::Helo, Step::Auth, Step::MailFrom, Step::Done]);
        assert!(anomalies.is_empty(), "{anomalies:?}");
        let f = &session.facts;
        assert_eq!(s(&f.banner).as_deref(), Some("mx.example.com ESMTP Postfix"));
        assert_eq!(s(&f.helo_verb).as_deref(), Some("EHLO"));
        assert_eq!(s(&f.helo).as_deref(), Some("client.example.org"));
        assert_eq!(list(&f.auth_mechs_offered), ["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert!(f.starttls_offered);
        assert!(!f.starttls);
        assert_eq!(s(&f.auth_mech).as_deref(), Some("PLAIN"));
        assert_eq!(s(&f.user).as_deref(), Some("tim"));
        assert_eq!(s(&f.mail_from).as_deref(), Some("tim@example.org"));
        assert_eq!(list(&f.rcpt_to), ["a@example.com", "b@example.com"]);
        assert!(!format!("{:?}{:?}", session, session.facts).contains("tanstaaf"));
    }

    #[test]
    fn pipelined_commands_are_matched_to_later_replies_in_order() {
        let mut session = SmtpSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: 220 mx ESMTP",
                "C: EHLO a.example",
                "C: MAIL FROM:<x@a.example>",
                "C: RCPT TO:<y@b.example>",
                "C: DATA",
                "S: 250-mx",
                "S: 250-STARTTLS",
                "S: 250 AUTH LOGIN",
                "S: 250 sender ok",
                "S: 250 recipient ok",
                "S: 354 go ahead",
            ],
        );
        assert_eq!(steps, [Step::Helo, Step::MailFrom, Step::Done]);
        assert!(anomalies.is_empty());
        assert!(session.facts.starttls_offered);
        assert_eq!(list(&session.facts.auth_mechs_offered), ["LOGIN"]);
    }

    #[test]
    fn a_220_is_matched_to_the_pipelined_starttls_not_to_the_rset_before_it() {
        // Shape of suricata-verify-smtp-rset-starttls.pcap.
        let mut session = SmtpSession::new();
        let (steps, _) = drive(&mut session, &["C: EHLO", "S: 250", "C: rset", "C: staRttLs", "S: 250", "S: 220"]);
        assert_eq!(steps, [Step::Helo, Step::TlsUpgrade]);
        assert!(session.facts.starttls);
        assert_eq!(s(&session.facts.helo).as_deref(), Some(""), "a bare EHLO names nobody");
    }

    #[test]
    fn first_reply_is_the_greeting_even_after_early_client_commands() {
        // Shape of mercury-smtp.pcap: the client talks before the banner.
        let mut session = SmtpSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "C: HELO malware.com",
                "C: MAIL FROM: <malware@malware.com>",
                "S: 220 test.smtp.org ESMTP Sendmail",
                "S: 250 test.smtp.org Hello",
                "S: 250 2.1.0 Sender ok",
                "C: DATA",
                "S: 354 Enter mail",
            ],
        );
        assert_eq!(steps, [Step::Helo, Step::MailFrom, Step::Done]);
        assert!(anomalies.contains(Anomalies::EARLY_CLIENT_DATA));
        assert_eq!(s(&session.facts.banner).as_deref(), Some("test.smtp.org ESMTP Sendmail"));
        assert_eq!(s(&session.facts.mail_from).as_deref(), Some("malware@malware.com"));
    }

    #[test]
    fn auth_login_after_prompts_keeps_the_user_and_drops_the_password() {
        let mut session = SmtpSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: 220 mx ESMTP",
                "C: EHLO GP",
                "S: 250 mx",
                "C: AUTH LOGIN",
                "S: 334 VXNlcm5hbWU6",
                "C: Z3VycGFydGFwQHBhdHJpb3RzLmlu",
                "S: 334 UGFzc3dvcmQ6",
                "C: cHVuamFiQDEyMw==",
                "S: 235 Authentication succeeded",
                "C: MAIL FROM: <gurpartap@patriots.in>",
            ],
        );
        assert_eq!(steps, [Step::Helo, Step::Auth, Step::Auth, Step::MailFrom]);
        assert!(anomalies.is_empty());
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("LOGIN"));
        assert_eq!(s(&session.facts.user).as_deref(), Some("gurpartap@patriots.in"));
        let debug = format!("{session:?}");
        assert!(!debug.contains("punjab") && !debug.contains("cHVuamFi"), "{debug}");
    }

    #[test]
    fn auth_login_with_initial_response_and_pipelined_responses() {
        // Responses sent without waiting for the 334 prompts are still
        // SASL data, not commands.
        let mut session = SmtpSession::new();
        let (steps, _) = drive(
            &mut session,
            &[
                "S: 220 mx ESMTP",
                "C: ehlo x",
                "S: 250 mx",
                "C: auth login dXNlcg==",
                "C: cGFzcw==",
                "C: mail from:<u@x>",
                "S: 334 UGFzc3dvcmQ6",
                "S: 235 ok",
                "S: 250 ok",
            ],
        );
        assert_eq!(steps, [Step::Helo, Step::Auth, Step::MailFrom]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("user"));
        assert_eq!(s(&session.facts.mail_from).as_deref(), Some("u@x"));
    }

    #[test]
    fn auth_plain_on_the_line_after_334() {
        // arkime-smtp-data-521.pcap.
        let mut session = SmtpSession::new();
        let (steps, _) = drive(
            &mut session,
            &["S: 220 aol ESMTP", "C: AUTH PLAIN", "S: 334 ", "C: ADEyMzQ1Njc4OUBhb2wuY29tADEyMzQ1Njc=", "S: 235 ok"],
        );
        assert_eq!(steps, [Step::Auth, Step::Auth]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("123456789@aol.com"));
        assert!(!format!("{:?}", session.facts).contains("1234567\""));
    }

    #[test]
    fn cram_md5_xoauth2_and_oauthbearer() {
        let mut session = SmtpSession::new();
        drive(
            &mut session,
            &[
                "S: 220 mx ESMTP",
                "C: AUTH CRAM-MD5",
                "S: 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
                "C: dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
                "S: 235 ok",
            ],
        );
        assert_eq!(s(&session.facts.user).as_deref(), Some("tim"));
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("CRAM-MD5"));
        assert!(!format!("{:?}", session.facts).contains("b913a602"));

        let mut session = SmtpSession::new();
        drive(&mut session, &["S: 220 mx ESMTP", "C: AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("someuser@example.com"));
        assert!(!format!("{:?}", session.facts).contains("ya29"));

        let mut session = SmtpSession::new();
        drive(&mut session, &["S: 220 mx ESMTP", "C: AUTH OAUTHBEARER bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"]);
        assert_eq!(s(&session.facts.user).as_deref(), Some("user@example.com"));
        assert_eq!(s(&session.facts.auth_mech).as_deref(), Some("OAUTHBEARER"));
    }

    #[test]
    fn a_rejected_auth_ends_the_exchange_so_the_next_line_is_a_command() {
        let mut session = SmtpSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &["S: 220 mx ESMTP", "C: AUTH LOGIN", "S: 504 5.5.4 not supported", "C: RSET", "S: 250 ok"],
        );
        assert_eq!(steps, [Step::Auth]);
        assert!(anomalies.is_empty(), "RSET was taken for base64: {anomalies:?}");
        assert_eq!(session.facts.user, None);
        // A cancelled exchange likewise.
        let (steps, _) = drive(&mut session, &["C: AUTH PLAIN", "S: 334 ", "C: *", "S: 501 cancelled", "C: QUIT"]);
        assert_eq!(steps, [Step::Auth, Step::Done]);
        assert_eq!(session.facts.user, None);
    }

    #[test]
    fn invalid_base64_is_flagged() {
        let mut session = SmtpSession::new();
        let (_, anomalies) = drive(&mut session, &["S: 220 mx ESMTP", "C: AUTH PLAIN %%%%", "S: 501 bad"]);
        assert!(anomalies.contains(Anomalies::INVALID_SASL));
        assert_eq!(session.facts.user, None);
    }

    #[test]
    fn starttls_accepted_keeps_earlier_facts_and_flags_later_plaintext() {
        let mut session = SmtpSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &["S: 220 mx ESMTP", "C: EHLO first", "S: 250-mx", "S: 250 STARTTLS", "C: STARTTLS", "S: 220 2.0.0 Ready"],
        );
        assert_eq!(steps, [Step::Helo, Step::TlsUpgrade]);
        assert!(anomalies.is_empty());
        assert!(session.facts.starttls && session.facts.starttls_offered);
        assert_eq!(s(&session.facts.helo).as_deref(), Some("first"));
        // The client goes on in clear (a decrypted capture, or no TLS at all).
        let (steps, anomalies) =
            drive(&mut session, &["C: EHLO second", "S: 250-mx", "S: 250 AUTH NTLM LOGIN", "C: MAIL FROM:<a@b>"]);
        assert_eq!(steps, [Step::Helo, Step::MailFrom]);
        assert!(anomalies.contains(Anomalies::PLAINTEXT_AFTER_STARTTLS));
        assert!(session.facts.starttls_offered, "offers stay");
        assert_eq!(s(&session.facts.helo).as_deref(), Some("second"));
        assert_eq!(list(&session.facts.auth_mechs_offered), ["NTLM", "LOGIN"]);
    }

    #[test]
    fn starttls_refused_is_not_starttls() {
        let mut session = SmtpSession::new();
        let (steps, _) = drive(&mut session, &["S: 220 mx ESMTP", "C: STARTTLS", "S: 454 TLS not available"]);
        assert!(steps.is_empty());
        assert!(!session.facts.starttls);
    }

    #[test]
    fn commands_pipelined_after_starttls_are_an_injection() {
        let mut session = SmtpSession::new();
        let (steps, anomalies) =
            drive(&mut session, &["S: 220 mx ESMTP", "C: STARTTLS", "C: MAIL FROM:<evil@x>", "S: 220 Ready"]);
        assert_eq!(steps, [Step::MailFrom, Step::TlsUpgrade]);
        assert!(anomalies.contains(Anomalies::PLAINTEXT_AFTER_STARTTLS));
    }

    #[test]
    fn message_lines_sent_before_354_are_not_commands() {
        let mut session = SmtpSession::new();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: 220 mx ESMTP",
                "C: MAIL FROM:<a@b>",
                "C: RCPT TO:<c@d>",
                "C: DATA",
                "C: AUTH PLAIN AGV2ZQBldmU=",
                "C: .",
                "S: 250 ok",
                "S: 250 ok",
                "S: 354 go",
            ],
        );
        assert_eq!(steps, [Step::MailFrom, Step::Done]);
        assert!(anomalies.contains(Anomalies::UNEXPECTED_COMMAND));
        assert_eq!(session.facts.auth_mech, None);
        assert_eq!(session.facts.user, None);
    }

    #[test]
    fn verbs_are_case_insensitive_and_whitespace_tolerated() {
        let mut session = SmtpSession::new();
        let (steps, _) = drive(
            &mut session,
            &["S: 220 mx ESMTP", "C:   eHlO   spaced.example   ", "C: mail from : < a@b >", "C: rcpt To:c@d"],
        );
        assert_eq!(steps, [Step::Helo, Step::MailFrom]);
        assert_eq!(s(&session.facts.helo_verb).as_deref(), Some("EHLO"));
        assert_eq!(s(&session.facts.helo).as_deref(), Some("spaced.example"));
        assert_eq!(s(&session.facts.mail_from).as_deref(), Some(" a@b "));
        assert_eq!(list(&session.facts.rcpt_to), ["c@d"]);
    }

    #[test]
    fn null_sender_first_mail_from_only_and_eight_recipients() {
        let mut session = SmtpSession::new();
        let mut script = vec!["S: 220 mx ESMTP", "C: LHLO lmtp.client", "C: MAIL FROM:<>", "C: MAIL FROM:<second@x>"];
        let rcpts: Vec<String> = (0..10).map(|i| format!("C: RCPT TO:<r{i}@x>")).collect();
        script.extend(rcpts.iter().map(String::as_str));
        drive(&mut session, &script);
        assert_eq!(s(&session.facts.helo_verb).as_deref(), Some("LHLO"));
        assert_eq!(s(&session.facts.mail_from).as_deref(), Some(""));
        assert_eq!(session.facts.rcpt_to.len(), 8);
        assert_eq!(session.facts.rcpt_to.dropped(), 2);
    }

    #[test]
    fn replies_to_unseen_commands_are_ignored_mid_stream() {
        let mut session = SmtpSession::mid_stream();
        let (steps, anomalies) = drive(
            &mut session,
            &[
                "S: 250-STARTTLS",
                "S: 250 AUTH PLAIN",
                "S: 354 go ahead",
                "C: EHLO late.example",
                "S: 250-mx",
                "S: 250 AUTH LOGIN",
                "C: STARTTLS",
                "S: 220 go",
            ],
        );
        assert_eq!(steps, [Step::Helo, Step::TlsUpgrade]);
        assert!(anomalies.is_empty(), "mid-stream is not early data: {anomalies:?}");
        assert!(!session.facts.starttls_offered);
        assert_eq!(list(&session.facts.auth_mechs_offered), ["LOGIN"]);
        assert!(session.facts.starttls);
        assert_eq!(session.facts.banner, None);
    }

    #[test]
    fn mid_stream_220_after_starttls_is_the_starttls_reply() {
        let mut session = SmtpSession::mid_stream();
        let (steps, _) = drive(&mut session, &["C: STARTTLS", "S: 220 2.0.0 Ready to start TLS"]);
        assert_eq!(steps, [Step::TlsUpgrade]);
        assert_eq!(session.facts.banner, None);
    }

    #[test]
    fn bdat_quit_421_and_the_line_budget_end_the_handshake() {
        let mut session = SmtpSession::new();
        assert_eq!(drive(&mut session, &["S: 220 mx ESMTP", "C: BDAT 86 LAST"]).0, [Step::Done]);
        let mut session = SmtpSession::new();
        assert_eq!(drive(&mut session, &["S: 220 mx ESMTP", "C: quit"]).0, [Step::Done]);
        let mut session = SmtpSession::new();
        assert_eq!(drive(&mut session, &["S: 421 too busy"]).0, [Step::Done]);
        let mut session = SmtpSession::new();
        let mut anomalies = Anomalies::NONE;
        session.server_line(b"220 mx ESMTP", &mut anomalies);
        let steps: Vec<Step> = (0..MAX_CLIENT_LINES).map(|_| session.client_line(b"NOOP", &mut anomalies)).collect();
        assert!(steps[..usize::from(MAX_CLIENT_LINES) - 1].iter().all(|s| *s == Step::Continue));
        assert_eq!(steps.last(), Some(&Step::Done));
    }

    #[test]
    fn an_over_long_ehlo_is_truncated_not_lost() {
        let mut stream = b"EHLO ".to_vec();
        stream.extend_from_slice(&[b'A'; 3000]);
        stream.extend_from_slice(b"\r\nMAIL FROM:<a@b>\r\n");
        let mut session = SmtpSession::mid_stream();
        let mut splitter = LineSplitter::new(512);
        let (mut anomalies, mut steps, mut rest) = (Anomalies::NONE, Vec::new(), &stream[..]);
        loop {
            match splitter.next(rest) {
                Split::Line { line, consumed, truncated, .. } => {
                    if truncated {
                        anomalies.insert(Anomalies::LONG_LINE);
                    }
                    steps.push(session.client_line(line, &mut anomalies));
                    rest = &rest[consumed..];
                }
                Split::Skip { consumed } => rest = &rest[consumed..],
                Split::NeedMore => break,
            }
        }
        assert_eq!(steps, [Step::Helo, Step::MailFrom]);
        let helo = session.facts.helo.unwrap();
        assert!(helo.truncated() && helo.as_bytes().iter().all(|&b| b == b'A') && helo.as_bytes().len() == 255);
        assert!(anomalies.contains(Anomalies::LONG_LINE));
    }

    #[test]
    fn a_pipelined_quit_waits_for_the_replies_before_it() {
        let mut session = SmtpSession::new();
        let (steps, _) = drive(
            &mut session,
            &["S: 220 mx ESMTP", "C: EHLO x", "C: QUIT", "S: 250-mx", "S: 250 STARTTLS", "S: 221 bye"],
        );
        assert_eq!(steps, [Step::Helo, Step::Done]);
        assert!(session.facts.starttls_offered);
    }

    #[test]
    fn a_verb_is_matched_whole() {
        let mut session = SmtpSession::new();
        let (steps, _) =
            drive(&mut session, &["S: 220 mx ESMTP", "C: STARTTLSX", "S: 220 not for you", "C: EHLOX y", "S: 500 no"]);
        assert!(steps.is_empty());
        assert!(!session.facts.starttls);
        assert_eq!(session.facts.helo, None);
    }

    #[test]
    fn server_lines_without_a_code_are_ignored() {
        let mut session = SmtpSession::new();
        let (steps, _) = drive(&mut session, &["S: hello", "S: 22", "S: 2200 x", "S: 220 real banner"]);
        assert!(steps.is_empty());
        assert_eq!(s(&session.facts.banner).as_deref(), Some("real banner"));
    }

    #[test]
    fn more_pipelined_commands_than_tracked_keep_replies_aligned() {
        let mut session = SmtpSession::new();
        let mut anomalies = Anomalies::NONE;
        session.server_line(b"220 mx ESMTP", &mut anomalies);
        for _ in 0..20 {
            session.client_line(b"NOOP", &mut anomalies);
        }
        session.client_line(b"STARTTLS", &mut anomalies);
        for _ in 0..20 {
            assert_eq!(session.server_line(b"250 ok", &mut anomalies), Step::Continue);
        }
        // The STARTTLS was past the tracked queue: its reply is not matched.
        assert_eq!(session.server_line(b"220 ready", &mut anomalies), Step::Continue);
        session.client_line(b"STARTTLS", &mut anomalies);
        assert_eq!(session.server_line(b"220 ready", &mut anomalies), Step::TlsUpgrade);
    }

    proptest::proptest! {
        #[test]
        fn random_lines_never_panic(
            lines in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)),
                0..60,
            ),
        ) {
            let mut session = SmtpSession::new();
            let mut anomalies = Anomalies::NONE;
            for (client, line) in &lines {
                if *client { session.client_line(line, &mut anomalies); } else { session.server_line(line, &mut anomalies); }
            }
        }

        #[test]
        fn random_protocol_shaped_lines_never_panic(
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "C: EHLO x", "C: AUTH LOGIN", "C: AUTH PLAIN AHUAcA==", "C: dXNlcg==", "C: *", "C: STARTTLS",
                    "C: MAIL FROM:<a>", "C: RCPT TO:<b>", "C: DATA", "C: RSET", "C: QUIT", "C: AUTH NTLM",
                    "S: 220 x", "S: 250-x", "S: 250 AUTH PLAIN", "S: 334 ", "S: 235 ok", "S: 354 go", "S: 421 bye",
                    "S: 500 no", "S: 220-x",
                ]),
                0..80,
            ),
        ) {
            let mut session = SmtpSession::new();
            drive(&mut session, &lines);
        }
    }
}
